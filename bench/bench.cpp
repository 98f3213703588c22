#include "bench/bench.hpp"

#include <malloc.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef CAIRN_WITH_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

namespace cairn::bench {

// -- settings -----------------------------------------------------------------

bool settings::has(const std::string& name) const {
  return values.count(name) > 0;
}

uint64_t settings::get_count(const std::string& name, uint64_t fallback) const {
  auto i = values.find(name);
  if (i == values.end())
    return fallback;
  const auto& str = i->second;
  char* end = nullptr;
  errno = 0;
  auto x = std::strtoull(str.c_str(), &end, 10);
  if (str.empty() || str[0] == '-' || *end != '\0' || errno != 0 || x == 0)
    throw usage_error(name + " expects a positive integer, got '" + str + "'");
  return x;
}

std::vector<uint64_t>
settings::get_counts(const std::string& name,
                     std::vector<uint64_t> fallback) const {
  if (!has(name))
    return fallback;
  std::vector<uint64_t> result;
  const auto& list = values.at(name);
  for (size_t pos = 0; pos <= list.size();) {
    auto comma = std::min(list.find(',', pos), list.size());
    settings one;
    one.values[name] = list.substr(pos, comma - pos);
    result.push_back(one.get_count(name, 1));
    pos = comma + 1;
  }
  return result;
}

double settings::get_number(const std::string& name, double fallback) const {
  auto i = values.find(name);
  if (i == values.end())
    return fallback;
  const auto& str = i->second;
  char* end = nullptr;
  errno = 0;
  auto x = std::strtod(str.c_str(), &end);
  if (str.empty() || *end != '\0' || errno != 0 || !std::isfinite(x) || x <= 0)
    throw usage_error(name + " expects a positive number, got '" + str + "'");
  return x;
}

// -- environment --------------------------------------------------------------

temp_dir::temp_dir(const std::string& base) {
  std::string root = base;
  if (root.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    root = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
  }
  struct stat st;
  if (::stat(root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw usage_error("--dir " + root + ": not a directory");
  std::string tmpl = root + "/cairn-bench-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr)
    throw std::runtime_error("cannot create a directory in " + root + ": "
                             + std::strerror(errno));
  path_ = std::move(tmpl);
}

temp_dir::~temp_dir() {
  remove_tree(path_);
}

void remove_tree(const std::string& path) noexcept {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

// -- raw_lmdb -----------------------------------------------------------------

raw_lmdb::raw_lmdb(const std::string& dir, uint64_t map_size, unsigned flags) {
  if (::mkdir(dir.c_str(), 0755) != 0)
    throw std::runtime_error("cannot create " + dir + ": "
                             + std::strerror(errno));
  check(mdb_env_create(&env_), "mdb_env_create");
  check(mdb_env_set_mapsize(env_, map_size), "mdb_env_set_mapsize");
  check(mdb_env_open(env_, dir.c_str(), MDB_NOTLS | flags, 0644),
        "mdb_env_open(" + dir + ")");
  MDB_txn* t = nullptr;
  check(mdb_txn_begin(env_, nullptr, 0, &t), "mdb_txn_begin");
  if (auto rc = mdb_dbi_open(t, nullptr, 0, &dbi_)) {
    mdb_txn_abort(t);
    check(rc, "mdb_dbi_open");
  }
  check(mdb_txn_commit(t), "mdb_txn_commit");
}

raw_lmdb::~raw_lmdb() {
  mdb_env_close(env_);
}

template <class F>
void raw_lmdb::put_all(size_t count, F value_at) {
  MDB_txn* t = nullptr;
  check(mdb_txn_begin(env_, nullptr, 0, &t), "mdb_txn_begin");
  for (size_t i = 0; i < count; ++i) {
    char key[16];
    uint64_t hi = 1;
    uint64_t lo = ++last_;
    for (int j = 7; j >= 0; --j, hi >>= 8, lo >>= 8) {
      key[j] = static_cast<char>(hi & 0xFF);
      key[8 + j] = static_cast<char>(lo & 0xFF);
    }
    const std::string& value = value_at(i);
    MDB_val k{sizeof(key), key};
    MDB_val v{value.size(), const_cast<char*>(value.data())};
    if (auto rc = mdb_put(t, dbi_, &k, &v, MDB_APPEND)) {
      mdb_txn_abort(t);
      check(rc, "mdb_put");
    }
  }
  check(mdb_txn_commit(t), "mdb_txn_commit");
}

void raw_lmdb::append(size_t count, const std::string& value) {
  put_all(count, [&](size_t) -> const std::string& { return value; });
}

void raw_lmdb::append(const std::vector<std::string>& values) {
  put_all(values.size(),
          [&](size_t i) -> const std::string& { return values[i]; });
}

uint64_t raw_lmdb::used_bytes() const {
  MDB_envinfo info;
  MDB_stat st;
  mdb_env_info(env_, &info);
  mdb_env_stat(env_, &st);
  return (static_cast<uint64_t>(info.me_last_pgno) + 1) * st.ms_psize;
}

void raw_lmdb::check(int rc, const std::string& what) {
  if (rc != MDB_SUCCESS)
    throw std::runtime_error(what + ": " + mdb_strerror(rc));
}

double percentile(std::vector<double> xs, double p) {
  if (xs.empty())
    return 0;
  std::sort(xs.begin(), xs.end());
  auto rank = static_cast<size_t>(std::ceil(p / 100.0 * xs.size()));
  rank = std::clamp<size_t>(rank, 1, xs.size());
  return xs[rank - 1];
}

memory_reading read_memory() {
  malloc_trim(0);
#ifdef CAIRN_WITH_JEMALLOC
  // Returns the pages of freed memory to the system, as malloc_trim does for
  // glibc's heap.
  auto purge = "arena." + std::to_string(MALLCTL_ARENAS_ALL) + ".purge";
  mallctl(purge.c_str(), nullptr, nullptr, nullptr, 0);
#endif
  memory_reading m;
  std::ifstream in{"/proc/self/statm"};
  uint64_t size = 0;
  uint64_t resident = 0;
  uint64_t shared = 0;
  if (!(in >> size >> resident >> shared))
    throw std::runtime_error("cannot read /proc/self/statm");
  auto page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  m.resident = resident * page;
  m.file = shared * page;
#ifdef CAIRN_WITH_JEMALLOC
  // jemalloc's statistics are a snapshot taken when its epoch advances.
  uint64_t epoch = 1;
  size_t len = sizeof(epoch);
  mallctl("epoch", &epoch, &len, &epoch, len);
  size_t allocated = 0;
  len = sizeof(allocated);
  if (mallctl("stats.allocated", &allocated, &len, nullptr, 0) == 0)
    m.heap = allocated;
#else
  auto mi = mallinfo2();
  m.heap = mi.uordblks + mi.hblkhd;
#endif
  return m;
}

double process_cpu_seconds() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

double bytes_written() {
  std::ifstream in{"/proc/self/io"};
  std::string key;
  uint64_t value = 0;
  while (in >> key >> value)
    if (key == "wchar:")
      return static_cast<double>(value);
  return std::numeric_limits<double>::quiet_NaN();
}

// -- json_object --------------------------------------------------------------

std::string json_quote(const std::string& str) {
  std::string result = "\"";
  for (auto ch : str) {
    switch (ch) {
      case '"':
        result += "\\\"";
        break;
      case '\\':
        result += "\\\\";
        break;
      case '\n':
        result += "\\n";
        break;
      case '\t':
        result += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(ch) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", ch);
          result += buf;
        } else {
          result += ch;
        }
    }
  }
  result += '"';
  return result;
}

json_object& json_object::set(const std::string& key, double x) {
  if (!std::isfinite(x))
    return put(key, "null");
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.10g", x);
  return put(key, buf);
}

json_object& json_object::set(const std::string& key, bool x) {
  return put(key, x ? "true" : "false");
}

json_object& json_object::set(const std::string& key, const std::string& x) {
  return put(key, json_quote(x));
}

json_object& json_object::set(const std::string& key, const json_object& x) {
  return put(key, x.str());
}

std::string json_object::str() const {
  std::string result = "{";
  for (auto& [key, value] : fields_) {
    if (result.size() > 1)
      result += ", ";
    result += json_quote(key);
    result += ": ";
    result += value;
  }
  result += '}';
  return result;
}

json_object& json_object::put(const std::string& key, std::string rendered) {
  for (auto& field : fields_)
    if (field.first == key) {
      field.second = std::move(rendered);
      return *this;
    }
  fields_.emplace_back(key, std::move(rendered));
  return *this;
}

// -- table --------------------------------------------------------------------

table::table(std::vector<std::string> headers) : headers_(std::move(headers)) {
  // nop
}

void table::add_row(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

void table::print(std::ostream& out) const {
  std::vector<size_t> widths;
  for (auto& h : headers_)
    widths.push_back(h.size());
  for (auto& row : rows_)
    for (size_t i = 0; i < row.size(); ++i)
      widths[i] = std::max(widths[i], row[i].size());
  auto line = [&](const std::vector<std::string>& cells) {
    for (size_t i = 0; i < cells.size(); ++i) {
      auto pad = std::string(widths[i] - cells[i].size(), ' ');
      if (i > 0)
        out << "  ";
      out << (i == 0 ? cells[i] + pad : pad + cells[i]);
    }
    out << '\n';
  };
  line(headers_);
  size_t total = 0;
  for (auto w : widths)
    total += w;
  out << std::string(total + 2 * (widths.size() - 1), '-') << '\n';
  for (auto& row : rows_)
    line(row);
}

std::string fmt_count(double x) {
  if (!std::isfinite(x))
    return "-";
  auto digits = std::to_string(static_cast<long long>(std::llround(x)));
  std::string result;
  size_t start = digits[0] == '-' ? 1 : 0;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > start && (digits.size() - i) % 3 == 0)
      result += ',';
    result += digits[i];
  }
  return result;
}

std::string fmt_fixed(double x, int decimals) {
  if (!std::isfinite(x))
    return "-";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, x);
  return buf;
}

} // namespace cairn::bench
