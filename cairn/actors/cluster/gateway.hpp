#pragma once

#include <memory>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"

#include "cairn/actors/cluster/view.hpp"

/// The gateway: the one actor of a node that other nodes talk to,
/// published on `cluster.port`.
///
/// Protocol:
/// - `(hello_atom, std::string node_id, std::vector<std::string>
///   description)` -> `(hello_atom, std::string node_id)`: a peer's link
///   introduces itself with its membership description
///   (`membership::describe`). Errors: `errc::bad_config` naming every
///   difference between the two configurations
///   (`"cluster.shards: 1024 here, 512 at the peer"`);
///   `errc::entity_unavailable` before this node joined.
/// - `(forward_atom, std::string category, entity_id, caf::message cmd)`
///   -> the entity's reply: delivers `(entity_id, cmd...)` to the local
///   registry of `category`. The gateway checks ownership on every
///   command and never spawns an entity its node does not own. Errors:
///   `errc::entity_unavailable` naming the entity and its owner when this
///   node does not own it, or before it joined; `errc::invalid_argument`
///   when `category` is not announced on this node.
namespace cairn::cluster {

/// Spawns a gateway reading `v`.
caf::actor spawn_gateway(caf::actor_system& sys, std::shared_ptr<view> v);

} // namespace cairn::cluster
