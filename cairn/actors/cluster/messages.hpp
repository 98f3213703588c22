#pragma once

#include <cstdint>
#include <string>

#include "caf/atom.hpp"

/// The atoms of the cluster's protocols (gateway, links, routers).
namespace cairn::cluster {

/// A link introduces its node to a peer's gateway:
/// `(hello_atom, node id, membership description)` ->
/// `(hello_atom, the gateway's node id)`.
using hello_atom = caf::atom_constant<caf::atom("c_hello")>;

/// A command forwarded to the owner's gateway (through a link):
/// `(forward_atom, category, entity_id, command message)` -> the entity's
/// reply.
using forward_atom = caf::atom_constant<caf::atom("c_forward")>;

/// Internal to links: try to (re)connect.
using reconnect_atom = caf::atom_constant<caf::atom("c_reconn")>;

/// Internal to links: the result of a reachability probe.
using probe_atom = caf::atom_constant<caf::atom("c_probe")>;

/// Asks a link for its state: `(link_state_atom)` -> `(std::string)`, one of
/// `connecting`, `up`, `down`.
using link_state_atom = caf::atom_constant<caf::atom("c_lstate")>;

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
