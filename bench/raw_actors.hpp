#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"
#include "caf/scoped_actor.hpp"

#include "bench/bench.hpp"
#include "bench/closed_loop.hpp"

/// The floor of Cairn's architecture, measured in the same run as the
/// runtime: the same closed loop with nothing of Cairn on the path.
///
/// Plain CAF actors stand for the entities. Each command `(bench_add_atom,
/// 1)` makes its entity copy a 200-byte event and `request` a plain CAF
/// store actor to append it; the store buffers the events of everything
/// in its mailbox (a flush message to itself queues up behind them, as
/// Cairn's coordinator does), puts them with `MDB_APPEND` under 16-byte
/// big-endian keys into raw LMDB with full sync, in one write transaction
/// of at most `coordinator_settings::max_batch_events` events, and answers
/// each entity after the commit; the entity then answers its client. Same clients, scheduler, commit thread
/// (`own`: the store is detached), `cairn::disk_wait` around each commit,
/// sweeps, rounds and seconds as the runtime's closed loop.
///
/// What it leaves out is what Cairn adds: the registry and entity
/// references, the aggregate's command handling, event encoding and
/// version check, the write group, the journal's records, stream rows and
/// checks, the subscription hub. `persist`'s `ratio_vs_raw_actors` is the
/// runtime's events per second over this one's.
namespace cairn::bench {

/// The 200 bytes of the bench aggregate's `recorded` event as the codec
/// stores them (bench/bench_aggregate.hpp). Throws `std::logic_error` if
/// they are not 200.
std::string event_payload();

/// Spawns the raw store over `db`: it buffers the events its raw entities
/// send and answers each after the commit that holds it.
/// Detached with `own_thread`; `syncs` says whether `db` syncs its commits
/// (then each commit holds a `cairn::disk_wait`, as the coordinator does).
caf::actor spawn_raw_store(caf::actor_system& sys, std::shared_ptr<raw_lmdb> db,
                           bool own_thread, bool syncs);

/// Spawns a raw entity: `(bench_add_atom, int64_t x)` appends a copy of
/// `*event` through `store` and, after its commit, answers its new sum.
caf::actor spawn_raw_entity(caf::actor_system& sys, const caf::actor& store,
                            std::shared_ptr<const std::string> event);

/// The commits and events of `store` so far. Throws `std::runtime_error`
/// if it does not answer within a minute.
std::pair<uint64_t, uint64_t> fetch_raw_store_stats(caf::scoped_actor& self,
                                                    const caf::actor& store);

/// What `run_raw_actors` measured.
struct raw_actors_result {
  uint64_t entities = 0;
  /// Commands answered during the timed runs (each stored one event).
  uint64_t commands = 0;
  /// Commits and events the store made during the timed runs.
  uint64_t commits = 0;
  uint64_t events = 0;
  /// Wall-clock seconds of the timed runs.
  double seconds = 0;
  /// CPU time of the process during the timed runs.
  double cpu_seconds = 0;
  /// Latency of a command from send to reply, microseconds.
  double p50_us = 0;
  double p99_us = 0;

  double events_per_s() const {
    return seconds > 0 ? commands / seconds : 0;
  }

  double cpu_us_per_event() const {
    return commands > 0 ? cpu_seconds * 1e6 / commands : 0;
  }

  double events_per_commit() const {
    return commits > 0 ? static_cast<double>(events) / commits : 0;
  }
};

/// Runs the raw closed loop for `entities` entities in a fresh actor system
/// and a fresh LMDB environment in `dir` (removed at the end), with the
/// clients, scheduler, commit thread, rounds and seconds of `opts`, and
/// `event` as every command's event. Throws `std::runtime_error` when a
/// command fails or the committed events do not match the answered
/// commands.
raw_actors_result run_raw_actors(const std::string& dir, uint64_t entities,
                                 const persist_loop_options& opts,
                                 const std::string& event);

} // namespace cairn::bench
