#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"
#include "caf/replies_to.hpp"
#include "caf/typed_actor.hpp"

#include "cairn/actors/atoms.hpp"
#include "cairn/actors/journal_messages.hpp"
#include "cairn/journal/event_record.hpp"

namespace cairn {

/// The live feed of committed events. The coordinator publishes every
/// committed batch, in commit order, with the events' global positions; the
/// hub forwards to each subscriber the events of its category (or all), as
/// `(events_atom, std::vector<journal::stored_event>)` messages, in position
/// order.
///
/// Protocol:
/// - `(subscribe_atom, subscriber, category)` -> the position of the last
///   event the hub has published before the subscription took effect: every
///   later event reaches the subscriber, none before. An empty category
///   subscribes to all. Subscribing again replaces the category.
/// - `(unsubscribe_atom, subscriber)`; a subscriber that terminates is
///   removed too.
/// - `(publish_atom, events)` from the coordinator.
/// - `(stats_atom)` -> the last published position.
using subscription_hub_actor = caf::typed_actor<
  caf::replies_to<subscribe_atom, caf::actor, std::string>::with<uint64_t>,
  caf::reacts_to<unsubscribe_atom, caf::actor>,
  caf::reacts_to<publish_atom, std::vector<journal::stored_event>>,
  caf::replies_to<stats_atom>::with<uint64_t>>;

/// Spawns a hub whose feed continues after global position `last_position`
/// (the journal's last position when it starts).
subscription_hub_actor spawn_subscription_hub(caf::actor_system& sys,
                                              uint64_t last_position);

} // namespace cairn
