#include "cairn/actors/cluster/membership.hpp"

#include <catch2/catch.hpp>

#include "cairn/journal/errc.hpp"

using namespace cairn;
using namespace cairn::cluster;
using Catch::Matchers::Contains;

namespace {

settings three(std::string self = "b") {
  settings cfg;
  cfg.name = "shop";
  cfg.node_id = std::move(self);
  cfg.nodes = {"c@127.0.0.1:4003", "a@127.0.0.1:4001", "b@127.0.0.1:4002"};
  return cfg;
}

std::string refused(const settings& cfg) {
  auto m = membership::make(cfg);
  REQUIRE(!m);
  CHECK(code_of(m.error()) == errc::bad_config);
  return context_of(m.error());
}

} // namespace

TEST_CASE("a member is parsed from id@host:port") {
  auto m = parse_member("a@10.0.0.1:4242");
  REQUIRE(m);
  CHECK(m->id == "a");
  CHECK(m->host == "10.0.0.1");
  CHECK(m->port == 4242);
  CHECK(m->to_string() == "a@10.0.0.1:4242");
  auto v6 = parse_member("n-2@[::1]:65535");
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->to_string() == "n-2@[::1]:65535");
  for (auto bad : {"10.0.0.1:4242", "@h:1", "a@h", "a@:1", "a@h:0", "a@h:65536",
                   "a b@h:1", "a@::1:1"}) {
    INFO(bad);
    auto x = parse_member(bad);
    REQUIRE(!x);
    CHECK_THAT(context_of(x.error()), Contains(bad));
  }
}

TEST_CASE("a membership sorts its members and finds this node") {
  auto m = membership::make(three());
  REQUIRE(m);
  CHECK(m->ids() == std::vector<std::string>{"a", "b", "c"});
  CHECK(m->self().id == "b");
  CHECK(m->self().port == 4002);
  CHECK(m->find("c")->port == 4003);
  CHECK(m->find("x") == nullptr);
  CHECK(m->describe()
        == std::vector<std::string>{"shop", "1024", "a@127.0.0.1:4001",
                                    "b@127.0.0.1:4002", "c@127.0.0.1:4003"});
  CHECK(m->digest().size() == 16);
  // Every node computes the same owner for an entity.
  auto a = membership::make(three("a"));
  auto c = membership::make(three("c"));
  REQUIRE(a);
  REQUIRE(c);
  for (int i = 0; i < 100; ++i) {
    auto id = std::to_string(i);
    CHECK(m->owner("invoice", id) == a->owner("invoice", id));
    CHECK(m->owner("invoice", id) == c->owner("invoice", id));
    CHECK(int{a->owns("invoice", id)} + int{m->owns("invoice", id)}
            + int{c->owns("invoice", id)}
          == 1);
  }
}

TEST_CASE("the digest covers the name, the shards and the members only") {
  auto base = membership::make(three());
  REQUIRE(base);
  // Not the node id, nor the order of the list.
  auto other = three("a");
  other.nodes = {"a@127.0.0.1:4001", "b@127.0.0.1:4002", "c@127.0.0.1:4003"};
  CHECK(membership::make(other)->digest() == base->digest());
  auto renamed = three();
  renamed.name = "shop2";
  CHECK(membership::make(renamed)->digest() != base->digest());
  auto resharded = three();
  resharded.shards = 512;
  CHECK(membership::make(resharded)->digest() != base->digest());
  auto moved = three();
  moved.nodes[0] = "c@127.0.0.1:4004";
  CHECK(membership::make(moved)->digest() != base->digest());
  CHECK(base->digest() == digest_of(base->describe()));
}

TEST_CASE("the difference of two memberships names what differs") {
  auto here = membership::make(three())->describe();
  CHECK(difference(here, here).empty());
  auto cfg = three();
  cfg.shards = 512;
  cfg.nodes[0] = "c@127.0.0.1:4004";
  auto there = membership::make(cfg)->describe();
  auto text = difference(here, there);
  CHECK_THAT(text, Contains("cluster.shards: 1024 here, 512 at the peer"));
  CHECK_THAT(text, Contains("cluster.nodes: c@127.0.0.1:4003 here only"));
  CHECK_THAT(text, Contains("cluster.nodes: c@127.0.0.1:4004 at the peer "
                            "only"));
  cfg = three();
  cfg.name = "other";
  CHECK(difference(here, membership::make(cfg)->describe())
        == "cluster.name: 'shop' here, 'other' at the peer");
}

TEST_CASE("an invalid membership is refused naming the key") {
  auto cfg = three();
  cfg.name.clear();
  CHECK_THAT(refused(cfg), Contains("cluster.name"));
  cfg = three();
  cfg.shards = 0;
  CHECK_THAT(refused(cfg), Contains("cluster.shards"));
  cfg = three();
  cfg.node_id = "x";
  CHECK_THAT(refused(cfg), Contains("cluster.node-id: 'x' is not one of"));
  cfg = three();
  cfg.node_id.clear();
  CHECK_THAT(refused(cfg), Contains("cluster.node-id"));
  cfg = three();
  cfg.nodes.push_back("a@127.0.0.1:5000");
  CHECK_THAT(refused(cfg), Contains("cluster.nodes: the id 'a' is listed "
                                    "twice"));
  cfg = three();
  cfg.nodes.push_back("d@127.0.0.1:4001");
  CHECK_THAT(refused(cfg), Contains("127.0.0.1:4001 is listed twice"));
  cfg = three();
  cfg.nodes.push_back("d@127.0.0.1");
  CHECK_THAT(refused(cfg), Contains("cluster.nodes: entry 'd@127.0.0.1'"));
  cfg = three();
  cfg.connection_timeout = cfg.heartbeat_interval;
  CHECK_THAT(refused(cfg), Contains("cluster.connection-timeout"));
  cfg = three();
  cfg.heartbeat_interval = caf::timespan{0};
  CHECK_THAT(refused(cfg), Contains("cluster.heartbeat-interval"));
}
