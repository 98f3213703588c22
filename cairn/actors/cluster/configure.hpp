#pragma once

#include "caf/actor_system_config.hpp"

#include "cairn/actors/cluster/membership.hpp"

namespace cairn::cluster {

/// Prepares `cfg` for a clustered node: loads CAF's middleman, turns on
/// BASP heartbeats (`cluster.heartbeat-interval`,
/// `cluster.connection-timeout`; CAF has them off by default, and without
/// them a frozen peer is never noticed), sets BASP's app identifier to
/// `cairn.<cluster.name>` (BASP refuses a node of another cluster before any
/// message), and adds the cluster's message types. Call it once, before
/// the actor system starts; `cairn::config::load` does when
/// `cluster.node-id` is set.
void configure(caf::actor_system_config& cfg, const settings& s);

} // namespace cairn::cluster
