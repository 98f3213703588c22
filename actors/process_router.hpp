#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"

#include "actors/coordinator.hpp"
#include "actors/subscription_hub.hpp"
#include "journal/journal.hpp"

/// The input router of one process-manager type: a subscriber to the global
/// log that hands each input event to the instance it correlates with.
///
/// It reads `$all` from its checkpoint out of LMDB (catch-up), then switches
/// to the hub's live feed without gap or duplicate: it subscribes, learns
/// the last position the hub published before the subscription took effect,
/// reads up to that position from LMDB, and takes only later events from
/// the feed (a gap in the feed is filled from LMDB). At most
/// `max_in_flight` inputs wait for their instances; beyond that the router
/// leaves the live feed and falls back to reading LMDB once it has room, so
/// a slow manager never makes anything buffer without bound.
///
/// Its checkpoint (`router_checkpoint_of(category)`) is the position below
/// which every input has been handled; after a restart it reads from there
/// again, and instances ignore inputs they have handled already.
namespace cairn {

/// Settings of a router.
struct router_settings {
  size_t max_in_flight = 1024;
  size_t read_chunk = 256;
};

/// Maps a committed event to the instance that consumes it and the message
/// for that instance; none if no instance of this type consumes it.
using input_dispatch = std::function<std::optional<
  std::pair<std::string, caf::message>>(const journal::stored_event&)>;

/// Spawns a router that feeds `registry` (instances of `category`).
caf::actor spawn_process_router(caf::actor_system& sys, std::string category,
                                std::shared_ptr<journal::journal> j,
                                subscription_hub_actor hub,
                                coordinator_actor coordinator,
                                caf::actor registry, input_dispatch dispatch,
                                router_settings settings);

} // namespace cairn
