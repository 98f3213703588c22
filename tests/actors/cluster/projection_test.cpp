#include "cairn/actors/cluster/projection.hpp"

#include <map>
#include <string>

#include <catch2/catch.hpp>

#include "caf/all.hpp"

#include "examples/invoicing/statistics.hpp"
#include "tests/actors/cluster/cluster_fixture.hpp"

using namespace cairn;
using namespace cairn::test;
using namespace invoicing;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace {

/// What the statistics must say, from the commands acknowledged.
struct tally {
  int64_t created = 0;
  int64_t sent = 0;
  int64_t paid = 0;
  int64_t invoiced = 0;
  int64_t paid_cents = 0;
  std::map<std::string, int64_t> invoiced_by_customer;
};

/// Drives invoices through the cluster's routers and counts what was
/// acknowledged.
struct driver {
  three_nodes& c;
  tally expected;
  int next = 0;

  /// Creates an invoice owned by node `owner` (through node `via`), adds
  /// an item, sends it and, with `pay`, pays it.
  std::string invoice_on(size_t owner, size_t via, bool pay) {
    std::string id;
    do
      id = "i" + std::to_string(next++);
    while (c.owner(id) != owner);
    auto customer = "customer " + std::to_string(next % 3);
    auto cents = 100 + next;
    auto created = ask(c[via], id, create_invoice{customer});
    INFO("invoice " << id << " of node " << owner << " through node " << via
                    << ": "
                    << (created ? "created" : describe(created.error())));
    REQUIRE(created);
    ++expected.created;
    REQUIRE(ask(c[via], id, add_item{item{"pen", cents}}));
    REQUIRE(ask(c[via], id, send_invoice{"street 1"}));
    ++expected.sent;
    expected.invoiced += cents;
    expected.invoiced_by_customer[customer] += cents;
    if (pay) {
      REQUIRE(ask(c[via], id, pay_invoice{cents}));
      ++expected.paid;
      expected.paid_cents += cents;
    }
    return id;
  }
};

uint64_t last_position(test_node& n) {
  auto last = n.rt->journal()->last_position();
  REQUIRE(last);
  return *last;
}

void require_caught_up(test_node& at, const caf::actor& proj, test_node& of) {
  auto pos = last_position(of);
  auto r
    = cluster::await_caught_up(*at.sys, proj, of.settings.node_id, pos, 10s);
  if (!r)
    FAIL("not caught up to " << pos << " of node " << of.settings.node_id
                             << ": " << describe(r.error()));
  CHECK(*r >= pos);
}

void check_model(test_node& n, const tally& expected) {
  projection_model model{n.rt->journal(), invoice_statistics::name};
  auto get = [&](const std::string& table, const std::string& key) {
    auto x = model.get_int(table, key);
    REQUIRE(x);
    return *x;
  };
  CHECK(get("counts", "created") == expected.created);
  CHECK(get("counts", "sent") == expected.sent);
  CHECK(get("counts", "paid") == expected.paid);
  CHECK(get("counts", "invoiced") == expected.invoiced);
  CHECK(get("counts", "paid_cents") == expected.paid_cents);
  for (auto& [customer, cents] : expected.invoiced_by_customer) {
    INFO(customer);
    CHECK(get("invoiced_by_customer", customer) == cents);
  }
}

} // namespace

TEST_CASE("the invoice statistics on one node count the invoices of every "
          "node of the cluster once, with a checkpoint per node") {
  three_nodes c;
  driver d{c, {}};
  for (size_t owner = 0; owner < 3; ++owner)
    for (size_t via = 0; via < 3; ++via)
      d.invoice_on(owner, via, via != 1);
  auto proj = cluster::start_projection<invoice_statistics>(*c[0].rt);
  REQUIRE(proj);
  // Idempotent, also through the local start.
  CHECK(*cluster::start_projection<invoice_statistics>(*c[0].rt) == *proj);
  CHECK(*start_projection<invoice_statistics>(*c[0].rt) == *proj);
  for (size_t k = 0; k < 3; ++k)
    require_caught_up(c[0], *proj, c[k]);
  // Live: more invoices after the catch-up.
  for (size_t owner = 0; owner < 3; ++owner)
    d.invoice_on(owner, (owner + 1) % 3, true);
  for (size_t k = 0; k < 3; ++k)
    require_caught_up(c[0], *proj, c[k]);
  check_model(c[0], d.expected);
  CHECK(d.expected.created == 12);
  // One checkpoint per node, in node a's journal; none on b or c.
  auto& j = *c[0].rt->journal();
  CHECK(*j.checkpoint(projection_checkpoint(invoice_statistics::name))
        == last_position(c[0]));
  for (size_t k = 1; k < 3; ++k) {
    auto name = cluster::projection_checkpoint(invoice_statistics::name,
                                               c[k].settings.node_id);
    CHECK(name
          == "cairn.projection.invoice-statistics@" + c[k].settings.node_id);
    CHECK(*j.checkpoint(name) == last_position(c[k]));
    projection_model there{c[k].rt->journal(), invoice_statistics::name};
    CHECK(*there.get_int("counts", "created") == 0);
  }
  // Positions of events of other categories: caught up with them too.
  c[1].commit("order-1", 3);
  c[2].commit("order-2", 2);
  for (size_t k = 0; k < 3; ++k)
    require_caught_up(c[0], *proj, c[k]);
  check_model(c[0], d.expected);
  // A node that is not a member is named.
  auto unknown = cluster::await_caught_up(*c[0].sys, *proj, "z", 1, 10s);
  REQUIRE(!unknown);
  CHECK(code_of(unknown.error()) == errc::invalid_argument);
  CHECK_THAT(context_of(unknown.error()), Contains("node 'z'"));
}

TEST_CASE("a cluster projection goes on while a node is down and counts "
          "exactly once after that node and its own node restart") {
  three_nodes c;
  driver d{c, {}};
  for (size_t owner = 0; owner < 3; ++owner)
    d.invoice_on(owner, owner, true);
  auto proj = cluster::start_projection<invoice_statistics>(*c[0].rt);
  REQUIRE(proj);
  for (size_t k = 0; k < 3; ++k)
    require_caught_up(c[0], *proj, c[k]);
  // Node c goes down; b's invoices are still counted.
  c[2].stop();
  REQUIRE(eventually([&] { return c[0].link_state("c") == "down"; }));
  d.invoice_on(1, 0, true);
  d.invoice_on(0, 1, false);
  require_caught_up(c[0], *proj, c[1]);
  require_caught_up(c[0], *proj, c[0]);
  // c is back: its new invoices are counted, none twice.
  c[2].start();
  for (size_t k = 0; k < 3; ++k)
    REQUIRE(eventually([&] { return all_up(*c[k].rt); }));
  d.invoice_on(2, 1, true);
  for (size_t k = 0; k < 3; ++k)
    require_caught_up(c[0], *proj, c[k]);
  check_model(c[0], d.expected);
  // The projection's own node restarts while the others go on.
  c[0].stop();
  d.invoice_on(1, 2, true);
  d.invoice_on(2, 1, false);
  c[0].start();
  for (size_t k = 0; k < 3; ++k)
    REQUIRE(eventually([&] { return all_up(*c[k].rt); }));
  auto again = cluster::start_projection<invoice_statistics>(*c[0].rt);
  REQUIRE(again);
  d.invoice_on(0, 2, true);
  for (size_t k = 0; k < 3; ++k)
    require_caught_up(c[0], *again, c[k]);
  check_model(c[0], d.expected);
  CHECK(d.expected.created == 9);
}

TEST_CASE("a cluster projection on a runtime that is not clustered is "
          "refused, naming the local alternative") {
  temp_dir dir;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  runtime_options opts;
  opts.journal_path = dir.path();
  auto rt = runtime::start(sys, opts);
  REQUIRE(rt);
  auto proj = cluster::start_projection<invoice_statistics>(**rt);
  REQUIRE(!proj);
  CHECK(code_of(proj.error()) == errc::invalid_argument);
  CHECK_THAT(context_of(proj.error()),
             Contains("not clustered") && Contains("cairn::start_projection"));
  (*rt)->stop();
}
