#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "caf/atom.hpp"
#include "caf/meta/type_name.hpp"

/// The atoms of the cluster's protocols (gateway, links, routers).
namespace cairn::cluster {

/// A link introduces its node to a peer's gateway:
/// `(hello_atom, node id, membership description)` ->
/// `(hello_atom, the gateway's node id)`.
using hello_atom = caf::atom_constant<caf::atom("c_hello")>;

/// A command forwarded to the owner's gateway: `(forward_atom, category,
/// entity_id, command message)` -> the entity's reply. To a link:
/// `(forward_atom, category, message)`, the message being the command as
/// the router got it, `(entity_id, command...)`.
using forward_atom = caf::atom_constant<caf::atom("c_forward")>;

/// The commands a link forwards to a peer's gateway in one BASP message:
/// `(forward_batch_atom, std::vector<forward_item>)`, answered (in one or
/// more messages, in any order) by `(reply_batch_atom,
/// std::vector<reply_item>)` to the sender.
using forward_batch_atom = caf::atom_constant<caf::atom("c_fwdbat")>;

/// The replies of a gateway to a link's batches: `(reply_batch_atom,
/// std::vector<reply_item>)`.
using reply_batch_atom = caf::atom_constant<caf::atom("c_repbat")>;

/// Internal to links and gateways: send what was collected.
using flush_atom = caf::atom_constant<caf::atom("c_flush")>;

/// Internal to links: fail the requests that waited too long.
using sweep_atom = caf::atom_constant<caf::atom("c_sweep")>;

/// Internal to links: try to (re)connect.
using reconnect_atom = caf::atom_constant<caf::atom("c_reconn")>;

/// Internal to links: the result of a reachability probe.
using probe_atom = caf::atom_constant<caf::atom("c_probe")>;

/// Asks a link for its state: `(link_state_atom)` -> `(std::string)`, one of
/// `connecting`, `up`, `down`.
using link_state_atom = caf::atom_constant<caf::atom("c_lstate")>;

/// Asks a link for the peer's gateway once the link is up:
/// `(link_watch_atom, caf::actor last)` -> `(caf::actor gateway)`, answered
/// at once when the link is up with a gateway other than `last`, else when
/// it is next up. `last` is the gateway whose connection was lost (or an
/// invalid handle): the answer is never the dead proxy of a connection the
/// link has not noticed losing yet. Errors: `errc::entity_unavailable` when
/// the link stops (its node is stopping).
using link_watch_atom = caf::atom_constant<caf::atom("c_lwatch")>;

/// Asks a gateway for a feed of its node's log, sent by a remote
/// subscription (cairn/actors/cluster/remote_subscription.hpp):
/// `(remote_subscribe_atom, std::string category, uint64_t after, uint64_t
/// chunk, uint64_t epoch)` -> `(caf::actor feed)`. The feed is a
/// subscription on the gateway's node (cairn/actors/subscription.hpp)
/// reading `$all` (or `category`) after position `after`, with at most
/// `chunk` events delivered and not yet answered; it sends them to the
/// requester as requests `(remote_events_atom, epoch, events)`, reads the
/// next chunk once they are answered with an empty message, and quits
/// when the requester terminates, when its node is unreachable or when a
/// reply is an error. Errors: `errc::invalid_argument` for a zero chunk;
/// `errc::entity_unavailable` before the node joined or while it stops.
using remote_subscribe_atom = caf::atom_constant<caf::atom("c_rsub")>;

/// Events of a feed, in position order: `(remote_events_atom, uint64_t
/// epoch, std::vector<journal::stored_event>)` -> `()` once handled.
using remote_events_atom = caf::atom_constant<caf::atom("c_revts")>;

/// Internal to remote subscriptions: their feed terminated,
/// `(remote_down_atom, uint64_t epoch, caf::error reason)`.
using remote_down_atom = caf::atom_constant<caf::atom("c_rdown")>;

/// Internal to remote subscriptions: ask the link again.
using remote_retry_atom = caf::atom_constant<caf::atom("c_rretry")>;

/// One command of a batch: the link's key for its promise, the aggregate
/// category, and the command message `(entity_id, command...)` in CAF's
/// binary format. Each command travels as its own bytes so that one the
/// peer cannot read (a type it did not announce) fails alone, with an
/// error naming the type, and not the whole batch.
struct forward_item {
  uint64_t key = 0;
  std::string category;
  std::vector<char> command;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, forward_item& x) {
  return f(caf::meta::type_name("cairn.cluster.forward_item"), x.key,
           x.category, x.command);
}

/// One reply of a batch: the key of the command it answers and the reply
/// message (an entity's reply or a `caf::error`) in CAF's binary format.
struct reply_item {
  uint64_t key = 0;
  std::vector<char> reply;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, reply_item& x) {
  return f(caf::meta::type_name("cairn.cluster.reply_item"), x.key, x.reply);
}

/// The states of a link.
enum class link_state : uint8_t {
  /// Connecting to the peer, for the first time or again after `down`.
  connecting,
  /// Connected, hello accepted: commands are forwarded.
  up,
  /// Not connected: commands fail at once; a reconnect is scheduled.
  down,
};

inline const char* to_string(link_state x) {
  switch (x) {
    case link_state::connecting:
      return "connecting";
    case link_state::up:
      return "up";
    default:
      return "down";
  }
}

} // namespace cairn::cluster
