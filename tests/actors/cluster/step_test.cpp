// Cross-node process steps: a manager's command to an entity another node
// owns goes through the outbox, by ownership, without a `route` call.

#include <chrono>
#include <memory>
#include <thread>

#include <catch2/catch.hpp>

#include "caf/all.hpp"

#include "cairn/actors/cluster/announce.hpp"
#include "cairn/actors/cluster/node.hpp"
#include "cairn/actors/outbox.hpp"
#include "cairn/actors/process_instance.hpp"
#include "cairn/journal/codec.hpp"
#include "tests/actors/account.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cairn;
using namespace cairn::test;
using namespace std::chrono_literals;

namespace {

struct bill_requested {
  static constexpr const char* event_name = "bill_requested";
  std::string bill;
  std::string account;
  int64_t cents = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(bill, account, cents);
  }
};

struct bill_settled {
  static constexpr const char* event_name = "bill_settled";
  bool accepted = false;
  std::string why;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(accepted, why);
  }
};

/// Bills an account, wherever it lives.
struct biller {
  static constexpr const char* category = "biller";
  struct state {
    template <class Archive>
    void serialize(Archive&) {
      // nop
    }
  };
  using events = event_list<bill_settled>;
  using inputs = event_list<bill_requested>;
  static std::string correlate(const bill_requested& e) {
    return e.bill;
  }
  static state apply(state s, const bill_settled&) {
    return s;
  }
  static step<biller> react(const state&, const bill_requested& e) {
    return step<biller>{}.send<account>(e.account, charge{e.cents});
  }
  static step<biller> react(const state&, const command_result& r) {
    return step<biller>{}.emit(bill_settled{r.accepted, r.why}).complete();
  }
};

cluster::settings node_settings(std::string id) {
  cluster::settings s;
  s.name = "steps";
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
    announce<account>(*this);
    add_error_category(cairn_error_category, render_error);
  }
};

struct test_node {
  explicit test_node(std::string id)
    : settings(node_settings(std::move(id))), cfg(settings), sys(cfg) {
    runtime_options opts;
    opts.journal_path = dir.path();
    opts.journal.sync = journal::sync_mode::none;
    opts.cluster = settings;
    auto r = runtime::start(sys, opts);
    REQUIRE(r);
    rt = std::move(*r);
    start_process_manager<biller>(*rt);
  }

  ~test_node() {
    rt->stop();
  }

  cluster::settings settings;
  temp_dir dir;
  node_config cfg;
  caf::actor_system sys;
  std::unique_ptr<runtime> rt;
};

template <class Pred>
bool eventually(Pred pred) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

std::vector<bill_settled> settlements(runtime& rt, const std::string& bill) {
  journal::codec c;
  c.add<bill_settled>(bill_settled::event_name);
  std::vector<bill_settled> result;
  auto evs = rt.journal()->read_stream("biller-" + bill);
  REQUIRE(evs);
  for (auto& ev : *evs)
    if (ev.record.type == bill_settled::event_name)
      result.push_back(*c.decode<bill_settled>(ev));
  return result;
}

} // namespace

TEST_CASE("a process step commands an entity of another node through the "
          "outbox and one of its own node in its transaction") {
  std::vector<std::unique_ptr<test_node>> nodes;
  for (auto id : {"a", "b", "c"})
    nodes.push_back(std::make_unique<test_node>(id));
  std::vector<std::string> members;
  for (auto& n : nodes)
    members.push_back(n->settings.node_id
                      + "@127.0.0.1:" + std::to_string(n->rt->cluster_port()));
  for (auto& n : nodes)
    REQUIRE(!n->rt->join(members));
  for (auto& n : nodes)
    REQUIRE(eventually([&] {
      auto peers = n->rt->peers();
      return peers.size() == 2 && peers.begin()->second == "up"
             && peers.rbegin()->second == "up";
    }));
  auto& a = *nodes[0];
  auto m = a.rt->shared()->cluster->members();
  std::string remote; // owned by b
  std::string local;  // owned by a
  for (int i = 0; remote.empty() || local.empty(); ++i) {
    auto id = "acc" + std::to_string(i);
    auto owner = m->owner(account::category, id).id;
    if (owner == "b" && remote.empty())
      remote = id;
    if (owner == "a" && local.empty())
      local = id;
  }
  caf::scoped_actor self{a.sys};
  for (auto& id : {remote, local})
    self
      ->request(a.rt->registry<account>(), 10s, entity_id{id}, open_account{id})
      .receive([] {}, [](caf::error& err) { FAIL(describe(err)); });
  // Two bills whose instances node a owns; their inputs land in node a's
  // journal.
  std::vector<std::string> bills;
  for (int i = 0; bills.size() < 2; ++i) {
    auto id = "bill" + std::to_string(i);
    if (m->owns(biller::category, id))
      bills.push_back(id);
  }
  journal::codec c;
  c.add<bill_requested>(bill_requested::event_name);
  journal::write_group g;
  for (auto& [bill, acc] :
       {std::pair{bills[0], remote}, std::pair{bills[1], local}}) {
    journal::append app;
    app.stream = std::string{"desk-"} + bill;
    app.events.push_back(c.encode(bill_requested{bill, acc, 25}));
    g.appends.push_back(app);
  }
  self->request(a.rt->coordinator(), 10s, commit_atom::value, g)
    .receive([](journal::group_receipt&) {},
             [](caf::error& err) { FAIL(describe(err)); });
  REQUIRE(eventually([&] {
    return !settlements(*a.rt, bills[0]).empty()
           && !settlements(*a.rt, bills[1]).empty();
  }));
  CHECK(settlements(*a.rt, bills[0])[0].accepted);
  CHECK(settlements(*a.rt, bills[1])[0].accepted);
  for (auto& id : {remote, local})
    self->request(a.rt->registry<account>(), 10s, entity_id{id}, get_balance{})
      .receive([](int64_t x) { CHECK(x == 25); },
               [](caf::error& err) { FAIL(describe(err)); });
  // The remote charge came through the outbox: node b stored its key (node
  // b ran no step of its own).
  auto b_stats = nodes[1]->rt->journal()->stats();
  REQUIRE(b_stats);
  CHECK(b_stats->dedup_keys == 1);
  auto rows = a.rt->journal()->table_scan(outbox_table);
  REQUIRE(rows);
  CHECK(rows->empty());
  // Each account lives in its owner's journal only.
  CHECK(*nodes[1]->rt->journal()->stream_version("account-" + remote) == 2);
  CHECK(*a.rt->journal()->stream_version("account-" + remote) == 0);
  CHECK(*a.rt->journal()->stream_version("account-" + local) == 2);
}
