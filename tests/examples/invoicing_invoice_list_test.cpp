#include "examples/invoicing/invoice_list.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/scoped_actor.hpp"

#include "cairn/actors/runtime.hpp"
#include "cairn/actors/subscription.hpp"
#include "tests/support/temp_dir.hpp"

using namespace invoicing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

/// A runtime on `dir`, the invoice list running on it.
struct node {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  std::unique_ptr<cairn::runtime> rt;
  caf::actor list;

  explicit node(const std::string& dir) {
    cairn::runtime_options opts;
    opts.journal_path = dir;
    opts.journal.sync = cairn::journal::sync_mode::none;
    auto r = cairn::runtime::start(sys, opts);
    REQUIRE(r);
    rt = std::move(*r);
    auto l = cairn::start_projection<invoice_list>(*rt);
    REQUIRE(l);
    list = *l;
  }

  ~node() {
    rt->stop();
  }

  template <class Command>
  void run(const std::string& id, Command cmd) {
    caf::scoped_actor self{sys};
    self
      ->request(rt->registry<invoice>(), 10s, cairn::entity_id{id},
                std::move(cmd))
      .receive([](invoice_state&) {},
               [](caf::error& err) { FAIL(cairn::describe(err)); });
  }

  /// The rows of the list in creation order, once it has seen everything.
  json rows() {
    auto last = rt->journal()->last_position();
    REQUIRE(last);
    REQUIRE(cairn::await_caught_up(sys, list, *last, 10s));
    cairn::projection_model model{rt->journal(), invoice_list::name};
    auto order = model.scan("order");
    REQUIRE(order);
    json result = json::array();
    for (auto& kv : *order) {
      auto row = model.get("invoices", kv.second);
      REQUIRE(row);
      REQUIRE(*row);
      result.push_back(json::parse(**row));
    }
    return result;
  }
};

} // namespace

TEST_CASE("the invoice list follows each invoice's state and total in "
          "creation order") {
  cairn::test::temp_dir dir;
  node n{dir.path()};
  n.run("b", create_invoice{"Bea"});
  n.run("a", create_invoice{"Al"});
  n.run("b", add_item{{"one", 100}});
  n.run("b", add_item{{"two", 250}});
  n.run("b", send_invoice{"1 Main Street"});
  n.run("b", pay_invoice{350});
  n.run("a", add_item{{"three", 5}});
  auto rows = n.rows();
  REQUIRE(rows.size() == 2);
  CHECK(rows[0]["id"] == "b");
  CHECK(rows[0]["customer"] == "Bea");
  CHECK(rows[0]["state"] == "paid");
  CHECK(rows[0]["items"] == 2);
  CHECK(rows[0]["total"] == 350);
  CHECK(rows[0]["address"] == "1 Main Street");
  CHECK(rows[0]["paid"] == 350);
  CHECK(rows[1]["id"] == "a");
  CHECK(rows[1]["state"] == "draft");
  CHECK(rows[1]["total"] == 5);
}

TEST_CASE("the invoice list resumes after a restart without counting an "
          "event twice") {
  cairn::test::temp_dir dir;
  {
    node n{dir.path()};
    n.run("1", create_invoice{"ACME"});
    n.run("1", add_item{{"one", 100}});
    CHECK(n.rows()[0]["total"] == 100);
  }
  node n{dir.path()};
  n.run("1", add_item{{"two", 200}});
  auto rows = n.rows();
  REQUIRE(rows.size() == 1);
  CHECK(rows[0]["items"] == 2);
  CHECK(rows[0]["total"] == 300);
}

TEST_CASE("an invoice's id is its stream name without the category") {
  CHECK(invoice_id_of("invoice-42") == "42");
  CHECK(invoice_id_of("invoice-a-b") == "a-b");
  CHECK(state_name(invoice_status::sent) == "sent");
  invoice_state st;
  st.status = invoice_status::draft;
  st.customer = "ACME";
  st.items.push_back({"x", 5});
  st.total = 5;
  auto j = to_json("7", st);
  CHECK(j["id"] == "7");
  CHECK(j["state"] == "draft");
  CHECK(j["items"][0]["cents"] == 5);
}
