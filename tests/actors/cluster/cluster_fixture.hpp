#pragma once

// Nodes of a cluster in one test process, each with its own actor system
// and journal, that can be stopped and started again on their journal and
// port.

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "caf/all.hpp"
#include "caf/io/middleman.hpp"

#include "cairn/actors/atoms.hpp"
#include "cairn/actors/cluster/announce.hpp"
#include "cairn/actors/cluster/configure.hpp"
#include "cairn/actors/cluster/node.hpp"
#include "cairn/actors/runtime.hpp"
#include "cairn/journal/errc.hpp"
#include "examples/invoicing/invoice.hpp"
#include "tests/support/temp_dir.hpp"

namespace cairn::test {

using namespace std::chrono_literals;

inline cluster::settings node_settings(std::string id) {
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
    announce<invoicing::invoice>(*this);
    add_error_category(invoicing::invoice_error_category,
                       invoicing::render_invoice_error);
    add_error_category(cairn_error_category, render_error);
    set("scheduler.max-threads", 2);
  }
};

/// One node that can be stopped and started again on its journal and port:
/// its actor system, journal and runtime.
struct test_node {
  explicit test_node(std::string id) : settings(node_settings(std::move(id))) {
    start();
  }

  ~test_node() {
    stop();
  }

  void start() {
    cfg = std::make_unique<node_config>(settings);
    sys = std::make_unique<caf::actor_system>(*cfg);
    runtime_options opts;
    opts.journal_path = dir.path();
    opts.journal.sync = journal::sync_mode::none;
    opts.cluster = settings;
    auto r = runtime::start(*sys, opts);
    if (!r)
      FAIL("runtime::start: " << describe(r.error()));
    rt = std::move(*r);
  }

  void stop() {
    if (rt)
      rt->stop();
    rt.reset();
    sys.reset();
    cfg.reset();
  }

  /// Commits `n` events to `stream`, one write group each; returns the
  /// position of the last.
  uint64_t commit(const std::string& stream, size_t n = 1) {
    caf::scoped_actor self{*sys};
    uint64_t pos = 0;
    for (size_t i = 0; i < n; ++i) {
      journal::write_group g;
      g.appends.push_back({stream, journal::expected_version::any(), {}});
      g.appends.back().events.push_back({});
      g.appends.back().events.back().type = "e";
      self->request(rt->coordinator(), 10s, commit_atom::value, g)
        .receive(
          [&](journal::group_receipt& r) { pos = r.appends[0].first_position; },
          [](caf::error& err) { FAIL(describe(err)); });
    }
    return pos;
  }

  /// The positions of the committed events of `category` ("" for all).
  std::vector<uint64_t> committed(const std::string& category = "") {
    std::vector<uint64_t> result;
    uint64_t from = 1;
    for (;;) {
      auto slice = rt->journal()->read_all(from, 1024, category);
      REQUIRE(slice);
      for (auto& ev : slice->events)
        result.push_back(ev.position);
      if (slice->next_position == from)
        return result;
      from = slice->next_position;
    }
  }

  uint64_t checkpoint(const std::string& name) {
    auto cp = rt->journal()->checkpoint(name);
    REQUIRE(cp);
    return cp->value_or(0);
  }

  std::string link_state(const std::string& peer) {
    return rt->peers()[peer];
  }

  cluster::settings settings;
  test::temp_dir dir;
  std::unique_ptr<node_config> cfg;
  std::unique_ptr<caf::actor_system> sys;
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

inline bool all_up(runtime& rt) {
  auto peers = rt.peers();
  if (peers.empty())
    return false;
  for (auto& [id, st] : peers)
    if (st != "up")
      return false;
  return true;
}

/// Three nodes a, b and c, started in two phases: each listens on a port
/// the OS picks, then all join with the full list of members. A restarted
/// node joins at once with the same list and port.
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
      n->settings.port = n->rt->cluster_port();
      n->settings.nodes = members;
    }
    for (auto& n : nodes)
      REQUIRE(eventually([&] { return all_up(*n->rt); }));
  }

  test_node& operator[](size_t i) {
    return *nodes[i];
  }

  /// Index of the node owning invoice `id`.
  size_t owner(const std::string& id) {
    // From a node that runs: placement is the same on every node.
    size_t k = 0;
    while (!nodes[k]->rt)
      ++k;
    auto m = nodes[k]->rt->shared()->cluster->members();
    auto& owner = m->owner(invoicing::invoice::category, id).id;
    return static_cast<size_t>(owner[0] - 'a');
  }

  std::vector<std::unique_ptr<test_node>> nodes;
  std::vector<std::string> members;
};

/// Sends `cmd` to invoice `id` through node `n`'s router.
template <class Command>
caf::expected<invoicing::invoice_state> ask(test_node& n, const std::string& id,
                                            Command cmd) {
  caf::scoped_actor self{*n.sys};
  caf::expected<invoicing::invoice_state> result{caf::error{}};
  self
    ->request(n.rt->registry<invoicing::invoice>(), 10s, entity_id{id},
              std::move(cmd))
    .receive([&](invoicing::invoice_state& st) { result = std::move(st); },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

} // namespace cairn::test
