#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "caf/actor_system.hpp"
#include "caf/meta/type_name.hpp"
#include "caf/replies_to.hpp"
#include "caf/timespan.hpp"
#include "caf/typed_actor.hpp"

#include "cairn/actors/atoms.hpp"
#include "cairn/actors/journal_messages.hpp"
#include "cairn/actors/step_messages.hpp"
#include "cairn/actors/subscription_hub.hpp"
#include "cairn/journal/journal.hpp"

namespace cairn {

/// Counters of a coordinator since it started.
struct coordinator_stats {
  /// Transactions committed (or attempted and failed).
  uint64_t commits = 0;
  /// Groups committed.
  uint64_t groups = 0;
  /// Groups rejected by validation (conflict, duplicate, ...).
  uint64_t rejected_groups = 0;
  /// Groups failed with their commit.
  uint64_t failed_groups = 0;
  /// Events committed.
  uint64_t events = 0;
  /// Bytes of committed groups (`write_group::byte_size`).
  uint64_t bytes = 0;
  /// Largest number of events in one commit.
  uint64_t max_events_per_commit = 0;
  /// Sum and maximum of the time spent in `journal::commit`, nanoseconds.
  uint64_t commit_ns_total = 0;
  uint64_t commit_ns_max = 0;
  /// The CPU time of the coordinator's thread in `journal::commit`,
  /// nanoseconds, the kernel's side of its writes and syncs included:
  /// counted only with `coordinator_settings::measure_commit_cpu`, else 0.
  uint64_t commit_cpu_ns_total = 0;
  /// Atomic steps committed, and commands of steps that were rejected.
  uint64_t steps = 0;
  uint64_t rejected_commands = 0;
  /// Transactions whose commit failed (the journal is then failed: see
  /// `journal::failed`).
  uint64_t failed_commits = 0;

  /// Upper bounds of the buckets of `events_hist` (committed events per
  /// commit) and of `latency_hist` (time in `journal::commit`, ns). Each
  /// histogram has one bucket more, for what exceeds the last bound; counts
  /// are per bucket, not cumulative.
  static constexpr std::array<uint64_t, 13> events_bounds
    = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096};
  static constexpr std::array<uint64_t, 12> latency_bounds_ns
    = {100'000,    250'000,    500'000,     1'000'000,
       2'500'000,  5'000'000,  10'000'000,  25'000'000,
       50'000'000, 100'000'000, 250'000'000, 1'000'000'000};
  std::vector<uint64_t> events_hist
    = std::vector<uint64_t>(events_bounds.size() + 1);
  std::vector<uint64_t> latency_hist
    = std::vector<uint64_t>(latency_bounds_ns.size() + 1);

  /// Average events per commit (0 without commits).
  double events_per_commit() const noexcept {
    return commits == 0 ? 0.0 : static_cast<double>(events) / commits;
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, coordinator_stats& x) {
  return f(caf::meta::type_name("cairn.coordinator_stats"), x.commits, x.groups,
           x.rejected_groups, x.failed_groups, x.events, x.bytes,
           x.max_events_per_commit, x.commit_ns_total, x.commit_ns_max,
           x.commit_cpu_ns_total, x.steps,
           x.rejected_commands, x.failed_commits, x.events_hist,
           x.latency_hist);
}

/// The only writer of one journal.
///
/// - `(commit_atom, group)` -> the group's receipt once the transaction that
///   holds it has committed (durability before acknowledgement), or its
///   error: `conflict`, `duplicate`, `invalid_argument`, `corrupt_record`
///   for the group alone; `storage_error` / `journal_failed` when its commit
///   failed. Events without a timestamp get the commit time here, before the
///   commit, so the live feed carries the record the journal stores.
/// - `(commit_atom, group, ticket)`: the same commit for an entity, without
///   a response: once the commit is over, the coordinator sends the sender
///   `(committed_atom, ticket, error)`, with an empty error when the group
///   committed. An entity has one group in flight; the ticket tells its
///   answer from a stale one. This is the hot path of every persisted
///   command, and it skips CAF's response machinery (a response handler
///   allocated and looked up per request, a response promise and a
///   receipt per group).
/// - `(step_atom, step)` -> the step's result once it has committed: the
///   coordinator asks each target aggregate to decide its command without
///   writing (the target holds further commands meanwhile), then commits the
///   manager's events, a step record with each command's outcome and the
///   accepted targets' events as ONE write group, and finally tells each
///   target that holds for the step whether to apply or discard, directly
///   (not through its registry). A rejected command is an outcome, not a
///   failure. Errors: the group's validation error (e.g. `conflict` on the
///   manager's stream) or the commit's error; `timeout` when a target did
///   not decide within `decide_timeout`, or the error a target answered the
///   decide with (stash full, recovery failed): only the command handler's
///   own rejection counts as a rejection, and the manager retries a failed
///   step. Nothing of the step is written then.
/// - `(truncate_atom, stream, version)` -> the stream's first stored version
///   after the call: deletes the events of `stream` below `version` with
///   `journal::truncate_before` (typically after a snapshot at `version - 1`
///   or later; the journal clips the cut so that no stored checkpoint loses
///   events it has not read), by the coordinator itself, after the groups
///   that arrived before it have committed. Errors: those of
///   `truncate_before` (`not_found`, `invalid_argument`, write errors).
/// - `(stats_atom)` -> counters.
/// - `(inject_atom, failure)` -> true; the failure hits the next write.
///
/// Lock ordering of steps: an entity that decided holds every later command
/// until it hears the outcome, so two steps that decide the same entities
/// concurrently could each hold one and wait for the other. The coordinator
/// therefore asks a step's targets one after the other in the order of
/// their stream names, the same global order for every step (classic lock
/// ordering): a step waits for another at most until that one commits.
///
/// The step protocol with the entities (`decide`, `outcome`) carries the
/// runtime's `step_capability`, given at spawn; entities refuse messages
/// without it.
///
/// Group commit: every group that arrives while a commit runs joins the next
/// commit, up to `max_batch_events` events and `max_batch_bytes` bytes, in
/// the manner of LevelDB's `BuildBatchGroup`. After each commit it
/// publishes the committed events to the subscription hub, if it has one.
///
/// Threads: by default the coordinator is an actor like any other and
/// commits on the scheduler's worker that runs it, blocking that worker
/// for the commit's fsync; the writer that made it runnable runs it next on
/// the same worker, and the entities it answers follow on that worker too,
/// so a command round trip needs no thread to wake. CAF gives at least four
/// workers, so the others run the actors meanwhile; with
/// `scheduler.max-threads = 1` every actor waits for each commit.
/// `coordinator_settings::own_thread` runs it on a thread of its own
/// instead (CAF's `detached`).
using coordinator_actor = caf::typed_actor<
  caf::replies_to<commit_atom,
                  journal::write_group>::with<journal::group_receipt>,
  caf::reacts_to<commit_atom, journal::write_group, uint64_t>,
  caf::replies_to<step_atom, step_request>::with<step_result>,
  caf::replies_to<truncate_atom, std::string, uint64_t>::with<uint64_t>,
  caf::replies_to<stats_atom>::with<coordinator_stats>,
  caf::replies_to<inject_atom, injected_failure>::with<bool>,
  caf::reacts_to<flush_atom>, caf::reacts_to<tick_atom>>;

/// Settings of a coordinator.
struct coordinator_settings {
  /// Caps of one commit; a group larger than a cap commits alone.
  uint64_t max_batch_events = 4096;
  uint64_t max_batch_bytes = uint64_t{16} << 20;
  /// How long a step waits for each target's decision; a target that does
  /// not answer in time fails the step with `errc::timeout` (never a
  /// rejection: the manager retries the step). The coordinator looks for
  /// late decides every eighth of this time (between 1 ms and 1 s), so a
  /// step fails at most that much after its decide's time ran out.
  caf::timespan decide_timeout = std::chrono::seconds{10};
  /// Whether the coordinator runs on a thread of its own (CAF's
  /// `detached`) rather than on the scheduler's workers (the default; see
  /// `coordinator_actor`). Its own thread keeps the fsync off the workers,
  /// at the price of two thread wake-ups per commit: measured in
  /// `cairn-bench actor` and `persist --commit-thread own|worker`.
  bool own_thread = false;
  /// Whether the coordinator counts the CPU time of its thread in each
  /// commit (`coordinator_stats::commit_cpu_ns_total`), at the price of two
  /// `clock_gettime` system calls per commit. `cairn-bench` turns it on.
  bool measure_commit_cpu = false;
};

/// Spawns a coordinator that owns the write side of `j`, on the workers or,
/// with `settings.own_thread`, on a thread of its own. `hub` may be invalid
/// (no live feed). `capability` is the token of the step protocol
/// the coordinator shares with the entities it commands
/// (`aggregate_env::capability`).
coordinator_actor spawn_coordinator(caf::actor_system& sys,
                                    std::shared_ptr<journal::journal> j,
                                    coordinator_settings settings,
                                    subscription_hub_actor hub,
                                    step_capability capability);

/// As above, with a fresh capability: for a coordinator that commands no
/// entities (plain writes).
coordinator_actor spawn_coordinator(caf::actor_system& sys,
                                    std::shared_ptr<journal::journal> j,
                                    coordinator_settings settings,
                                    subscription_hub_actor hub);

} // namespace cairn
