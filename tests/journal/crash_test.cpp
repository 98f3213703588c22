// Crash atomicity of the journal: a writer process (cairn-crash-writer, see
// crash_writer.cpp) is killed with SIGKILL at random moments, and after each
// kill the journal must hold every group the writer acknowledged, whole, and
// no group in part.

#include "cairn/journal/journal.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "cairn/journal/errc.hpp"
#include "cairn/journal/verify.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cairn;
using cairn::test::bin_path;
using cairn::test::child_process;
using cairn::test::temp_dir;

namespace {

// -- what the writer writes ---------------------------------------------------

/// The fields of an event payload written by cairn-crash-writer.
struct payload_fields {
  uint64_t gid = 0;
  std::string stream;
  uint64_t index = 0;
  uint64_t total = 0;
  bool dedup = false;
  bool checkpoint = false;
};

/// Builds a payload as cairn-crash-writer does (keep the two in sync).
std::string make_payload(const payload_fields& f) {
  std::string result = "g=" + std::to_string(f.gid) + " s=" + f.stream
                       + " i=" + std::to_string(f.index) + " n="
                       + std::to_string(f.total) + " d=" + (f.dedup ? "1" : "0")
                       + " c=" + (f.checkpoint ? "1" : "0") + " x=";
  result.append((f.gid * 7 + f.index * 13) % 97,
                static_cast<char>('a' + (f.gid + f.index) % 26));
  return result;
}

bool parse_u64(const std::string& str, uint64_t& out) {
  if (str.empty() || str.find_first_not_of("0123456789") != std::string::npos)
    return false;
  out = std::stoull(str);
  return true;
}

/// Parses a payload; false unless it is exactly what `make_payload` writes.
bool parse_payload(const std::string& payload, payload_fields& f) {
  std::istringstream in{payload};
  std::string tok[7];
  for (auto& t : tok)
    if (!(in >> t))
      return false;
  auto field = [&](int i, const char* name) {
    auto prefix = std::string{name} + "=";
    return tok[i].compare(0, prefix.size(), prefix) == 0
             ? std::optional<std::string>{tok[i].substr(prefix.size())}
             : std::nullopt;
  };
  auto g = field(0, "g");
  auto s = field(1, "s");
  auto i = field(2, "i");
  auto n = field(3, "n");
  auto d = field(4, "d");
  auto c = field(5, "c");
  if (!g || !s || !i || !n || !d || !c || !parse_u64(*g, f.gid)
      || !parse_u64(*i, f.index) || !parse_u64(*n, f.total))
    return false;
  f.stream = *s;
  f.dedup = *d == "1";
  f.checkpoint = *c == "1";
  return make_payload(f) == payload;
}

/// Where an acknowledged append landed.
struct acked_range {
  std::string stream;
  uint64_t first = 0;
  uint64_t last = 0;
};

/// An event found in the journal.
struct found_event {
  std::string stream;
  uint64_t version = 0;
  uint64_t position = 0;

  friend bool operator==(const found_event& x, const found_event& y) {
    return std::tie(x.stream, x.version, x.position)
           == std::tie(y.stream, y.version, y.position);
  }
};

/// A group found in the journal: its events by index within the group.
struct found_group {
  uint64_t total = 0;
  bool dedup = false;
  bool checkpoint = false;
  std::map<uint64_t, found_event> events;
};

/// What the test knows across rounds.
struct history {
  /// Acknowledged groups: group id -> where its appends landed.
  std::map<uint64_t, std::vector<acked_range>> acked;
  /// Groups the writer reported as rejected.
  std::set<uint64_t> rejected;
  /// The groups found in the journal at the last check.
  std::map<uint64_t, found_group> found;
};

/// Splits a line of the writer into words.
std::vector<std::string> words(const std::string& line) {
  std::istringstream in{line};
  std::vector<std::string> result;
  for (std::string w; in >> w;)
    result.push_back(std::move(w));
  return result;
}

/// Records the lines of one writer run; complains about malformed ones. Only
/// lines ending with " ." are complete; an incomplete line may only be the
/// last one.
void record_lines(const std::vector<std::string>& lines, history& h,
                  std::vector<std::string>& problems) {
  for (size_t n = 0; n < lines.size(); ++n) {
    auto& line = lines[n];
    auto w = words(line);
    if (w.empty() || w.back() != ".") {
      if (n + 1 != lines.size())
        problems.push_back("incomplete line before the end: " + line);
      continue;
    }
    uint64_t gid = 0;
    if (w.size() < 3 || !parse_u64(w[1], gid)) {
      problems.push_back("malformed line: " + line);
      continue;
    }
    if (h.acked.count(gid) > 0 || h.rejected.count(gid) > 0) {
      problems.push_back("group id reported twice: " + line);
      continue;
    }
    if (w[0] == "rej") {
      if (w.size() != 4 || (w[2] != "conflict" && w[2] != "duplicate"))
        problems.push_back("malformed line: " + line);
      h.rejected.insert(gid);
    } else if (w[0] == "ack") {
      std::vector<acked_range> ranges;
      for (size_t i = 2; i + 1 < w.size(); ++i) {
        auto colon = w[i].rfind(':');
        auto dash = w[i].rfind('-');
        acked_range r;
        if (colon == std::string::npos || dash == std::string::npos
            || dash < colon
            || !parse_u64(w[i].substr(colon + 1, dash - colon - 1), r.first)
            || !parse_u64(w[i].substr(dash + 1), r.last) || r.first == 0
            || r.last < r.first) {
          problems.push_back("malformed line: " + line);
          break;
        }
        r.stream = w[i].substr(0, colon);
        ranges.push_back(std::move(r));
      }
      h.acked.emplace(gid, std::move(ranges));
    } else {
      problems.push_back("the writer reports: " + line);
    }
  }
}

// -- checking the journal -----------------------------------------------------

/// Reads every event of the global log and groups them by group id.
void scan_log(const journal::journal& j, std::map<uint64_t, found_group>& out,
              std::map<std::string, uint64_t>& per_stream,
              std::vector<std::string>& problems) {
  uint64_t from = 1;
  uint64_t expected_position = 1;
  for (;;) {
    auto slice = j.read_all(from, 4096);
    if (!slice) {
      problems.push_back("read_all: " + describe(slice.error()));
      return;
    }
    if (slice->events.empty())
      return;
    for (auto& ev : slice->events) {
      auto where = ev.stream + " version " + std::to_string(ev.version);
      if (ev.position != expected_position)
        problems.push_back("log position " + std::to_string(ev.position)
                           + " follows "
                           + std::to_string(expected_position - 1));
      expected_position = ev.position + 1;
      ++per_stream[ev.stream];
      payload_fields f;
      if (ev.record.type != "crash_event"
          || !parse_payload(ev.record.payload, f) || f.stream != ev.stream
          || f.index >= f.total
          || ev.record.correlation_id != "g-" + std::to_string(f.gid)) {
        problems.push_back("unexpected event at " + where + ": "
                           + ev.record.payload);
        continue;
      }
      auto& g = out[f.gid];
      if (g.events.empty()) {
        g.total = f.total;
        g.dedup = f.dedup;
        g.checkpoint = f.checkpoint;
      } else if (g.total != f.total || g.dedup != f.dedup
                 || g.checkpoint != f.checkpoint) {
        problems.push_back("event at " + where + " disagrees with its group "
                           + std::to_string(f.gid));
      }
      auto ins = g.events.emplace(
        f.index, found_event{ev.stream, ev.version, ev.position});
      if (!ins.second)
        problems.push_back("group " + std::to_string(f.gid) + " has event "
                           + std::to_string(f.index) + " twice");
    }
    from = slice->next_position;
  }
}

/// Checks each stream's versions run from 1 without gaps and agree with the
/// global log.
void check_streams(const journal::journal& j,
                   const std::map<std::string, uint64_t>& per_stream,
                   std::vector<std::string>& problems) {
  auto streams = j.streams();
  if (!streams) {
    problems.push_back("streams: " + describe(streams.error()));
    return;
  }
  if (streams->size() != per_stream.size())
    problems.push_back(std::to_string(streams->size()) + " streams, "
                       + std::to_string(per_stream.size())
                       + " of them in the global log");
  for (auto& s : *streams) {
    auto i = per_stream.find(s.name);
    auto in_log = i == per_stream.end() ? uint64_t{0} : i->second;
    if (s.first_version != 1 || s.version != in_log)
      problems.push_back("stream " + s.name + " is at version "
                         + std::to_string(s.version) + " from "
                         + std::to_string(s.first_version) + " with "
                         + std::to_string(in_log) + " events in the log");
    uint64_t next = 1;
    while (next <= s.version) {
      auto evs = j.read_stream(s.name, next, 4096);
      if (!evs) {
        problems.push_back("read_stream(" + s.name
                           + "): " + describe(evs.error()));
        break;
      }
      if (evs->empty())
        break;
      for (auto& ev : *evs)
        if (ev.version != next++)
          problems.push_back("stream " + s.name + " has version "
                             + std::to_string(ev.version) + " in place of "
                             + std::to_string(next - 1));
    }
    if (next != s.version + 1)
      problems.push_back("stream " + s.name + " reads to version "
                         + std::to_string(next - 1) + " of "
                         + std::to_string(s.version));
  }
}

/// Checks that groups are whole, acknowledged groups present where the
/// writer was told, rejected groups absent, and the groups found before
/// still there.
void check_groups(const history& h,
                  const std::map<uint64_t, found_group>& found,
                  std::vector<std::string>& problems) {
  for (auto& [gid, g] : found) {
    auto id = std::to_string(gid);
    if (g.events.size() != g.total)
      problems.push_back("group " + id
                         + " is partial: " + std::to_string(g.events.size())
                         + " of " + std::to_string(g.total) + " events");
    else if (g.events.rbegin()->second.position
               - g.events.begin()->second.position + 1
             != g.total)
      problems.push_back("group " + id + " is not contiguous in the log");
    if (h.rejected.count(gid) > 0)
      problems.push_back("rejected group " + id + " is in the journal");
  }
  for (auto& [gid, ranges] : h.acked) {
    auto id = std::to_string(gid);
    auto i = found.find(gid);
    if (i == found.end()) {
      problems.push_back("acknowledged group " + id + " is missing");
      continue;
    }
    uint64_t index = 0;
    for (auto& r : ranges) {
      for (auto v = r.first; v <= r.last; ++v, ++index) {
        auto e = i->second.events.find(index);
        if (e == i->second.events.end() || e->second.stream != r.stream
            || e->second.version != v)
          problems.push_back("acknowledged group " + id + ": event "
                             + std::to_string(index) + " is not at " + r.stream
                             + " version " + std::to_string(v));
      }
    }
    if (index != i->second.total)
      problems.push_back("acknowledged group " + id + " has "
                         + std::to_string(i->second.total)
                         + " events, acknowledged " + std::to_string(index));
  }
  for (auto& [gid, g] : h.found) {
    auto i = found.find(gid);
    if (i == found.end() || i->second.events != g.events)
      problems.push_back("group " + std::to_string(gid)
                         + " changed or vanished since the last check");
  }
}

/// Checks the dedup keys, table rows and checkpoint that groups carry.
void check_extras(const journal::journal& j,
                  const std::map<uint64_t, found_group>& found,
                  std::vector<std::string>& problems) {
  uint64_t with_key = 0;
  std::optional<uint64_t> last_checkpoint;
  std::vector<std::pair<std::string, std::string>> rows;
  for (auto& [gid, g] : found) {
    if (g.checkpoint)
      last_checkpoint = gid;
    if (!g.dedup)
      continue;
    ++with_key;
    auto key = "g-" + std::to_string(gid);
    rows.emplace_back(key, std::to_string(g.total));
    auto has = j.has_dedup_key(key);
    if (!has || !*has)
      problems.push_back("group " + std::to_string(gid) + " lacks dedup key "
                         + key);
  }
  auto stats = j.stats();
  if (!stats)
    problems.push_back("stats: " + describe(stats.error()));
  else if (stats->dedup_keys != with_key)
    problems.push_back(std::to_string(stats->dedup_keys) + " dedup keys for "
                       + std::to_string(with_key) + " groups with a key");
  std::sort(rows.begin(), rows.end());
  auto table = j.table_scan("crash");
  if (!table)
    problems.push_back("table_scan: " + describe(table.error()));
  else if (*table != rows)
    problems.push_back("table crash has " + std::to_string(table->size())
                       + " rows for " + std::to_string(rows.size())
                       + " groups with a key");
  auto cp = j.checkpoint("crash-writer");
  if (!cp)
    problems.push_back("checkpoint: " + describe(cp.error()));
  else if (*cp != last_checkpoint)
    problems.push_back(
      "checkpoint crash-writer is " + (*cp ? std::to_string(**cp) : "unset")
      + ", the last group with a checkpoint is "
      + (last_checkpoint ? std::to_string(*last_checkpoint) : "none"));
}

/// Opens the journal at `dir`, checks it against `h` and closes it again.
/// Returns the problems found; updates `h.found`.
std::vector<std::string> check_journal(const std::string& dir, history& h) {
  std::vector<std::string> problems;
  auto j = journal::journal::open(dir);
  if (!j) {
    problems.push_back("open: " + describe(j.error()));
    return problems;
  }
  auto report = journal::verify(**j);
  if (!report) {
    problems.push_back("verify: " + describe(report.error()));
  } else {
    for (auto& p : report->problems)
      problems.push_back("verify: stream " + p.stream + " version "
                         + std::to_string(p.version) + " position "
                         + std::to_string(p.position) + ": " + p.what);
  }
  std::map<uint64_t, found_group> found;
  std::map<std::string, uint64_t> per_stream;
  scan_log(**j, found, per_stream, problems);
  check_streams(**j, per_stream, problems);
  check_groups(h, found, problems);
  check_extras(**j, found, problems);
  h.found = std::move(found);
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

// -- driving the writer -------------------------------------------------------

using clock_type = std::chrono::steady_clock;

/// Lets the child run until a random moment, kills it, and returns every
/// line it printed. With `by_lines`, the moment is right after a random
/// number (1 to 40) of lines, stored in `wanted`; else after a random delay.
/// Sets `status` to the child's wait status.
std::vector<std::string> run_and_kill(child_process& child,
                                      std::mt19937_64& rng, bool by_lines,
                                      size_t& wanted, int& status,
                                      std::string& how) {
  std::vector<std::string> lines;
  std::string line;
  wanted = 0;
  if (by_lines) {
    wanted = std::uniform_int_distribution<size_t>{1, 40}(rng);
    how = "after " + std::to_string(wanted) + " lines";
    while (lines.size() < wanted && child.read_line(line, 20000))
      lines.push_back(line);
  } else {
    // Kill after a random delay, reading whatever comes meanwhile. Sleeping
    // (here: polling the pipe) only picks the moment of the kill.
    auto ms = std::uniform_int_distribution<int>{0, 60}(rng);
    how = "after " + std::to_string(ms) + " ms";
    auto deadline = clock_type::now() + std::chrono::milliseconds(ms);
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - clock_type::now())
                    .count();
      if (left <= 0 || !child.read_line(line, static_cast<int>(left)))
        break;
      lines.push_back(line);
    }
  }
  child.kill();
  status = child.wait();
  // What the writer printed before it died was acknowledged too.
  while (child.read_line(line, 10000))
    lines.push_back(line);
  return lines;
}

uint64_t pick_seed() {
  if (auto str = std::getenv("CAIRN_CRASH_SEED"))
    return std::strtoull(str, nullptr, 10);
  return std::random_device{}();
}

} // namespace

TEST_CASE("a writer killed at random moments leaves every acknowledged group "
          "whole and no group partial") {
  auto seed = pick_seed();
  std::cout << "journal crash test: seed " << seed
            << " (set CAIRN_CRASH_SEED to repeat)" << std::endl;
  INFO("seed " << seed << " (set CAIRN_CRASH_SEED to repeat)");
  std::mt19937_64 rng{seed};
  temp_dir tmp;
  auto dir = tmp.sub("journal");
  auto writer = bin_path("cairn-crash-writer");
  REQUIRE(::access(writer.c_str(), X_OK) == 0);
  constexpr uint64_t rounds = 60;
  constexpr uint64_t ids_per_round = 1000000;
  history h;
  size_t killed_mid_run = 0;
  for (uint64_t round = 0; round < rounds; ++round) {
    std::vector<std::string> lines;
    size_t wanted = 0;
    int status = 0;
    std::string how;
    {
      // The parent holds no handle on the journal while the child writes.
      child_process child{{writer, dir, std::to_string(seed + round),
                           std::to_string((round + 1) * ids_per_round)}};
      lines = run_and_kill(child, rng, round % 2 == 0, wanted, status, how);
    }
    INFO("round " << round << ", killed " << how << ", " << lines.size()
                  << " lines");
    INFO("last line: " << (lines.empty() ? "(none)" : lines.back()));
    REQUIRE(WIFSIGNALED(status));
    REQUIRE(WTERMSIG(status) == SIGKILL);
    REQUIRE(lines.size() >= wanted);
    if (!lines.empty())
      ++killed_mid_run;
    std::vector<std::string> problems;
    record_lines(lines, h, problems);
    auto more = check_journal(dir, h);
    problems.insert(problems.end(), more.begin(), more.end());
    INFO(join(problems));
    REQUIRE(problems.empty());
  }
  // The journal takes writes after the last kill, and the writer stops on
  // its own after a few commits.
  auto res
    = cairn::test::run({writer, dir, std::to_string(seed + rounds),
                        std::to_string((rounds + 1) * ids_per_round), "5"});
  INFO(res.output);
  REQUIRE(res.exit_code == 0);
  std::vector<std::string> lines;
  std::istringstream out{res.output};
  for (std::string line; std::getline(out, line);)
    lines.push_back(line);
  REQUIRE(lines.size() >= 5);
  std::vector<std::string> problems;
  auto acked_before = h.acked.size();
  record_lines(lines, h, problems);
  CHECK(h.acked.size() > acked_before);
  auto more = check_journal(dir, h);
  problems.insert(problems.end(), more.begin(), more.end());
  INFO(join(problems));
  REQUIRE(problems.empty());
  // Half the rounds were killed after acknowledgements, by construction.
  CHECK(killed_mid_run >= rounds / 2);
  CHECK(h.rejected.size() > 0);
}
