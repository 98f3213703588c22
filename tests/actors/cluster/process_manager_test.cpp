// Process managers on a cluster: an instance lives on its owner node and
// takes its inputs from the logs of every node, each exactly once.

#include "cairn/actors/process_instance.hpp"

#include <algorithm>
#include <set>

#include "tests/actors/cluster/cluster_fixture.hpp"

using namespace cairn;
using namespace cairn::test;

namespace {

/// An input: a ping of tally `tally`, numbered `n`.
struct pinged {
  static constexpr const char* event_name = "pinged";
  std::string tally;
  int n = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(tally, n);
  }
};

/// What a tally records for each ping it took.
struct counted {
  static constexpr const char* event_name = "counted";
  int n = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(n);
  }
};

/// Counts the pings of one id, whichever node's log they are in.
struct tally {
  static constexpr const char* category = "tally";
  struct state {
    int count = 0;
    template <class Archive>
    void serialize(Archive& ar) {
      ar(count);
    }
  };
  using events = event_list<counted>;
  using inputs = event_list<pinged>;
  static std::string correlate(const pinged& e) {
    return e.tally;
  }
  static state apply(state s, const counted&) {
    ++s.count;
    return s;
  }
  static step<tally> react(const state&, const pinged& e) {
    return step<tally>{}.emit(counted{e.n});
  }
};

/// Commits `pinged{id, n}` for every `n` of `ns` to node `node`'s journal,
/// one write group each, on stream `pinger-<node id>`.
void ping(test_node& node, const std::string& id, const std::vector<int>& ns) {
  journal::codec c;
  c.add<pinged>(pinged::event_name);
  caf::scoped_actor self{*node.sys};
  for (auto n : ns) {
    journal::write_group g;
    g.appends.push_back({"pinger-" + node.settings.node_id,
                         journal::expected_version::any(),
                         {c.encode(pinged{id, n})}});
    self->request(node.rt->coordinator(), 10s, commit_atom::value, g)
      .receive([](journal::group_receipt&) {},
               [](caf::error& err) { FAIL(describe(err)); });
  }
}

/// The numbers a tally counted, in its node's journal, in order.
std::vector<int> counts(test_node& node, const std::string& id) {
  journal::codec c;
  c.add<counted>(counted::event_name);
  std::vector<int> result;
  auto evs = node.rt->journal()->read_stream(std::string{"tally-"} + id);
  REQUIRE(evs);
  for (auto& ev : *evs)
    if (ev.record.type == counted::event_name)
      result.push_back(c.decode<counted>(ev)->n);
  return result;
}

/// A tally id owned by node `owner`, the `k`-th such id.
std::string owned_by(three_nodes& nodes, const std::string& owner, int k = 0) {
  size_t i = 0;
  while (!nodes.nodes[i]->rt)
    ++i;
  auto m = nodes[i].rt->shared()->cluster->members();
  for (int i = 0;; ++i) {
    auto id = "t" + std::to_string(i);
    if (m->owner(tally::category, id).id == owner && k-- == 0)
      return id;
  }
}

std::vector<int> range(int from, int to) {
  std::vector<int> result;
  for (int i = from; i < to; ++i)
    result.push_back(i);
  return result;
}

std::vector<int> sorted(std::vector<int> xs) {
  std::sort(xs.begin(), xs.end());
  return xs;
}

void start_tallies(test_node& n) {
  start_process_manager<tally>(*n.rt);
}

} // namespace

TEST_CASE("on a cluster, a process instance lives on its owner node and takes "
          "the inputs of every node's log once") {
  three_nodes nodes;
  for (auto& n : nodes.nodes)
    start_tallies(*n);
  std::vector<std::string> ids{owned_by(nodes, "a"), owned_by(nodes, "b"),
                               owned_by(nodes, "c")};
  // Every node's log holds five pings of every tally.
  for (size_t k = 0; k < 3; ++k)
    for (auto& id : ids)
      ping(nodes[k], id, range(int(k) * 100, int(k) * 100 + 5));
  std::vector<int> all;
  for (int k = 0; k < 3; ++k)
    for (auto n : range(k * 100, k * 100 + 5))
      all.push_back(n);
  for (size_t owner = 0; owner < 3; ++owner) {
    auto& id = ids[owner];
    INFO("tally " << id << " on node " << nodes[owner].settings.node_id);
    REQUIRE(eventually([&] { return counts(nodes[owner], id).size() >= 15; }));
    CHECK(sorted(counts(nodes[owner], id)) == all);
    // The inputs of each node's log in that log's order.
    auto seen = counts(nodes[owner], id);
    for (int k = 0; k < 3; ++k) {
      std::vector<int> of_k;
      for (auto n : seen)
        if (n / 100 == k)
          of_k.push_back(n);
      CHECK(of_k == range(k * 100, k * 100 + 5));
    }
    // No other node has a stream of it.
    for (size_t other = 0; other < 3; ++other)
      if (other != owner)
        CHECK(*nodes[other].rt->journal()->stream_version("tally-" + id) == 0);
  }
  // Node a keeps one router checkpoint per log.
  REQUIRE(eventually([&] {
    return nodes[0].checkpoint(router_checkpoint_of("tally", "b")) > 0
           && nodes[0].checkpoint(router_checkpoint_of("tally", "c")) > 0;
  }));
}

TEST_CASE("on a cluster, a node that is down delays its inputs to process "
          "instances of other nodes and loses none, and inputs read twice "
          "take effect once") {
  three_nodes nodes;
  for (auto& n : nodes.nodes)
    start_tallies(*n);
  auto id = owned_by(nodes, "a");
  ping(nodes[1], id, range(100, 105));
  REQUIRE(eventually([&] { return counts(nodes[0], id).size() == 5; }));
  // While b is down, c's inputs flow on.
  nodes[1].stop();
  ping(nodes[2], id, range(200, 205));
  REQUIRE(eventually([&] { return counts(nodes[0], id).size() == 10; }));
  // b's later inputs arrive once it is back.
  nodes[1].start();
  start_tallies(nodes[1]);
  ping(nodes[1], id, range(105, 110));
  REQUIRE(eventually([&] { return counts(nodes[0], id).size() == 15; }));
  // a is down: b's and c's inputs wait in their logs.
  nodes[0].stop();
  ping(nodes[1], id, range(110, 112));
  ping(nodes[2], id, range(205, 207));
  nodes[0].start();
  start_tallies(nodes[0]);
  REQUIRE(eventually([&] { return counts(nodes[0], id).size() == 19; }));
  // Forget a's checkpoints of b's and c's logs: its routers read them from
  // their start again, and the instance takes none of them twice.
  nodes[0].stop();
  {
    auto j = journal::journal::open(nodes[0].dir.path());
    REQUIRE(j);
    journal::write_group g;
    g.checkpoints.emplace_back(router_checkpoint_of("tally", "b"), 0);
    g.checkpoints.emplace_back(router_checkpoint_of("tally", "c"), 0);
    REQUIRE((*j)->commit(g));
  }
  nodes[0].start();
  start_tallies(nodes[0]);
  ping(nodes[2], id, {207});
  REQUIRE(eventually([&] { return counts(nodes[0], id).size() >= 20; }));
  // Routers read b's and c's logs to their ends once more.
  REQUIRE(eventually([&] {
    return nodes[0].checkpoint(router_checkpoint_of("tally", "b"))
             >= nodes[1].committed().back()
           && nodes[0].checkpoint(router_checkpoint_of("tally", "c"))
                >= nodes[2].committed().back();
  }));
  std::vector<int> all = range(100, 112);
  for (auto n : range(200, 208))
    all.push_back(n);
  CHECK(sorted(counts(nodes[0], id)) == all);
}
