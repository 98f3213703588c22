#include "cairn/actors/cluster/configure.hpp"

#include <string>
#include <typeinfo>
#include <vector>

#include <catch2/catch.hpp>

#include "caf/all.hpp"
#include "caf/io/middleman.hpp"

#include "cairn/actors/aggregate.hpp"
#include "cairn/actors/cluster/messages.hpp"

using namespace cairn;
using namespace std::chrono_literals;

namespace {

template <class T>
std::string name_in(caf::actor_system& sys) {
  return sys.types().portable_name(0, &typeid(T));
}

} // namespace

TEST_CASE("configure loads the middleman, turns heartbeats on, names the "
          "cluster in BASP's app identifier and adds the cluster's types") {
  cluster::settings s;
  s.name = "shop";
  s.node_id = "a";
  s.heartbeat_interval = 250ms;
  s.connection_timeout = 2s;
  caf::actor_system_config cfg;
  cluster::configure(cfg, s);
  CHECK(caf::get_or(cfg, "middleman.heartbeat-interval", caf::timespan{0})
        == caf::timespan{250ms});
  CHECK(caf::get_or(cfg, "middleman.connection-timeout", caf::timespan{0})
        == caf::timespan{2s});
  CHECK(
    caf::get_or(cfg, "middleman.app-identifiers", std::vector<std::string>{})
    == std::vector<std::string>{"cairn.shop"});
  caf::actor_system sys{cfg};
  CHECK(sys.has_middleman());
  CHECK(name_in<entity_id>(sys) == "cairn.entity_id");
  CHECK(name_in<std::vector<cluster::forward_item>>(sys)
        == "cairn.cluster.forward_batch");
  CHECK(name_in<std::vector<cluster::reply_item>>(sys)
        == "cairn.cluster.reply_batch");
}
