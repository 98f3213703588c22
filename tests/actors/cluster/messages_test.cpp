#include "cairn/actors/cluster/messages.hpp"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "caf/all.hpp"

#include "cairn/actors/aggregate.hpp"
#include "cairn/actors/cluster/configure.hpp"

using namespace cairn;

namespace {

struct messages_config : caf::actor_system_config {
  messages_config() {
    cluster::settings s;
    s.name = "messages";
    s.node_id = "a";
    cluster::configure(*this, s);
  }
};

/// Writes `msg` with CAF's binary serializer and reads it back.
caf::message round_trip(caf::actor_system& sys, const caf::message& msg) {
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  auto copy = msg;
  REQUIRE(!sink(copy));
  caf::message result;
  caf::binary_deserializer source{sys, buf};
  REQUIRE(!source(result));
  return result;
}

} // namespace

TEST_CASE("a batch of forwarded commands round-trips through CAF's binary "
          "serializer") {
  messages_config cfg;
  caf::actor_system sys{cfg};
  std::vector<cluster::forward_item> items(3);
  for (size_t i = 0; i < items.size(); ++i) {
    items[i].key = 1000 + i;
    items[i].category = "invoice";
    items[i].command = std::vector<char>(i * 7, static_cast<char>(i));
  }
  auto msg = round_trip(
    sys, caf::make_message(cluster::forward_batch_atom::value, items));
  REQUIRE((msg.match_elements<cluster::forward_batch_atom,
                              std::vector<cluster::forward_item>>()));
  auto& got = msg.get_as<std::vector<cluster::forward_item>>(1);
  REQUIRE(got.size() == 3);
  for (size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i].key == items[i].key);
    CHECK(got[i].category == "invoice");
    CHECK(got[i].command == items[i].command);
  }
}

TEST_CASE("a batch of replies round-trips through CAF's binary serializer") {
  messages_config cfg;
  caf::actor_system sys{cfg};
  std::vector<cluster::reply_item> items(2);
  items[0].key = 7;
  items[0].reply = {'a', 'b', '\0', 'c'};
  items[1].key = 8; // an empty reply
  auto msg = round_trip(
    sys, caf::make_message(cluster::reply_batch_atom::value, items));
  REQUIRE((msg.match_elements<cluster::reply_batch_atom,
                              std::vector<cluster::reply_item>>()));
  auto& got = msg.get_as<std::vector<cluster::reply_item>>(1);
  REQUIRE(got.size() == 2);
  CHECK(got[0].key == 7);
  CHECK(got[0].reply == items[0].reply);
  CHECK(got[1].key == 8);
  CHECK(got[1].reply.empty());
}

TEST_CASE("the states of a link have their names") {
  CHECK(std::string{to_string(cluster::link_state::connecting)}
        == "connecting");
  CHECK(std::string{to_string(cluster::link_state::up)} == "up");
  CHECK(std::string{to_string(cluster::link_state::down)} == "down");
}
