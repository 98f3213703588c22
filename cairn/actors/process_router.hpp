#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"

#include "cairn/actors/coordinator.hpp"
#include "cairn/actors/dead_letter.hpp"
#include "cairn/actors/subscription.hpp"
#include "cairn/actors/subscription_hub.hpp"
#include "cairn/journal/journal.hpp"

/// The input router of one process-manager type: a subscription to the
/// global log (see cairn/actors/subscription.hpp) that hands each input event
/// to the instance it correlates with.
///
/// It reads `$all` from its checkpoint out of LMDB (catch-up), then switches
/// to the hub's live feed without gap or duplicate. At most `max_in_flight`
/// inputs wait for their instances; beyond that the router leaves the live
/// feed and falls back to reading LMDB once it has room, so a slow manager
/// never makes anything buffer without bound.
///
/// Its checkpoint (`router_checkpoint_of(category)`) is the position below
/// which every input has been handled; after a restart it reads from there
/// again, and instances ignore inputs they have handled already. When it
/// starts, it wakes every instance with a scheduled deadline.
///
/// No input is dropped: an input is acknowledged (and the checkpoint may
/// pass it) only once its instance answered that it took effect, or once it
/// is parked in the dead-letter table (cairn/actors/dead_letter.hpp) with its
/// error. Parked are inputs whose instance answered with an error (its
/// recovery failed, its step failed `max_step_attempts` times), inputs that
/// do not decode (also counted in `router_stats::undecodable_inputs`),
/// inputs whose instance id makes a stream name over
/// `journal::max_stream_name_size`, and records of the log that are corrupt.
/// Each is reported on standard error with its stream and version. An
/// input that bounced off an instance that was stopping (passivating, or
/// quitting after a failure of another reaction) is handed to its successor
/// again, up to `max_bounces` times, before it is parked.
///
/// When it starts, and when it receives `(replay_atom)`, the router
/// re-delivers the dead letters of its manager marked for replay; a row is
/// deleted once the instance acknowledged the input, and updated with the
/// new error otherwise.
///
/// Protocol: that of a subscription, with `(stats_atom)` -> `router_stats`
/// and `(replay_atom)`.
namespace cairn {

/// Settings of a router.
struct router_settings {
  size_t max_in_flight = 1024;
  size_t read_chunk = 256;
  /// Times an input that bounced off a stopping instance is routed again
  /// before it is parked as a dead letter.
  uint32_t max_bounces = 5;
  /// Delay before the first re-routing of a bounced input; doubles after
  /// each bounce.
  caf::timespan bounce_delay = std::chrono::milliseconds{10};
};

/// Counters of a router.
struct router_stats {
  /// The router's subscription.
  subscription_stats subscription;
  /// Inputs whose instance answered with an error.
  uint64_t failed_inputs = 0;
  /// Inputs that did not decode.
  uint64_t undecodable_inputs = 0;
  /// Inputs (and corrupt records) parked in the dead-letter table.
  uint64_t dead_letters = 0;
  /// Inputs routed again after bouncing off a stopping instance.
  uint64_t bounces = 0;
  /// Dead letters replayed with success (their rows deleted).
  uint64_t replayed = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, router_stats& x) {
  return f(caf::meta::type_name("cairn.router_stats"), x.subscription,
           x.failed_inputs, x.undecodable_inputs, x.dead_letters, x.bounces,
           x.replayed);
}

/// Maps a committed event to the instance that consumes it and the message
/// for that instance; none if no instance of this type consumes it; an
/// error if it is an input type that does not decode.
using input_dispatch = std::function<
  caf::expected<std::optional<std::pair<std::string, caf::message>>>(
    const journal::stored_event&)>;

/// Spawns a router that feeds `registry` (instances of `category`). The
/// router asks `registry` for an instance's actor (`resolve_atom`, as
/// `spawn_registry`'s registries answer), sends the instance its inputs
/// directly from then on, and watches it: an input held by an instance
/// that stops unanswered, however it stops, goes to its successor.
/// Errors: `errc::invalid_argument` for zero `max_in_flight` or
/// `read_chunk`, or a category whose checkpoint name would be over
/// `journal::max_checkpoint_name_size`.
caf::expected<caf::actor>
spawn_process_router(caf::actor_system& sys, std::string category,
                     std::shared_ptr<journal::journal> j,
                     subscription_hub_actor hub, coordinator_actor coordinator,
                     caf::actor registry, input_dispatch dispatch,
                     router_settings settings);

/// Spawns a router that feeds `registry` the inputs of node `source.node`'s
/// log, on a cluster: a remote subscription (see
/// cairn/actors/cluster/remote_subscription.hpp) with the checkpoint
/// `router_checkpoint_of(category, source.node)` in `j`. It hands each
/// input to its instance as `(input_atom, std::string node, stored_event)`,
/// so that the instance keeps the last position it took from each log. An
/// input it cannot deliver is parked as a dead letter of manager
/// `category@node`; the router of the own node does not replay those (the
/// input is in the other node's log). Errors: those of
/// `spawn_process_router`.
caf::expected<caf::actor>
spawn_remote_process_router(caf::actor_system& sys, std::string category,
                            std::shared_ptr<journal::journal> j,
                            coordinator_actor coordinator, caf::actor registry,
                            input_dispatch dispatch, router_settings settings,
                            detail::remote_source source);

class runtime;

/// Starts the input routers of manager type `category`, feeding
/// `registry`, in `rt`, and adopts them (`runtime::adopt_router`).
///
/// On a runtime that is not clustered: one router, over the node's log.
/// On a cluster, once the node joined (`runtime::when_joined`): a router
/// over its own log and one over each other member's log
/// (`spawn_remote_process_router`), each handing on only the inputs of the
/// instances this node owns (placement of `category` and the instance id,
/// cairn/actors/cluster/placement.hpp). So every instance lives on its
/// owner node and takes the inputs of every node, each exactly once: its
/// stream records the last position it took from each log.
///
/// Errors: those of `spawn_process_router` (on a cluster the checkpoint
/// names are checked here; a router that fails to start later is logged).
caf::error start_process_routers(runtime& rt, std::string category,
                                 caf::actor registry, input_dispatch dispatch,
                                 router_settings settings);

/// Marks dead letters for replay and asks the routers of `rt` to re-deliver
/// them now (routers started later re-deliver them when they start).
/// `keys` selects rows by key (see `dead_letter_key`); empty: every row.
/// Returns the number of rows marked. Blocks the calling thread until the
/// marks have committed: for programs and tests, not for actors.
///
/// Errors: `errc::not_found` naming a key that is not in the table;
/// `errc::timeout`; the coordinator's errors.
caf::expected<size_t>
replay_dead_letters(runtime& rt, const std::vector<std::string>& keys = {},
                    caf::timespan timeout = std::chrono::seconds{10});

/// Returns the dead letters of `j`, key order, with their keys. Errors:
/// those of reading the table; `errc::corrupt_record` for a row that does
/// not decode.
caf::expected<std::vector<std::pair<std::string, dead_letter>>>
dead_letters(const journal::journal& j);

} // namespace cairn
