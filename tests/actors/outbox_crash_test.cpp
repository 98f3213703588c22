// The outbox across real crashes: two processes
// (cairn-outbox-crash-driver, see outbox_crash_driver.cpp), a source whose
// job manager commands aggregates of a target through the outbox, each
// with its own journal. They talk over CAF's network layer (BASP over TCP on
// 127.0.0.1): the target publishes its registry, the source routes the
// target's aggregate type to a link that forwards each delivery to it and,
// when the target's process dies, fails the deliveries under way so that the
// dispatcher retries them against the next incarnation. The test kills either
// of them with SIGKILL at random moments and starts it again, while the other
// runs on. After each kill it opens the dead side's journal read-only, then the
// other's, and checks what must hold at any moment:
//
// - at the target, at most one effect per command id, only for commands the
//   target accepts, on the entity commanded, each stored with its dedup
//   key;
// - at the source, at most one step per job that routes its commands, at
//   most one outcome per command (`cairn.remote_outcome`), at most one
//   reaction per outcome at its instance (`command_settled`), each after
//   its outcome; every routed command is in the outbox table or has its
//   outcome, never both;
// - across the two, read in the order that makes it hold: an accepted
//   outcome has its effect and its key at the target; an effect's command
//   was routed, under the key the target stored;
// - `cairn-journal verify` finds no problem.
//
// When the source reports every job done, both journals are checked once
// more: every command has exactly one effect at the target if the target
// accepts it (none if it refuses it), exactly one outcome and exactly one
// reaction at its instance, and the outbox is empty.
//
// A kill counts towards the minimum only if commands were in flight (routed
// and not settled, as the source reported) and the killed process had made
// progress since its start. The test goes on with another work (another
// seed, other journals) until it has made enough such kills, within a cap
// of rounds and time.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "cairn/actors/outbox.hpp"
#include "cairn/actors/process_manager.hpp"
#include "cairn/journal/codec.hpp"
#include "cairn/journal/errc.hpp"
#include "cairn/journal/journal.hpp"
#include "tests/actors/outbox_work.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cairn;
using namespace cairn::test::outbox_work;
using cairn::test::bin_path;
using cairn::test::child_process;
using cairn::test::temp_dir;

namespace {

using clock_type = std::chrono::steady_clock;

std::vector<std::string> words(const std::string& line) {
  std::istringstream in{line};
  std::vector<std::string> result;
  for (std::string w; in >> w;)
    result.push_back(std::move(w));
  return result;
}

std::string head_of(const std::vector<std::string>& xs, size_t max = 20) {
  std::string result;
  for (size_t i = 0; i < xs.size() && i < max; ++i)
    result += xs[i] + "\n";
  if (xs.size() > max)
    result += "... and " + std::to_string(xs.size() - max) + " more\n";
  return result;
}

// -- the plan -----------------------------------------------------------------

/// What the work of one seed commands.
struct plan {
  std::vector<job_item> jobs;
  /// Command id -> (job, target).
  std::map<std::string, std::pair<std::string, target>> commands;
  std::map<std::string, size_t> job_index;
  size_t accepted = 0;

  explicit plan(uint64_t seed) : jobs(make_work(seed)) {
    for (size_t i = 0; i < jobs.size(); ++i) {
      job_index.emplace(jobs[i].id, i);
      for (auto& t : jobs[i].targets) {
        commands.emplace(command_id(jobs[i].id, t.entity),
                         std::make_pair(jobs[i].id, t));
        if (!t.refuse)
          ++accepted;
      }
    }
  }

  const target* find(const std::string& job, const std::string& entity) const {
    auto i = commands.find(command_id(job, entity));
    return i == commands.end() ? nullptr : &i->second.second;
  }
};

// -- reading the journals -----------------------------------------------------

caf::expected<std::unique_ptr<journal::journal>>
open_read_only(const std::string& dir) {
  journal::options opts;
  opts.read_only = true;
  opts.create = false;
  return journal::journal::open(dir, opts);
}

/// Calls `f` on every event of the global log.
template <class F>
caf::error for_each_event(const journal::journal& j, F f) {
  for (uint64_t next = 1;;) {
    auto slice = j.read_all(next, 4096);
    if (!slice)
      return std::move(slice.error());
    if (slice->events.empty())
      return caf::none;
    next = slice->next_position;
    for (auto& ev : slice->events)
      f(ev);
  }
}

template <class T>
bool decode(const journal::stored_event& ev, T& out,
            std::vector<std::string>& problems) {
  auto x = journal::from_bytes<T>(ev.record.payload, journal::codec::where(ev));
  if (!x) {
    problems.push_back(describe(x.error()));
    return false;
  }
  out = std::move(*x);
  return true;
}

/// One job as the source journal holds it.
struct job_view {
  size_t inputs = 0;
  size_t started = 0;
  uint32_t started_with = 0;
  /// Entity -> the `accepted` of each `command_settled` for it.
  std::map<std::string, std::vector<bool>> settled;
  size_t finished = 0;
};

/// What the source journal holds.
struct source_view {
  std::map<std::string, job_view> jobs;
  /// Command id -> its outcomes.
  std::map<std::string, std::vector<remote_outcome>> outcomes;
  /// Command id -> outbox keys of its rows.
  std::map<std::string, std::vector<std::string>> rows;
  /// Command id -> outbox key (of its outcome or row).
  std::map<std::string, std::string> keys;
  /// Command ids with an outcome in a second reading of the log, after the
  /// outbox: a row erased while the outbox was read had its outcome
  /// committed with the erasure, so it is here.
  std::set<std::string> outcomes_after;
};

/// What the target journal holds.
struct target_view {
  /// Command id -> streams of its effects.
  std::map<std::string, std::vector<std::string>> effects;
  uint64_t dedup_keys = 0;
};

void read_source(const journal::journal& j, const plan& p, source_view& view,
                 std::vector<std::string>& problems) {
  auto err = for_each_event(j, [&](const journal::stored_event& ev) {
    auto where = journal::codec::where(ev);
    auto cat = journal::category_of(ev.stream);
    auto& type = ev.record.type;
    if (cat == "desk") {
      job_requested x;
      if (type != job_requested::event_name || !decode(ev, x, problems)) {
        problems.push_back(where + ": not a job request");
        return;
      }
      if (p.job_index.count(x.job) == 0 || ev.stream != desk_stream(x.job))
        problems.push_back(where + ": request of an unknown job " + x.job);
      ++view.jobs[x.job].inputs;
    } else if (cat == job_manager::category) {
      auto job
        = ev.stream.substr(std::string{job_manager::category}.size() + 1);
      if (p.job_index.count(job) == 0) {
        problems.push_back(where + ": stream of an unknown job");
        return;
      }
      auto& jv = view.jobs[job];
      if (type == job_started::event_name) {
        job_started x;
        if (decode(ev, x, problems)) {
          ++jv.started;
          jv.started_with = x.commands;
        }
      } else if (type == command_settled::event_name) {
        command_settled x;
        if (!decode(ev, x, problems))
          return;
        auto t = p.find(job, x.entity);
        if (t == nullptr) {
          problems.push_back(where + ": settles a command to " + x.entity
                             + " the job did not send");
          return;
        }
        if (x.accepted == t->refuse)
          problems.push_back(where + ": settles " + command_id(job, x.entity)
                             + (x.accepted ? " as accepted" : " as refused")
                             + ": " + x.why);
        if (view.outcomes.count(command_id(job, x.entity)) == 0)
          problems.push_back(where + ": settles " + command_id(job, x.entity)
                             + " before its outcome is in the journal");
        jv.settled[x.entity].push_back(x.accepted);
      } else if (type == job_finished::event_name) {
        ++jv.finished;
        size_t n = 0;
        for (auto& [entity, xs] : jv.settled)
          n += xs.size();
        if (n != p.jobs[p.job_index.at(job)].targets.size())
          problems.push_back(where + ": finishes the job after "
                             + std::to_string(n) + " outcomes");
      }
    } else if (cat == outcome_category) {
      remote_outcome x;
      if (type != remote_outcome::event_name || !decode(ev, x, problems)) {
        problems.push_back(where + ": not a remote outcome");
        return;
      }
      auto t = p.find(x.instance, x.entity);
      if (x.manager != job_manager::category || x.category != sink::category
          || t == nullptr
          || ev.stream
               != std::string{outcome_category} + "-"
                    + stream_of<job_manager>(x.instance)) {
        problems.push_back(where + ": outcome of an unknown command " + x.key);
        return;
      }
      auto id = command_id(x.instance, x.entity);
      if (x.accepted == t->refuse)
        problems.push_back(where + ": outcome of " + id
                           + (x.accepted ? " is accepted" : " is refused")
                           + ": " + x.why);
      auto [i, added] = view.keys.emplace(id, x.key);
      if (!added && i->second != x.key)
        problems.push_back(where + ": outcome of " + id + " under key " + x.key
                           + ", another outcome under " + i->second);
      view.outcomes[id].push_back(std::move(x));
    }
  });
  if (err)
    problems.push_back("reading the source journal: " + describe(err));
  auto rows = j.table_scan(outbox_table);
  if (!rows) {
    problems.push_back("reading the outbox: " + describe(rows.error()));
    return;
  }
  for (auto& [key, bytes] : *rows) {
    auto entry = journal::from_bytes<outbox_entry>(bytes, "outbox row " + key);
    if (!entry) {
      problems.push_back(describe(entry.error()));
      continue;
    }
    auto id = command_id(entry->instance, entry->entity);
    if (p.find(entry->instance, entry->entity) == nullptr
        || entry->manager != job_manager::category
        || entry->category != sink::category) {
      problems.push_back("outbox row " + key + " of an unknown command " + id);
      continue;
    }
    auto [i, added] = view.keys.emplace(id, key);
    if (!added && i->second != key)
      problems.push_back("outbox row " + key + " for " + id + ", which has key "
                         + i->second);
    view.rows[id].push_back(key);
  }
  err = for_each_event(j, [&](const journal::stored_event& ev) {
    remote_outcome x;
    if (ev.record.type == remote_outcome::event_name && decode(ev, x, problems))
      view.outcomes_after.insert(command_id(x.instance, x.entity));
  });
  if (err)
    problems.push_back("reading the source journal: " + describe(err));
}

void read_target(const journal::journal& j, const plan& p, target_view& view,
                 std::vector<std::string>& problems) {
  auto err = for_each_event(j, [&](const journal::stored_event& ev) {
    auto where = journal::codec::where(ev);
    effect_applied x;
    if (ev.record.type != effect_applied::event_name
        || journal::category_of(ev.stream) != sink::category
        || !decode(ev, x, problems)) {
      problems.push_back(where + ": not an effect");
      return;
    }
    auto i = p.commands.find(x.command);
    if (i == p.commands.end()) {
      problems.push_back(where + ": effect of an unknown command " + x.command);
      return;
    }
    if (i->second.second.refuse)
      problems.push_back(where + ": effect of " + x.command
                         + ", which the target refuses");
    if (ev.stream != stream_of<sink>(i->second.second.entity))
      problems.push_back(where + ": effect of " + x.command
                         + " on the wrong entity");
    view.effects[x.command].push_back(ev.stream);
  });
  if (err)
    problems.push_back("reading the target journal: " + describe(err));
  auto stats = j.stats();
  if (!stats)
    problems.push_back("target stats: " + describe(stats.error()));
  else
    view.dedup_keys = stats->dedup_keys;
}

/// Which journal is read first: the one that does not change.
enum class order { source_first, target_first, both_still };

/// Checks the two journals; with `both_still`, that the work is done.
std::vector<std::string> check(const std::string& src_dir,
                               const std::string& dst_dir, const plan& p,
                               order o) {
  std::vector<std::string> problems;
  source_view sv;
  target_view tv;
  auto src = open_read_only(src_dir);
  if (!src) {
    problems.push_back("open " + src_dir + ": " + describe(src.error()));
    return problems;
  }
  auto dst = open_read_only(dst_dir);
  if (!dst) {
    problems.push_back("open " + dst_dir + ": " + describe(dst.error()));
    return problems;
  }
  if (o == order::target_first) {
    read_target(**dst, p, tv, problems);
    read_source(**src, p, sv, problems);
  } else {
    read_source(**src, p, sv, problems);
    read_target(**dst, p, tv, problems);
  }
  auto final = o == order::both_still;
  // At most once, everywhere; exactly once at the end.
  auto once = [&](size_t n, const std::string& what) {
    if (n > 1 || (final && n != 1))
      problems.push_back(what + " " + std::to_string(n) + " times");
  };
  for (auto& item : p.jobs) {
    auto i = sv.jobs.find(item.id);
    auto jv = i == sv.jobs.end() ? job_view{} : i->second;
    once(jv.inputs, "job " + item.id + " requested");
    once(jv.started, "job " + item.id + " started");
    once(jv.finished, "job " + item.id + " finished");
    if (jv.started > 0 && jv.inputs == 0)
      problems.push_back("job " + item.id + " started without its request");
    if (jv.started > 0 && jv.started_with != item.targets.size())
      problems.push_back("job " + item.id + " started with "
                         + std::to_string(jv.started_with) + " commands");
    for (auto& t : item.targets) {
      auto id = command_id(item.id, t.entity);
      auto s = jv.settled.find(t.entity);
      once(s == jv.settled.end() ? 0 : s->second.size(),
           "command " + id + " settled at its instance");
      auto oc = sv.outcomes.find(id);
      auto outcomes = oc == sv.outcomes.end() ? 0 : oc->second.size();
      once(outcomes, "command " + id + " has its outcome");
      auto rw = sv.rows.find(id);
      auto rows = rw == sv.rows.end() ? 0 : rw->second.size();
      if (rows > 0 && outcomes > 0)
        problems.push_back("command " + id
                           + " has its outcome and its outbox row");
      if (jv.started > 0 && rows == 0 && sv.outcomes_after.count(id) == 0)
        problems.push_back("command " + id
                           + " was routed and has neither an outbox row nor "
                             "an outcome: lost");
      // Rows and outcomes read after the job's events may be of a step
      // committed since: only a still journal tells.
      if (o != order::target_first && jv.started == 0 && rows + outcomes > 0)
        problems.push_back("command " + id + " was not routed, yet has "
                           + std::to_string(rows) + " rows and "
                           + std::to_string(outcomes) + " outcomes");
      auto ef = tv.effects.find(id);
      auto effects = ef == tv.effects.end() ? 0 : ef->second.size();
      if (t.refuse) {
        if (effects > 0)
          problems.push_back("refused command " + id + " took effect");
      } else {
        once(effects, "command " + id + " took effect");
      }
      auto key = sv.keys.find(id);
      auto stored = [&] {
        auto has = (*dst)->has_dedup_key(key->second);
        if (!has) {
          problems.push_back("has_dedup_key: " + describe(has.error()));
          return false;
        }
        return *has;
      };
      // An accepted outcome follows its effect: read the source first.
      if (o != order::target_first && outcomes > 0 && oc->second[0].accepted) {
        if (effects == 0)
          problems.push_back("command " + id
                             + " has an accepted outcome and no effect");
        else if (!stored())
          problems.push_back("command " + id + " took effect without its key "
                             + key->second);
      }
      // An effect follows the step that routed its command: read the
      // target first.
      if (o != order::source_first && effects > 0) {
        if (key == sv.keys.end())
          problems.push_back("command " + id
                             + " took effect, and the source holds neither "
                               "its outbox row nor its outcome");
        else if (!stored())
          problems.push_back("command " + id + " took effect without its key "
                             + key->second);
      }
    }
  }
  size_t effects = 0;
  for (auto& [id, streams] : tv.effects)
    effects += streams.size();
  // The keys are counted after the effects were read: equal unless the
  // target wrote in between.
  if (o != order::source_first && tv.dedup_keys != effects)
    problems.push_back("the target holds " + std::to_string(tv.dedup_keys)
                       + " dedup keys for " + std::to_string(effects)
                       + " effects");
  if (final) {
    if (!sv.rows.empty())
      problems.push_back(std::to_string(sv.rows.size())
                         + " commands left in the outbox");
    if (effects != p.accepted)
      problems.push_back(std::to_string(effects) + " effects for "
                         + std::to_string(p.accepted) + " accepted commands");
  }
  return problems;
}

/// Where each command routed and not settled stands, as the two journals
/// tell while the processes run: for the report of a stall.
std::string stuck(const std::string& src_dir, const std::string& dst_dir,
                  const plan& p) {
  std::vector<std::string> problems;
  std::vector<std::string> lines;
  source_view sv;
  target_view tv;
  auto src = open_read_only(src_dir);
  if (!src)
    return "open " + src_dir + ": " + describe(src.error());
  read_source(**src, p, sv, problems);
  if (auto dst = open_read_only(dst_dir))
    read_target(**dst, p, tv, problems);
  else
    problems.push_back("open " + dst_dir + ": " + describe(dst.error()));
  for (auto& item : p.jobs) {
    auto i = sv.jobs.find(item.id);
    if (i == sv.jobs.end() || i->second.started == 0)
      continue;
    for (auto& t : item.targets) {
      if (i->second.settled.count(t.entity) > 0)
        continue;
      auto id = command_id(item.id, t.entity);
      auto yes = [](bool b) { return b ? "yes" : "no"; };
      lines.push_back("command " + id + (t.refuse ? " (refused)" : "")
                      + ": outbox row " + yes(sv.rows.count(id) > 0)
                      + ", effect " + yes(tv.effects.count(id) > 0)
                      + ", outcome " + yes(sv.outcomes.count(id) > 0)
                      + ", settled no");
    }
  }
  lines.insert(lines.end(), problems.begin(), problems.end());
  return head_of(lines);
}

// -- the two processes --------------------------------------------------------

/// What the test knows from the source's reports (over all its runs).
struct progress {
  std::set<std::string> routed;
  std::set<std::string> settled;
  std::set<std::string> done;
  bool finished = false;

  /// Commands routed and not settled.
  size_t in_flight(const plan& p) const {
    size_t n = 0;
    for (auto& job : routed)
      for (auto& t : p.jobs[p.job_index.at(job)].targets)
        if (settled.count(command_id(job, t.entity)) == 0)
          ++n;
    return n;
  }
};

/// One side: its process and what it reported since its start.
struct side {
  side(const char* name, std::vector<std::string> argv)
    : name(name), argv(std::move(argv)) {
    // nop
  }

  const char* name;
  std::vector<std::string> argv;
  std::unique_ptr<child_process> child;
  bool ready = false;
  /// Whether a run of this side was ready once: its journal exists (a side
  /// killed before may have left none, or one without its first commit).
  bool ever_ready = false;
  /// Live progress lines since the start.
  size_t lines = 0;
  bool ended = false;
  std::vector<std::string> problems;
  /// The outbox counters the source reported last: delivered, duplicates,
  /// retries.
  uint64_t counters[3] = {0, 0, 0};
  /// Their sums over the runs before.
  uint64_t totals[3] = {0, 0, 0};

  /// Starts the side; with `crowded`, its registries keep at most 3
  /// entities (or instances) running, passivating the others.
  void start(bool crowded) {
    for (size_t i = 0; i < 3; ++i) {
      totals[i] += counters[i];
      counters[i] = 0;
    }
    auto args = argv;
    if (crowded)
      args.emplace_back("max-active=3");
    child = std::make_unique<child_process>(args);
    ready = false;
    lines = 0;
    ended = false;
  }
};

/// Handles one line of a side; `p` is the plan, `pr` what is known.
void handle(side& s, const std::string& line, const plan& p, progress& pr) {
  auto w = words(line);
  if (w.empty() || w.back() != ".") {
    s.problems.push_back(std::string{s.name} + " reports: " + line);
    return;
  }
  auto live = true;
  if (w[0] == "state") {
    live = false;
    w.erase(w.begin());
  }
  auto known_job = [&](const std::string& job) {
    if (p.job_index.count(job) > 0)
      return true;
    s.problems.push_back(std::string{s.name}
                         + " reports an unknown job: " + line);
    return false;
  };
  if (w[0] == "ready" && (w.size() == 3 || w.size() == 4)) {
    s.ready = true;
    s.ever_ready = true;
  } else if (w[0] == "effect" && w.size() == 3) {
    ++s.lines;
  } else if (w[0] == "routed" && w.size() == 3) {
    if (known_job(w[1]))
      pr.routed.insert(w[1]);
    s.lines += live;
  } else if (w[0] == "settled" && w.size() == 5) {
    if (known_job(w[1])) {
      pr.routed.insert(w[1]);
      pr.settled.insert(command_id(w[1], w[2]));
    }
    s.lines += live;
  } else if (w[0] == "done" && w.size() == 3) {
    if (known_job(w[1]))
      pr.done.insert(w[1]);
    s.lines += live;
  } else if (w[0] == "outbox" && w.size() == 5) {
    // Counters since the start: keep the last ones of this run.
    for (size_t i = 0; i < 3; ++i)
      s.counters[i] = std::strtoull(w[i + 1].c_str(), nullptr, 10);
  } else if (w[0] == "finished" && w.size() == 2) {
    pr.finished = true;
  } else {
    s.problems.push_back(std::string{s.name} + " reports: " + line);
  }
}

/// Reads what `s` printed, waiting at most `ms` for the first line (at
/// least 2: `read_line` counts whole milliseconds, so 1 may not wait at
/// all). Returns the number of lines read.
size_t drain(side& s, const plan& p, progress& pr, int ms = 2) {
  size_t n = 0;
  std::string line;
  while (!s.ended && s.child->read_line(line, n == 0 ? ms : 2)) {
    handle(s, line, p, pr);
    ++n;
  }
  if (!s.ended && !s.child->timed_out())
    s.ended = true; // end of output: the process is gone
  return n;
}

/// The seed of this run: `CAIRN_SEED` if set, else a fresh one.
uint64_t pick_seed() {
  if (auto str = std::getenv("CAIRN_SEED"))
    return std::strtoull(str, nullptr, 10);
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) | rd();
}

} // namespace

TEST_CASE("commands routed through the outbox between two processes killed "
          "at random moments take effect once and reach their instance "
          "once") {
  auto seed = pick_seed();
  std::cout << "outbox crash test: seed " << seed
            << " (set CAIRN_SEED to repeat)" << std::endl;
  INFO("seed " << seed << " (set CAIRN_SEED to repeat)");
  std::mt19937_64 rng{seed};
  auto driver = bin_path("cairn-outbox-crash-driver");
  auto cli = bin_path("cairn-journal");
  REQUIRE(::access(driver.c_str(), X_OK) == 0);
  REQUIRE(::access(cli.c_str(), X_OK) == 0);
  // Kills that count: commands were in flight and the killed side had made
  // progress since its start. Kills go on until enough of them, or until the
  // cap of rounds or the time budget; the work then runs to its end.
  constexpr size_t kills_wanted = 30;
  constexpr size_t max_rounds = 300;
  constexpr auto kill_budget = std::chrono::seconds{60};
  // A side that shows no progress this long while work is left is stuck.
  constexpr auto stall_limit = std::chrono::seconds{30};
  // Once the kills are over, the work must end within this.
  constexpr auto finish_limit = std::chrono::seconds{60};
  temp_dir tmp;
  auto start = clock_type::now();
  size_t kills = 0;
  size_t counted = 0;
  size_t counted_by_side[2] = {0, 0};
  size_t rounds = 0;
  size_t commands = 0;
  uint64_t outbox_counts[3] = {0, 0, 0};
  size_t accepted = 0;
  auto killing = [&] {
    return counted < kills_wanted && rounds < max_rounds
           && clock_type::now() - start < kill_budget;
  };
  size_t episode = 0;
  for (bool more = true; more; ++episode) {
    auto work_seed = seed + episode;
    INFO("episode " << episode << ", work seed " << work_seed);
    plan p{work_seed};
    progress pr;
    auto src_dir = tmp.sub("source-" + std::to_string(episode));
    auto dst_dir = tmp.sub("target-" + std::to_string(episode));
    auto port_file = tmp.sub("port-" + std::to_string(episode));
    auto window = std::uniform_int_distribution<int>{4, 24}(rng);
    side sides[2] = {
      side{"source",
           {driver, "source", src_dir, port_file, std::to_string(work_seed),
            "window=" + std::to_string(window)}},
      side{"target", {driver, "target", dst_dir, port_file}},
    };
    auto& source = sides[0];
    auto& target = sides[1];
    // The target first, so that its journal exists when the source looks.
    target.start(false);
    auto until = clock_type::now() + stall_limit;
    while (!target.ready && !target.ended && clock_type::now() < until)
      drain(target, p, pr, 100);
    REQUIRE(target.ready);
    source.start(false);
    auto last_progress = clock_type::now();
    std::optional<clock_type::time_point> kills_over;
    auto last_lines = pr.settled.size() + pr.routed.size();
    // The next kill: its victim, and the moment, after `lines` progress
    // lines of the victim or `ms` after the round began.
    auto next_kill = [&](size_t& victim, size_t& lines, int& ms) {
      victim = std::uniform_int_distribution<size_t>{0, 1}(rng);
      if (std::uniform_int_distribution<int>{0, 3}(rng) == 0) {
        lines = 0;
        ms = std::uniform_int_distribution<int>{0, 150}(rng);
      } else {
        lines = std::uniform_int_distribution<size_t>{1, 6}(rng);
        ms = 3000;
      }
    };
    size_t victim = 0;
    bool source_killed = false;
    size_t lines = 0;
    int ms = 0;
    next_kill(victim, lines, ms);
    auto round_start = clock_type::now();
    auto victim_lines = sides[victim].lines;
    while (!pr.finished) {
      for (auto& s : sides) {
        drain(s, p, pr);
        if (!s.problems.empty())
          FAIL(head_of(s.problems));
        if (s.ended && !pr.finished) {
          auto status = s.child->wait();
          FAIL(s.name << " ended by itself, status " << status);
        }
      }
      auto now = clock_type::now();
      auto seen = pr.settled.size() + pr.routed.size();
      if (seen != last_lines) {
        last_lines = seen;
        last_progress = now;
      }
      if (now - last_progress > stall_limit) {
        FAIL("no progress for "
             << stall_limit.count() << " s: " << pr.routed.size()
             << " jobs routed, " << pr.settled.size() << " commands settled, "
             << pr.in_flight(p) << " in flight; outbox counters (delivered, "
             << "duplicates, retries) " << source.counters[0] << " "
             << source.counters[1] << " " << source.counters[2] << "\n"
             << stuck(src_dir, dst_dir, p));
      }
      if (pr.finished)
        continue;
      if (!killing()) {
        if (!kills_over)
          kills_over = now;
        if (now - *kills_over > finish_limit)
          FAIL("the work did not end within "
               << finish_limit.count() << " s after the last kill: "
               << pr.done.size() << " of " << p.jobs.size() << " jobs done");
        continue;
      }
      auto& v = sides[victim];
      auto due = (lines > 0 && v.lines - victim_lines >= lines)
                 || now - round_start >= std::chrono::milliseconds{ms};
      if (!due)
        continue;
      // The moment has come.
      auto in_flight = pr.in_flight(p);
      auto progressed = v.lines > 0;
      v.child->kill();
      auto status = v.child->wait();
      drain(v, p, pr, 1000);
      ++rounds;
      INFO("round " << rounds << ": killed the " << v.name << ", status "
                    << status << ", " << in_flight << " commands in flight");
      if (pr.finished) {
        // The source finished just before: the work is done.
        source_killed = victim == 0;
        break;
      }
      REQUIRE(WIFSIGNALED(status));
      REQUIRE(WTERMSIG(status) == SIGKILL);
      ++kills;
      if (in_flight > 0 && progressed) {
        ++counted;
        ++counted_by_side[victim];
      }
      // The dead side's journal stands still: read it first. The target is
      // ready before the source starts; a source not ready once yet may
      // have no journal.
      if (source.ever_ready) {
        auto problems
          = check(src_dir, dst_dir, p,
                  victim == 0 ? order::source_first : order::target_first);
        auto verify
          = cairn::test::run({cli, "verify", victim == 0 ? src_dir : dst_dir});
        if (verify.exit_code != 0)
          problems.push_back("cairn-journal verify: " + verify.output);
        INFO(head_of(problems));
        REQUIRE(problems.empty());
      }
      // Every third start crowded: entities and instances passivate and
      // recover while deliveries and outcomes arrive.
      v.start(std::uniform_int_distribution<int>{0, 2}(rng) == 0);
      next_kill(victim, lines, ms);
      round_start = clock_type::now();
      victim_lines = sides[victim].lines;
    }
    // The source finished: it stops by itself. runtime::stop() may take
    // its stop_timeout (10 s) twice, for the actors and then the
    // coordinator and hub, before the actor system ends.
    auto until_exit
      = clock_type::now() + std::chrono::seconds{30 * CAIRN_TEST_SLOWDOWN};
    while (!source.ended && clock_type::now() < until_exit)
      drain(source, p, pr, 100);
    REQUIRE(source.ended);
    auto status = source.child->wait();
    if (!source_killed) {
      REQUIRE(WIFEXITED(status));
      REQUIRE(WEXITSTATUS(status) == 0);
    }
    target.child->kill();
    target.child->wait();
    auto problems = check(src_dir, dst_dir, p, order::both_still);
    for (auto& dir : {src_dir, dst_dir}) {
      auto verify = cairn::test::run({cli, "verify", dir});
      if (verify.exit_code != 0)
        problems.push_back("cairn-journal verify " + dir + ": "
                           + verify.output);
    }
    INFO(head_of(problems));
    REQUIRE(problems.empty());
    CHECK(pr.done.size() == p.jobs.size());
    for (size_t i = 0; i < 3; ++i)
      outbox_counts[i] += source.totals[i] + source.counters[i];
    commands += p.commands.size();
    accepted += p.accepted;
    more = killing();
  }
  auto secs = std::chrono::duration_cast<std::chrono::milliseconds>(
                clock_type::now() - start)
                .count()
              / 1000.0;
  std::cout << "outbox crash test: seed " << seed << ", " << counted
            << " kills with commands in flight (" << counted_by_side[0]
            << " of the source, " << counted_by_side[1] << " of the target) of "
            << kills << " in " << rounds << " rounds, " << episode << " works, "
            << secs << " s; " << commands << " commands, " << accepted
            << " accepted; the dispatchers reported at least "
            << outbox_counts[0] << " outcomes recorded, " << outbox_counts[1]
            << " deliveries answered as duplicates and " << outbox_counts[2]
            << " retries" << std::endl;
  INFO(counted << " kills with commands in flight of " << kills << " in "
               << rounds << " rounds and " << secs << " s (the cap: "
               << max_rounds << " rounds, " << kill_budget.count() << " s)");
  CHECK(counted >= kills_wanted);
}
