#pragma once

#include <string>
#include <vector>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"
#include "caf/timespan.hpp"

#include "cairn/actors/cluster/membership.hpp"

/// A link: this node's connection to one peer, through the peer's gateway.
///
/// States (`link_state`):
/// - `connecting`: probing the peer's port without blocking (CAF's connect
///   blocks the middleman while the peer does not answer), then connecting
///   through the middleman actor and saying hello;
/// - `up`: the peer's gateway accepted the hello; commands are forwarded;
/// - `down`: the connection was lost, refused or never made; commands
///   fail at once, and a reconnect follows after a backoff that doubles
///   from 50 ms up to the connection timeout.
///
/// CAF 0.17 drops messages to a proxy of a lost node and never fails a
/// request in flight to it (it only times out). So the link keeps the
/// promise of every command it forwards, and when the peer's gateway goes
/// down (`down_msg`, after the heartbeats stop or the socket closes) it
/// fails them all at once with `errc::entity_unavailable`, naming the node
/// and saying that the outcome is unknown: the command may have been
/// applied before the node went down.
///
/// Commands go out in batches: every command that reaches the link before
/// its flush (a message it sends itself behind the commands already in its
/// mailbox, so once per scheduler run of the link) travels in one BASP
/// message, `(forward_batch_atom, std::vector<forward_item>)`, and the
/// gateway answers with batches of replies. Per command this saves a BASP
/// message with its header reads, actor registry lookups and proxy
/// lookups, and a request timeout in CAF's clock.
///
/// Protocol:
/// - `(forward_atom, std::string category, caf::message cmd)`, `cmd` being
///   `(entity_id, command...)` -> the entity's reply. Errors:
///   `errc::entity_unavailable` when the link is not up (the command was
///   not sent) or goes down (outcome unknown), or when the peer does not
///   answer within 10 minutes; `errc::invalid_argument` naming a type of
///   the command or the reply that is not announced on this node; the peer
///   gateway's errors.
/// - `(link_state_atom)` -> `(std::string)`: `connecting`, `up` or `down`.
/// - `(link_watch_atom, caf::actor last)` -> `(caf::actor gateway)`: the
///   peer's gateway once the link is up with a gateway other than `last`
///   (see messages.hpp). Remote subscriptions wait for their source this
///   way. Errors: `errc::entity_unavailable` when the link stops.
namespace cairn::cluster {

/// Settings of a link.
struct link_settings {
  /// This node's id and membership description, sent at hello.
  std::string self_id;
  std::vector<std::string> description;
  /// Bound of a probe, a connect and a hello; the cap of the backoff.
  caf::timespan connection_timeout = std::chrono::seconds{3};
};

/// Spawns the link to `peer`; it starts connecting at once.
caf::actor spawn_link(caf::actor_system& sys, member peer, link_settings cfg);

/// Returns whether a TCP connection to `host:port` opens within `timeout`
/// (a non-blocking connect and a poll); `why` says why not. Blocks its
/// caller up to `timeout`.
bool probe(const std::string& host, uint16_t port, caf::timespan timeout,
           std::string& why);

} // namespace cairn::cluster
