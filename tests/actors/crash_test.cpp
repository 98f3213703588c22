// Crash safety of aggregates: a driver process (cairn-aggregate-crash-driver,
// see crash_driver.cpp) sends commands to tally entities through a runtime
// and is killed with SIGKILL at random moments. After each kill, every
// command the driver saw acknowledged must have its event in the journal,
// once, at the version the reply named, and recovery must give the states
// the journal's events lead to.

#include "cairn/actors/aggregate_actor.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "caf/all.hpp"

#include "cairn/actors/runtime.hpp"
#include "cairn/actors/testkit.hpp"
#include "cairn/journal/errc.hpp"
#include "cairn/journal/verify.hpp"
#include "tests/actors/tally.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cairn;
using namespace std::chrono_literals;
using cairn::test::added;
using cairn::test::bin_path;
using cairn::test::child_process;
using cairn::test::read_tally;
using cairn::test::tally;
using cairn::test::tally_state;
using cairn::test::temp_dir;

namespace {

/// Entities the driver addresses: ids `0` to `entity_count - 1` (keep in
/// sync with crash_driver.cpp).
constexpr uint64_t entity_count = 40;

/// The driver snapshots every this many events (keep in sync).
constexpr uint64_t snapshot_every = 7;

// -- what the driver reports --------------------------------------------------

/// One acknowledged command.
struct acked_command {
  std::string entity;
  uint64_t count = 0;
  int64_t sum = 0;
  uint64_t round = 0;
};

/// What the test knows across rounds.
struct history {
  /// Acknowledged commands by command id.
  std::map<std::string, acked_command> acked;
  /// The events found at the last check, by entity id.
  std::map<std::string, std::vector<added>> streams;
};

std::vector<std::string> words(const std::string& line) {
  std::istringstream in{line};
  std::vector<std::string> result;
  for (std::string w; in >> w;)
    result.push_back(std::move(w));
  return result;
}

bool parse_u64(const std::string& str, uint64_t& out) {
  if (str.empty() || str.size() > 19
      || str.find_first_not_of("0123456789") != std::string::npos)
    return false;
  out = std::stoull(str);
  return true;
}

bool parse_i64(const std::string& str, int64_t& out) {
  auto digits = str.size() > 0 && str[0] == '-' ? str.substr(1) : str;
  uint64_t x = 0;
  if (!parse_u64(digits, x))
    return false;
  out = str[0] == '-' ? -static_cast<int64_t>(x) : static_cast<int64_t>(x);
  return true;
}

/// Records the lines of one driver run; complains about malformed lines and
/// errors. Only lines ending with " ." are complete; an incomplete line may
/// only be the last one.
void record_lines(const std::vector<std::string>& lines, uint64_t round,
                  history& h, std::vector<std::string>& problems) {
  for (size_t n = 0; n < lines.size(); ++n) {
    auto& line = lines[n];
    auto w = words(line);
    if (w.empty() || w.back() != ".") {
      if (n + 1 != lines.size())
        problems.push_back("incomplete line before the end: " + line);
      continue;
    }
    acked_command a;
    a.round = round;
    if (w[0] != "ack" || w.size() != 6 || !parse_u64(w[3], a.count)
        || !parse_i64(w[4], a.sum) || a.count == 0) {
      problems.push_back("the driver reports: " + line);
      continue;
    }
    a.entity = w[1];
    if (!h.acked.emplace(w[2], a).second)
      problems.push_back("command acknowledged twice: " + line);
  }
}

// -- checking the journal -----------------------------------------------------

/// Returns the state that `events[0, n)` lead to.
tally_state fold(const std::vector<added>& events, size_t n) {
  tally_state result;
  for (size_t i = 0; i < n && i < events.size(); ++i)
    result = tally::apply(std::move(result), events[i]);
  return result;
}

/// Reads every stream of the journal and decodes its events into `out`, by
/// entity id. Checks the stream names, that versions run from 1 without a
/// gap, and that no command id occurs twice.
void read_streams(const journal::journal& j, uint64_t round,
                  std::map<std::string, std::vector<added>>& out,
                  std::vector<std::string>& problems) {
  auto streams = j.streams();
  if (!streams) {
    problems.push_back("streams: " + describe(streams.error()));
    return;
  }
  std::set<std::string> ids;
  for (auto& s : *streams) {
    auto prefix = stream_of<tally>("");
    uint64_t k = 0;
    if (s.name.compare(0, prefix.size(), prefix) != 0
        || !parse_u64(s.name.substr(prefix.size()), k) || k >= entity_count
        || s.first_version != 1) {
      problems.push_back("unexpected stream " + s.name + " from version "
                         + std::to_string(s.first_version));
      continue;
    }
    auto& evs = out[s.name.substr(prefix.size())];
    for (uint64_t next = 1; next <= s.version;) {
      auto chunk = j.read_stream(s.name, next, 4096);
      if (!chunk) {
        problems.push_back("read_stream(" + s.name
                           + "): " + describe(chunk.error()));
        break;
      }
      if (chunk->empty()) {
        problems.push_back("stream " + s.name + " ends at version "
                           + std::to_string(next - 1) + " of "
                           + std::to_string(s.version));
        break;
      }
      for (auto& ev : *chunk) {
        if (ev.version != next)
          problems.push_back("stream " + s.name + " has version "
                             + std::to_string(ev.version) + " in place of "
                             + std::to_string(next));
        next = ev.version + 1;
        auto x = codec_of<tally>().decode<added>(ev);
        if (!x) {
          problems.push_back(describe(x.error()));
          evs.emplace_back();
          continue;
        }
        auto where = journal::codec::where(ev);
        auto dash = x->cmd_id.find('-');
        uint64_t r = 0;
        if (dash == std::string::npos
            || !parse_u64(x->cmd_id.substr(0, dash), r) || r > round)
          problems.push_back(where + ": unexpected command id " + x->cmd_id);
        if (!ids.insert(x->cmd_id).second)
          problems.push_back(where + ": command " + x->cmd_id
                             + " has a second event");
        evs.push_back(std::move(*x));
      }
    }
  }
}

/// Checks that every acknowledged command is where its reply said, with
/// the sum it reported.
void check_acked(const history& h,
                 const std::map<std::string, std::vector<added>>& streams,
                 std::vector<std::string>& problems) {
  // Prefix sums per entity, computed once.
  std::map<std::string, std::vector<int64_t>> sums;
  for (auto& [id, evs] : streams) {
    auto& s = sums[id];
    int64_t acc = 0;
    for (auto& e : evs)
      s.push_back(acc += e.amount);
  }
  for (auto& [cmd_id, a] : h.acked) {
    auto where = "acknowledged command " + cmd_id + " (round "
                 + std::to_string(a.round) + ", entity " + a.entity + ", count "
                 + std::to_string(a.count) + ")";
    auto i = streams.find(a.entity);
    if (i == streams.end() || i->second.size() < a.count) {
      problems.push_back(
        where + ": the stream has only "
        + std::to_string(i == streams.end() ? 0 : i->second.size())
        + " events");
      continue;
    }
    auto& ev = i->second[a.count - 1];
    if (ev.cmd_id != cmd_id)
      problems.push_back(where + ": version " + std::to_string(a.count)
                         + " holds command " + ev.cmd_id);
    else if (sums[a.entity][a.count - 1] != a.sum)
      problems.push_back(where + ": the reply said sum " + std::to_string(a.sum)
                         + ", the events sum to "
                         + std::to_string(sums[a.entity][a.count - 1]));
  }
}

/// Checks that the events found at the last check are still there,
/// unchanged.
void check_prefixes(const history& h,
                    const std::map<std::string, std::vector<added>>& streams,
                    std::vector<std::string>& problems) {
  for (auto& [id, before] : h.streams) {
    auto i = streams.find(id);
    size_t now = i == streams.end() ? 0 : i->second.size();
    if (now < before.size()) {
      problems.push_back("entity " + id + " had "
                         + std::to_string(before.size()) + " events, now "
                         + std::to_string(now));
      continue;
    }
    for (size_t v = 0; v < before.size(); ++v)
      if (before[v].cmd_id != i->second[v].cmd_id
          || before[v].amount != i->second[v].amount) {
        problems.push_back("entity " + id + " version " + std::to_string(v + 1)
                           + " changed from " + before[v].cmd_id + " to "
                           + i->second[v].cmd_id);
        break;
      }
  }
}

/// Checks each entity's snapshot: one comes with every event whose version
/// is a multiple of `snapshot_every` (the driver's commands store one event
/// each), in the same write group, so the latest is at the last such
/// version, and holds the state the events up to it lead to.
void check_snapshots(const journal::journal& j,
                     const std::map<std::string, std::vector<added>>& streams,
                     std::vector<std::string>& problems) {
  for (auto& [id, evs] : streams) {
    auto stream = stream_of<tally>(id);
    auto snap = j.latest_snapshot(stream);
    if (!snap) {
      problems.push_back("latest_snapshot(" + stream
                         + "): " + describe(snap.error()));
      continue;
    }
    uint64_t want = evs.size() - evs.size() % snapshot_every;
    if (!*snap) {
      if (want > 0)
        problems.push_back(stream + " has " + std::to_string(evs.size())
                           + " events and no snapshot");
      continue;
    }
    auto& s = **snap;
    if (s.version != want || s.type != snapshot_type_of<tally>()) {
      problems.push_back(stream + " has " + std::to_string(evs.size())
                         + " events and a snapshot " + s.type + " at version "
                         + std::to_string(s.version));
      continue;
    }
    auto st = journal::from_bytes<tally_state>(s.payload, "snapshot");
    if (!st)
      problems.push_back(stream + ": " + describe(st.error()));
    else if (*st != fold(evs, s.version))
      problems.push_back(stream + ": the snapshot at version "
                         + std::to_string(s.version) + " holds "
                         + to_string(*st) + ", the events give "
                         + to_string(fold(evs, s.version)));
  }
}

/// Opens the journal at `dir`, checks it against `h` and closes it again.
/// Returns the problems found; updates `h.streams`.
std::vector<std::string> check_journal(const std::string& dir, uint64_t round,
                                       history& h) {
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
  std::map<std::string, std::vector<added>> streams;
  read_streams(**j, round, streams, problems);
  check_acked(h, streams, problems);
  check_prefixes(h, streams, problems);
  check_snapshots(**j, streams, problems);
  h.streams = std::move(streams);
  return problems;
}

// -- checking recovery --------------------------------------------------------

/// Starts a runtime on `dir`, asks every entity for its state through the
/// registry (each recovers from the journal) and compares it with the
/// events of `h.streams`. Stops everything before it returns.
void check_recovery(const std::string& dir, const history& h,
                    std::vector<std::string>& problems) {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  runtime_options opts;
  opts.journal_path = dir;
  opts.journal.sync = journal::sync_mode::none;
  opts.aggregates.snapshot_every = snapshot_every;
  // Few entities at once: some recover while others passivate.
  opts.registry.max_active = 8;
  auto rt = runtime::start(sys, opts);
  if (!rt) {
    problems.push_back("runtime: " + describe(rt.error()));
    return;
  }
  {
    auto registry = (*rt)->registry<tally>();
    caf::scoped_actor self{sys};
    for (uint64_t k = 0; k < entity_count; ++k) {
      auto id = std::to_string(k);
      auto i = h.streams.find(id);
      auto want = i == h.streams.end() ? tally_state{}
                                       : fold(i->second, i->second.size());
      self->request(registry, 10s, entity_id{id}, read_tally{})
        .receive(
          [&](uint64_t count, int64_t sum, std::string& last) {
            tally_state got{count, sum, std::move(last)};
            if (got != want)
              problems.push_back("entity " + id + " recovers " + to_string(got)
                                 + ", the journal gives " + to_string(want));
          },
          [&](caf::error& err) {
            problems.push_back("entity " + id + ": " + describe(err));
          });
    }
  }
  (*rt)->stop();
  // The actor system waits for every actor of the runtime to end, which
  // closes the journal.
}

/// Recovers entity `id` with the test kit, twice, and compares its state
/// and version with the events of `h.streams`.
void check_testkit(const std::string& dir, const std::string& id,
                   const history& h, std::vector<std::string>& problems) {
  auto i = h.streams.find(id);
  auto want
    = i == h.streams.end() ? tally_state{} : fold(i->second, i->second.size());
  testkit_options opts;
  opts.journal_path = dir;
  opts.aggregates.snapshot_every = snapshot_every;
  try {
    testkit<tally> kit{id, opts};
    if (auto v = kit.version(); v != want.count)
      problems.push_back("testkit: entity " + id + " is at version "
                         + std::to_string(v) + ", the journal has "
                         + std::to_string(want.count) + " events");
    if (auto got = kit.state(); got != want)
      problems.push_back("testkit: entity " + id + " recovers " + to_string(got)
                         + ", the journal gives " + to_string(want));
    if (auto got = kit.restart(); got != want)
      problems.push_back("testkit: entity " + id + " recovers " + to_string(got)
                         + " after a restart, the journal " + "gives "
                         + to_string(want));
  } catch (const std::exception& ex) {
    problems.push_back("testkit: entity " + id + ": " + ex.what());
  }
}

std::string join(const std::vector<std::string>& xs, size_t max = 20) {
  std::string result;
  for (size_t i = 0; i < xs.size() && i < max; ++i)
    result += xs[i] + "\n";
  if (xs.size() > max)
    result += "... and " + std::to_string(xs.size() - max) + " more\n";
  return result;
}

// -- driving the driver -------------------------------------------------------

/// Lets the child run until a random moment, kills it, and returns every
/// line it printed. With `by_lines`, the moment is right after a random
/// number (1 to 80) of lines, stored in `wanted`; else after a random delay
/// of up to 250 ms from the start, which may fall before the first reply.
std::vector<std::string> run_and_kill(child_process& child,
                                      std::mt19937_64& rng, bool by_lines,
                                      size_t& wanted, int& status,
                                      std::string& how) {
  cairn::test::kill_moment when;
  if (by_lines)
    when.lines = std::uniform_int_distribution<size_t>{1, 80}(rng);
  else
    when.ms = std::uniform_int_distribution<int>{0, 250}(rng);
  wanted = when.lines;
  how = when.to_string();
  auto res = cairn::test::kill_at(child, when);
  status = res.status;
  return std::move(res.lines);
}

uint64_t pick_seed() {
  if (auto str = std::getenv("CAIRN_CRASH_SEED"))
    return std::strtoull(str, nullptr, 10);
  return std::random_device{}();
}

/// The driver's settings in round `round`, as its arguments. The registry
/// is unbounded, or runs at most 12 entities at once, or passivates them
/// after 20 ms idle; every other round recovers in chunks of 3 events;
/// every fourth round starts with the smallest map, which grows while
/// entities read.
std::vector<std::string> driver_settings(uint64_t round) {
  std::vector<std::string> result;
  if (round % 3 == 1)
    result.emplace_back("max-active=12");
  else if (round % 3 == 2)
    result.emplace_back("passivate-ms=20");
  if (round % 2 == 1)
    result.emplace_back("recovery-chunk=3");
  if (round % 4 == 3)
    result.emplace_back("map-kib=64");
  return result;
}

} // namespace

TEST_CASE("aggregates killed at random moments keep every acknowledged "
          "command and recover the states their events give") {
  auto seed = pick_seed();
  std::cout << "aggregate crash test: seed " << seed
            << " (set CAIRN_CRASH_SEED to repeat)" << std::endl;
  INFO("seed " << seed << " (set CAIRN_CRASH_SEED to repeat)");
  std::mt19937_64 rng{seed};
  temp_dir tmp;
  auto dir = tmp.sub("journal");
  auto driver = bin_path("cairn-aggregate-crash-driver");
  REQUIRE(::access(driver.c_str(), X_OK) == 0);
  constexpr uint64_t rounds = 60;
  history h;
  size_t killed_mid_run = 0;
  for (uint64_t round = 0; round < rounds; ++round) {
    std::vector<std::string> lines;
    size_t wanted = 0;
    int status = 0;
    std::string how;
    {
      // The parent holds no handle on the journal while the child writes.
      std::vector<std::string> argv{driver, dir, std::to_string(seed + round),
                                    std::to_string(round)};
      for (auto& arg : driver_settings(round))
        argv.push_back(arg);
      child_process child{argv};
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
    record_lines(lines, round, h, problems);
    auto more = check_journal(dir, round, h);
    problems.insert(problems.end(), more.begin(), more.end());
    check_recovery(dir, h, problems);
    auto id = std::to_string(
      std::uniform_int_distribution<uint64_t>{0, entity_count - 1}(rng));
    check_testkit(dir, id, h, problems);
    INFO(join(problems));
    REQUIRE(problems.empty());
  }
  // After the last kill, the driver runs to a given number of
  // acknowledgements and shuts down on its own.
  auto res = cairn::test::run({driver, dir, std::to_string(seed + rounds),
                               std::to_string(rounds), "max-active=12",
                               "recovery-chunk=3", "max-acks=50"});
  INFO(res.output);
  REQUIRE(res.exit_code == 0);
  std::vector<std::string> lines;
  std::istringstream out{res.output};
  for (std::string line; std::getline(out, line);)
    lines.push_back(line);
  REQUIRE(lines.size() > 50);
  // The last line counts what the runtime did: entities spawned and
  // passivated, commits and groups.
  auto stats = words(lines.back());
  lines.pop_back();
  uint64_t spawned = 0;
  uint64_t passivated = 0;
  uint64_t commits = 0;
  uint64_t groups = 0;
  REQUIRE(stats.size() == 6);
  REQUIRE(stats[0] == "stats");
  REQUIRE(parse_u64(stats[1], spawned));
  REQUIRE(parse_u64(stats[2], passivated));
  REQUIRE(parse_u64(stats[3], commits));
  REQUIRE(parse_u64(stats[4], groups));
  CHECK(passivated > 0);
  CHECK(spawned > 12);
  CHECK(groups == lines.size());
  CHECK(commits <= groups);
  std::vector<std::string> problems;
  auto acked_before = h.acked.size();
  record_lines(lines, rounds, h, problems);
  CHECK(h.acked.size() == acked_before + lines.size());
  auto more = check_journal(dir, rounds, h);
  problems.insert(problems.end(), more.begin(), more.end());
  check_recovery(dir, h, problems);
  INFO(join(problems));
  REQUIRE(problems.empty());
  // Half the rounds were killed after acknowledgements, by construction.
  CHECK(killed_mid_run >= rounds / 2);
}
