#include "cairn/actors/cluster/node.hpp"

#include <chrono>
#include <iostream>
#include <memory>
#include <thread>

#include <catch2/catch.hpp>

#include "caf/all.hpp"
#include "caf/io/middleman.hpp"

#include "cairn/actors/cluster/announce.hpp"
#include "cairn/actors/cluster/messages.hpp"
#include "cairn/actors/runtime.hpp"
#include "cairn/journal/errc.hpp"
#include "examples/invoicing/invoice.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cairn;
using namespace invoicing;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace {

/// A command type that no node announces.
struct not_announced {
  int32_t x = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, not_announced& x) {
  return f(caf::meta::type_name("test.not_announced"), x.x);
}

/// A reply type that no node announces.
struct secret_total {
  int64_t cents = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, secret_total& x) {
  return f(caf::meta::type_name("test.secret_total"), x.cents);
}

struct ask_total {};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ask_total&) {
  return f(caf::meta::type_name("test.ask_total"));
}

struct total_asked {
  static constexpr const char* event_name = "total_asked";
  template <class Archive>
  void serialize(Archive&) {
    // nop
  }
};

/// An aggregate whose reply type is not announced: it declares no
/// replies.
struct secretive {
  static constexpr const char* category = "secretive";
  struct state {
    template <class Archive>
    void serialize(Archive&) {
      // nop
    }
  };
  using events = event_list<total_asked>;
  using commands = command_list<ask_total>;
  using replies = command_list<>;
  static state apply(state s, const total_asked&) {
    return s;
  }
  static effect<secretive> handle(const state&, const ask_total&) {
    return reply(secret_total{42});
  }
};

cluster::settings node_settings(std::string id) {
  cluster::settings s;
  s.name = "test";
  s.node_id = std::move(id);
  s.listen_address = "127.0.0.1";
  s.shards = 64;
  s.heartbeat_interval = 100ms;
  s.connection_timeout = 600ms;
  return s;
}

struct node_config : caf::actor_system_config {
  explicit node_config(const cluster::settings& s) {
    cluster::configure(*this, s);
    announce<invoice>(*this);
    announce<secretive>(*this);
    add_error_category(invoice_error_category, render_invoice_error);
    add_error_category(cairn_error_category, render_error);
    set("scheduler.max-threads", 2);
  }
};

/// One node: its actor system, journal and runtime.
struct test_node {
  explicit test_node(std::string id)
    : settings(node_settings(std::move(id))), cfg(settings), sys(cfg) {
    runtime_options opts;
    opts.journal_path = dir.path();
    opts.journal.sync = journal::sync_mode::none;
    opts.cluster = settings;
    auto r = runtime::start(sys, opts);
    if (!r)
      FAIL("runtime::start: " << describe(r.error()));
    rt = std::move(*r);
  }

  ~test_node() {
    if (rt)
      rt->stop();
  }

  cluster::settings settings;
  test::temp_dir dir;
  node_config cfg;
  caf::actor_system sys;
  std::unique_ptr<runtime> rt;
};

/// Waits (at most `timeout`) until `pred` holds.
template <class Pred>
bool eventually(Pred pred, caf::timespan timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

bool all_up(runtime& rt) {
  auto peers = rt.peers();
  if (peers.empty())
    return false;
  for (auto& [id, st] : peers)
    if (st != "up")
      return false;
  return true;
}

/// Three nodes, started in two phases: each listens on a port the OS
/// picks, then all join with the full list of members.
struct three_nodes {
  three_nodes() {
    for (auto id : {"a", "b", "c"})
      nodes.push_back(std::make_unique<test_node>(id));
    for (auto& n : nodes)
      members.push_back(n->settings.node_id + "@127.0.0.1:"
                        + std::to_string(n->rt->cluster_port()));
    for (auto& n : nodes) {
      auto err = n->rt->join(members);
      if (err)
        FAIL("join: " << describe(err));
    }
    for (auto& n : nodes)
      REQUIRE(eventually([&] { return all_up(*n->rt); }));
  }

  test_node& node(size_t i) {
    return *nodes[i];
  }

  /// Index of the node owning invoice `id`.
  size_t owner(const std::string& id) {
    auto m = node(0).rt->shared()->cluster->members();
    auto owner = m->owner(invoice::category, id).id;
    return static_cast<size_t>(owner[0] - 'a');
  }

  std::vector<std::unique_ptr<test_node>> nodes;
  std::vector<std::string> members;
};

template <class Command>
caf::expected<invoice_state> ask(test_node& n, const std::string& id,
                                 Command cmd, caf::timespan t = 10s) {
  caf::scoped_actor self{n.sys};
  caf::expected<invoice_state> result{caf::error{}};
  self->request(n.rt->registry<invoice>(), t, entity_id{id}, std::move(cmd))
    .receive([&](invoice_state& st) { result = std::move(st); },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

} // namespace

TEST_CASE("commands reach any entity from any node, each stored by its "
          "owner") {
  three_nodes c;
  for (int i = 0; i < 24; ++i) {
    auto id = std::to_string(i);
    auto& from = c.node(i % 3);
    auto created = ask(from, id, create_invoice{"customer " + id});
    INFO("invoice " << id << " from node " << from.settings.node_id);
    REQUIRE(created);
    auto& other = c.node((i + 1) % 3);
    auto added = ask(other, id, add_item{item{"pen", 150}});
    REQUIRE(added);
    CHECK(added->total == 150);
    CHECK(added->customer == "customer " + id);
    // The events are in the owner's journal only.
    auto owner = c.owner(id);
    for (size_t k = 0; k < 3; ++k) {
      auto version = c.node(k).rt->journal()->stream_version("invoice-" + id);
      REQUIRE(version);
      CHECK(*version == (k == owner ? 2u : 0u));
    }
  }
  // Domain errors cross nodes as they are.
  std::string remote_id;
  for (int i = 0; remote_id.empty(); ++i)
    if (c.owner(std::to_string(i)) != 0)
      remote_id = std::to_string(i);
  auto again = ask(c.node(0), remote_id, create_invoice{"x"});
  REQUIRE(!again);
  CHECK(again.error().category() == invoice_error_category);
}

TEST_CASE("a gateway refuses an entity its node does not own") {
  three_nodes c;
  std::string foreign;
  for (int i = 0; foreign.empty(); ++i)
    if (c.owner(std::to_string(i)) != 0)
      foreign = std::to_string(i);
  // Asked straight at node a's gateway, as a peer with another placement
  // would.
  auto& b = c.node(1);
  auto gw
    = b.sys.middleman().remote_actor("127.0.0.1", c.node(0).rt->cluster_port());
  REQUIRE(gw);
  caf::scoped_actor self{b.sys};
  caf::error err;
  self
    ->request(*gw, 10s, cluster::forward_atom::value,
              std::string{invoice::category}, entity_id{foreign},
              caf::make_message(create_invoice{"intruder"}))
    .receive([&](invoice_state&) { FAIL("the gateway took the command"); },
             [&](caf::error& x) { err = std::move(x); });
  CHECK(code_of(err) == errc::entity_unavailable);
  CHECK_THAT(context_of(err),
             Contains("node 'a' does not own invoice-" + foreign));
  // Nothing was spawned or written on node a.
  caf::scoped_actor probe{c.node(0).sys};
  probe
    ->request(c.node(0).rt->local_registry<invoice>(), 10s, stats_atom::value)
    .receive([&](registry_stats& s) { CHECK(s.spawned == 0); },
             [&](caf::error& x) { FAIL(describe(x)); });
  auto version = c.node(0).rt->journal()->stream_version("invoice-" + foreign);
  REQUIRE(version);
  CHECK(*version == 0);
}

TEST_CASE("a node with another configuration is refused at hello, naming "
          "the difference") {
  three_nodes c;
  auto& b = c.node(1);
  auto gw
    = b.sys.middleman().remote_actor("127.0.0.1", c.node(0).rt->cluster_port());
  REQUIRE(gw);
  auto description = b.rt->shared()->cluster->members()->describe();
  description[1] = "32";
  description.push_back("d@127.0.0.1:9");
  caf::scoped_actor self{b.sys};
  caf::error err;
  self
    ->request(*gw, 10s, cluster::hello_atom::value, std::string{"b"},
              description)
    .receive([&](cluster::hello_atom, std::string&) { FAIL("accepted"); },
             [&](caf::error& x) { err = std::move(x); });
  CHECK(code_of(err) == errc::bad_config);
  CHECK_THAT(context_of(err), Contains("node 'a' refuses node 'b'"));
  CHECK_THAT(context_of(err), Contains("cluster.shards: 64 here, 32 at the "
                                       "peer"));
  CHECK_THAT(context_of(err), Contains("cluster.nodes: d@127.0.0.1:9 at the "
                                       "peer only"));
  // The same description is accepted.
  self
    ->request(*gw, 10s, cluster::hello_atom::value, std::string{"b"},
              b.rt->shared()->cluster->members()->describe())
    .receive([&](cluster::hello_atom, std::string& id) { CHECK(id == "a"); },
             [&](caf::error& x) { FAIL(describe(x)); });
}

TEST_CASE("a command of a type that is not announced is refused before it "
          "is sent, naming the type") {
  three_nodes c;
  for (size_t from = 0; from < 3; ++from) {
    caf::scoped_actor self{c.node(from).sys};
    caf::error err;
    self
      ->request(c.node(from).rt->registry<invoice>(), 10s, entity_id{"1"},
                not_announced{7})
      .receive([&](invoice_state&) { FAIL("sent"); },
               [&](caf::error& x) { err = std::move(x); });
    CHECK(code_of(err) == errc::invalid_argument);
    CHECK_THAT(context_of(err), Contains("not_announced"));
    CHECK_THAT(context_of(err), Contains("cairn::announce"));
  }
}

TEST_CASE("a reply of a type that is not announced fails at once with an "
          "error naming the type, instead of being dropped by BASP") {
  three_nodes c;
  auto m = c.node(0).rt->shared()->cluster->members();
  for (size_t from = 0; from < 3; ++from) {
    // An entity of another node.
    std::string id;
    for (int i = 0; id.empty(); ++i) {
      auto x = "s" + std::to_string(i);
      if (m->owner(secretive::category, x).id != c.node(from).settings.node_id)
        id = x;
    }
    caf::scoped_actor self{c.node(from).sys};
    caf::error err;
    auto t0 = std::chrono::steady_clock::now();
    self
      ->request(c.node(from).rt->registry<secretive>(), 10s, entity_id{id},
                ask_total{})
      .receive([&](secret_total&) { FAIL("an unannounced reply arrived"); },
               [&](caf::error& x) { err = std::move(x); });
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - t0)
                .count();
    INFO(describe(err));
    CHECK(code_of(err) == errc::invalid_argument);
    CHECK_THAT(context_of(err), Contains("secret_total")
                                  && Contains("is not announced on node"));
    CHECK(ms < 5000);
  }
}

TEST_CASE("commands for a stopped node fail at once while the others serve") {
  three_nodes c;
  std::string on_c;
  std::string on_a;
  for (int i = 0; on_c.empty() || on_a.empty(); ++i) {
    auto id = std::to_string(i);
    if (c.owner(id) == 2 && on_c.empty())
      on_c = id;
    if (c.owner(id) == 0 && on_a.empty())
      on_a = id;
  }
  REQUIRE(ask(c.node(0), on_c, create_invoice{"c's"}));
  auto states = c.node(2).rt->stop();
  CHECK(states == std::map<std::string, std::string>{{"a", "up"}, {"b", "up"}});
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE(eventually([&] { return c.node(0).rt->peers()["c"] == "down"; }));
  auto detect = std::chrono::steady_clock::now() - t0;
  // Known down: a command fails at once, without waiting for a timeout.
  auto t1 = std::chrono::steady_clock::now();
  auto failed = ask(c.node(0), on_c, get_invoice{});
  auto fail_time = std::chrono::steady_clock::now() - t1;
  REQUIRE(!failed);
  CHECK(code_of(failed.error()) == errc::entity_unavailable);
  CHECK_THAT(context_of(failed.error()), Contains("node 'c'"));
  CHECK_THAT(context_of(failed.error()), Contains("the command was not sent"));
  auto us = [](auto d) {
    return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  };
  std::cout << "cluster: a stopped node detected after " << us(detect) / 1000
            << " ms; a command to it failed in " << us(fail_time) << " us\n";
  CHECK(fail_time < 50ms);
  // The other nodes serve.
  REQUIRE(ask(c.node(1), on_a, create_invoice{"a's"}));
  REQUIRE(ask(c.node(0), on_a, get_invoice{}));
  // The remaining nodes stop cleanly with a peer down.
  states = c.node(0).rt->stop();
  CHECK(states["c"] == "down");
  CHECK(states["b"] == "up");
}

TEST_CASE("a node refuses to start on the journal of another node") {
  test::temp_dir dir;
  auto start = [&](const std::string& id) -> caf::error {
    auto s = node_settings(id);
    s.nodes = {"a@127.0.0.1:4001", "b@127.0.0.1:4002"};
    node_config cfg{s};
    caf::actor_system sys{cfg};
    runtime_options opts;
    opts.journal_path = dir.path();
    opts.cluster = s;
    auto rt = runtime::start(sys, opts);
    if (!rt)
      return std::move(rt.error());
    (*rt)->stop();
    return caf::none;
  };
  REQUIRE(!start("a"));
  REQUIRE(!start("a"));
  auto err = start("b");
  CHECK(code_of(err) == errc::bad_config);
  CHECK_THAT(context_of(err), Contains("belongs to node 'a', not 'b'"));
}
