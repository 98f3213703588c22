// Crash torture of a cluster: three cairn-node processes (examples/node)
// run order sagas (examples/sagas/order_saga.hpp) across each other while
// one of them at a time is SIGKILLed at a random moment and started again
// on the same port and journal.
//
// The workload: every round confirms new carts, each on a random node (the
// saga instance, `ordersaga-ID`, runs on the node that owns it and reads
// that node's log), of three kinds: happy (the products
// are in stock; the order completes), out of stock (the warehouse refuses
// the reservation; the saga cancels the order and discards the payment)
// and free (nothing to pay; the payment is refused and the order
// cancelled). Some carts are confirmed a second time, which the node must
// refuse as a conflict on the cart's stream; some are confirmed right
// before their node is killed, with their answer lost, and confirmed again
// after the restart, which must either commit or be refused as a conflict.
// Group checkouts (examples/sagas/group_checkout.hpp) run beside them: the
// guest accounts, some with a balance left, are opened on random nodes
// before the kills; during the kills each group's checkout is requested on
// a random node, some twice (refused as a conflict).
// Kills go on for 20 s and until 60 of them happened while a saga was not
// done yet (if the time budget runs out first, the test fails).
//
// After the kills every saga must reach the final stage its kind leads to
// (polled on its owner node with a deadline). Then the nodes stop and the
// test opens each node's journal read-only and checks, per order:
//
// - the order, payment and shipment streams hold exactly the events the
//   order's kind leads to, each once, in the journal of the node owning
//   the stream, and do not exist on the other nodes;
// - the warehouse holds one reservation for each happy order and none for
//   the others, and each stock addition once;
// - the cart stream holds one input, on the node it was confirmed on; the
//   saga stream starts its process once and enters each stage of its kind
//   once, in order, on the saga's owner;
// - each guest account holds its check-in, charge and payment once, and
//   its check-out once if it was settled, none if not; each group
//   checkout completes once, on its owner, failing for exactly the
//   accounts left unsettled;
// - no stream of any journal holds the same command event twice;
// - `cairn-journal verify` finds no problem in any journal.
//
// Right after every kill, with the node down, its journal is read too: no
// stream holds a command's event twice, and `cairn-journal verify` passes.
//
// The seed is printed; `CAIRN_TORTURE_SEED` repeats a run.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "cairn/actors/cluster/membership.hpp"
#include "cairn/journal/codec.hpp"
#include "cairn/journal/errc.hpp"
#include "cairn/journal/journal.hpp"
#include "examples/sagas/group_checkout.hpp"
#include "examples/sagas/order_saga.hpp"
#include "tests/actors/cluster/node_proc.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cairn;
using namespace std::chrono_literals;
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
    : test::node_proc(std::move(id), dir, "torture", connection_timeout_ms, 20000) {
  }
};

// -- the work -----------------------------------------------------------------

enum class order_kind { happy, out_of_stock, free };

const char* to_string(order_kind x) {
  switch (x) {
    case order_kind::happy:
      return "happy";
    case order_kind::out_of_stock:
      return "out-of-stock";
    default:
      return "free";
  }
}

/// One cart and what the test knows of it.
struct order_item {
  std::string id;
  order_kind kind = order_kind::happy;
  std::string lines;
  /// Index of the node owning `ordersaga-ID`.
  size_t owner = 0;
  /// Index of the node the cart is confirmed on (`cart-ID` is in its log).
  size_t via = 0;
  /// The node acknowledged the cart (or refused it as already there).
  bool confirmed = false;
  /// Confirmed again after it was there.
  bool confirmed_twice = false;
  /// The saga reached its final stage (as polled).
  bool final = false;
};

std::string final_stage_of(order_kind x) {
  return x == order_kind::happy ? "completed" : "cancelled";
}

/// The event types order, payment and shipment streams of an order hold.
struct expected_streams {
  std::vector<std::string> order;
  std::vector<std::string> payment;
  std::vector<std::string> shipment;
};

expected_streams expect_of(order_kind x) {
  using namespace shop;
  expected_streams r;
  switch (x) {
    case order_kind::happy:
      r.order = {order_initialised::event_name, order_paid::event_name,
                 order_completed::event_name};
      r.payment = {payment_requested::event_name,
                   payment_finalised::event_name};
      r.shipment = {package_sent::event_name};
      break;
    case order_kind::out_of_stock:
      r.order = {order_initialised::event_name, order_paid::event_name,
                 order_cancelled::event_name};
      r.payment = {payment_requested::event_name, payment_finalised::event_name,
                   payment_discarded::event_name};
      break;
    case order_kind::free:
      r.order = {order_initialised::event_name, order_cancelled::event_name};
      break;
  }
  return r;
}

/// The stages the saga of an order enters after its start, in order.
std::vector<int> stages_of(order_kind x) {
  using st = shop::order_stage;
  std::vector<st> xs;
  switch (x) {
    case order_kind::happy:
      xs = {st::requesting_payment, st::finalising_payment,
            st::recording_payment,  st::reserving,
            st::shipping,           st::completing,
            st::completed};
      break;
    case order_kind::out_of_stock:
      xs = {st::requesting_payment, st::finalising_payment,
            st::recording_payment,  st::reserving,
            st::cancelling,         st::discarding_payment,
            st::cancelled};
      break;
    case order_kind::free:
      xs = {st::requesting_payment, st::cancelling, st::cancelled};
      break;
  }
  std::vector<int> result;
  for (auto s : xs)
    result.push_back(static_cast<int>(s));
  return result;
}

/// Event types that only a command of a saga step produces.
const std::set<std::string>& command_event_types() {
  static const std::set<std::string> instance{
    shop::order_initialised::event_name, shop::order_paid::event_name,
    shop::order_completed::event_name,   shop::order_cancelled::event_name,
    shop::payment_requested::event_name, shop::payment_finalised::event_name,
    shop::payment_discarded::event_name, shop::products_reserved::event_name,
    shop::package_sent::event_name,      hotel::guest_checked_out::event_name};
  return instance;
}

std::string join_with(const std::vector<std::string>& xs, const char* sep) {
  std::string result;
  for (auto& x : xs)
    result += (result.empty() ? "" : sep) + x;
  return result;
}

std::string join(const std::vector<std::string>& xs) {
  std::string result;
  for (auto& x : xs)
    result += (result.empty() ? "" : ",") + x;
  return result;
}

/// Every stream of a journal, its events in version order.
using journal_streams
  = std::map<std::string, std::vector<journal::stored_event>>;

journal_streams read_journal(const std::string& dir,
                             std::vector<std::string>& problems) {
  journal_streams result;
  journal::options opts;
  opts.read_only = true;
  opts.create = false;
  auto j = journal::journal::open(dir, opts);
  if (!j) {
    problems.push_back(dir + ": open: " + describe(j.error()));
    return result;
  }
  for (uint64_t next = 1;;) {
    auto slice = (*j)->read_all(next, 4096);
    if (!slice) {
      problems.push_back(dir + ": read_all: " + describe(slice.error()));
      return result;
    }
    if (slice->events.empty())
      break;
    next = slice->next_position;
    for (auto& ev : slice->events)
      result[ev.stream].push_back(ev);
  }
  return result;
}

/// Checks that no stream of `js`, the journal of node `node`, holds a
/// command's event twice, and that the warehouse reserves at most once
/// per order; `when` says at which moment of the test.
void check_once(const journal_streams& js, const std::string& node,
                const std::string& when, std::vector<std::string>& problems) {
  journal::codec c;
  c.add<shop::products_reserved>(shop::products_reserved::event_name);
  for (auto& [stream, evs] : js) {
    std::map<std::string, size_t> seen;
    for (auto& ev : evs) {
      auto& type = ev.record.type;
      if (command_event_types().count(type) == 0)
        continue;
      auto key = type;
      if (type == shop::products_reserved::event_name) {
        auto x = c.decode<shop::products_reserved>(ev);
        if (!x) {
          problems.push_back(journal::codec::where(ev) + ": "
                             + describe(x.error()));
          continue;
        }
        key += " for order " + x->order;
      }
      if (++seen[key] == 2)
        problems.push_back(when + ": " + stream + " on " + node + " holds "
                           + key + " more than once");
    }
  }
}

std::vector<std::string> types_of(const journal_streams& js,
                                  const std::string& stream) {
  std::vector<std::string> result;
  auto i = js.find(stream);
  if (i != js.end())
    for (auto& ev : i->second)
      result.push_back(ev.record.type);
  return result;
}

std::string head_of(const std::vector<std::string>& xs, size_t max = 30) {
  std::string result;
  for (size_t i = 0; i < xs.size() && i < max; ++i)
    result += xs[i] + "\n";
  if (xs.size() > max)
    result += "... and " + std::to_string(xs.size() - max) + " more\n";
  return result;
}

uint64_t pick_seed() {
  if (auto str = std::getenv("CAIRN_TORTURE_SEED"))
    return std::strtoull(str, nullptr, 10);
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) | rd();
}

/// A port of 127.0.0.1 that nothing listens on, below the range the kernel
/// takes ports of outgoing connections from: a node restarted on it after a
/// kill finds it free, as no connection of the nodes' links can have taken
/// it in between (a port the OS picked for the first start could be).
uint16_t listen_port(std::set<uint16_t>& taken) {
  int low = 32768;
  if (auto* f = std::fopen("/proc/sys/net/ipv4/ip_local_port_range", "r")) {
    if (std::fscanf(f, "%d", &low) != 1)
      low = 32768;
    std::fclose(f);
  }
  REQUIRE(low > 12000);
  std::random_device rd;
  std::uniform_int_distribution<int> pick{10000, low - 1};
  for (int attempt = 0; attempt < 1000; ++attempt) {
    auto port = static_cast<uint16_t>(pick(rd));
    if (taken.count(port) > 0)
      continue;
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    auto ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    ::close(fd);
    if (ok) {
      taken.insert(port);
      return port;
    }
  }
  FAIL("no free port of 127.0.0.1 between 10000 and " << low);
  return 0;
}

bool is_final(const std::string& answer) {
  return answer.find(" saga completed ") != std::string::npos
         || answer.find(" saga cancelled ") != std::string::npos
         || answer.find(" saga failed ") != std::string::npos;
}

} // namespace

TEST_CASE("three cairn-node processes killed at random moments bring every "
          "order saga to its end with each effect exactly once") {
  ::signal(SIGPIPE, SIG_IGN);
  auto seed = pick_seed();
  std::cout << "cluster torture: seed " << seed
            << " (set CAIRN_TORTURE_SEED to repeat)" << std::endl;
  INFO("seed " << seed << " (set CAIRN_TORTURE_SEED to repeat)");
  std::mt19937_64 rng{seed};
  auto chance = [&](double p) {
    return std::uniform_real_distribution<double>{0, 1}(rng) < p;
  };
  auto uniform = [&](int lo, int hi) {
    return std::uniform_int_distribution<int>{lo, hi}(rng);
  };
  auto cli = test::bin_path("cairn-journal");
  REQUIRE(::access(cli.c_str(), X_OK) == 0);
  REQUIRE(::access(test::bin_path("cairn-node").c_str(), X_OK) == 0);
  auto t_start = clock_type::now();

  // -- three nodes, joined --------------------------------------------------
  test::temp_dir dir;
  std::vector<std::unique_ptr<node_proc>> nodes;
  std::set<uint16_t> ports;
  for (auto id : {"a", "b", "c"}) {
    nodes.push_back(std::make_unique<node_proc>(id, dir));
    nodes.back()->start(listen_port(ports));
  }
  std::vector<std::string> members;
  for (auto& n : nodes)
    members.push_back(n->id() + "@127.0.0.1:" + std::to_string(n->port()));
  auto join_node = [&](node_proc& n) {
    n.send("join " + join(members));
    n.expect("joined");
  };
  for (auto& n : nodes)
    join_node(*n);
  nodes[0]->wait_peers("b=up c=up");
  nodes[1]->wait_peers("a=up c=up");
  nodes[2]->wait_peers("a=up b=up");
  cluster::settings s;
  s.name = "torture";
  s.node_id = "a";
  s.shards = 64;
  s.nodes = members;
  s.connection_timeout = std::chrono::milliseconds{connection_timeout_ms};
  s.heartbeat_interval = 100ms;
  auto made = cluster::membership::make(s);
  REQUIRE(made);
  auto& placement = *made;
  auto owner_of = [&](const std::string& category, const std::string& id) {
    return static_cast<size_t>(placement.owner(category, id).id[0] - 'a');
  };

  // -- the stock, once, before the kills --------------------------------------
  const std::vector<std::string> stocked{"tea", "teapot"};
  for (auto& product : stocked)
    REQUIRE_THAT(nodes[0]->ask("stock " + product + " 1000000"),
                 Catch::Matchers::Contains(" ok "));

  // -- guest accounts of the group checkouts, before the kills -----------------
  struct group_item {
    std::string id;
    std::vector<std::string> accounts;
    std::vector<std::string> unsettled;
    size_t owner = 0;
    size_t via = 0;
    bool requested = false;
    bool requested_twice = false;
    bool final = false;
    std::string status;
  };
  struct account_item {
    int64_t charged = 0;
    int64_t paid = 0;
    bool settled() const {
      return charged == paid;
    }
  };
  std::vector<group_item> groups;
  std::map<std::string, account_item> accounts;
  for (int g = 0; g < 24; ++g) {
    group_item x;
    x.id = "g" + std::to_string(g);
    x.owner = owner_of(hotel::group_checkout::category, x.id);
    for (int k = uniform(1, 3); k > 0; --k) {
      auto id = x.id + "-" + std::to_string(k);
      account_item a;
      a.charged = chance(0.2) ? 0 : 100 * uniform(1, 50);
      a.paid = a.charged == 0 || chance(0.7) ? a.charged : a.charged / 2;
      REQUIRE_THAT(nodes[static_cast<size_t>(uniform(0, 2))]->ask(
                     "guest " + id + " guest-" + id + " "
                     + std::to_string(a.charged) + " "
                     + std::to_string(a.paid)),
                   Catch::Matchers::Contains(" ok "));
      x.accounts.push_back(id);
      if (!a.settled())
        x.unsettled.push_back(id);
      accounts[id] = a;
    }
    std::sort(x.accounts.begin(), x.accounts.end());
    std::sort(x.unsettled.begin(), x.unsettled.end());
    groups.push_back(std::move(x));
  }
  size_t next_group = 0;

  // -- work and kills ---------------------------------------------------------
  std::vector<order_item> orders;
  size_t next_id = 0;
  // A new order, its cart confirmed on node `via` (3: a random node).
  auto new_order = [&](size_t via = 3) {
    order_item o;
    o.id = "o" + std::to_string(next_id++);
    o.via = via < 3 ? via : static_cast<size_t>(uniform(0, 2));
    auto roll = uniform(0, 99);
    if (roll < 60) {
      o.kind = order_kind::happy;
      o.lines = "tea:" + std::to_string(uniform(1, 3)) + ":450";
      if (chance(0.5))
        o.lines += ",teapot:1:2200";
    } else if (roll < 85) {
      o.kind = order_kind::out_of_stock;
      o.lines = "tea:1:450,unicorn:" + std::to_string(uniform(1, 2)) + ":9900";
    } else {
      o.kind = order_kind::free;
      o.lines = "sample:" + std::to_string(uniform(1, 3)) + ":0";
    }
    o.owner = owner_of(shop::order_saga::category, o.id);
    orders.push_back(o);
    return orders.size() - 1;
  };
  auto cart_command = [&](const order_item& o) {
    return "cart " + o.id + " client" + o.id + " " + o.lines;
  };
  // Confirms cart `o` on its node; a second confirmation must be refused
  // as a conflict; an unknown first one (its answer lost in a kill) either
  // commits now or is refused as a conflict.
  std::vector<std::string> problems;
  auto confirm = [&](order_item& o) {
    auto answer = nodes[o.via]->ask(cart_command(o));
    auto ok = answer.find(" ok ") != std::string::npos;
    auto conflict = answer.find(" error conflict ") != std::string::npos;
    if (o.confirmed) {
      if (!conflict)
        problems.push_back("cart " + o.id + " confirmed twice: " + answer);
      o.confirmed_twice = true;
    } else if (ok || conflict) {
      o.confirmed = true;
    } else {
      problems.push_back("cart " + o.id + ": " + answer);
    }
  };
  // Requests the checkout of group `g` on its node; a second request must
  // be refused as a conflict.
  auto request = [&](group_item& g) {
    auto answer = nodes[g.via]->ask("checkout " + g.id + " " + join_with(g.accounts, ","));
    auto ok = answer.find(" ok ") != std::string::npos;
    auto conflict = answer.find(" error conflict ") != std::string::npos;
    if (g.requested) {
      if (!conflict)
        problems.push_back("group " + g.id + " requested twice: " + answer);
      g.requested_twice = true;
    } else if (ok) {
      g.requested = true;
    } else {
      problems.push_back("group " + g.id + ": " + answer);
    }
  };
  auto poll_group = [&](group_item& g) {
    if (!g.final) {
      g.status = nodes[g.owner]->ask("process groupcheckout " + g.id);
      g.final = g.status.find(" process completed ") != std::string::npos;
    }
    return g.final;
  };
  auto poll = [&](order_item& o) {
    if (!o.final)
      o.final = is_final(nodes[o.owner]->ask("saga " + o.id));
    return o.final;
  };
  // Kills go on for at least `kill_time` and until `kills_wanted` of them
  // hit work in flight, within `kill_budget` and `max_kills`.
  constexpr size_t kills_wanted = 60;
  constexpr size_t max_kills = 600;
  const auto kill_time = std::chrono::seconds{20};
  const auto kill_budget = std::chrono::seconds{75 * CAIRN_TEST_SLOWDOWN};
  size_t kills = 0;
  size_t kills_in_flight = 0;
  size_t lost_answers = 0;
  auto t_kills = clock_type::now();
  std::vector<size_t> unknown; // carts whose answer a kill lost
  while ((kills_in_flight < kills_wanted
          || clock_type::now() - t_kills < kill_time)
         && kills < max_kills && clock_type::now() - t_kills < kill_budget) {
    // New carts, and now and then one confirmed again.
    for (int k = uniform(1, 3); k > 0; --k)
      confirm(orders[new_order()]);
    if (orders.size() > 3 && chance(0.3)) {
      auto& o = orders[uniform(0, static_cast<int>(orders.size()) - 2)];
      if (o.confirmed)
        confirm(o);
    }
    for (auto i : unknown)
      confirm(orders[i]);
    unknown.clear();
    // Now and then a group checkout, or one requested again.
    if (next_group < groups.size() && chance(0.3)) {
      auto& g = groups[next_group++];
      g.via = static_cast<size_t>(uniform(0, 2));
      request(g);
    }
    if (next_group > 1 && chance(0.1)) {
      auto& g = groups[static_cast<size_t>(
        uniform(0, static_cast<int>(next_group) - 2))];
      if (g.requested)
        request(g);
    }
    // Let the sagas run for a random while, mostly short so that the kills
    // meet sagas between two steps, sometimes long enough for the links to
    // the last restarted node to come up; then kill a random node.
    std::this_thread::sleep_for(std::chrono::milliseconds{
      chance(0.8) ? uniform(0, 100) : uniform(100, 500)});
    auto victim = static_cast<size_t>(uniform(0, 2));
    // Sometimes a cart is confirmed on the victim right before it dies,
    // its answer lost.
    if (chance(0.25)) {
      auto i = new_order(victim);
      nodes[victim]->post(cart_command(orders[i]));
      if (chance(0.5))
        std::this_thread::sleep_for(std::chrono::milliseconds{uniform(0, 5)});
      unknown.push_back(i);
      ++lost_answers;
    }
    // In flight: a saga is not done yet (polled right before the kill, so
    // it was still going when the node died).
    bool in_flight = false;
    for (auto& o : orders)
      if (o.confirmed && !poll(o))
        in_flight = true;
    for (size_t i = 0; i < next_group; ++i)
      if (groups[i].requested && !poll_group(groups[i]))
        in_flight = true;
    nodes[victim]->kill();
    ++kills;
    if (in_flight)
      ++kills_in_flight;
    // Right after the kill, the node down: its journal holds no effect
    // twice, and cairn-journal verifies it.
    {
      auto when = "after kill " + std::to_string(kills);
      auto dir = nodes[victim]->journal_dir();
      check_once(read_journal(dir, problems), nodes[victim]->id(), when,
                 problems);
      auto verify = test::run({cli, "verify", dir});
      if (verify.exit_code != 0)
        problems.push_back(when + ": cairn-journal verify "
                           + nodes[victim]->id() + ": " + verify.output);
    }
    // The same journal, the same port, the same members.
    auto port = nodes[victim]->port();
    nodes[victim]->start(port);
    join_node(*nodes[victim]);
  }
  // Orders made for a lost answer may never have been sent; confirm them.
  for (auto i : unknown)
    confirm(orders[i]);
  auto kill_secs = ms_since(t_kills) / 1000.0;
  INFO(kills_in_flight << " kills in flight of " << kills << " in " << kill_secs
                       << " s");
  REQUIRE(kills_in_flight >= kills_wanted);
  for (auto& o : orders)
    if (!o.confirmed)
      problems.push_back("cart " + o.id + " was never confirmed");
  // Groups not requested during the kills are requested now.
  for (; next_group < groups.size(); ++next_group) {
    auto& g = groups[next_group];
    g.via = static_cast<size_t>(uniform(0, 2));
    request(g);
  }

  // -- every saga to its end ---------------------------------------------------
  auto t_drain = clock_type::now();
  const auto drain_budget = std::chrono::seconds{45 * CAIRN_TEST_SLOWDOWN};
  std::vector<std::string> stuck;
  for (;;) {
    stuck.clear();
    for (auto& o : orders)
      if (!poll(o))
        stuck.push_back(o.id);
    for (auto& g : groups)
      if (g.requested && !poll_group(g))
        stuck.push_back(g.id);
    if (stuck.empty() || clock_type::now() - t_drain > drain_budget)
      break;
    std::this_thread::sleep_for(50ms);
  }
  auto drain_secs = ms_since(t_drain) / 1000.0;
  for (auto& o : orders) {
    auto answer = nodes[o.owner]->ask("saga " + o.id);
    auto want = " saga " + final_stage_of(o.kind) + " ";
    if (answer.find(want) == std::string::npos)
      problems.push_back(std::string{to_string(o.kind)} + " order " + o.id
                         + " on node " + nodes[o.owner]->id() + ": " + answer);
  }
  for (auto& g : groups) {
    // The failures in the order their outcomes came: compared sorted.
    std::string got = g.status;
    const std::string failed = "the group checkout FAILED for ";
    if (auto at = got.find(failed); at != std::string::npos) {
      std::vector<std::string> ids;
      std::istringstream list{got.substr(at + failed.size())};
      for (std::string x; std::getline(list >> std::ws, x, ',');)
        ids.push_back(x);
      std::sort(ids.begin(), ids.end());
      got = failed + join_with(ids, ", ");
    }
    auto want = g.unsettled.empty() ? std::string{"the group is checked out"}
                                    : failed + join_with(g.unsettled, ", ");
    if (!g.final || got.find(want) == std::string::npos)
      problems.push_back("group checkout " + g.id + " on node "
                         + nodes[g.owner]->id() + ": " + g.status
                         + " (expected '" + want + "')");
  }
  INFO("sagas not done after " << drain_secs << " s: " << stuck.size());
  for (auto& n : nodes)
    n->stop();

  // -- every journal ------------------------------------------------------------
  std::vector<journal_streams> js;
  for (auto& n : nodes)
    js.push_back(read_journal(n->journal_dir(), problems));
  // Stream `stream` holds `want` on node `owner` and does not exist elsewhere.
  auto check_stream = [&](const std::string& stream, size_t owner,
                          const std::vector<std::string>& want) {
    for (size_t k = 0; k < js.size(); ++k) {
      auto got = types_of(js[k], stream);
      if (k == owner && got != want)
        problems.push_back(stream + " on its owner " + nodes[k]->id() + " is ["
                           + join(got) + "], expected [" + join(want) + "]");
      if (k != owner && !got.empty())
        problems.push_back(stream + " has " + std::to_string(got.size())
                           + " events on " + nodes[k]->id()
                           + ", which does not own it");
    }
  };
  journal::codec c;
  c.add<shop::products_reserved>(shop::products_reserved::event_name);
  c.add<shop::order_stage_entered>(shop::order_stage_entered::event_name);
  size_t events = 0;
  for (auto& j : js)
    for (auto& [stream, evs] : j)
      events += evs.size();
  for (auto& o : orders) {
    auto e = expect_of(o.kind);
    check_stream(stream_of<shop::order>(o.id),
                 owner_of(shop::order::category, o.id), e.order);
    check_stream(stream_of<shop::payment>(o.id),
                 owner_of(shop::payment::category, o.id), e.payment);
    check_stream(stream_of<shop::shipment>(o.id),
                 owner_of(shop::shipment::category, o.id), e.shipment);
    check_stream("cart-" + o.id, o.via, {shop::cart_confirmed::event_name});
    // The saga: started once, each stage entered at most once.
    auto saga = stream_of<shop::order_saga>(o.id);
    for (size_t k = 0; k < js.size(); ++k) {
      auto i = js[k].find(saga);
      if (k != o.owner) {
        if (i != js[k].end())
          problems.push_back(saga + " exists on " + nodes[k]->id()
                             + ", which does not own it");
        continue;
      }
      if (i == js[k].end()) {
        problems.push_back(saga + " is missing on its owner " + nodes[k]->id());
        continue;
      }
      size_t started = 0;
      std::vector<int> stages;
      for (auto& ev : i->second) {
        if (ev.record.type == shop::order_process_started::event_name)
          ++started;
        if (ev.record.type != shop::order_stage_entered::event_name)
          continue;
        auto x = c.decode<shop::order_stage_entered>(ev);
        if (!x)
          problems.push_back(journal::codec::where(ev) + ": "
                             + describe(x.error()));
        else
          stages.push_back(static_cast<int>(x->stage));
      }
      if (started != 1)
        problems.push_back(saga + " starts its process "
                           + std::to_string(started) + " times");
      auto want = stages_of(o.kind);
      if (stages != want) {
        std::string got_text;
        std::string want_text;
        for (auto x : stages)
          got_text += " " + std::to_string(x);
        for (auto x : want)
          want_text += " " + std::to_string(x);
        problems.push_back(saga + " enters the stages" + got_text
                           + ", expected" + want_text);
      }
    }
  }
  // The guest accounts and the group checkouts.
  for (auto& g : groups) {
    for (auto& id : g.accounts) {
      auto& a = accounts[id];
      std::vector<std::string> want{hotel::guest_checked_in::event_name};
      if (a.charged > 0)
        want.push_back(hotel::guest_charged::event_name);
      if (a.paid > 0)
        want.push_back(hotel::guest_paid::event_name);
      if (a.settled())
        want.push_back(hotel::guest_checked_out::event_name);
      check_stream(stream_of<hotel::guest_account>(id),
                   owner_of(hotel::guest_account::category, id), want);
    }
    check_stream("frontdesk-" + g.id, g.via,
                 {hotel::group_checkout_requested::event_name});
    for (size_t k = 0; k < js.size(); ++k) {
      auto got = types_of(js[k], stream_of<hotel::group_checkout>(g.id));
      auto started = std::count(got.begin(), got.end(),
                                hotel::group_checkout_started::event_name);
      if (k == g.owner ? started != 1 : !got.empty())
        problems.push_back(stream_of<hotel::group_checkout>(g.id) + " on "
                           + nodes[k]->id() + " starts "
                           + std::to_string(started) + " times in "
                           + std::to_string(got.size()) + " events");
    }
  }
  // The warehouse: each stock addition once, one reservation per happy
  // order, none for the others.
  auto store = stream_of<shop::warehouse>(shop::warehouse_id);
  auto store_owner = owner_of(shop::warehouse::category, shop::warehouse_id);
  std::map<std::string, size_t> reserved;
  for (size_t k = 0; k < js.size(); ++k) {
    auto i = js[k].find(store);
    if (k != store_owner) {
      if (i != js[k].end())
        problems.push_back(store + " exists on " + nodes[k]->id()
                           + ", which does not own it");
      continue;
    }
    if (i == js[k].end()) {
      problems.push_back(store + " is missing on its owner " + nodes[k]->id());
      continue;
    }
    size_t added = 0;
    for (auto& ev : i->second) {
      if (ev.record.type == shop::stock_added::event_name) {
        ++added;
        continue;
      }
      auto x = c.decode<shop::products_reserved>(ev);
      if (!x)
        problems.push_back(journal::codec::where(ev) + ": "
                           + describe(x.error()));
      else
        ++reserved[x->order];
    }
    if (added != stocked.size())
      problems.push_back(store + " adds stock " + std::to_string(added)
                         + " times, the test did "
                         + std::to_string(stocked.size()));
  }
  for (auto& o : orders) {
    auto n = reserved.count(o.id) > 0 ? reserved[o.id] : 0;
    if (n != (o.kind == order_kind::happy ? 1u : 0u))
      problems.push_back(store + " reserves " + std::to_string(n)
                         + " times for " + to_string(o.kind) + " order "
                         + o.id);
  }
  // No stream of any journal holds a command's event twice.
  for (size_t k = 0; k < js.size(); ++k)
    check_once(js[k], nodes[k]->id(), "at the end", problems);
  // The journals as cairn-journal sees them.
  for (auto& n : nodes) {
    auto verify = test::run({cli, "verify", n->journal_dir()});
    if (verify.exit_code != 0)
      problems.push_back("cairn-journal verify " + n->id() + ": "
                         + verify.output);
  }

  size_t twice = 0;
  std::map<order_kind, size_t> kinds;
  for (auto& o : orders) {
    twice += o.confirmed_twice ? 1 : 0;
    ++kinds[o.kind];
  }
  std::cout << "cluster torture: seed " << seed << ", " << kills_in_flight
            << " kills in flight of " << kills << " in " << kill_secs
            << " s; " << orders.size() << " orders ("
            << kinds[order_kind::happy] << " happy, "
            << kinds[order_kind::out_of_stock] << " out of stock, "
            << kinds[order_kind::free] << " free), " << twice
            << " confirmed twice, " << lost_answers
            << " confirmed with the answer lost; " << groups.size()
            << " group checkouts; sagas done " << drain_secs
            << " s after the kills; " << events << " events in the journals; "
            << ms_since(t_start) / 1000.0 << " s in all" << std::endl;
  INFO(head_of(problems));
  CHECK(stuck.empty());
  CHECK(problems.empty());
}
