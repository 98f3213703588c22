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
/// - `(forward_batch_atom, std::vector<forward_item>)`, from a peer's link
///   (messages.hpp): delivers each command, `(entity_id, command...)`, to
///   the local registry of its category, and answers the sender with
///   `(reply_batch_atom, std::vector<reply_item>)` messages, one reply per
///   command: the replies that arrive before the gateway's flush (a
///   message to itself, behind those already in its mailbox) travel
///   together.
/// - `(forward_atom, std::string category, entity_id, caf::message cmd)`
///   -> the entity's reply: one command, the same way.
/// - `(remote_subscribe_atom, std::string category, uint64_t after,
///   uint64_t chunk, uint64_t epoch)` -> `(caf::actor feed)`: a remote
///   subscription asks for a feed of this node's log (see messages.hpp):
///   a subscription on the node's journal, spawned through
///   `view::spawn_feed`, that catches up from LMDB in chunks of `chunk`
///   events, one chunk waiting for the requester's answer at a time, then
///   follows the node's live feed. The gateway stops its feeds when it
///   stops. Errors: `errc::invalid_argument` for a chunk of 0 or over
///   65,536 events; `errc::entity_unavailable` before the node joined or
///   when it serves no log.
///
/// The gateway checks ownership on every command and never spawns an
/// entity its node does not own. Errors (as a command's reply):
/// `errc::entity_unavailable` naming the entity and its owner when this
/// node does not own it, or before it joined; `errc::invalid_argument`
/// when `category` is not announced on this node, when a type of the
/// command is not announced on this node, or when a type of the reply is
/// not (BASP would drop such a reply and the command would only time out),
/// each naming the type.
namespace cairn::cluster {

/// Spawns a gateway reading `v`.
caf::actor spawn_gateway(caf::actor_system& sys, std::shared_ptr<view> v);

} // namespace cairn::cluster
