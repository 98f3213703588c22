#include "cairn/actors/cluster/configure.hpp"

#include <string>
#include <vector>

#include "caf/io/middleman.hpp"

#include "cairn/actors/aggregate.hpp"

namespace cairn::cluster {

void configure(caf::actor_system_config& cfg, const settings& s) {
  cfg.load<caf::io::middleman>();
  cfg.set("middleman.heartbeat-interval", s.heartbeat_interval);
  cfg.set("middleman.connection-timeout", s.connection_timeout);
  cfg.set("middleman.app-identifiers",
          std::vector<std::string>{"cairn." + s.name});
  cfg.add_message_type<entity_id>("cairn.entity_id");
}

} // namespace cairn::cluster
