#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"

#include "actors/coordinator.hpp"
#include "actors/subscription.hpp"
#include "actors/subscription_hub.hpp"
#include "journal/journal.hpp"

/// The input router of one process-manager type: a subscription to the
/// global log (see actors/subscription.hpp) that hands each input event to
/// the instance it correlates with.
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
/// An input that does not decode is skipped, counted in
/// `router_stats::undecodable_inputs` and reported on standard error with
/// its stream and version.
///
/// Protocol: that of a subscription, with `(stats_atom)` -> `router_stats`.
namespace cairn {

/// Settings of a router.
struct router_settings {
  size_t max_in_flight = 1024;
  size_t read_chunk = 256;
};

/// Counters of a router.
struct router_stats {
  /// The router's subscription.
  subscription_stats subscription;
  /// Inputs whose instance answered with an error.
  uint64_t failed_inputs = 0;
  /// Inputs skipped because they did not decode.
  uint64_t undecodable_inputs = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, router_stats& x) {
  return f(caf::meta::type_name("cairn.router_stats"), x.subscription,
           x.failed_inputs, x.undecodable_inputs);
}

/// Maps a committed event to the instance that consumes it and the message
/// for that instance; none if no instance of this type consumes it; an
/// error if it is an input type that does not decode.
using input_dispatch = std::function<
  caf::expected<std::optional<std::pair<std::string, caf::message>>>(
    const journal::stored_event&)>;

/// Spawns a router that feeds `registry` (instances of `category`).
/// Errors: `errc::invalid_argument` for zero `max_in_flight` or
/// `read_chunk`.
caf::expected<caf::actor>
spawn_process_router(caf::actor_system& sys, std::string category,
                     std::shared_ptr<journal::journal> j,
                     subscription_hub_actor hub, coordinator_actor coordinator,
                     caf::actor registry, input_dispatch dispatch,
                     router_settings settings);

} // namespace cairn
