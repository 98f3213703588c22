#pragma once

#include <cstdint>

#include "caf/atom.hpp"

/// The atoms of Cairn's actor protocols.
namespace cairn {

/// Asks the coordinator to commit a write group.
using commit_atom = caf::atom_constant<caf::atom("c_commit")>;
/// Tells an entity how the write group it handed the coordinator with
/// `(commit_atom, group, ticket)` ended.
using committed_atom = caf::atom_constant<caf::atom("c_commitd")>;
/// Internal to the coordinator: commit what is buffered.
using flush_atom = caf::atom_constant<caf::atom("c_flush")>;
/// Asks for counters (coordinator, registry).
using stats_atom = caf::atom_constant<caf::atom("c_stats")>;
/// Asks the coordinator to delete a stream's events below a version.
using truncate_atom = caf::atom_constant<caf::atom("c_trunc")>;
/// Injects a failure (coordinator), for tests.
using inject_atom = caf::atom_constant<caf::atom("c_inject")>;
/// Subscribes to the hub's live feed.
using subscribe_atom = caf::atom_constant<caf::atom("c_sub")>;
/// Cancels a subscription.
using unsubscribe_atom = caf::atom_constant<caf::atom("c_unsub")>;
/// Hands committed events to the hub.
using publish_atom = caf::atom_constant<caf::atom("c_publish")>;
/// Carries committed events from the hub to a subscriber.
using events_atom = caf::atom_constant<caf::atom("c_events")>;
/// Internal to aggregates: replay the next chunk of the journal.
using recover_atom = caf::atom_constant<caf::atom("c_recover")>;
/// Asks an aggregate to stop when idle (registry to aggregate).
using passivate_atom = caf::atom_constant<caf::atom("c_passiv")>;
/// Internal to the registry (look for idle entities) and the coordinator
/// (look for decides past their time).
using tick_atom = caf::atom_constant<caf::atom("c_tick")>;
/// Asks an aggregate for its state and version (tests, tools).
using get_state_atom = caf::atom_constant<caf::atom("c_getstat")>;

/// Asks the coordinator to run an atomic step (process manager).
using step_atom = caf::atom_constant<caf::atom("c_step")>;
/// Asks an aggregate to decide a command of a step without writing.
using decide_atom = caf::atom_constant<caf::atom("c_decide")>;
/// Tells an aggregate whether the step it decided for committed.
using outcome_atom = caf::atom_constant<caf::atom("c_outcome")>;
/// Carries an input event to a process manager instance.
using input_atom = caf::atom_constant<caf::atom("c_input")>;
/// A deadline of a process-manager instance came due (timer message).
using deadline_atom = caf::atom_constant<caf::atom("c_deadln")>;
/// Wakes a process-manager instance (to arm its deadlines after a restart).
using wake_atom = caf::atom_constant<caf::atom("c_wake")>;
/// Internal to subscriptions: read the next chunk of the log.
using catch_up_atom = caf::atom_constant<caf::atom("c_catchup")>;
/// Asks a subscription to reply once it has handled every event up to a
/// position.
using caught_up_atom = caf::atom_constant<caf::atom("c_caught")>;
/// Asks a subscription to reply once it takes events from the live feed.
using live_atom = caf::atom_constant<caf::atom("c_live")>;

/// Delivers a command through the outbox, with its dedup key.
using deliver_atom = caf::atom_constant<caf::atom("c_deliver")>;
/// Hands a committed outbox row to the dispatcher.
using outbox_atom = caf::atom_constant<caf::atom("c_outbox")>;

/// Failures the coordinator can inject for tests.
enum class injected_failure : uint8_t {
  /// The next write group is refused with `errc::storage_error`; the
  /// journal stays healthy.
  next_persist,
  /// The next commit fails as a failed fsync would; the journal turns
  /// fail-stop.
  next_commit,
};

/// With `passivate_atom`: the registry's idle passivation, which an entity
/// used since the last check declines.
using idle_check_atom = caf::atom_constant<caf::atom("c_idlechk")>;

/// Asks a registry for the actor of an entity (`entity_ref`).
using resolve_atom = caf::atom_constant<caf::atom("c_resolve")>;

/// Re-delivers dead letters marked for replay (to a process router), or
/// marks an input as a replay of a dead letter (router to instance).
using replay_atom = caf::atom_constant<caf::atom("c_replay")>;

} // namespace cairn
