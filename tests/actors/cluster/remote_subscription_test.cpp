#include "cairn/actors/cluster/remote_subscription.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>

#include <catch2/catch.hpp>

#include "caf/all.hpp"
#include "caf/io/middleman.hpp"

#include "cairn/actors/atoms.hpp"
#include "cairn/actors/cluster/configure.hpp"
#include "cairn/actors/cluster/node.hpp"
#include "cairn/actors/runtime.hpp"
#include "cairn/journal/errc.hpp"
#include "tests/actors/cluster/cluster_fixture.hpp"
#include "tests/support/tcp_relay.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cairn;
using namespace cairn::test;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace {

using ack_later_atom = caf::atom_constant<caf::atom("t_acklat")>;

/// Records what subscriptions deliver. With `ack_later`, a handler
/// acknowledges a batch only once a message it sends itself comes back, so
/// that events the feed sends without waiting would pile up in flight.
struct recorder {
  std::mutex mtx;
  std::vector<uint64_t> positions;
  std::vector<std::string> streams;
  uint64_t max_in_flight = 0;
  bool ack_later = false;

  subscription_factory factory() {
    return [this](subscription_context& ctx) {
      subscription_handler h;
      h.deliver = [this, ctx](std::vector<journal::stored_event>& events) {
        auto c = ctx;
        std::vector<uint64_t> batch;
        {
          std::lock_guard<std::mutex> guard{mtx};
          for (auto& ev : events) {
            positions.push_back(ev.position);
            streams.push_back(ev.stream);
            batch.push_back(ev.position);
          }
          max_in_flight = std::max(max_in_flight, c.stats().in_flight);
        }
        if (ack_later) {
          c.self()->send(c.self(), ack_later_atom::value, batch);
          return;
        }
        for (auto pos : batch)
          c.ack(pos);
      };
      h.extra = caf::message_handler{
        [ctx](ack_later_atom, const std::vector<uint64_t>& batch) {
          auto c = ctx;
          for (auto pos : batch)
            c.ack(pos);
        },
      };
      return h;
    };
  }

  std::vector<uint64_t> seen() {
    std::lock_guard<std::mutex> guard{mtx};
    return positions;
  }
};

void require_caught_up(test_node& n, const caf::actor& sub, uint64_t pos) {
  auto r = await_caught_up(*n.sys, sub, pos, 10s);
  if (!r)
    FAIL("not caught up to " << pos << ": " << describe(r.error()));
  CHECK(*r >= pos);
}

subscription_stats stats_of(test_node& n, const caf::actor& sub) {
  caf::scoped_actor self{*n.sys};
  subscription_stats result;
  self->request(sub, 10s, stats_atom::value)
    .receive([&](subscription_stats& x) { result = x; },
             [](caf::error& err) { FAIL(describe(err)); });
  return result;
}

} // namespace

TEST_CASE("a remote subscription catches up in chunks, one in flight, then "
          "follows the live feed with no gap and no duplicate") {
  three_nodes c;
  auto& a = c[0];
  auto& b = c[1];
  // Before the subscription: several chunks of b's log.
  b.commit("order-1", 10);
  b.commit("invoice-1", 13);
  recorder rec;
  rec.ack_later = true;
  subscription_settings ss;
  ss.read_chunk = 4;
  // Commits go on while the subscription catches up and switches.
  std::thread writer{[&] {
    for (int i = 0; i < 30; ++i)
      b.commit("order-" + std::to_string(i % 3));
  }};
  auto sub = cluster::subscribe_remote(*a.rt, "b", ss, rec.factory());
  REQUIRE(sub);
  writer.join();
  require_caught_up(a, *sub, *b.rt->journal()->last_position());
  // Live: each event commits after the switch.
  for (int i = 0; i < 5; ++i) {
    auto pos = b.commit("invoice-2");
    require_caught_up(a, *sub, pos);
  }
  CHECK(rec.seen() == b.committed());
  CHECK(rec.seen().size() == 58);
  // Back-pressure: never more than a chunk waits for its acknowledgement,
  // although the handler acknowledges late.
  CHECK(rec.max_in_flight <= 4);
  auto st = stats_of(a, *sub);
  CHECK(st.delivered == 58);
  CHECK(st.live);
  // Nothing of b's log reached a's journal, but for no checkpoint at all.
  CHECK(a.committed().empty());
}

TEST_CASE("a remote subscription keeps one checkpoint per source node in "
          "its own journal and resumes after it when its node restarts") {
  three_nodes c;
  auto& a = c[0];
  auto& b = c[1];
  auto& cc = c[2];
  b.commit("order-1", 7);
  cc.commit("order-9", 3);
  subscription_settings ss;
  ss.checkpoint = "audit";
  ss.checkpoint_interval = caf::timespan{0};
  ss.read_chunk = 2;
  std::vector<uint64_t> before_b;
  std::vector<uint64_t> before_c;
  {
    recorder rb;
    recorder rc;
    auto sb = cluster::subscribe_remote(*a.rt, "b", ss, rb.factory());
    auto sc = cluster::subscribe_remote(*a.rt, "c", ss, rc.factory());
    REQUIRE(sb);
    REQUIRE(sc);
    require_caught_up(a, *sb, 7);
    require_caught_up(a, *sc, 3);
    before_b = rb.seen();
    before_c = rc.seen();
    CHECK(before_b == b.committed());
    CHECK(before_c == cc.committed());
    CHECK(a.checkpoint(cluster::remote_checkpoint("audit", "b")) == 7);
    CHECK(a.checkpoint(cluster::remote_checkpoint("audit", "c")) == 3);
    CHECK(a.checkpoint("audit") == 0);
    a.stop();
  }
  // While a is down, both sources go on.
  b.commit("order-2", 4);
  cc.commit("order-8", 2);
  a.start();
  REQUIRE(eventually([&] { return all_up(*a.rt); }));
  recorder rb;
  recorder rc;
  auto sb = cluster::subscribe_remote(*a.rt, "b", ss, rb.factory());
  auto sc = cluster::subscribe_remote(*a.rt, "c", ss, rc.factory());
  REQUIRE(sb);
  REQUIRE(sc);
  auto last_b = b.commit("order-3");
  auto last_c = cc.commit("order-7");
  require_caught_up(a, *sb, last_b);
  require_caught_up(a, *sc, last_c);
  // Only what came after each source's checkpoint, each event once.
  auto expect = [](std::vector<uint64_t> all, uint64_t after) {
    all.erase(all.begin(), std::upper_bound(all.begin(), all.end(), after));
    return all;
  };
  CHECK(rb.seen() == expect(b.committed(), 7));
  CHECK(rc.seen() == expect(cc.committed(), 3));
  CHECK(rb.seen().size() == 5);
  CHECK(rc.seen().size() == 3);
  CHECK(a.checkpoint(cluster::remote_checkpoint("audit", "b")) == last_b);
  CHECK(a.checkpoint(cluster::remote_checkpoint("audit", "c")) == last_c);
}

TEST_CASE("a remote subscription waits while its source is down and "
          "resumes with nothing lost or twice, while another source flows "
          "on") {
  three_nodes c;
  auto& a = c[0];
  auto& b = c[1];
  auto& cc = c[2];
  recorder rb;
  recorder rc;
  subscription_settings ss;
  ss.checkpoint = "mirror";
  ss.read_chunk = 3;
  auto sb = cluster::subscribe_remote(*a.rt, "b", ss, rb.factory());
  auto sc = cluster::subscribe_remote(*a.rt, "c", ss, rc.factory());
  REQUIRE(sb);
  REQUIRE(sc);
  require_caught_up(a, *sb, b.commit("order-1", 5));
  require_caught_up(a, *sc, cc.commit("order-2", 5));
  // Events committed right before b stops: a may have them or not.
  b.commit("order-1", 6);
  b.stop();
  REQUIRE(eventually([&] { return a.link_state("b") == "down"; }));
  // c's events keep arriving while b is down.
  for (int i = 0; i < 3; ++i)
    require_caught_up(a, *sc, cc.commit("order-2"));
  CHECK(rc.seen() == cc.committed());
  CHECK(eventually([&] { return !stats_of(a, *sb).live; }));
  // b is back on its journal and port; the subscription resumes.
  b.start();
  REQUIRE(eventually([&] { return a.link_state("b") == "up"; }));
  auto last = b.commit("order-4", 4);
  require_caught_up(a, *sb, last);
  CHECK(rb.seen() == b.committed());
  CHECK(rb.seen().size() == 15);
  CHECK(stats_of(a, *sb).switches >= 2);
  CHECK(rc.seen() == cc.committed());
}

TEST_CASE("a remote subscription across a partition resumes when it heals, "
          "with nothing lost or twice") {
  test_node a{"a"};
  test_node b{"b"};
  // The nodes reach each other only through relays that can blackhole.
  test::tcp_relay to_a{a.rt->cluster_port()};
  test::tcp_relay to_b{b.rt->cluster_port()};
  std::vector<std::string> members{"a@127.0.0.1:" + std::to_string(to_a.port()),
                                   "b@127.0.0.1:"
                                     + std::to_string(to_b.port())};
  REQUIRE(!a.rt->join(members));
  REQUIRE(!b.rt->join(members));
  REQUIRE(eventually([&] { return a.link_state("b") == "up"; }));
  recorder rec;
  subscription_settings ss;
  ss.checkpoint = "mirror";
  ss.read_chunk = 4;
  auto sub = cluster::subscribe_remote(*a.rt, "b", ss, rec.factory());
  REQUIRE(sub);
  require_caught_up(a, *sub, b.commit("order-1", 9));
  // Nothing flows, no connection closes: the heartbeats stop.
  to_a.blackhole();
  to_b.blackhole();
  b.commit("order-2", 5);
  REQUIRE(eventually([&] { return a.link_state("b") == "down"; }));
  CHECK(eventually([&] { return !stats_of(a, *sub).live; }));
  b.commit("order-3", 5);
  to_a.heal();
  to_b.heal();
  REQUIRE(eventually([&] { return a.link_state("b") == "up"; }, 20s));
  auto last = b.commit("order-4", 3);
  require_caught_up(a, *sub, last);
  CHECK(rec.seen() == b.committed());
  CHECK(rec.seen().size() == 22);
  CHECK(a.checkpoint(cluster::remote_checkpoint("mirror", "b")) == last);
}

TEST_CASE("a remote subscription of a category gets only that category's "
          "events") {
  three_nodes c;
  auto& a = c[0];
  auto& b = c[1];
  b.commit("order-1", 5);
  b.commit("invoice-1", 3);
  recorder rec;
  subscription_settings ss;
  ss.category = "invoice";
  ss.read_chunk = 2;
  auto sub = cluster::subscribe_remote(*a.rt, "b", ss, rec.factory());
  REQUIRE(sub);
  b.commit("order-2", 2);
  auto last = b.commit("invoice-2", 3);
  require_caught_up(a, *sub, last);
  // A position of another category: the subscription learns from its feed
  // that it has every invoice event up to there.
  auto other = b.commit("order-3", 4);
  require_caught_up(a, *sub, other);
  CHECK(rec.seen() == b.committed("invoice"));
  CHECK(rec.seen().size() == 6);
  std::lock_guard<std::mutex> guard{rec.mtx};
  for (auto& s : rec.streams)
    CHECK(journal::category_of(s) == "invoice");
}

TEST_CASE("subscribing to the cluster reads every node's log, each with its "
          "own checkpoint") {
  three_nodes c;
  auto& a = c[0];
  std::map<std::string, recorder> recs;
  std::mutex mtx;
  subscription_settings ss;
  ss.checkpoint = "all";
  ss.checkpoint_interval = caf::timespan{0};
  // One recorder per source, chosen by the checkpoint's name.
  for (auto id : {"a", "b", "c"})
    recs[id];
  auto subs
    = cluster::subscribe_cluster(*a.rt, ss, [&](subscription_context& ctx) {
        auto name = ctx.settings().checkpoint;
        std::lock_guard<std::mutex> guard{mtx};
        return recs[name.substr(name.find('@') + 1)].factory()(ctx);
      });
  REQUIRE(subs);
  REQUIRE(subs->size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    auto& n = c[i];
    auto id = n.settings.node_id;
    auto last = n.commit("order-" + id, 4 + i);
    require_caught_up(a, subs->at(id), last);
    CHECK(recs[id].seen() == n.committed());
    CHECK(a.checkpoint(cluster::remote_checkpoint("all", id)) == last);
  }
}

TEST_CASE("a remote subscription of a node that is not a member, or of "
          "this node, is refused naming it") {
  three_nodes c;
  auto& a = c[0];
  recorder rec;
  auto unknown = cluster::subscribe_remote(*a.rt, "z", {}, rec.factory());
  REQUIRE(!unknown);
  CHECK(code_of(unknown.error()) == errc::invalid_argument);
  CHECK_THAT(context_of(unknown.error()),
             Contains("node 'z' is not a member of cluster 'test'")
               && Contains("members: a, b, c"));
  auto self = cluster::subscribe_remote(*a.rt, "a", {}, rec.factory());
  REQUIRE(!self);
  CHECK_THAT(context_of(self.error()), Contains("node 'a' is this node"));
  auto empty = cluster::subscribe_remote(*a.rt, "", {}, rec.factory());
  REQUIRE(!empty);
  CHECK_THAT(context_of(empty.error()), Contains("source node id is empty"));
  subscription_settings zero;
  zero.read_chunk = 0;
  auto bad = cluster::subscribe_remote(*a.rt, "b", zero, rec.factory());
  REQUIRE(!bad);
  CHECK(code_of(bad.error()) == errc::invalid_argument);
  // The node goes on: a valid subscription works.
  auto sub = cluster::subscribe_remote(*a.rt, "b", {}, rec.factory());
  REQUIRE(sub);
  require_caught_up(a, *sub, c[1].commit("order-1"));
}

TEST_CASE("a remote subscription on a runtime that is not clustered is "
          "refused") {
  test::temp_dir dir;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  runtime_options opts;
  opts.journal_path = dir.path();
  auto rt = runtime::start(sys, opts);
  REQUIRE(rt);
  recorder rec;
  auto sub = cluster::subscribe_remote(**rt, "b", {}, rec.factory());
  REQUIRE(!sub);
  CHECK(code_of(sub.error()) == errc::invalid_argument);
  CHECK_THAT(context_of(sub.error()), Contains("not clustered"));
  (*rt)->stop();
}

TEST_CASE("a remote subscription waiting for its source ends with its own "
          "node, as stopped, not failed") {
  three_nodes c;
  auto& a = c[0];
  auto& b = c[1];
  recorder rec;
  auto sub = cluster::subscribe_remote(*a.rt, "b", {}, rec.factory());
  REQUIRE(sub);
  require_caught_up(a, *sub, b.commit("order-1", 2));
  b.stop();
  REQUIRE(eventually([&] { return !stats_of(a, *sub).live; }));
  caf::error reason;
  {
    caf::scoped_actor self{*a.sys};
    self->monitor(*sub);
    // The link stops first when a node stops; alone here, so that the
    // subscription learns it from the link, not from its own exit message.
    caf::anon_send_exit(a.rt->shared()->cluster->link("b"),
                        caf::exit_reason::user_shutdown);
    self->receive([&](caf::down_msg& msg) { reason = msg.reason; },
                  caf::after(10s) >> [] { FAIL("the subscription lives on"); });
  }
  CHECK(reason == caf::exit_reason::user_shutdown);
}
