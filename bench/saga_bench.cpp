/// `cairn-bench saga`: atomic process steps against durable persist, in one
/// run.
///
/// - **Steps.** For each N of 1, 100 and 1,000 instances of the bench process
///   manager `chain_saga` (bench/bench_saga.hpp), a fresh journal with sync
///   mode `full` and a fresh actor system. Instance i runs chains of steps,
///   each step commanding entity i of the bench aggregate `counter`: the
///   coordinator has the entity decide without writing, then commits the
///   manager's event, its step record and the entity's 200-byte event as ONE
///   write group. The next step reacts to the outcome of the command of the
///   step before, so each instance has one step in flight. A wave starts a
///   chain of K steps on every instance with one commit of N input events
///   and ends when every instance has committed its closing step (which
///   records the chain's end and commands nothing). Two untimed waves of 2
///   steps spawn and recover the instances and entities; then timed waves
///   run until `--seconds` have passed, K chosen from the rate of the wave
///   before so that a wave lasts about `--seconds` / `--waves` (and at most
///   four times the K of the wave before). A wave's time runs from the
///   commit of its inputs to the last closing step, so it includes the input
///   commit and the closing steps; `steps_per_s` counts the steps that
///   command (N·K per wave).
/// - **A step's latency** is the time from the moment its input is
///   available to the instance to the commit of the step. The input of the
///   first step of a chain is the `chain_requested` event, available once
///   its commit is durable; the input of every later step is the outcome of
///   the previous step's command, available once that step's commit is
///   durable (the coordinator answers the instance and publishes the commit
///   together). Both ends are taken by one subscriber of the hub's live feed
///   when the publication of the commit reaches it: latency = arrival of
///   the step's commit - arrival of the commit of its input, per instance.
///   Steps that command are sampled; closing steps are not. The first
///   steps of chains (input: an event, routed to the instance by the
///   manager's router) and the others (input: an outcome, already at the
///   instance) are also reported apart.
/// - **Reference.** `cairn-bench persist`'s closed loop at the headline N
///   (1,000 by default; bench/closed_loop.hpp: `run_persist_loop`, full
///   sync, one 200-byte event per command, `--persist-clients` clients),
///   for `--seconds` too, in two halves: right before the headline N's
///   steps and right after them, each in a fresh journal, taken together
///   (`merge`). `ratio_vs_persist` is steps per second over its events per
///   second.
/// - **The disk.** Raw LMDB, one 200-byte value per write transaction, full
///   sync, for `--fsync-seconds`: the time of one durable commit.
/// - **Memory.** In a fresh journal (sync `none`) and actor system,
///   `--memory-warmup` instances start, then `--memory-instances` more, each
///   with a chain of no step: its input recovers it, it commits a closing
///   step (`chain_ended` and the step record) and stays active. Resident
///   memory is read as `persist` reads it (bench.hpp: `read_memory`) before
///   and after the second wave; the anonymous part divided by the instances
///   is `rss_bytes_per_instance`. It holds the instance's actor, its state,
///   its registry entry and its share of the runtime.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "caf/all.hpp"

#include "bench/bench.hpp"
#include "bench/bench_aggregate.hpp"
#include "bench/bench_saga.hpp"
#include "bench/closed_loop.hpp"
#include "bench/plot.hpp"
#include "cairn/actors/process_instance.hpp"
#include "cairn/actors/runtime.hpp"
#include "cairn/journal/codec.hpp"
#include "cairn/journal/errc.hpp"

namespace cairn::bench {

namespace {

namespace jr = cairn::journal;

// -- parameters ---------------------------------------------------------------

constexpr uint64_t map_size = uint64_t{4} << 30;
constexpr uint64_t headline_instances = 1000;
constexpr double ratio_target = 0.35;
constexpr double p99_target_ms = 20;
/// Steps per chain of the untimed waves.
constexpr uint64_t warmup_steps = 2;
/// How long a wave may take before the run counts as failed.
constexpr double wave_timeout_s = 300;

struct params {
  std::vector<uint64_t> instance_counts{1, 100, 1000};
  /// Timed seconds per N (waves run until they have passed).
  double seconds = 4;
  /// Waves the timed seconds are meant to be split into.
  uint64_t waves = 2;
  /// Most client actors of the persist reference.
  uint64_t persist_clients = 4;
  /// Seconds of the raw LMDB fsync probe.
  double fsync_seconds = 0.5;
  /// CAF's `scheduler.policy`.
  std::string scheduler = "cairn";
  /// `journal.commit-thread`: `"worker"` or `"own"`.
  std::string commit_thread = "worker";
  /// Instances of the memory case, and those started before it measures.
  uint64_t memory_instances = 20000;
  uint64_t memory_warmup = 2000;
  bool quick = false;
};

/// Prints progress to stderr when the output is a table.
void progress(const settings& cfg, const std::string& what) {
  if (!cfg.json)
    std::cerr << "  " << what << "...\n";
}

// -- the observer -------------------------------------------------------------

/// Tells the observer that a wave starts: `(wave_atom, uint64_t instances,
/// bool record, caf::actor parent)` -> `true`.
using wave_atom = caf::atom_constant<caf::atom("b_wave")>;
/// The observer's report to `parent` that every instance closed its chain.
using wave_done_atom = caf::atom_constant<caf::atom("b_wdone")>;

using clock_type = std::chrono::steady_clock;

/// What the observer measured. Written by the observer before it reports a
/// wave done; read by the driver after it received that report.
struct observed {
  /// Steps that commanded, committed in recorded waves.
  uint64_t steps = 0;
  /// Closing steps committed in recorded waves.
  uint64_t closing_steps = 0;
  /// Latency of each step that commanded, microseconds: the first steps of
  /// chains (reacting to an input) and the others (reacting to an outcome).
  std::vector<double> input_latency_us;
  std::vector<double> outcome_latency_us;
  /// Inputs that did not decode (none expected).
  uint64_t bad_inputs = 0;
};

/// When the input of an instance's next step became available, and whether
/// that input is a `chain_requested` event (else a command's outcome).
struct next_input {
  clock_type::time_point since;
  bool from_input = false;
};

struct observer_state {
  std::shared_ptr<observed> out;
  /// Manager stream -> its next step's input.
  std::unordered_map<std::string, next_input> ready;
  uint64_t expected = 0;
  uint64_t ended = 0;
  bool recording = false;
  caf::actor parent;
  static inline const char* name = "cairn.bench.saga_observer";
};

const jr::codec& input_codec() {
  static const jr::codec instance = [] {
    jr::codec c;
    c.add<chain_requested>(chain_requested::event_name);
    return c;
  }();
  return instance;
}

/// A subscriber of the live feed (all categories) that takes the arrival
/// time of every commit of the instances' inputs and steps.
caf::behavior observer_impl(caf::stateful_actor<observer_state>* self,
                            std::shared_ptr<observed> out) {
  self->state.out = std::move(out);
  return {
    [self](wave_atom, uint64_t instances, bool record, caf::actor& parent) {
      auto& st = self->state;
      st.expected = instances;
      st.ended = 0;
      st.recording = record;
      st.parent = std::move(parent);
      return true;
    },
    [self](events_atom, std::vector<jr::stored_event>& events) {
      auto now = clock_type::now();
      auto& st = self->state;
      auto& out = *st.out;
      for (auto& ev : events) {
        const auto& type = ev.record.type;
        if (type == chain_requested::event_name) {
          auto e = input_codec().decode<chain_requested>(ev);
          if (!e) {
            ++out.bad_inputs;
            continue;
          }
          // Only timed waves take times: the memory case's instances
          // leave nothing here.
          if (st.recording)
            st.ready[stream_of<chain_saga>(e->instance)] = {now, true};
        } else if (type == chain_stepped::event_name) {
          if (!st.recording)
            continue;
          auto& next = st.ready[ev.stream];
          ++out.steps;
          auto us = std::chrono::duration<double, std::micro>(now - next.since)
                      .count();
          if (next.since != clock_type::time_point{})
            (next.from_input ? out.input_latency_us : out.outcome_latency_us)
              .push_back(us);
          next = {now, false};
        } else if (type == chain_ended::event_name) {
          if (st.recording)
            ++out.closing_steps;
          if (++st.ended == st.expected)
            self->send(st.parent, wave_done_atom::value);
        }
      }
    },
  };
}

// -- steps --------------------------------------------------------------------

/// The figures of one N.
struct saga_result {
  uint64_t instances = 0;
  /// Timed waves, and the steps per chain of the last one.
  uint64_t waves = 0;
  uint64_t steps_per_chain = 0;
  /// Steps that commanded, and closing steps, in the timed waves.
  uint64_t steps = 0;
  uint64_t closing_steps = 0;
  /// Wall-clock seconds of the timed waves.
  double seconds = 0;
  double p50_us = 0;
  double p99_us = 0;
  double max_us = 0;
  /// The same for the first steps of chains (reacting to an input) and for
  /// the others (reacting to an outcome).
  double input_p50_us = 0;
  double input_p99_us = 0;
  double outcome_p50_us = 0;
  double outcome_p99_us = 0;
  /// CPU time of the process (all threads) during the timed waves.
  double cpu_seconds = 0;
  /// The coordinator's counters over the timed waves.
  coordinator_stats stats;

  double steps_per_s() const {
    return seconds > 0 ? steps / seconds : 0;
  }

  /// All committed steps (closing ones too) per commit.
  double steps_per_commit() const {
    return stats.commits > 0 ? static_cast<double>(stats.steps) / stats.commits
                             : 0;
  }

  /// Committed events per committed step (the inputs included).
  double events_per_step() const {
    return stats.steps > 0 ? static_cast<double>(stats.events) / stats.steps
                           : 0;
  }

  double ms_per_commit() const {
    return stats.commits > 0 ? stats.commit_ns_total / 1e6 / stats.commits : 0;
  }

  double busy_fraction() const {
    return seconds > 0 ? stats.commit_ns_total / 1e9 / seconds : 0;
  }

  double cpu_us_per_step() const {
    return steps > 0 ? cpu_seconds * 1e6 / steps : 0;
  }

  /// The CPU time of the coordinator's thread in commits per step, µs, per
  /// step as `cpu_us_per_step` counts them.
  double commit_cpu_us_per_step() const {
    return steps > 0 ? stats.commit_cpu_ns_total / 1e3 / steps : 0;
  }
};

/// Subscribes observer `obs` to the live feed of every category.
void subscribe(caf::scoped_actor& self, runtime& rt, const caf::actor& obs) {
  caf::error err;
  self
    ->request(rt.hub(), std::chrono::seconds{60}, subscribe_atom::value, obs,
              std::string{})
    .receive([](uint64_t) {}, [&](caf::error& e) { err = std::move(e); });
  if (err)
    throw std::runtime_error("subscribing to the hub: " + describe(err));
}

/// Runs one wave: a chain of `k` steps on each of `n` instances (ids
/// `first_id` on). Returns the seconds from the commit of the inputs to the
/// report that every chain closed.
double run_wave(caf::scoped_actor& self, runtime& rt, const caf::actor& obs,
                uint64_t wave, uint64_t n, uint64_t k, bool record,
                uint64_t first_id = 0) {
  caf::error err;
  self
    ->request(obs, std::chrono::seconds{60}, wave_atom::value, n, record,
              caf::actor{self})
    .receive([](bool) {}, [&](caf::error& e) { err = std::move(e); });
  if (err)
    throw std::runtime_error("saga observer: " + describe(err));
  jr::append a;
  a.stream = "benchgo-" + std::to_string(wave);
  a.expected = jr::expected_version::no_stream();
  a.events.reserve(n);
  for (uint64_t i = 0; i < n; ++i)
    a.events.push_back(input_codec().encode(
      chain_requested{std::to_string(first_id + i), wave, k}));
  jr::write_group g;
  g.appends.push_back(std::move(a));
  stopwatch sw;
  self
    ->request(rt.coordinator(), std::chrono::seconds{60}, commit_atom::value,
              std::move(g))
    .receive([](jr::group_receipt&) {}, [&](caf::error& e) { err = e; });
  if (err)
    throw std::runtime_error("committing the inputs of wave "
                             + std::to_string(wave) + ": " + describe(err));
  bool timed_out = false;
  self->receive([](wave_done_atom) {}, caf::after(std::chrono::seconds{
                                         static_cast<int64_t>(wave_timeout_s)})
                                         >> [&] { timed_out = true; });
  if (timed_out)
    throw std::runtime_error("wave " + std::to_string(wave) + " of "
                             + std::to_string(n) + " chains of "
                             + std::to_string(k) + " steps did not end within "
                             + fmt_fixed(wave_timeout_s, 0) + " s");
  return sw.seconds();
}

/// Runs the steps of `n` instances in a fresh journal and actor system.
saga_result saga_case(const temp_dir& tmp, uint64_t n, const params& p) {
  saga_result r;
  r.instances = n;
  auto dir = tmp.sub("saga-" + std::to_string(n));
  {
    caf::actor_system_config cfg;
    set_scheduler_policy(cfg, p.scheduler);
    caf::actor_system sys{cfg};
    auto rt = start_bench_runtime(sys, dir, jr::sync_mode::full, map_size,
                                  p.commit_thread);
    {
      caf::scoped_actor self{sys};
      start_process_manager<chain_saga>(*rt);
      auto out = std::make_shared<observed>();
      auto obs = sys.spawn(observer_impl, out);
      exit_guard guard;
      guard.add(obs);
      subscribe(self, *rt, obs);
      uint64_t wave = 0;
      // Commanding steps per second of the wave before.
      double rate = 0;
      for (int i = 0; i < 2; ++i)
        rate = warmup_steps * n
               / run_wave(self, *rt, obs, ++wave, n, warmup_steps, false);
      auto before = fetch_stats(self, rt->coordinator());
      auto cpu = process_cpu_seconds();
      auto per_wave = p.seconds / std::max<uint64_t>(p.waves, 1);
      auto max_waves = 4 * std::max<uint64_t>(p.waves, 1) + 8;
      uint64_t expected_steps = 0;
      auto k_before = warmup_steps;
      while (r.seconds < p.seconds && r.waves < max_waves) {
        auto aim = std::clamp(p.seconds - r.seconds, per_wave / 2, per_wave);
        // At most four times the chains of the wave before: a rate measured
        // on short chains on a shared disk may be far off.
        auto k = std::clamp<uint64_t>(
          static_cast<uint64_t>(std::llround(rate * aim / n)), 2, 4 * k_before);
        auto secs = run_wave(self, *rt, obs, ++wave, n, k, true);
        rate = k * n / secs;
        r.seconds += secs;
        r.steps_per_chain = k;
        k_before = k;
        ++r.waves;
        expected_steps += k * n;
      }
      r.cpu_seconds = process_cpu_seconds() - cpu;
      auto after = fetch_stats(self, rt->coordinator());
      r.stats = stats_delta(before, after);
      r.steps = out->steps;
      r.closing_steps = out->closing_steps;
      auto all = out->input_latency_us;
      all.insert(all.end(), out->outcome_latency_us.begin(),
                 out->outcome_latency_us.end());
      r.p50_us = percentile(all, 50);
      r.p99_us = percentile(all, 99);
      r.max_us = percentile(all, 100);
      r.input_p50_us = percentile(out->input_latency_us, 50);
      r.input_p99_us = percentile(out->input_latency_us, 99);
      r.outcome_p50_us = percentile(out->outcome_latency_us, 50);
      r.outcome_p99_us = percentile(out->outcome_latency_us, 99);
      auto where = "N = " + std::to_string(n) + ": ";
      if (after.rejected_commands > 0)
        throw std::runtime_error(where + std::to_string(after.rejected_commands)
                                 + " commands of steps were rejected");
      if (out->bad_inputs > 0)
        throw std::runtime_error(where + std::to_string(out->bad_inputs)
                                 + " inputs did not decode");
      if (r.steps != expected_steps || r.closing_steps != r.waves * n)
        throw std::runtime_error(where + std::to_string(r.steps) + " steps and "
                                 + std::to_string(r.closing_steps)
                                 + " closing steps seen, "
                                 + std::to_string(expected_steps) + " and "
                                 + std::to_string(r.waves * n) + " expected");
    }
    rt->stop();
  }
  remove_tree(dir);
  return r;
}

// -- memory -------------------------------------------------------------------

/// The memory of active instances.
struct memory_result {
  uint64_t instances = 0;
  uint64_t active = 0;
  memory_reading before;
  memory_reading after;

  /// Anonymous resident bytes per instance.
  double bytes_per_instance() const {
    return growth_per(before.anon(), after.anon(), instances);
  }

  double heap_bytes_per_instance() const {
    return growth_per(before.heap, after.heap, instances);
  }
};

/// Starts `p.memory_warmup` instances, then `p.memory_instances` more, each
/// with a chain of no step: its input recovers the instance, which commits a
/// closing step and stays active. Reads the memory before and after the
/// second wave.
memory_result memory_case(const temp_dir& tmp, const params& p) {
  memory_result r;
  r.instances = p.memory_instances;
  auto dir = tmp.sub("saga-memory");
  {
    caf::actor_system_config cfg;
    set_scheduler_policy(cfg, p.scheduler);
    caf::actor_system sys{cfg};
    auto rt = start_bench_runtime(sys, dir, jr::sync_mode::none, map_size,
                                  p.commit_thread);
    {
      caf::scoped_actor self{sys};
      auto reg = start_process_manager<chain_saga>(*rt);
      auto out = std::make_shared<observed>();
      auto obs = sys.spawn(observer_impl, out);
      exit_guard guard;
      guard.add(obs);
      subscribe(self, *rt, obs);
      run_wave(self, *rt, obs, 1, p.memory_warmup, 0, false);
      fetch_registry_stats(self, reg);
      r.before = read_memory();
      run_wave(self, *rt, obs, 2, p.memory_instances, 0, false,
               p.memory_warmup);
      r.active = fetch_registry_stats(self, reg).active - p.memory_warmup;
      r.after = read_memory();
      if (r.active != p.memory_instances)
        throw std::runtime_error("memory case: " + std::to_string(r.active)
                                 + " of " + std::to_string(p.memory_instances)
                                 + " instances active");
    }
    rt->stop();
  }
  remove_tree(dir);
  return r;
}

// -- the disk -----------------------------------------------------------------

/// Raw LMDB, one 200-byte value per write transaction, full sync.
struct fsync_result {
  uint64_t commits = 0;
  double seconds = 0;
  double p50_us = 0;
  double p99_us = 0;
};

fsync_result fsync_case(const temp_dir& tmp, double seconds) {
  auto dir = tmp.sub("fsync");
  fsync_result r;
  {
    raw_lmdb db{dir, uint64_t{256} << 20, 0};
    std::string value(recorded_bytes, 'x');
    for (int i = 0; i < 2; ++i)
      db.append(1, value);
    std::vector<double> us;
    stopwatch total;
    do {
      stopwatch one;
      db.append(1, value);
      us.push_back(one.micros());
    } while (total.seconds() < seconds);
    r.seconds = total.seconds();
    r.commits = us.size();
    r.p50_us = percentile(us, 50);
    r.p99_us = percentile(us, 99);
  }
  remove_tree(dir);
  return r;
}

// -- output -------------------------------------------------------------------

struct figures {
  std::vector<saga_result> sagas;
  persist_loop_result persist;
  fsync_result disk;
  memory_result memory;

  /// The case the targets are checked on: N = 1000, else the largest N.
  const saga_result& headline() const {
    for (auto& x : sagas)
      if (x.instances == headline_instances)
        return x;
    return sagas.back();
  }

  double ratio() const {
    return headline().steps_per_s() / persist.events_per_s();
  }

  bool ratio_met() const {
    return ratio() >= ratio_target;
  }

  bool p99_met() const {
    return headline().p99_us / 1000 <= p99_target_ms;
  }
};

void print_json(const params& p, const figures& f) {
  auto& h = f.headline();
  json_object per_n;
  for (auto& x : f.sagas) {
    json_object o;
    o.set("steps_per_s", x.steps_per_s())
      .set("steps", x.steps)
      .set("closing_steps", x.closing_steps)
      .set("waves", x.waves)
      .set("steps_per_chain", x.steps_per_chain)
      .set("seconds", x.seconds)
      .set("p50_ms", x.p50_us / 1000)
      .set("p99_ms", x.p99_us / 1000)
      .set("max_ms", x.max_us / 1000)
      .set("input_step_p50_ms", x.input_p50_us / 1000)
      .set("input_step_p99_ms", x.input_p99_us / 1000)
      .set("outcome_step_p50_ms", x.outcome_p50_us / 1000)
      .set("outcome_step_p99_ms", x.outcome_p99_us / 1000)
      .set("commits", x.stats.commits)
      .set("steps_per_commit", x.steps_per_commit())
      .set("events_per_step", x.events_per_step())
      .set("events_per_commit", x.stats.events_per_commit())
      .set("ms_per_commit", x.ms_per_commit())
      .set("max_ms_per_commit_since_start", x.stats.commit_ns_max / 1e6)
      .set("commit_busy_fraction", x.busy_fraction())
      .set("cpu_us_per_step", x.cpu_us_per_step())
      .set("commit_cpu_us_per_step", x.commit_cpu_us_per_step());
    per_n.set(std::to_string(x.instances), o);
  }
  json_object conditions;
  conditions.set("sync", "full")
    .set("event_bytes", recorded_bytes)
    .set("headline_instances", h.instances)
    .set("seconds_per_case", p.seconds)
    .set("waves_aimed_at", p.waves)
    .set("warmup_waves", 2)
    .set("step", "manager event + outcome_reacted + step record + the "
                 "counter's event, one write group")
    .set("in_flight", "one step per instance (closed loop)")
    .set("latency", "arrival at a live-feed subscriber of the step's commit "
                    "minus that of the commit that made its input available")
    .set("persist_reference",
         "cairn-bench persist closed loop at the headline N, half right "
         "before its steps and half right after")
    .set("persist_clients", p.persist_clients)
    .set("fsync_probe", "raw LMDB, one 200-byte value per txn, full sync")
    .set("max_batch_events", coordinator_settings{}.max_batch_events)
    .set("scheduler", p.scheduler)
    .set("commit_thread", p.commit_thread)
    .set("allocator", CAIRN_ALLOCATOR)
    .set("hardware_threads",
         static_cast<uint64_t>(std::thread::hardware_concurrency()));
  json_object out;
  out.set("subcommand", "saga")
    .set("quick", p.quick)
    .set("instances", h.instances)
    .set("steps_per_s", h.steps_per_s())
    .set("persist_events_per_s", f.persist.events_per_s())
    .set("ratio_vs_persist", f.ratio())
    .set("p50_ms", h.p50_us / 1000)
    .set("p99_ms", h.p99_us / 1000)
    .set("max_ms", h.max_us / 1000)
    .set("input_step_p99_ms", h.input_p99_us / 1000)
    .set("outcome_step_p99_ms", h.outcome_p99_us / 1000)
    .set("steps_per_chain", h.steps_per_chain)
    .set("steps_per_commit", h.steps_per_commit())
    .set("ms_per_commit", h.ms_per_commit())
    .set("cpu_us_per_step", h.cpu_us_per_step())
    .set("persist_p50_ms", f.persist.p50_us / 1000)
    .set("persist_p99_ms", f.persist.p99_us / 1000)
    .set("persist_events_per_commit", f.persist.events_per_commit())
    .set("persist_cpu_us_per_event", f.persist.cpu_us_per_event())
    .set("fsync_p50_ms", f.disk.p50_us / 1000)
    .set("fsync_p99_ms", f.disk.p99_us / 1000)
    .set("memory_instances", f.memory.instances)
    .set("rss_bytes_per_instance", f.memory.bytes_per_instance())
    .set("heap_bytes_per_instance", f.memory.heap_bytes_per_instance())
    .set("ratio_target", ratio_target)
    .set("ratio_target_met", f.ratio_met())
    .set("p99_target_ms", p99_target_ms)
    .set("p99_target_met", f.p99_met())
    .set("per_instances", per_n)
    .set("conditions", conditions);
  std::cout << out.str() << std::endl;
}

void print_tables(const params& p, const figures& f) {
  auto& out = std::cout;
  out << "\natomic steps: one step in flight per instance, each commanding "
         "one counter entity (200-byte event), sync full, "
      << p.seconds << " s per N\n\n";
  table t{{"instances", "steps/s", "waves", "steps/chain", "steps/commit",
           "events/step", "ms/commit", "max", "busy", "cpu us/step", "p50 ms",
           "p99 ms", "max ms", "p99 first", "p99 next"}};
  for (auto& x : f.sagas)
    t.add_row(
      {std::to_string(x.instances), fmt_count(x.steps_per_s()),
       std::to_string(x.waves), std::to_string(x.steps_per_chain),
       fmt_fixed(x.steps_per_commit(), 1), fmt_fixed(x.events_per_step(), 2),
       fmt_fixed(x.ms_per_commit(), 2),
       fmt_fixed(x.stats.commit_ns_max / 1e6, 1),
       fmt_fixed(x.busy_fraction(), 2), fmt_fixed(x.cpu_us_per_step(), 1),
       fmt_fixed(x.p50_us / 1000, 2), fmt_fixed(x.p99_us / 1000, 2),
       fmt_fixed(x.max_us / 1000, 2), fmt_fixed(x.input_p99_us / 1000, 2),
       fmt_fixed(x.outcome_p99_us / 1000, 2)});
  t.print(out);
  out << "\nlatency: from the commit that made the step's input available to "
         "the step's commit,\nboth as they reach a subscriber of the live "
         "feed; p99 first: of the first steps of chains (input: an event), "
         "next: of the others\n(input: the previous command's outcome); max: "
         "longest commit since the start, ms; busy: share of the time in "
         "commits\n";
  auto& h = f.headline();
  out << "\nreference: cairn-bench persist at N = " << f.persist.entities
      << " (" << f.persist.clients << " clients, " << p.seconds << " s)\n\n";
  table b{
    {"case", "per s", "per commit", "ms/commit", "p50 ms", "p99 ms", "cpu us"}};
  b.add_row({"persist, events", fmt_count(f.persist.events_per_s()),
             fmt_fixed(f.persist.events_per_commit(), 1),
             fmt_fixed(f.persist.ms_per_commit(), 2),
             fmt_fixed(f.persist.p50_us / 1000, 2),
             fmt_fixed(f.persist.p99_us / 1000, 2),
             fmt_fixed(f.persist.cpu_us_per_event(), 1)});
  b.add_row({"saga, steps", fmt_count(h.steps_per_s()),
             fmt_fixed(h.steps_per_commit(), 1),
             fmt_fixed(h.ms_per_commit(), 2), fmt_fixed(h.p50_us / 1000, 2),
             fmt_fixed(h.p99_us / 1000, 2), fmt_fixed(h.cpu_us_per_step(), 1)});
  b.print(out);
  out << "\ndisk: raw LMDB, one 200-byte value per txn, full sync: p50 "
      << fmt_fixed(f.disk.p50_us / 1000, 2) << " ms, p99 "
      << fmt_fixed(f.disk.p99_us / 1000, 2) << " ms ("
      << fmt_count(f.disk.commits) << " txns)\n";
  out << "\nmemory: " << fmt_count(f.memory.instances)
      << " active instances (after " << fmt_count(p.memory_warmup)
      << "), each after its input and one step: "
      << fmt_count(f.memory.bytes_per_instance())
      << " resident bytes per instance (heap "
      << fmt_count(f.memory.heap_bytes_per_instance()) << ")\n";
  auto verdict = [&](const std::string& what, const std::string& value,
                     const std::string& target, bool met) {
    out << "  " << what << value << " (target " << target
        << "): " << (met ? "met" : "MISSED") << '\n';
  };
  out << "\ntargets at N = " << h.instances << ":\n";
  verdict("steps/s vs persist events/s: ", fmt_fixed(f.ratio(), 2),
          ">= " + fmt_fixed(ratio_target, 2), f.ratio_met());
  verdict(
    "p99 step latency:            ", fmt_fixed(h.p99_us / 1000, 2) + " ms",
    "<= " + fmt_fixed(p99_target_ms, 0) + " ms", f.p99_met());
}

// -- the subcommand -----------------------------------------------------------

params make_params(const settings& cfg) {
  params p;
  p.quick = cfg.quick;
  if (cfg.quick) {
    p.instance_counts = {1, 20};
    p.seconds = 0.3;
    p.waves = 1;
    p.fsync_seconds = 0.1;
    p.memory_instances = 200;
    p.memory_warmup = 20;
  }
  p.seconds = cfg.get_number("--seconds", p.seconds);
  p.waves = cfg.get_count("--waves", p.waves);
  p.persist_clients = cfg.get_count("--persist-clients", p.persist_clients);
  p.fsync_seconds = cfg.get_number("--fsync-seconds", p.fsync_seconds);
  if (cfg.has("--scheduler")) {
    p.scheduler = cfg.values.at("--scheduler");
    caf::actor_system_config probe;
    set_scheduler_policy(probe, p.scheduler); // throws for a bad name
  }
  p.commit_thread = parse_commit_thread(cfg, p.commit_thread);
  p.instance_counts = cfg.get_counts("--instances", p.instance_counts);
  p.memory_instances = cfg.get_count("--memory-instances", p.memory_instances);
  p.memory_warmup = cfg.get_count("--memory-warmup", p.memory_warmup);
  return p;
}

/// Draws `saga-throughput.svg` and `saga-latency.svg` into `dir`.
void plot(const settings& cfg, const figures& f) {
  auto dir = cfg.values.at("--plot");
  plot_series steps{"Cairn, atomic steps", {}};
  plot_series persist{"Cairn, durable persist (reference)", {}};
  plot_series p99{"atomic steps, p99", {}};
  plot_series p50{"atomic steps, p50", {}};
  for (auto& x : f.sagas) {
    auto n = static_cast<double>(x.instances);
    steps.points.emplace_back(n, x.steps_per_s());
    p99.points.emplace_back(n, x.p99_us / 1000);
    p50.points.emplace_back(n, x.p50_us / 1000);
  }
  persist.points.emplace_back(static_cast<double>(f.headline().instances),
                              f.persist.events_per_s());
  for (auto& spec :
       {plot_spec{"saga-throughput",
                  "cairn-bench saga: steps/s (one step: the instance's events "
                  "and the commanded entity's, one transaction)",
                  "process instances",
                  "steps/s or events/s",
                  true,
                  false,
                  {steps, persist}},
        plot_spec{"saga-latency",
                  "cairn-bench saga: latency per step",
                  "process instances",
                  "ms",
                  true,
                  true,
                  {p50, p99}}}) {
    auto svg = write_plot(dir, spec);
    if (!cfg.json) // JSON mode prints one object and nothing else
      std::cerr << "plot: " << svg << '\n';
  }
}

int run_saga(const settings& cfg) {
  auto p = make_params(cfg);
  temp_dir tmp{cfg.dir};
  if (!cfg.json)
    std::cerr << "cairn-bench saga in " << tmp.path() << '\n';
  figures f;
  progress(cfg, "raw lmdb, one txn per event (the disk's fsync)");
  f.disk = fsync_case(tmp, p.fsync_seconds);
  // The persist reference runs at the headline N in two halves, right
  // before and right after its steps, so that both see the same drift of
  // the shared disk and CPU.
  auto& counts = p.instance_counts;
  auto headline_n = std::find(counts.begin(), counts.end(), headline_instances)
                        != counts.end()
                      ? headline_instances
                      : counts.back();
  persist_loop_options opts;
  opts.seconds = p.seconds / 2;
  opts.rounds = 1;
  opts.max_clients = p.persist_clients;
  opts.scheduler = p.scheduler;
  opts.commit_thread = p.commit_thread;
  opts.map_size = map_size;
  auto reference = [&](const char* half) {
    progress(cfg, std::string{"persist reference ("} + half + "), "
                    + std::to_string(headline_n) + " entities");
    return run_persist_loop(tmp.sub(std::string{"persist-reference-"} + half),
                            headline_n, opts);
  };
  persist_loop_result before;
  for (auto n : counts) {
    if (n == headline_n)
      before = reference("before the steps");
    progress(cfg, "atomic steps, " + std::to_string(n)
                    + (n == 1 ? " instance" : " instances"));
    f.sagas.push_back(saga_case(tmp, n, p));
    if (n == headline_n)
      f.persist = merge(before, reference("after the steps"));
  }
  progress(cfg, "memory, " + std::to_string(p.memory_instances)
                  + " active instances");
  f.memory = memory_case(tmp, p);
  if (cfg.json)
    print_json(p, f);
  else
    print_tables(p, f);
  if (cfg.has("--plot"))
    plot(cfg, f);
  return 0;
}

} // namespace

subcommand saga_subcommand() {
  return {"saga",
          "atomic process steps vs durable persist, latency (targets 0.35x, "
          "20 ms)",
          {{"--scheduler", "POLICY",
            "scheduler: cairn (default), stealing or sharing (CAF's)"},
           {"--commit-thread", "WHERE", commit_thread_help},
           {"--seconds", "S", "timed seconds per instance count (default 4)"},
           {"--waves", "N", "waves the seconds are split into (default 2)"},
           {"--instances", "LIST", "instance counts (default 1,100,1000)"},
           {"--persist-clients", "N",
            "most clients of the persist reference (default 4)"},
           {"--fsync-seconds", "S", "seconds of the fsync probe (default 0.5)"},
           {"--memory-instances", "N",
            "active instances of the memory case (default 20000)"},
           {"--memory-warmup", "N",
            "instances started before it measures (default 2000)"},
           {"--plot", "DIR", "also draw SVG charts into DIR (gnuplot)"}},
          run_saga};
}

} // namespace cairn::bench
