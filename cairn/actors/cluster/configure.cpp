#include "cairn/actors/cluster/configure.hpp"

#include <string>
#include <vector>

#include "caf/io/middleman.hpp"

#include "cairn/actors/aggregate.hpp"
#include "cairn/actors/cluster/messages.hpp"
#include "cairn/actors/journal_messages.hpp"

namespace cairn::cluster {

void configure(caf::actor_system_config& cfg, const settings& s) {
  cfg.load<caf::io::middleman>();
  cfg.set("middleman.heartbeat-interval", s.heartbeat_interval);
  cfg.set("middleman.connection-timeout", s.connection_timeout);
  cfg.set("middleman.app-identifiers",
          std::vector<std::string>{"cairn." + s.name});
  cfg.add_message_type<entity_id>("cairn.entity_id");
  cfg.add_message_type<std::vector<forward_item>>(
    "cairn.cluster.forward_batch");
  cfg.add_message_type<std::vector<reply_item>>("cairn.cluster.reply_batch");
  // The events of remote subscriptions' feeds.
  cfg.add_message_type<std::vector<journal::stored_event>>(
    "cairn.stored_events");
}

} // namespace cairn::cluster
