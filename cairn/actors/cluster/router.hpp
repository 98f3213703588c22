#pragma once

#include <memory>
#include <string>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"

#include "cairn/actors/cluster/view.hpp"

/// The router of one aggregate type on a clustered node: what
/// `runtime::registry<A>()` returns there. It speaks the local registry's
/// protocol, `(entity_id, command...)` -> the entity's reply, and delivers
/// each command to the registry of the entity's owner: the local registry
/// when this node owns the entity, else the link to the owner (which fails
/// at once while the owner is down).
///
/// Before anything is sent, every element of the command must be a type
/// the actor system knows (`cairn::announce<A>(cfg)`, or CAF's own types):
/// otherwise the command is refused with `errc::invalid_argument` naming
/// the type, on the owner's node as on the others, so that a missing
/// announcement shows on the first command and not only on remote ones.
///
/// Errors: those of the registry, the link and the peer's gateway;
/// `errc::invalid_argument` for a message that is not `(entity_id,
/// command...)` or holds a type that is not announced.
namespace cairn::cluster {

/// Spawns the router of `category`, delivering locally to `local`.
caf::actor spawn_router(caf::actor_system& sys, std::string category,
                        caf::actor local, std::shared_ptr<view> v);

/// Returns the name of the first element of `msg` (from `first` on) whose
/// type `sys` cannot serialize, or an empty string.
std::string unannounced_type(caf::actor_system& sys, const caf::message& msg,
                             size_t first = 0);

} // namespace cairn::cluster
