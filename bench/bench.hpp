#pragma once

#include <lmdb.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <ostream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

/// Shared parts of `cairn-bench`: the subcommand table, command-line
/// settings, a temporary directory, a timer, percentiles and the two output
/// formats (a table for people, one JSON object for machines).
///
/// Adding a subcommand takes three steps: write `bench/<name>_bench.cpp`
/// defining `subcommand <name>_subcommand()`, declare that function below,
/// and list it in `bench/main.cpp` (and the source in CMakeLists.txt).
namespace cairn::bench {

// -- command line -------------------------------------------------------------

/// A wrong command line: `cairn-bench` prints the message and exits with 2.
class usage_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// A flag that one subcommand accepts besides the common ones (`--json`,
/// `--dir DIR`, `--quick`, `--help`).
struct flag_spec {
  /// The flag with its dashes, e.g. `"--seconds"`.
  std::string name;
  /// Name of its value in the help text (`"S"`); empty for a switch.
  std::string value_name;
  /// One line of help.
  std::string help;
};

/// The parsed command line of one subcommand.
struct settings {
  /// Print one JSON object instead of a table.
  bool json = false;
  /// Shrink every measurement to a smoke test of a few seconds.
  bool quick = false;
  /// Where to create the temporary directory; empty for $TMPDIR or /tmp.
  std::string dir;
  /// The subcommand's own flags: name (with dashes) -> value ("" for a
  /// switch).
  std::map<std::string, std::string> values;

  /// Returns whether flag `name` was given.
  bool has(const std::string& name) const;

  /// Returns the value of flag `name` as a positive integer, or `fallback`
  /// when absent. Throws `usage_error` naming the flag for a bad value.
  uint64_t get_count(const std::string& name, uint64_t fallback) const;

  /// Returns the value of flag `name` as a comma-separated list of positive
  /// integers (`1,1000,10000`), or `fallback` when absent. Throws
  /// `usage_error` naming the flag for a bad item.
  std::vector<uint64_t> get_counts(const std::string& name,
                                   std::vector<uint64_t> fallback) const;

  /// Returns the value of flag `name` as a positive number, or `fallback`
  /// when absent. Throws `usage_error` naming the flag for a bad value.
  double get_number(const std::string& name, double fallback) const;
};

/// One subcommand: its name, a line of description, its own flags and its
/// entry point. `run` returns the exit code (0 done, 1 failed) and may throw
/// `usage_error` (exit code 2) or any `std::exception` (exit code 1).
struct subcommand {
  std::string name;
  std::string description;
  std::vector<flag_spec> flags;
  int (*run)(const settings&);
};

/// `cairn-bench journal`: journal append and read vs raw LMDB.
subcommand journal_subcommand();

/// `cairn-bench persist`: durable persist through aggregates vs raw LMDB.
subcommand persist_subcommand();

/// `cairn-bench actor`: aggregate round trips vs plain CAF actors.
subcommand actor_subcommand();

/// `cairn-bench saga`: atomic process steps vs durable persist.
subcommand saga_subcommand();
subcommand cluster_subcommand();

// -- environment --------------------------------------------------------------

/// A fresh directory `cairn-bench-XXXXXX` under a base directory, removed
/// with its contents on destruction.
class temp_dir {
public:
  /// Creates the directory under `base`, or under $TMPDIR (else /tmp) when
  /// `base` is empty. Throws `usage_error` when `base` is not a directory
  /// and `std::runtime_error` when the directory cannot be created.
  explicit temp_dir(const std::string& base);

  ~temp_dir();

  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::string& path() const noexcept {
    return path_;
  }

  /// Returns `path() + "/" + name`.
  std::string sub(const std::string& name) const {
    return path_ + "/" + name;
  }

private:
  std::string path_;
};

/// Removes `path` and everything below it; ignores errors.
void remove_tree(const std::string& path) noexcept;

/// A plain LMDB environment with its main database and 16-byte big-endian
/// keys `(1, n)` for n = 1, 2, ...: the baseline the journal is measured
/// against. Opened with `MDB_NOTLS` plus the given flags (0 is LMDB's
/// default: full sync).
class raw_lmdb {
public:
  /// Creates directory `dir` and the environment in it, with a map of
  /// `map_size` bytes. Throws `std::runtime_error` with mdb_strerror's text.
  raw_lmdb(const std::string& dir, uint64_t map_size, unsigned flags);

  ~raw_lmdb();

  raw_lmdb(const raw_lmdb&) = delete;
  raw_lmdb& operator=(const raw_lmdb&) = delete;

  /// Puts `count` copies of `value` under the next keys with `MDB_APPEND`,
  /// in one write transaction.
  void append(size_t count, const std::string& value);

  /// Puts `values` under the next keys with `MDB_APPEND`, in one write
  /// transaction.
  void append(const std::vector<std::string>& values);

  /// Scans all records with one cursor (`MDB_NEXT`) in one read
  /// transaction, calling `f(const char* data, size_t size)` for each value.
  /// Returns the number of records.
  template <class F>
  uint64_t scan(F f) {
    MDB_txn* t = nullptr;
    check(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &t), "mdb_txn_begin");
    MDB_cursor* c = nullptr;
    if (auto rc = mdb_cursor_open(t, dbi_, &c)) {
      mdb_txn_abort(t);
      check(rc, "mdb_cursor_open");
    }
    uint64_t n = 0;
    MDB_val k;
    MDB_val v;
    auto rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    for (; rc == MDB_SUCCESS; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
      f(static_cast<const char*>(v.mv_data), v.mv_size);
      ++n;
    }
    mdb_cursor_close(c);
    mdb_txn_abort(t);
    if (rc != MDB_NOTFOUND)
      check(rc, "mdb_cursor_get");
    return n;
  }

  /// Bytes of the map in use (last page number times page size).
  uint64_t used_bytes() const;

  /// Throws `std::runtime_error` naming `what` unless `rc` is success.
  static void check(int rc, const std::string& what);

private:
  template <class F>
  void put_all(size_t count, F value_at);

  MDB_env* env_ = nullptr;
  MDB_dbi dbi_ = 0;
  uint64_t last_ = 0;
};

/// Measures elapsed time on the steady clock from construction or the last
/// `restart`.
class stopwatch {
public:
  using clock = std::chrono::steady_clock;

  stopwatch() : start_(clock::now()) {
    // nop
  }

  void restart() noexcept {
    start_ = clock::now();
  }

  /// Seconds since the start.
  double seconds() const noexcept {
    return std::chrono::duration<double>(clock::now() - start_).count();
  }

  /// Microseconds since the start.
  double micros() const noexcept {
    return std::chrono::duration<double, std::micro>(clock::now() - start_)
      .count();
  }

private:
  clock::time_point start_;
};

/// Returns the `p`-th percentile (0 to 100) of `xs` by the nearest-rank
/// method, 0 for an empty sample.
double percentile(std::vector<double> xs, double p);

/// A reading of /proc/self/statm and of the heap.
struct memory_reading {
  /// Resident bytes, and the file-backed (shared) part of them.
  uint64_t resident = 0;
  uint64_t file = 0;
  /// Bytes allocated with malloc and in use (all arenas).
  uint64_t heap = 0;

  uint64_t anon() const {
    return resident - file;
  }
};

/// Returns `(after - before) / n`, 0 for no `n`: the growth per item.
inline double growth_per(uint64_t before, uint64_t after, uint64_t n) {
  return n > 0 ? (static_cast<double>(after) - static_cast<double>(before)) / n
               : 0;
}

/// Reads the memory of the process after giving freed pages back to the
/// system (`malloc_trim`, and jemalloc's purge when linked with it).
/// Throws if /proc/self/statm does not read.
memory_reading read_memory();

/// User and system CPU seconds of the process so far (all threads).
double process_cpu_seconds();

/// Returns the bytes that this process has passed to write system calls
/// so far (`wchar` in /proc/self/io): for LMDB, the pages its commits
/// write. NaN where the kernel does not tell.
double bytes_written();

// -- output -------------------------------------------------------------------

/// Builds one JSON object, keys in insertion order. Numbers that are not
/// finite render as `null`.
class json_object {
public:
  json_object& set(const std::string& key, double x);

  json_object& set(const std::string& key, bool x);

  json_object& set(const std::string& key, const std::string& x);

  json_object& set(const std::string& key, const char* x) {
    return set(key, std::string{x});
  }

  json_object& set(const std::string& key, const json_object& x);

  template <class T>
  std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>,
                   json_object&>
  set(const std::string& key, T x) {
    return put(key, std::to_string(x));
  }

  /// Renders the object on one line.
  std::string str() const;

private:
  json_object& put(const std::string& key, std::string rendered);

  std::vector<std::pair<std::string, std::string>> fields_;
};

/// Quotes and escapes `str` as a JSON string.
std::string json_quote(const std::string& str);

/// A text table: the first column left-aligned, the others right-aligned.
class table {
public:
  explicit table(std::vector<std::string> headers);

  /// Adds a row; missing cells print empty.
  void add_row(std::vector<std::string> cells);

  void print(std::ostream& out) const;

private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

/// Formats `x` rounded to an integer with thousands separators: `1,234,567`.
std::string fmt_count(double x);

/// Formats `x` with `decimals` digits after the point.
std::string fmt_fixed(double x, int decimals);

} // namespace cairn::bench
