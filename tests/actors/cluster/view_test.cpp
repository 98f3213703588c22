#include "cairn/actors/cluster/view.hpp"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "caf/all.hpp"

using namespace cairn;

namespace {

std::shared_ptr<const cluster::membership> two_nodes() {
  cluster::settings s;
  s.name = "view";
  s.node_id = "a";
  s.nodes = {"a@127.0.0.1:1", "b@127.0.0.1:2"};
  auto m = cluster::membership::make(s);
  REQUIRE(m);
  return std::make_shared<const cluster::membership>(std::move(*m));
}

} // namespace

TEST_CASE("a view has no membership and no links before its node joins, "
          "then both until the links are taken") {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  std::vector<std::string> asked;
  cluster::view v{[&](const std::string& category) {
    asked.push_back(category);
    return caf::actor{};
  }};
  CHECK(v.members() == nullptr);
  CHECK(!v.link("b"));
  auto link = sys.spawn([] {});
  auto m = two_nodes();
  v.join(m, {{"b", link}});
  REQUIRE(v.members() == m);
  CHECK(v.members()->self().id == "a");
  CHECK(v.link("b") == link);
  CHECK(!v.link("c"));
  auto links = v.take_links();
  CHECK(links.size() == 1);
  CHECK(links.at("b") == link);
  CHECK(!v.link("b"));
  // The membership stays: a stopping node still answers who owns what.
  CHECK(v.members() == m);
  CHECK(!v.local("invoice"));
  CHECK(asked == std::vector<std::string>{"invoice"});
}

TEST_CASE("a view spawns feeds of its node's log only once it serves it") {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  cluster::view v{[](const std::string&) { return caf::actor{}; }};
  auto none = v.spawn_feed({}, nullptr);
  REQUIRE(!none);
  CHECK(code_of(none.error()) == errc::entity_unavailable);
  CHECK(describe(none.error()).find("serves no log") != std::string::npos);
  std::vector<std::string> asked;
  auto feed = sys.spawn([] {});
  v.serve_log([&](subscription_settings s,
                  subscription_factory) -> caf::expected<caf::actor> {
    asked.push_back(s.category);
    return feed;
  });
  subscription_settings s;
  s.category = "invoice";
  auto got = v.spawn_feed(s, nullptr);
  REQUIRE(got);
  CHECK(*got == feed);
  CHECK(asked == std::vector<std::string>{"invoice"});
}
