// Two nodes that reach each other only through userspace TCP relays
// (tests/support/tcp_relay.hpp), partitioned by blackholing the relays and
// healed again.

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "caf/all.hpp"
#include "caf/io/middleman.hpp"

#include "cairn/actors/cluster/announce.hpp"
#include "cairn/actors/cluster/node.hpp"
#include "cairn/actors/runtime.hpp"
#include "cairn/journal/errc.hpp"
#include "examples/invoicing/invoice.hpp"
#include "tests/support/tcp_relay.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cairn;
using namespace invoicing;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr auto heartbeat = 100ms;
constexpr auto connection_timeout = 600ms;

cluster::settings node_settings(std::string id) {
  cluster::settings s;
  s.name = "partition";
  s.node_id = std::move(id);
  s.listen_address = "127.0.0.1";
  s.shards = 64;
  s.heartbeat_interval = heartbeat;
  s.connection_timeout = connection_timeout;
  return s;
}

struct node_config : caf::actor_system_config {
  explicit node_config(const cluster::settings& s) {
    cluster::configure(*this, s);
    announce<invoice>(*this);
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
  auto deadline = clock_type::now() + timeout;
  while (!pred()) {
    if (clock_type::now() >= deadline)
      return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

bool peer_is(runtime& rt, const std::string& peer, const std::string& st) {
  return rt.peers()[peer] == st;
}

double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0)
    .count();
}

/// Adds an item of `cents` to invoice `id` through node `n`.
caf::expected<invoice_state> add(test_node& n, const std::string& id,
                                 int64_t cents) {
  caf::scoped_actor self{n.sys};
  caf::expected<invoice_state> result{caf::error{}};
  self
    ->request(n.rt->registry<invoice>(), 10s, entity_id{id},
              add_item{item{"item", cents}})
    .receive([&](invoice_state& st) { result = std::move(st); },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

} // namespace

TEST_CASE("commands across a partition fail within the connection timeout, "
          "and after it heals they succeed, none applied twice") {
  test_node a{"a"};
  test_node b{"b"};
  // Every member's address is its relay: the nodes reach each other only
  // through the relays, whichever connects first.
  test::tcp_relay to_a{a.rt->cluster_port()};
  test::tcp_relay to_b{b.rt->cluster_port()};
  std::vector<std::string> members{"a@127.0.0.1:" + std::to_string(to_a.port()),
                                   "b@127.0.0.1:"
                                     + std::to_string(to_b.port())};
  REQUIRE(!a.rt->join(members));
  REQUIRE(!b.rt->join(members));
  REQUIRE(eventually([&] { return peer_is(*a.rt, "b", "up"); }));
  REQUIRE(eventually([&] { return peer_is(*b.rt, "a", "up"); }));
  // An invoice of node a, commanded through node b.
  auto m = a.rt->shared()->cluster->members();
  std::string id;
  for (int i = 0; id.empty(); ++i)
    if (m->owner(invoice::category, "p" + std::to_string(i)).id == "a")
      id = "p" + std::to_string(i);
  {
    caf::scoped_actor self{b.sys};
    bool created = false;
    self
      ->request(b.rt->registry<invoice>(), 10s, entity_id{id},
                create_invoice{"someone"})
      .receive([&](invoice_state&) { created = true; },
               [&](caf::error& err) { FAIL(describe(err)); });
    REQUIRE(created);
  }
  // Each command adds its own amount: acknowledged ones must be in the
  // owner's journal exactly once; those whose outcome is unknown at most
  // once.
  std::set<int64_t> acked;
  std::set<int64_t> unknown;
  for (int64_t cents = 1; cents <= 20; ++cents) {
    auto st = add(b, id, cents);
    REQUIRE(st);
    acked.insert(cents);
  }
  // The partition: nothing flows, no connection closes.
  to_a.blackhole();
  to_b.blackhole();
  auto t0 = clock_type::now();
  auto limit_ms
    = std::chrono::duration<double, std::milli>(connection_timeout + 1s)
        .count();
  {
    // Commands in flight when the partition comes.
    caf::scoped_actor self{b.sys};
    auto router = b.rt->registry<invoice>();
    using handle
      = decltype(self->request(router, 30s, entity_id{id}, add_item{}));
    std::vector<std::pair<int64_t, handle>> in_flight;
    for (int64_t cents = 101; cents <= 108; ++cents)
      in_flight.emplace_back(cents,
                             self->request(router, 30s, entity_id{id},
                                           add_item{item{"item", cents}}));
    for (auto& [cents, hdl] : in_flight) {
      caf::error err;
      hdl.receive([&](invoice_state&) { acked.insert(cents); },
                  [&](caf::error& e) { err = std::move(e); });
      auto elapsed = ms_since(t0);
      INFO("command " << cents << " answered after " << elapsed
                      << " ms: " << describe(err));
      CHECK(elapsed <= limit_ms);
      if (err) {
        CHECK(err == make_error(errc::entity_unavailable, ""));
        unknown.insert(cents);
      }
    }
  }
  // Across the partition both nodes see the other down.
  REQUIRE(eventually([&] { return peer_is(*b.rt, "a", "down"); }, 5s));
  REQUIRE(eventually([&] { return peer_is(*a.rt, "b", "down"); }, 5s));
  // Commands sent now fail at once, for as long as the partition lasts:
  // the links reconnect through the relays and get no answer.
  for (int64_t cents = 201; cents <= 210; ++cents) {
    auto t1 = clock_type::now();
    auto st = add(b, id, cents);
    auto elapsed = ms_since(t1);
    INFO("command " << cents << " answered after " << elapsed << " ms");
    REQUIRE(!st);
    CHECK(st.error() == make_error(errc::entity_unavailable, ""));
    CHECK(elapsed <= limit_ms);
    std::this_thread::sleep_for(connection_timeout / 4);
  }
  CHECK(to_a.dropped() + to_b.dropped() > 0);
  // Healed: the links come up again and commands succeed.
  to_a.heal();
  to_b.heal();
  REQUIRE(eventually([&] { return peer_is(*b.rt, "a", "up"); }, 20s));
  REQUIRE(eventually([&] { return peer_is(*a.rt, "b", "up"); }, 20s));
  for (int64_t cents = 301; cents <= 320; ++cents) {
    auto st = add(b, id, cents);
    INFO("command " << cents << ": " << (st ? "ok" : describe(st.error())));
    REQUIRE(st);
    acked.insert(cents);
  }
  // The owner's journal: the creation and one event per applied command.
  caf::scoped_actor self{a.sys};
  invoice_state st;
  self->request(a.rt->registry<invoice>(), 10s, entity_id{id}, get_invoice{})
    .receive([&](invoice_state& x) { st = std::move(x); },
             [&](caf::error& err) { FAIL(describe(err)); });
  std::map<int64_t, int> applied;
  for (auto& x : st.items)
    ++applied[x.cents];
  for (auto& [cents, times] : applied) {
    INFO("amount " << cents);
    CHECK(times == 1);
    CHECK((acked.count(cents) == 1 || unknown.count(cents) == 1));
  }
  for (auto cents : acked) {
    INFO("acknowledged amount " << cents);
    CHECK(applied.count(cents) == 1);
  }
  auto version = a.rt->journal()->stream_version("invoice-" + id);
  REQUIRE(version);
  CHECK(*version == 1 + st.items.size());
  CHECK(*b.rt->journal()->stream_version("invoice-" + id) == 0);
}
