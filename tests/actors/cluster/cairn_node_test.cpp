// cairn-node (examples/node/main.cpp) as three processes on 127.0.0.1:
// killed, frozen, restarted and stopped while the others go on.

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "cairn/actors/cluster/membership.hpp"
#include "tests/actors/cluster/node_proc.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cairn;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr int connection_timeout_ms = 600;

long ms_since(clock_type::time_point t0) {
  return static_cast<long>(
    std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now()
                                                          - t0)
      .count());
}

/// A node of the test's cluster (cluster name, connection timeout).
struct node_proc : test::node_proc {
  node_proc(std::string id, const test::temp_dir& dir)
    : test::node_proc(std::move(id), dir, "proc-test", connection_timeout_ms, 10000) {
  }
};

/// Three cairn-node processes joined into one cluster.
struct three_procs {
  three_procs() {
    ::signal(SIGPIPE, SIG_IGN);
    for (auto id : {"a", "b", "c"}) {
      nodes.push_back(std::make_unique<node_proc>(id, dir));
      nodes.back()->start();
    }
    for (auto& n : nodes)
      members.push_back(n->id() + "@127.0.0.1:" + std::to_string(n->port()));
    join_all();
    cluster::settings s;
    s.name = "proc-test";
    s.node_id = "a";
    s.shards = 64;
    s.nodes = members;
    s.connection_timeout = std::chrono::milliseconds{connection_timeout_ms};
    s.heartbeat_interval = 100ms;
    auto m = cluster::membership::make(s);
    REQUIRE(m);
    placement = std::make_shared<cluster::membership>(std::move(*m));
  }

  void join(node_proc& n) {
    std::string list;
    for (auto& x : members)
      list += (list.empty() ? "" : ",") + x;
    n.send("join " + list);
    n.expect("joined");
  }

  void join_all() {
    for (auto& n : nodes)
      join(*n);
    a().wait_peers("b=up c=up");
    b().wait_peers("a=up c=up");
    c().wait_peers("a=up b=up");
  }

  node_proc& a() {
    return *nodes[0];
  }
  node_proc& b() {
    return *nodes[1];
  }
  node_proc& c() {
    return *nodes[2];
  }

  /// The first invoice id owned by node `owner`.
  std::string owned_by(const std::string& owner, int skip = 0) {
    for (int i = 0;; ++i) {
      auto id = std::to_string(i);
      if (placement->owner("invoice", id).id == owner && skip-- == 0)
        return id;
    }
  }

  test::temp_dir dir;
  std::vector<std::unique_ptr<node_proc>> nodes;
  std::vector<std::string> members;
  std::shared_ptr<cluster::membership> placement;
};

/// The microseconds of an answer line `TAG ... us=N ...`.
long micros(const std::string& line) {
  auto pos = line.find(" us=");
  REQUIRE(pos != std::string::npos);
  return std::stol(line.substr(pos + 4));
}

} // namespace

TEST_CASE("a SIGKILLed node's entities fail fast while the other nodes serve") {
  three_procs c;
  auto on_a = c.owned_by("a");
  auto on_b = c.owned_by("b");
  auto on_c = c.owned_by("c");
  for (auto& id : {on_a, on_b, on_c})
    CHECK_THAT(c.a().ask("create " + id + " someone"), Contains(" ok "));
  c.c().kill();
  auto detect_ms = c.a().wait_peers("b=up c=down");
  c.b().wait_peers("a=up c=down");
  std::vector<long> fail_us;
  for (int i = 0; i < 20; ++i) {
    auto line = c.a().ask("get " + on_c);
    CHECK_THAT(line, Contains(" error entity_unavailable "));
    CHECK_THAT(line, Contains("node 'c'"));
    fail_us.push_back(micros(line));
  }
  std::sort(fail_us.begin(), fail_us.end());
  std::cout << "cairn-node: a killed node seen down after " << detect_ms
            << " ms; its commands fail in " << fail_us[fail_us.size() / 2]
            << " us (median), " << fail_us.back() << " us (max)\n";
  CHECK(fail_us.back() < 50000);
  // The other nodes serve, from either node.
  CHECK_THAT(c.b().ask("add " + on_a + " 100"), Contains(" ok 1 100 "));
  CHECK_THAT(c.a().ask("add " + on_b + " 200"), Contains(" ok 1 200 "));
  CHECK_THAT(c.b().ask("get " + on_b), Contains(" ok 1 200 "));
}

TEST_CASE("a SIGSTOPped node is detected within the connection timeout and "
          "its commands in flight fail") {
  three_procs c;
  auto on_c = c.owned_by("c");
  CHECK_THAT(c.a().ask("create " + on_c + " someone"), Contains(" ok "));
  c.c().signal(SIGSTOP);
  auto t0 = clock_type::now();
  // In flight when the node froze: its answer can only be the link's.
  auto line = c.a().ask("add " + on_c + " 5", connection_timeout_ms + 5000);
  auto failed_ms = ms_since(t0);
  CHECK_THAT(line, Contains(" error entity_unavailable "));
  CHECK_THAT(line, Contains("the outcome of the command is unknown"));
  c.a().wait_peers("b=up c=down");
  auto detect_ms = ms_since(t0);
  std::cout << "cairn-node: a stopped node detected after " << detect_ms
            << " ms (connection timeout " << connection_timeout_ms
            << " ms); the command in flight failed after " << failed_ms
            << " ms\n";
  CHECK(failed_ms <= connection_timeout_ms + 1000);
  // Known down: the next command fails at once.
  CHECK(micros(c.a().ask("get " + on_c)) < 50000);
  c.c().signal(SIGCONT);
  c.c().kill();
}

TEST_CASE("a restarted node is reconnected and serves its entities again") {
  three_procs c;
  auto on_c = c.owned_by("c");
  CHECK_THAT(c.a().ask("create " + on_c + " someone"), Contains(" ok "));
  CHECK_THAT(c.b().ask("add " + on_c + " 300"), Contains(" ok 1 300 "));
  auto port = c.c().port();
  c.c().kill();
  c.a().wait_peers("b=up c=down");
  CHECK_THAT(c.a().ask("get " + on_c), Contains(" error entity_unavailable "));
  // Same journal, same port, same members.
  c.c().start(port);
  c.join(c.c());
  auto t0 = clock_type::now();
  c.a().wait_peers("b=up c=up");
  c.b().wait_peers("a=up c=up");
  std::cout << "cairn-node: links to a restarted node up again after "
            << ms_since(t0) << " ms\n";
  // It recovered its entity from its journal.
  CHECK_THAT(c.a().ask("get " + on_c), Contains(" ok 1 300 "));
  CHECK_THAT(c.b().ask("add " + on_c + " 1"), Contains(" ok 1 301 "));
}

TEST_CASE("nodes exit cleanly with their peers up and with their peers down") {
  three_procs c;
  auto t0 = clock_type::now();
  CHECK(c.a().stop() == "stopped b=up c=up");
  c.b().wait_peers("a=down c=up");
  c.c().kill();
  c.b().wait_peers("a=down c=down");
  CHECK(c.b().stop() == "stopped a=down c=down");
  std::cout << "cairn-node: two clean stops and a kill in " << ms_since(t0)
            << " ms\n";
  CHECK(ms_since(t0) < 10000);
}

TEST_CASE("cairn-cluster-demo kills and restarts a node and ends cleanly") {
  test::temp_dir dir;
  auto res = test::run(
    {test::bin_path("cairn-cluster-demo"), "--dir=" + dir.sub("demo")}, 60000);
  INFO(res.output);
  REQUIRE(res.exit_code == 0);
  CHECK_THAT(res.output, Contains("node 'c' (127.0.0.1:"));
  CHECK_THAT(res.output, Contains("the command was not sent"));
  CHECK_THAT(res.output, Contains("links up again after"));
  // Order sagas across the nodes: two complete, one compensates.
  CHECK_THAT(res.output, Contains("cart o1 of ann, 2 x tea, 1 x teapot: "
                                  "completed in 8 steps"));
  CHECK_THAT(res.output,
             Contains("cart o2 of bob, 1 x tea, 1 x kettle: "
                      "cancelled in 8 steps (out of stock: kettle"));
  CHECK_THAT(res.output, Contains("cart o3 of cem, 3 x tea: completed"));
  // The group checkout and the catering match, inputs from any node.
  CHECK_THAT(res.output, Contains("group smith (accounts 101,102,103): "
                                  "requested via a, checkout on "));
  CHECK_THAT(res.output, Contains("the group checkout FAILED for 102\n"));
  CHECK_THAT(res.output, Contains(": done: the group is checked out\n"));
  CHECK_THAT(res.output, Contains(": done: the order is confirmed\n"));
  CHECK_THAT(res.output, Contains(": done: the order is expired\n"));
  // The invoice statistics on node a count the invoices of all three.
  CHECK_THAT(res.output,
             Contains("node a counts 12 invoices created on every node"));
  CHECK_THAT(res.output, Contains("checkpoints in a's journal: a up to"));
  CHECK_THAT(res.output, Contains("node  owns  served  sagas"));
  CHECK_THAT(res.output, Contains("node c: stopped a="));
}

TEST_CASE("cairn-node runs the three seed processes on their owner nodes, "
          "with inputs from any node, and refuses bad process commands") {
  three_procs c;
  // Waits until process `id` of `category` has completed on its owner.
  auto completed = [&](const std::string& category, const std::string& id) {
    auto owner = c.placement->owner(category, id).id;
    auto& n = *c.nodes[static_cast<size_t>(owner[0] - 'a')];
    auto t0 = clock_type::now();
    for (;;) {
      auto line = n.ask("process " + category + " " + id);
      if (line.find(" process completed ") != std::string::npos)
        return line;
      if (ms_since(t0) > 10000)
        FAIL(category << " " << id << " on " << owner << ": " << line);
      std::this_thread::sleep_for(5ms);
    }
  };
  SECTION("a cart confirmed on a node that does not own its saga") {
    std::string id;
    for (int i = 0; id.empty(); ++i)
      if (c.placement->owner("ordersaga", "o" + std::to_string(i)).id != "b")
        id = "o" + std::to_string(i);
    CHECK_THAT(c.b().ask("cart " + id + " ann tea:1:450"), Contains(" ok "));
    // Confirmed twice on one node: refused, the saga runs once.
    CHECK_THAT(c.b().ask("cart " + id + " ann tea:1:450"),
               Contains(" error conflict "));
    // Nothing in stock: the saga cancels after taking the payment back.
    CHECK_THAT(completed("ordersaga", id),
               Contains("steps=8 done: the order is cancelled"));
    // The instance is on its owner only.
    auto owner = c.placement->owner("ordersaga", id).id;
    for (auto& n : c.nodes)
      if (n->id() != owner)
        CHECK_THAT(n->ask("process ordersaga " + id),
                   Contains(" process none steps=0"));
  }
  SECTION("a group checkout over accounts of every node") {
    CHECK_THAT(c.a().ask("guest g1 ann 5000 5000"), Contains(" ok "));
    CHECK_THAT(c.b().ask("guest g2 ben 3000 1000"), Contains(" ok "));
    CHECK_THAT(c.c().ask("guest g3 cid 0 0"), Contains(" ok "));
    CHECK_THAT(c.c().ask("checkout party g1,g2,g3"), Contains(" ok "));
    CHECK_THAT(completed("groupcheckout", "party"),
               Contains("the group checkout FAILED for g2"));
  }
  SECTION("a catering match whose three inputs are on three nodes") {
    CHECK_THAT(c.a().ask("offer m1 vegan kitchen 60000"), Contains(" ok "));
    CHECK_THAT(c.b().ask("caterer m1 vegan"), Contains(" ok "));
    CHECK_THAT(c.c().ask("customer m1 vegan"), Contains(" ok "));
    CHECK_THAT(completed("cateringmatch", "m1"),
               Contains("the order is confirmed"));
  }
  SECTION("bad process commands are refused, naming what is wrong") {
    CHECK_THAT(c.a().ask("process nosuch x"),
               Contains(" error usage ")
                 && Contains("unknown process category 'nosuch'"));
    CHECK_THAT(c.a().ask("checkout g1"),
               Contains(" error usage ") && Contains("checkout GROUP"));
    CHECK_THAT(c.a().ask("offer m2 vegan"),
               Contains(" error usage ") && Contains("offer ORDER MENU"));
    CHECK_THAT(c.a().ask("guest g9 ann -5 0"),
               Contains(" error usage ") && Contains("guest ACCOUNT"));
    CHECK_THAT(c.a().ask("cart o99 ann tea:x"),
               Contains(" error invalid_argument ") && Contains("'tea:x'"));
    CHECK_THAT(c.a().ask("customer m3"),
               Contains(" error usage ") && Contains("customer ORDER MENU"));
  }
}
