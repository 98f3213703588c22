#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/atom.hpp"
#include "caf/scoped_actor.hpp"

#include "bench/bench.hpp"
#include "cairn/actors/coordinator.hpp"
#include "cairn/actors/registry.hpp"
#include "cairn/actors/runtime.hpp"
#include "cairn/journal/options.hpp"

/// Closed-loop load for `cairn-bench persist`, `cairn-bench actor` and the
/// reference of `cairn-bench saga`:
/// event-based clients that keep exactly one command in flight per entity
/// (`request(...).then(...)`, never a blocking request), and a plain CAF
/// counter actor as the baseline target.
///
/// A client runs one of two phases when told:
/// - a **sweep** sends each of its entities one command, at most `window`
///   in flight, untimed (spawns and recovers entities, warms caches);
/// - a **timed run** keeps one command in flight per entity until a
///   deadline, recording the latency of each from send to reply, and
///   stops issuing at the deadline; it reports once all have answered.
namespace cairn::bench {

/// The command of `command_kind::raw_counter`: `(bench_add_atom, int64_t x)`
/// adds `x` and is answered with the sum.
using bench_add_atom = caf::atom_constant<caf::atom("b_add")>;

/// What a client sends for each command. Every reply is an `int64_t`.
enum class command_kind {
  /// `(bench_add_atom, int64_t{1})` to an actor of its own per entity: a
  /// counter (`spawn_counter`) or a raw store entity (bench/raw_actors.hpp).
  raw_counter,
  /// `(entity_id, record_event)` to a registry of `counter`.
  persist,
  /// `(entity_id, get_count)` to a registry of `counter`.
  read,
};

/// What a client measured. Written by the client before it reports done;
/// read by the caller after it received that report.
struct load_result {
  /// Commands answered with a value during timed runs.
  uint64_t completed = 0;
  /// Commands answered with an error (sweeps and timed runs).
  uint64_t failed = 0;
  /// The text of the first error.
  std::string first_error;
  /// Microseconds from send to reply of each completed timed command.
  std::vector<double> latency_us;
};

/// One client's load.
struct load_spec {
  command_kind kind = command_kind::persist;
  /// `raw_counter`: one counter actor per entity; otherwise the registry.
  std::vector<caf::actor> targets;
  /// Entity ids (unused for `raw_counter`, where targets say the count).
  std::vector<std::string> ids;
  /// Whether timed runs record each latency.
  bool record_latency = true;
  /// `persist` and `read`: through an `entity_ref` per entity (resolved by
  /// the first command, then straight to the entity) instead of the
  /// registry.
  bool via_ref = false;
};

/// Spawns a plain CAF counter actor: `(add_atom, int64_t x)` adds `x` to
/// an `int64_t` and replies the sum.
caf::actor spawn_counter(caf::actor_system& sys);

/// Spawns a client; what it measures goes to `*out`.
caf::actor spawn_client(caf::actor_system& sys, load_spec spec,
                        std::shared_ptr<load_result> out);

/// Makes every client sweep its entities, at most `window` in flight per
/// client, and waits until all are done. Throws `std::runtime_error` when a
/// client does not report within `timeout_s` seconds.
void sweep(caf::scoped_actor& self, const std::vector<caf::actor>& clients,
           uint64_t window, double timeout_s = 600);

/// Runs every client until a common deadline `seconds` from now and waits
/// until all commands in flight at the deadline have answered. Returns the
/// wall-clock seconds from the start to the last report. Throws like `sweep`.
double timed_run(caf::scoped_actor& self,
                 const std::vector<caf::actor>& clients, double seconds,
                 double timeout_s = 600);

/// Tells the actors it holds to exit when it goes out of scope, so that an
/// exception cannot leave them running: the actor system would wait for them
/// forever.
class exit_guard {
public:
  exit_guard() = default;

  ~exit_guard();

  exit_guard(const exit_guard&) = delete;
  exit_guard& operator=(const exit_guard&) = delete;

  void add(const caf::actor& x);

  void add(const std::vector<caf::actor>& xs);

private:
  std::vector<caf::actor> xs_;
};

// -- the runtime under test ---------------------------------------------------

/// Selects the scheduler of the actor system made from `cfg`: `"cairn"`
/// (Cairn's, cairn/actors/scheduler.hpp, the default of `cairn::config`),
/// `"stealing"` (CAF's default) or `"sharing"`. Throws `usage_error` for
/// anything else.
void set_scheduler_policy(caf::actor_system_config& cfg,
                          const std::string& policy);

/// Starts a runtime on a fresh journal in `dir` with sync mode `sync`, no
/// passivation (neither idle nor by count), a map of `map_size` bytes and
/// commits on the workers, or on a thread of their own with
/// `commit_thread == "own"`; the coordinator counts its commits' CPU time
/// if `measure_commit_cpu`. Throws `std::runtime_error` when the journal
/// does not open.
std::unique_ptr<runtime> start_bench_runtime(caf::actor_system& sys,
                                             const std::string& dir,
                                             journal::sync_mode sync,
                                             uint64_t map_size,
                                             const std::string& commit_thread,
                                             bool measure_commit_cpu = true);

/// Asks the coordinator for its counters. Throws `std::runtime_error` on
/// an error.
coordinator_stats fetch_stats(caf::scoped_actor& self,
                              const coordinator_actor& c);

/// Adds the counters of `x` to `sum` (maxima: the larger).
void add_stats(coordinator_stats& sum, const coordinator_stats& x);

/// Returns `after - before`, counter by counter; maxima are `after`'s.
coordinator_stats stats_delta(const coordinator_stats& before,
                              const coordinator_stats& after);

/// Spawns `clients` clients (at most one per entity) for the entities
/// `prefix + i`, i < `entities`, of `registry`, entity i going to client
/// i mod `clients`; each measures into its own entry of `results`.
std::vector<caf::actor> spawn_entity_clients(
  caf::actor_system& sys, const caf::actor& registry, command_kind kind,
  const std::string& prefix, uint64_t entities, uint64_t clients,
  std::vector<std::shared_ptr<load_result>>& results, bool via_ref = false);

/// Spawns `clients` clients (at most one per target) that send
/// `(bench_add_atom, 1)` to `targets`, target i going to client i mod
/// `clients`; each measures into its own entry of `results`.
std::vector<caf::actor>
spawn_target_clients(caf::actor_system& sys,
                     const std::vector<caf::actor>& targets, uint64_t clients,
                     std::vector<std::shared_ptr<load_result>>& results);

/// Sums the counters and joins the latencies of `results`. Throws
/// `std::runtime_error` with the first error text if a command failed.
load_result
merge_results(const std::vector<std::shared_ptr<load_result>>& results);

/// The help of `--via`, shared by `persist` and `actor`.
inline constexpr const char* via_help
  = "how clients address entities: ref (entity_ref, default) or registry";

/// Returns the value of `--via` ("ref" or "registry"), or `fallback` when
/// absent. Throws `usage_error` naming the flag for anything else.
std::string parse_via(const settings& cfg, const std::string& fallback);

/// Help text of `--commit-thread`.
inline constexpr const char* commit_thread_help
  = "where commits run: worker (default) or own (journal.commit-thread)";

/// Returns `--commit-thread` (`"worker"` or `"own"`), or `fallback` when
/// it is absent. Throws `usage_error` for any other value.
std::string parse_commit_thread(const settings& cfg,
                                const std::string& fallback);

/// Returns the counters of registry `reg`. Throws if it does not answer
/// within a minute.
registry_stats fetch_registry_stats(caf::scoped_actor& self,
                                    const caf::actor& reg);

// -- the workload of `cairn-bench persist` ------------------------------------

/// How `run_persist_loop` runs.
struct persist_loop_options {
  /// Timed seconds in all rounds together.
  double seconds = 2;
  /// Timed runs the seconds are split into.
  uint64_t rounds = 3;
  /// Most client actors.
  uint64_t max_clients = 4;
  /// CAF's `scheduler.policy`.
  std::string scheduler = "cairn";
  /// Commands through entity references (else through the registry).
  bool via_ref = true;
  /// `journal.commit-thread`: `"worker"` or `"own"`.
  std::string commit_thread = "worker";
  /// Bytes of the journal's map.
  uint64_t map_size = uint64_t{4} << 30;
};

/// What `run_persist_loop` measured.
struct persist_loop_result {
  uint64_t entities = 0;
  uint64_t clients = 0;
  /// Commands answered during the timed runs (each stored one event).
  uint64_t commands = 0;
  /// Wall-clock seconds of the timed runs.
  double seconds = 0;
  /// Latency of a command from send to reply, microseconds.
  double p50_us = 0;
  double p99_us = 0;
  double max_us = 0;
  /// CPU time of the process (all threads) during the timed runs.
  double cpu_seconds = 0;
  /// Bytes the process passed to write(2) and its kin during the timed
  /// runs: the pages of the journal's commits.
  double written = 0;
  /// The coordinator's counters over the timed runs.
  coordinator_stats stats;
  /// Every command's latency, microseconds (for `merge`).
  std::vector<double> latency_us;

  double events_per_s() const {
    return seconds > 0 ? commands / seconds : 0;
  }

  double events_per_commit() const {
    return stats.events_per_commit();
  }

  double written_per_event() const {
    return commands > 0 ? written / commands : 0;
  }

  double commits_per_s() const {
    return seconds > 0 ? stats.commits / seconds : 0;
  }

  double ms_per_commit() const {
    return stats.commits > 0 ? stats.commit_ns_total / 1e6 / stats.commits : 0;
  }

  /// The share of the timed runs the coordinator spent in commits.
  double busy_fraction() const {
    return seconds > 0 ? stats.commit_ns_total / 1e9 / seconds : 0;
  }

  double cpu_us_per_event() const {
    return commands > 0 ? cpu_seconds * 1e6 / commands : 0;
  }

  /// The CPU time of the coordinator's thread in commits per committed
  /// event (`coordinator_stats::commit_cpu_ns_total`), µs.
  double commit_cpu_us_per_event() const {
    return stats.events > 0 ? stats.commit_cpu_ns_total / 1e3 / stats.events
                            : 0;
  }
};

/// The figures of two closed loops of the same N taken as one: counts,
/// seconds and counters added, latencies from both runs' samples.
persist_loop_result merge(const persist_loop_result& a,
                          const persist_loop_result& b);

/// Called after each timed run of `run_persist_loop` with the figures so far
/// (counters and seconds; latencies are filled in at the end).
using between_rounds = std::function<void(const persist_loop_result&)>;

/// The durable closed loop of `cairn-bench persist`: a fresh actor system
/// and a fresh journal in `dir` (sync mode `full`), `entities` entities of
/// the bench aggregate `counter` with one command in flight each, every
/// command persisting one 200-byte event. Two untimed sweeps spawn and
/// recover the entities; then `opts.rounds` timed runs of `opts.seconds` in
/// all, `after_round` (if set) running after each. Removes `dir` at the
/// end. Throws `std::runtime_error` when a command fails or the committed
/// events do not match the answered commands.
persist_loop_result run_persist_loop(const std::string& dir, uint64_t entities,
                                     const persist_loop_options& opts,
                                     const between_rounds& after_round = {});

} // namespace cairn::bench
