// The journal's guarantees under real I/O failures: a writer child process
// (cairn-fault-writer) runs with the fault shim preloaded
// (libcairn-fault-shim.so), which fails or holds the calls LMDB makes to
// write and sync data.mdb. The writer reports each submission and outcome in
// one write(2) per line; the test trusts only those lines and the journal,
// which it opens after the writer is gone, without the shim.

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "cairn/journal/errc.hpp"
#include "cairn/journal/journal.hpp"
#include "cairn/journal/verify.hpp"
#include "tests/journal/fault/fault_child.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cairn;
using cairn::test::bin_path;
using cairn::test::fault_child;
using cairn::test::fifo;
using cairn::test::temp_dir;

namespace {

using clock_type = std::chrono::steady_clock;

/// Time limits: generous, because the machine may be busy; a correct run
/// never waits for them.
constexpr int line_timeout_ms = 20000;
constexpr int exit_timeout_ms = 30000;

// -- what the writer printed --------------------------------------------------

/// An acknowledged group and where it landed.
struct ack {
  uint64_t first = 0;
  uint64_t last = 0;
};

/// The lines of one writer run, by kind.
struct run_record {
  std::vector<std::string> lines;
  std::vector<std::string> problems;
  bool opened = false;
  /// The error of a failed open.
  std::string open_error;
  bool done = false;
  /// Map growths of a journal-mode run without failure.
  uint64_t map_growths = 0;
  std::set<uint64_t> submitted;
  std::map<uint64_t, ack> acked;
  /// Groups that got an error, and its name.
  std::map<uint64_t, std::string> errors;
  /// The answer to the group sent after a failure, and its id.
  std::optional<std::string> probe;
  uint64_t probe_gid = 0;
  std::optional<std::string> failed;
  std::optional<std::string> read;
  std::optional<std::string> reopen;
  /// `stats` of the actors mode: commits and failed groups.
  std::optional<std::pair<uint64_t, uint64_t>> stats;

  size_t count_errors(const std::string& name) const {
    size_t n = 0;
    for (auto& [gid, e] : errors)
      n += e == name ? 1 : 0;
    return n;
  }
};

std::vector<std::string> words(const std::string& line) {
  std::istringstream in{line};
  std::vector<std::string> result;
  for (std::string w; in >> w;)
    result.push_back(std::move(w));
  return result;
}

bool parse_u64(const std::string& str, uint64_t& out) {
  if (str.empty() || str.find_first_not_of("0123456789") != std::string::npos)
    return false;
  out = std::stoull(str);
  return true;
}

/// Adds one line of the writer to `r`.
void record_line(const std::string& line, run_record& r) {
  r.lines.push_back(line);
  auto w = words(line);
  auto bad = [&] { r.problems.push_back("malformed line: " + line); };
  if (w.size() < 2 || w.back() != ".")
    return bad();
  auto& kind = w[0];
  uint64_t gid = 0;
  if (kind == "open") {
    r.opened = w[1] == "ok";
    if (!r.opened)
      r.open_error = w[1];
  } else if (kind == "done") {
    r.done = true;
    if (w.size() == 3 && !parse_u64(w[1], r.map_growths))
      return bad();
  } else if (kind == "sub" && w.size() == 3 && parse_u64(w[1], gid)) {
    if (!r.submitted.insert(gid).second)
      r.problems.push_back("group " + w[1] + " submitted twice");
  } else if (kind == "ack" && w.size() == 5 && parse_u64(w[1], gid)) {
    ack a;
    if (!parse_u64(w[2], a.first) || !parse_u64(w[3], a.last))
      return bad();
    if (r.acked.count(gid) > 0 || r.errors.count(gid) > 0)
      r.problems.push_back("group " + w[1] + " has a second outcome: " + line);
    r.acked[gid] = a;
  } else if (kind == "err" && w.size() == 4 && parse_u64(w[1], gid)) {
    if (r.acked.count(gid) > 0 || r.errors.count(gid) > 0)
      r.problems.push_back("group " + w[1] + " has a second outcome: " + line);
    r.errors[gid] = w[2];
  } else if (kind == "probe" && w.size() == 4 && parse_u64(w[1], gid)) {
    r.probe = w[2];
    r.probe_gid = gid;
  } else if (kind == "failed" && w.size() == 3) {
    r.failed = w[1];
  } else if (kind == "read" && w.size() == 3) {
    r.read = w[1];
  } else if (kind == "reopen" && w.size() == 3) {
    r.reopen = w[1];
  } else if (kind == "stats" && w.size() == 4) {
    uint64_t commits = 0;
    uint64_t failed = 0;
    if (!parse_u64(w[1], commits) || !parse_u64(w[2], failed))
      return bad();
    r.stats = std::make_pair(commits, failed);
  } else if (kind != "phase") {
    bad();
  }
}

/// Reads the writer's lines to its end and reaps it.
run_record run_to_end(fault_child& child) {
  run_record r;
  std::string line;
  for (;;) {
    auto ev = child.next(line, line_timeout_ms);
    if (ev == fault_child::event::line) {
      record_line(line, r);
      continue;
    }
    if (ev == fault_child::event::timeout)
      r.problems.push_back("the writer printed nothing for "
                           + std::to_string(line_timeout_ms) + " ms");
    break;
  }
  auto code = child.wait_exit(exit_timeout_ms);
  if (code != 0)
    r.problems.push_back("the writer exited with " + std::to_string(code));
  return r;
}

// -- the shim -----------------------------------------------------------------

/// Settings of the fault shim for one run.
struct shim_settings {
  std::string op; // "write", "sync" or empty: no fault
  long at = 0;
  std::string err = "EIO";
  bool short_write = false;
  std::string log;
  std::string hold;
  std::string entered;

  std::vector<std::string> env() const {
    std::vector<std::string> result{"LD_PRELOAD=" + test::fault_shim_path(),
                                    "CAIRN_FAULT_FILE=data.mdb"};
    // In a build with AddressSanitizer, its runtime must come first among
    // the libraries unless told otherwise; the shim comes before it.
    std::string asan = "ASAN_OPTIONS=";
    if (auto opts = std::getenv("ASAN_OPTIONS"); opts != nullptr && *opts)
      asan += std::string{opts} + ":";
    result.push_back(asan + "verify_asan_link_order=0");
    if (!op.empty()) {
      result.push_back("CAIRN_FAULT_OP=" + op);
      result.push_back("CAIRN_FAULT_AT=" + std::to_string(at));
      result.push_back("CAIRN_FAULT_ERRNO=" + err);
      if (short_write)
        result.push_back("CAIRN_FAULT_SHORT=1");
    }
    if (!log.empty())
      result.push_back("CAIRN_FAULT_LOG=" + log);
    if (!hold.empty()) {
      result.push_back("CAIRN_FAULT_HOLD_SYNC=" + hold);
      result.push_back("CAIRN_FAULT_SYNC_ENTERED=" + entered);
    }
    return result;
  }
};

/// What the shim's log says about a run.
struct shim_log {
  size_t writes = 0;
  size_t syncs = 0;
  bool fired = false;
  /// The line of the call that failed.
  std::string fault;
};

shim_log read_shim_log(const std::string& path) {
  shim_log result;
  std::istringstream in{test::read_file(path)};
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("write ", 0) == 0)
      ++result.writes;
    else if (line.rfind("sync ", 0) == 0)
      ++result.syncs;
    else if (line.rfind("fault ", 0) == 0) {
      result.fired = true;
      result.fault = line;
    }
  }
  return result;
}

/// Checks the order of LMDB's calls in a shim log: a commit is durable when
/// its data pages are synced and then its meta page (pages 0 and 1) is
/// written, through a descriptor with O_DSYNC when `meta_dsync`; a reader
/// (and a writer after a restart) sees the commit from its meta page on. So
/// no meta page may be written while data pages written before it are not
/// yet synced.
std::vector<std::string> check_sync_order(const std::string& path,
                                          bool meta_dsync) {
  std::vector<std::string> problems;
  auto page = static_cast<long long>(::sysconf(_SC_PAGESIZE));
  bool unsynced = false;
  size_t metas = 0;
  std::istringstream in{test::read_file(path)};
  for (std::string line; std::getline(in, line);) {
    auto w = words(line);
    if (!w.empty() && w[0] == "sync") {
      unsynced = false;
      continue;
    }
    if (w.size() != 5 || w[0] != "write")
      continue;
    auto offset = std::stoll(w[3]);
    if (offset >= 2 * page) {
      unsynced = true;
      continue;
    }
    ++metas;
    if (unsynced)
      problems.push_back("meta page written before the sync of the data pages"
                         " before it (call "
                         + line + ")");
    if (meta_dsync && w[4] != "dsync")
      problems.push_back("meta page written without O_DSYNC (call " + line
                         + ")");
  }
  if (metas == 0)
    problems.push_back("no meta page written");
  return problems;
}

// -- the journal after the run ------------------------------------------------

std::string writer_path() {
  return bin_path("cairn-fault-writer");
}

/// A group found in the journal: its events by index.
struct found_group {
  uint64_t total = 0;
  std::map<uint64_t, uint64_t> positions; // index -> position
};

/// Parses `g=<gid> i=<index> n=<total> ` at the start of a payload.
bool parse_payload(const std::string& payload, uint64_t& gid, uint64_t& index,
                   uint64_t& total) {
  auto w = words(payload);
  if (w.size() < 3 || w[0].rfind("g=", 0) != 0 || w[1].rfind("i=", 0) != 0
      || w[2].rfind("n=", 0) != 0)
    return false;
  return parse_u64(w[0].substr(2), gid) && parse_u64(w[1].substr(2), index)
         && parse_u64(w[2].substr(2), total);
}

/// Opens the journal without the shim and checks it against the runs: every
/// group in it is whole, contiguous and was submitted; every acknowledged
/// group is there at its positions; no group refused with `journal_failed`
/// is there; `cairn-journal verify` passes. A group whose commit failed may
/// be there or not, but only whole.
std::vector<std::string> check_journal(const std::string& dir,
                                       const std::vector<run_record>& runs) {
  std::vector<std::string> problems;
  std::map<uint64_t, found_group> found;
  {
    auto j = journal::journal::open(dir);
    if (!j)
      return {"open: " + describe(j.error())};
    uint64_t from = 1;
    for (;;) {
      auto slice = (*j)->read_all(from, 4096);
      if (!slice) {
        problems.push_back("read_all: " + describe(slice.error()));
        break;
      }
      if (slice->events.empty())
        break;
      for (auto& ev : slice->events) {
        uint64_t gid = 0, index = 0, total = 0;
        if (!parse_payload(ev.record.payload, gid, index, total)) {
          problems.push_back("unexpected event at position "
                             + std::to_string(ev.position));
          continue;
        }
        auto& g = found[gid];
        g.total = total;
        if (!g.positions.emplace(index, ev.position).second)
          problems.push_back("group " + std::to_string(gid) + " has event "
                             + std::to_string(index) + " twice");
      }
      from = slice->next_position;
    }
  }
  std::set<uint64_t> submitted;
  std::map<uint64_t, ack> acked;
  std::set<uint64_t> refused;
  for (auto& r : runs) {
    submitted.insert(r.submitted.begin(), r.submitted.end());
    acked.insert(r.acked.begin(), r.acked.end());
    for (auto& [gid, e] : r.errors)
      if (e == "journal_failed")
        refused.insert(gid);
    if (r.probe == std::optional<std::string>{"journal_failed"})
      refused.insert(r.probe_gid);
  }
  for (auto& [gid, g] : found) {
    auto id = std::to_string(gid);
    if (submitted.count(gid) == 0)
      problems.push_back("group " + id + " is in the journal, never submitted");
    if (g.positions.size() != g.total)
      problems.push_back("group " + id
                         + " is partial: " + std::to_string(g.positions.size())
                         + " of " + std::to_string(g.total) + " events");
    else if (g.positions.rbegin()->second - g.positions.begin()->second + 1
             != g.total)
      problems.push_back("group " + id + " is not contiguous in the log");
    if (refused.count(gid) > 0)
      problems.push_back("group " + id
                         + " was refused (journal_failed) but is there");
  }
  for (auto& [gid, a] : acked) {
    auto id = std::to_string(gid);
    auto i = found.find(gid);
    if (i == found.end()) {
      problems.push_back("acknowledged group " + id + " is missing");
      continue;
    }
    auto& pos = i->second.positions;
    if (pos.empty() || pos.begin()->second != a.first
        || pos.rbegin()->second != a.last)
      problems.push_back("acknowledged group " + id + " is not at positions "
                         + std::to_string(a.first) + "-"
                         + std::to_string(a.last));
  }
  auto res = test::run({bin_path("cairn-journal"), "verify", dir});
  if (res.exit_code != 0 || res.output.find("OK") == std::string::npos)
    problems.push_back("cairn-journal verify: " + res.output);
  return problems;
}

std::string join(const std::vector<std::string>& xs, size_t max = 20) {
  std::string result;
  for (size_t i = 0; i < xs.size() && i < max; ++i)
    result += xs[i] + "\n";
  if (xs.size() > max)
    result += "... and " + std::to_string(xs.size() - max) + " more\n";
  return result;
}

/// Creates a journal at `dir` holding a few groups (ids 1 to 3), written by
/// the writer without the shim, so that the runs under the shim start from
/// a journal with data and their counted calls all belong to commits.
run_record make_base(const std::string& dir,
                     const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv{writer_path(), "journal", dir, "groups=3",
                                "first-gid=1"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  fault_child child{argv, {}};
  auto r = run_to_end(child);
  INFO(join(r.lines));
  REQUIRE(r.problems.empty());
  REQUIRE(r.acked.size() == 3);
  return r;
}

/// Runs the writer under the shim and returns its record and the shim log.
std::pair<run_record, shim_log> run_writer(const temp_dir& tmp,
                                           std::vector<std::string> args,
                                           shim_settings shim) {
  shim.log = tmp.sub("shim.log");
  ::unlink(shim.log.c_str());
  std::vector<std::string> argv{writer_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  fault_child child{argv, shim.env()};
  auto r = run_to_end(child);
  return {std::move(r), read_shim_log(shim.log)};
}

/// Checks what a writer reports after a failed commit: a refused probe, a
/// failed journal, a successful reopen and acknowledged groups after it.
void check_after_failure(const run_record& r,
                         std::vector<std::string>& problems) {
  if (r.probe != std::optional<std::string>{"journal_failed"})
    problems.push_back("a group after the failure got "
                       + r.probe.value_or("no answer")
                       + " instead of journal_failed");
  if (r.failed != std::optional<std::string>{"1"})
    problems.push_back("journal::failed() is not true after the failure");
  if (r.reopen != std::optional<std::string>{"ok"})
    problems.push_back("reopening after the failure gave "
                       + r.reopen.value_or("nothing"));
  else if (r.acked.upper_bound(r.probe_gid) == r.acked.end()
           || std::distance(r.acked.upper_bound(r.probe_gid), r.acked.end())
                != 3)
    problems.push_back("the reopened journal did not acknowledge 3 groups");
}

} // namespace

// -- commit failures ----------------------------------------------------------

namespace {

/// Fails each write and each sync of data.mdb in turn, one run each, in a
/// writer that commits 4 times 3 groups with `config` added to its
/// arguments (and to those of the base journal's writer). Returns how often
/// the run without a fault grew the map.
uint64_t fail_each_call(const std::vector<std::string>& config) {
  // Count the calls of a clean run: 4 commits of 3 groups each.
  std::vector<std::string> args_tail{"groups=12", "batch=3", "first-gid=100"};
  args_tail.insert(args_tail.end(), config.begin(), config.end());
  shim_log clean;
  uint64_t clean_growths = 0;
  {
    temp_dir tmp;
    auto dir = tmp.sub("journal");
    make_base(dir, config);
    std::vector<std::string> args{"journal", dir};
    args.insert(args.end(), args_tail.begin(), args_tail.end());
    auto [r, log] = run_writer(tmp, args, {});
    INFO(join(r.lines));
    REQUIRE(r.problems.empty());
    REQUIRE(r.acked.size() == 12);
    clean = log;
    clean_growths = r.map_growths;
  }
  // LMDB writes data pages, syncs, then writes the meta page in each commit
  // (opening a journal that exists writes nothing today; if it did, its
  // calls would count too, and a fault there fails the open).
  REQUIRE(clean.syncs >= 4);
  REQUIRE(clean.writes >= 8);
  struct variant {
    std::string op;
    std::string err;
    bool short_write;
    size_t calls;
  };
  std::vector<variant> variants{{"write", "EIO", false, clean.writes},
                                {"write", "ENOSPC", true, clean.writes},
                                {"sync", "EIO", false, clean.syncs},
                                {"sync", "ENOSPC", false, clean.syncs}};
  size_t failed_runs = 0;
  for (auto& v : variants) {
    for (size_t k = 1; k <= v.calls; ++k) {
      temp_dir tmp;
      auto dir = tmp.sub("journal");
      auto base = make_base(dir, config);
      std::vector<std::string> args{"journal", dir};
      args.insert(args.end(), args_tail.begin(), args_tail.end());
      shim_settings shim;
      shim.op = v.op;
      shim.at = static_cast<long>(k);
      shim.err = v.err;
      shim.short_write = v.short_write;
      auto [r, log] = run_writer(tmp, args, shim);
      INFO("fail " << v.op << " call " << k << " of " << v.calls << " with "
                   << v.err << (v.short_write ? " (short write)" : ""));
      INFO("writer:\n" << join(r.lines, 60));
      INFO("shim: " << log.fault);
      std::vector<std::string> problems = r.problems;
      // The runs are deterministic: call k exists, so the fault fires.
      REQUIRE(log.fired);
      if (!r.opened) {
        // The fault hit the commit of the open: it fails, and the journal
        // keeps what it held.
        CHECK(r.open_error == "storage_error");
        auto kept = check_journal(dir, {base, r});
        INFO(join(kept));
        REQUIRE(kept.empty());
        ++failed_runs;
        continue;
      }
      REQUIRE(r.done);
      // Every group of the failed commit gets storage_error; the three
      // groups of a commit are submitted together, so the failed commit
      // holds exactly the groups that got an error.
      auto storage_errors = r.count_errors("storage_error");
      if (storage_errors != 3)
        problems.push_back(std::to_string(storage_errors)
                           + " groups got storage_error; the failed commit "
                             "held 3");
      if (r.errors.size() != storage_errors)
        problems.push_back("other errors than storage_error");
      check_after_failure(r, problems);
      // Reads go on after a failed data write or sync. After a failed write
      // of the meta page (the descriptor opened with O_DSYNC) LMDB marks
      // the environment unusable (MDB_PANIC) and reads fail too, as
      // journal.hpp says: see the test below.
      bool meta_write = log.fault.find("dsync") != std::string::npos;
      if (!meta_write && r.read != std::optional<std::string>{"ok"})
        problems.push_back("a read after the failure gave "
                           + r.read.value_or("nothing"));
      auto more = check_journal(dir, {base, r});
      problems.insert(problems.end(), more.begin(), more.end());
      INFO(join(problems));
      REQUIRE(problems.empty());
      ++failed_runs;
    }
  }
  CHECK(failed_runs == 2 * clean.writes + 2 * clean.syncs);
  return clean_growths;
}

} // namespace

TEST_CASE("a real write or sync failure of data.mdb fails every group of its "
          "commit, stops the journal until reopened, and loses no "
          "acknowledged group") {
  fail_each_call({});
}

TEST_CASE("a real write or sync failure in commits that grow the map fails "
          "its commit and loses no acknowledged group") {
  // The smallest map and big events: the commits hit MDB_MAP_FULL, the
  // journal grows the map and retries them, and the retry meets the fault.
  CHECK(fail_each_call({"map-kib=64", "pad=3000"}) >= 1);
}

TEST_CASE("a real commit failure under the coordinator answers every writer "
          "of the failed commit with an error and refuses every later group",
          "[actors]") {
  struct variant {
    std::string op;
    long at;
    std::string err;
    bool short_write;
  };
  // Early calls always exist (the first commit writes data and meta pages
  // and syncs once); later ones exist in most runs, depending on how the
  // coordinator batched the concurrent groups.
  std::vector<variant> variants{
    {"sync", 1, "EIO", false},  {"sync", 2, "ENOSPC", false},
    {"sync", 4, "EIO", false},  {"sync", 7, "EIO", false},
    {"write", 1, "EIO", false}, {"write", 2, "ENOSPC", true},
    {"write", 3, "EIO", false}, {"write", 5, "ENOSPC", false},
    {"write", 8, "EIO", true},  {"write", 13, "EIO", false},
  };
  size_t fired = 0;
  for (auto& v : variants) {
    temp_dir tmp;
    auto dir = tmp.sub("journal");
    auto base = make_base(dir);
    shim_settings shim;
    shim.op = v.op;
    shim.at = v.at;
    shim.err = v.err;
    shim.short_write = v.short_write;
    auto [r, log] = run_writer(
      tmp, {"actors", dir, "writers=4", "groups=6", "first-gid=100"}, shim);
    INFO("fail " << v.op << " call " << v.at << " with " << v.err);
    INFO("writer:\n" << join(r.lines, 80));
    INFO("shim: " << log.fault);
    std::vector<std::string> problems = r.problems;
    if (!r.opened) {
      // The fault hit the commit of the open (see above).
      CHECK(r.open_error == "storage_error");
      auto more = check_journal(dir, {base, r});
      INFO(join(more));
      REQUIRE(more.empty());
      ++fired;
      continue;
    }
    REQUIRE(r.done);
    if (v.at <= 2)
      REQUIRE(log.fired);
    // Every group gets exactly one answer, and no answer is a timeout.
    for (auto gid : r.submitted)
      if (r.acked.count(gid) == 0 && r.errors.count(gid) == 0
          && !(r.probe && gid == r.probe_gid))
        problems.push_back("group " + std::to_string(gid) + " got no answer");
    for (auto& [gid, e] : r.errors)
      if (e != "storage_error" && e != "journal_failed")
        problems.push_back("group " + std::to_string(gid) + " got " + e);
    REQUIRE(r.stats);
    if (log.fired) {
      ++fired;
      // The failed commit's groups get storage_error, every group after it
      // journal_failed: together they are the coordinator's failed groups.
      if (r.count_errors("storage_error") == 0)
        problems.push_back("no group got storage_error");
      if (r.stats->second != r.errors.size())
        problems.push_back("the coordinator counts "
                           + std::to_string(r.stats->second)
                           + " failed groups, the writers "
                           + std::to_string(r.errors.size()) + " errors");
      check_after_failure(r, problems);
      if (log.fault.find("dsync") == std::string::npos
          && r.read != std::optional<std::string>{"ok"})
        problems.push_back("a read after the failure gave "
                           + r.read.value_or("nothing"));
    } else {
      if (!r.errors.empty())
        problems.push_back("errors without a fault");
      if (r.acked.size() != 24)
        problems.push_back("not every group was acknowledged");
    }
    auto more = check_journal(dir, {base, r});
    problems.insert(problems.end(), more.begin(), more.end());
    INFO(join(problems));
    REQUIRE(problems.empty());
  }
  CHECK(fired >= 6);
}

TEST_CASE("after a failed write of the meta page the failed journal refuses "
          "reads too, and reads again once reopened") {
  // The third write of data.mdb is the meta page of the first commit
  // (data pages, sync, meta page). LMDB then sets MDB_FATAL_ERROR and every
  // transaction, reads included, returns MDB_PANIC until the environment
  // is opened again (journal.hpp, "Fail-stop").
  shim_settings shim;
  shim.op = "write";
  for (long at = 1; at <= 4; ++at) {
    // Find the meta page write: the first call the shim marks dsync.
    temp_dir probe_tmp;
    auto probe_dir = probe_tmp.sub("journal");
    auto base = make_base(probe_dir);
    shim.at = at;
    auto [r, log] = run_writer(
      probe_tmp, {"journal", probe_dir, "groups=3", "batch=3"}, shim);
    if (log.fault.find("dsync") == std::string::npos)
      continue;
    INFO(join(r.lines));
    INFO(log.fault);
    REQUIRE(r.read.has_value());
    CHECK(*r.read != "ok");
    CHECK(r.read->find("storage_error") != std::string::npos);
    std::vector<std::string> problems;
    check_after_failure(r, problems);
    auto more = check_journal(probe_dir, {base, r});
    problems.insert(problems.end(), more.begin(), more.end());
    INFO(join(problems));
    CHECK(problems.empty());
    return;
  }
  FAIL("no write of the meta page among the first four writes");
}

// -- acknowledgement after the sync -------------------------------------------

namespace {

/// Returns the last position of the journal at `dir` as a reader sees it
/// now (what the last completed commit wrote).
uint64_t last_position_now(const std::string& dir) {
  journal::options opts;
  opts.read_only = true;
  opts.create = false;
  auto j = journal::journal::open(dir, opts);
  REQUIRE(j);
  auto pos = (*j)->last_position();
  REQUIRE(pos);
  return *pos;
}

} // namespace

TEST_CASE("with sync full or no-meta-sync no writer is acknowledged while "
          "the sync of its commit is held",
          "[actors]") {
  struct variant {
    std::string sync;
    /// Cap of a commit in events: 1 makes every commit hold one group.
    uint64_t max_batch_events;
    uint64_t groups_per_writer;
  };
  std::vector<variant> variants{
    {"full", 0, 5}, {"no-meta-sync", 0, 5}, {"full", 1, 3}};
  for (auto& v : variants) {
    INFO("sync " << v.sync << ", max-batch-events " << v.max_batch_events);
    temp_dir tmp;
    auto dir = tmp.sub("journal");
    auto base = make_base(dir);
    fifo hold{tmp.sub("hold")};
    fifo entered{tmp.sub("entered")};
    shim_settings shim;
    shim.log = tmp.sub("shim.log");
    shim.hold = hold.path();
    shim.entered = entered.path();
    std::vector<std::string> argv{writer_path(),
                                  "actors",
                                  dir,
                                  "writers=4",
                                  "first-gid=100",
                                  "groups="
                                    + std::to_string(v.groups_per_writer),
                                  "sync=" + v.sync};
    if (v.max_batch_events > 0)
      argv.push_back("max-batch-events=" + std::to_string(v.max_batch_events));
    fault_child child{argv, shim.env()};
    run_record r;
    std::vector<std::string> problems;
    size_t holds = 0;
    auto deadline = clock_type::now() + std::chrono::seconds(50);
    std::string line;
    for (;;) {
      REQUIRE(clock_type::now() < deadline);
      auto ev = child.next(line, line_timeout_ms, entered.fd());
      if (ev == fault_child::event::line) {
        record_line(line, r);
        continue;
      }
      if (ev == fault_child::event::end)
        break;
      REQUIRE(ev == fault_child::event::fd_ready);
      REQUIRE(entered.take_byte());
      ++holds;
      // The commit's meta page is not written yet: a reader sees the commit
      // before. Any group at a later position is in the held commit.
      auto durable = last_position_now(dir);
      // Watch the output a while: an acknowledgement of the held commit, if
      // the coordinator answered before the sync, shows up now. (The wait
      // only gives a wrong answer time to appear; a correct run passes
      // whatever the delay.)
      auto watch_until = clock_type::now() + std::chrono::milliseconds(100);
      for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      watch_until - clock_type::now())
                      .count();
        if (left <= 0
            || child.next(line, static_cast<int>(left))
                 != fault_child::event::line)
          break;
        record_line(line, r);
      }
      for (auto& [gid, a] : r.acked)
        if (a.last > durable)
          problems.push_back("group " + std::to_string(gid)
                             + " acknowledged at position "
                             + std::to_string(a.last)
                             + " while the sync of its commit was held ("
                             + std::to_string(durable) + " durable)");
      // With one group per commit, whatever the order in which the
      // implementation writes and syncs: each acknowledgement needs a sync
      // of its own that has ended, and the sync held now has not.
      if (v.max_batch_events == 1 && r.acked.size() > holds - 1)
        problems.push_back(std::to_string(r.acked.size())
                           + " groups acknowledged after "
                           + std::to_string(holds - 1) + " syncs");
      hold.put_byte();
    }
    CHECK(child.wait_exit(exit_timeout_ms) == 0);
    INFO("writer:\n" << join(r.lines, 80));
    problems.insert(problems.end(), r.problems.begin(), r.problems.end());
    // Every commit of the run synced once, and was held.
    auto log = read_shim_log(shim.log);
    auto order = check_sync_order(shim.log, v.sync == "full");
    problems.insert(problems.end(), order.begin(), order.end());
    CHECK(log.syncs == holds);
    CHECK(holds >= 1);
    if (v.max_batch_events == 1)
      CHECK(holds == 4 * v.groups_per_writer);
    CHECK(r.done);
    CHECK(r.errors.empty());
    CHECK(r.acked.size() == 4 * v.groups_per_writer);
    auto more = check_journal(dir, {base, r});
    problems.insert(problems.end(), more.begin(), more.end());
    INFO(join(problems));
    CHECK(problems.empty());
  }
}

TEST_CASE("with sync none writers are acknowledged without any sync of "
          "data.mdb",
          "[actors]") {
  temp_dir tmp;
  auto dir = tmp.sub("journal");
  auto base = make_base(dir, {"sync=none"});
  fifo hold{tmp.sub("hold")};
  fifo entered{tmp.sub("entered")};
  shim_settings shim;
  shim.log = tmp.sub("shim.log");
  shim.hold = hold.path();
  shim.entered = entered.path();
  fault_child child{{writer_path(), "actors", dir, "writers=4", "groups=5",
                     "first-gid=100", "sync=none"},
                    shim.env()};
  run_record r;
  size_t holds = 0;
  std::string line;
  for (;;) {
    auto ev = child.next(line, line_timeout_ms, entered.fd());
    if (ev == fault_child::event::line) {
      record_line(line, r);
      continue;
    }
    if (ev != fault_child::event::fd_ready)
      break;
    // A sync that should not be: count it and let it go.
    REQUIRE(entered.take_byte());
    ++holds;
    hold.put_byte();
  }
  CHECK(child.wait_exit(exit_timeout_ms) == 0);
  INFO("writer:\n" << join(r.lines, 80));
  auto log = read_shim_log(shim.log);
  CHECK(holds == 0);
  CHECK(log.syncs == 0);
  // The shim saw the writes of data.mdb: it was there to see a sync.
  CHECK(log.writes >= 2);
  CHECK(r.problems.empty());
  CHECK(r.done);
  CHECK(r.errors.empty());
  CHECK(r.acked.size() == 20);
  auto problems = check_journal(dir, {base, r});
  INFO(join(problems));
  CHECK(problems.empty());
}

// -- map growth seen from another process -------------------------------------

namespace {

/// Parses `"position":N` out of a JSON line of `cairn-journal tail`.
bool position_of(const std::string& line, uint64_t& pos) {
  static const std::string key = "\"position\":";
  auto at = line.find(key);
  if (at == std::string::npos)
    return false;
  auto end = line.find_first_not_of("0123456789", at + key.size());
  return parse_u64(line.substr(at + key.size(), end - at - key.size()), pos);
}

} // namespace

TEST_CASE("cairn-journal tail --follow keeps reading while a writer process "
          "grows the map") {
  temp_dir tmp;
  auto dir = tmp.sub("journal");
  // The writer starts at the smallest map (64 KiB) and commits in phases,
  // each phase about 100 KiB of events; the map doubles as it fills.
  constexpr int phases = 12;
  fault_child writer{{writer_path(), "journal", dir, "map-kib=64", "groups=24",
                      "batch=4", "pad=2000", "first-gid=1",
                      "phases=" + std::to_string(phases)},
                     {}};
  std::optional<fault_child> follower;
  run_record r;
  std::vector<uint64_t> growths;
  std::vector<uint64_t> printed;
  std::vector<std::string> other_output;
  std::string line;
  auto read_follower_to = [&](uint64_t last) {
    while (printed.empty() || printed.back() < last) {
      if (!follower->read_line(line, line_timeout_ms))
        return false;
      uint64_t pos = 0;
      if (position_of(line, pos))
        printed.push_back(pos);
      else
        other_output.push_back(line);
    }
    return true;
  };
  for (int phase = 0; phase < phases; ++phase) {
    // The writer commits a phase, reports it and waits.
    for (;;) {
      REQUIRE(writer.read_line(line, line_timeout_ms));
      record_line(line, r);
      if (line.rfind("phase ", 0) == 0)
        break;
    }
    auto w = words(line);
    REQUIRE(w.size() == 5);
    uint64_t last = 0;
    uint64_t grown = 0;
    REQUIRE(parse_u64(w[2], last));
    REQUIRE(parse_u64(w[3], grown));
    growths.push_back(grown);
    if (!follower) {
      // The follower opens the journal at the map size of the first phase.
      follower.emplace(std::vector<std::string>{bin_path("cairn-journal"),
                                                "tail", dir, "--follow",
                                                "--json"},
                       std::vector<std::string>{}, true);
    }
    INFO("phase " << phase << ", last position " << last);
    INFO("follower's other output:\n" << join(other_output));
    REQUIRE(read_follower_to(last));
    writer.send_line("go");
  }
  run_record rest = run_to_end(writer);
  CHECK(rest.problems.empty());
  follower->signal(SIGTERM);
  while (follower->read_line(line, line_timeout_ms)) {
    uint64_t pos = 0;
    if (position_of(line, pos))
      printed.push_back(pos);
    else
      other_output.push_back(line);
  }
  CHECK(follower->wait_exit(exit_timeout_ms) == 0);
  INFO("follower's other output:\n" << join(other_output));
  CHECK(other_output.empty());
  // Every event once, in order, and the map grew while the follower read.
  REQUIRE(!printed.empty());
  for (size_t i = 0; i < printed.size(); ++i)
    REQUIRE(printed[i] == i + 1);
  CHECK(printed.size() == r.acked.rbegin()->second.last);
  REQUIRE(growths.size() == static_cast<size_t>(phases));
  INFO("map growths after each phase: " << growths.front() << " ... "
                                        << growths.back());
  CHECK(growths.back() - growths.front() >= 3);
}

TEST_CASE("a journal open in this process goes on where another process's "
          "commits left it, with positions and stream ids after the other's") {
  temp_dir tmp;
  auto dir = tmp.sub("journal");
  journal::options opts;
  opts.sync = journal::sync_mode::none;
  auto opened = journal::journal::open(dir, opts);
  REQUIRE(opened);
  auto& j = **opened;
  auto event = [](const std::string& text) {
    journal::event_record e;
    e.type = "noted";
    e.payload = text;
    return e;
  };
  auto group = [&](const std::string& stream, journal::expected_version exp,
                   size_t events) {
    journal::write_group g;
    auto& a = g.appends.emplace_back();
    a.stream = stream;
    a.expected = exp;
    for (size_t i = 0; i < events; ++i)
      a.events.push_back(event(stream + " " + std::to_string(i)));
    return g;
  };
  // This process commits first, then the writer process commits groups 1
  // to 3 (streams f-1, f-2, f-3 and f-6, created there) while the journal
  // stays open here.
  auto before = j.commit(group("own-1", journal::expected_version::exact(0),
                               2));
  REQUIRE(before);
  fault_child writer{{writer_path(), "journal", dir, "groups=3",
                      "first-gid=1", "sync=none"},
                     {}};
  auto r = run_to_end(writer);
  INFO(join(r.lines));
  REQUIRE(r.problems.empty());
  REQUIRE(r.acked.size() == 3);
  uint64_t other_last = 0;
  for (auto& [gid, a] : r.acked)
    other_last = std::max(other_last, a.last);
  REQUIRE(other_last > 2);
  // Then this process again: to its own stream, to one the other created,
  // and to a new one, which needs an id the other did not take.
  auto after = j.commit(std::vector<journal::write_group>{
    group("own-1", journal::expected_version::exact(2), 2),
    group("f-1", journal::expected_version::any(), 1),
    group("own-2", journal::expected_version::no_stream(), 1)});
  REQUIRE(after);
  for (auto& outcome : *after) {
    INFO((outcome ? std::string{"ok"} : describe(outcome.error())));
    REQUIRE(outcome);
  }
  CHECK(after->at(0)->appends.at(0).first_position == other_last + 1);
  CHECK(after->at(2)->appends.at(0).first_position == other_last + 4);
  auto own = j.read_stream("own-1", 1, 10);
  REQUIRE(own);
  REQUIRE(own->size() == 4);
  CHECK(own->at(3).position == other_last + 2);
  auto created = j.read_stream("own-2", 1, 10);
  REQUIRE(created);
  REQUIRE(created->size() == 1);
  CHECK(created->at(0).record.payload == "own-2 0");
  auto report = journal::verify(j);
  REQUIRE(report);
  for (auto& p : report->problems)
    FAIL_CHECK(p.what);
  CHECK(report->streams == 6);
}
