// The saga examples: their process managers as pure functions, and the
// cairn-sagas program run twice on one journal.
#include "examples/sagas/order_saga.hpp"

#include <catch2/catch.hpp>

#include <sstream>
#include <string>
#include <vector>

// step<P>::send refers to detail::resolve_registry<A>, which only
// process_instance.hpp defines.
#include "cairn/actors/process_instance.hpp"
#include "examples/sagas/catering.hpp"
#include "examples/sagas/group_checkout.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cairn::test;
using Catch::Matchers::Contains;

namespace {

/// Applies the events of `st` to `s`, as the runtime does after a commit.
template <class P>
typename P::state fold(typename P::state s, cairn::step<P>& st) {
  for (auto& ev : st.events())
    s = std::visit([&](auto& e) { return P::apply(std::move(s), e); }, ev);
  return s;
}

cairn::command_result accepted(std::string category, std::string entity) {
  return {std::move(category), std::move(entity), true, {}};
}

cairn::command_result rejected(std::string category, std::string entity,
                               std::string why) {
  return {std::move(category), std::move(entity), false, "rejected: " + why};
}

/// The lines of `text` that contain `marker`.
std::vector<std::string> lines_with(const std::string& text,
                                    const std::string& marker) {
  std::vector<std::string> result;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);)
    if (line.find(marker) != std::string::npos)
      result.push_back(line);
  return result;
}

} // namespace

TEST_CASE("the order saga walks the happy path one command per step") {
  using namespace shop;
  order_saga::state s;
  auto st = order_saga::react(s, cart_confirmed{"7", "ann", {{"tea", 2, 450}}});
  REQUIRE(st.commands().size() == 1);
  CHECK(st.commands()[0].category == std::string{"order"});
  s = fold(s, st);
  std::vector<std::string> targets;
  while (!st.completes()) {
    REQUIRE(st.commands().size() == 1);
    auto& cmd = st.commands()[0];
    st = order_saga::react(s, accepted(cmd.category, cmd.entity));
    s = fold(s, st);
    for (auto& c : st.commands())
      targets.push_back(c.category + "-" + c.entity);
  }
  CHECK(targets
        == std::vector<std::string>{"payment-7", "payment-7", "order-7",
                                    "warehouse-central", "shipment-7",
                                    "order-7"});
  CHECK(s.stage == order_stage::completed);
}

TEST_CASE("a refused reservation cancels the order, then discards the "
          "payment") {
  using namespace shop;
  order_saga::state s;
  s.order = "7";
  s.lines = {{"kettle", 1, 3900}};
  s.stage = order_stage::reserving;
  s.payment_requested = true;
  auto st = order_saga::react(
    s, rejected("warehouse", "central", "out of stock: kettle"));
  s = fold(s, st);
  CHECK(s.stage == order_stage::cancelling);
  CHECK(s.reason == "out of stock: kettle");
  REQUIRE(st.commands().size() == 1);
  CHECK(st.commands()[0].category == std::string{"order"});
  st = order_saga::react(s, accepted("order", "7"));
  s = fold(s, st);
  REQUIRE(st.commands().size() == 1);
  CHECK(st.commands()[0].category == std::string{"payment"});
  CHECK(s.stage == order_stage::discarding_payment);
  st = order_saga::react(s, accepted("payment", "7"));
  s = fold(s, st);
  CHECK(st.completes());
  CHECK(s.stage == order_stage::cancelled);
}

TEST_CASE("a group checkout finishes with the accounts that refused") {
  using namespace hotel;
  group_checkout::state s;
  auto st = group_checkout::react(
    s, group_checkout_requested{"g", {"101", "102", "101"}});
  CHECK(st.commands().size() == 2); // each account once
  s = fold(s, st);
  st = group_checkout::react(
    s, rejected("guestaccount", "102", "unsettled balance of 40.00"));
  s = fold(s, st);
  CHECK(!st.completes());
  st = group_checkout::react(s, accepted("guestaccount", "101"));
  CHECK(st.completes());
  auto& last = st.events().back();
  REQUIRE(std::holds_alternative<group_checkout_failed>(last));
  CHECK(std::get<group_checkout_failed>(last).failures
        == std::vector<std::string>{"102"});
}

TEST_CASE("the catering match confirms in either order, once") {
  using namespace catering;
  for (bool customer_first : {true, false}) {
    catering_match::state s;
    auto st = catering_match::react(s, menu_offered{"o", "vegan", "c", 500});
    CHECK(st.deadlines().size() == 1);
    s = fold(s, st);
    auto customer = customer_confirmed_menu{"o", "vegan"};
    auto caterer = caterer_confirmed_menu{"o", "vegan"};
    st = customer_first ? catering_match::react(s, customer)
                        : catering_match::react(s, caterer);
    CHECK(st.commands().empty());
    s = fold(s, st);
    st = customer_first ? catering_match::react(s, caterer)
                        : catering_match::react(s, customer);
    REQUIRE(st.commands().size() == 1);
    CHECK(st.deadlines().size() == 1); // the cancellation
    CHECK(st.deadlines()[0].cancel);
    s = fold(s, st);
    CHECK(s.stage == match_stage::confirming);
  }
}

TEST_CASE("the catering match expires the order when its deadline comes") {
  using namespace catering;
  catering_match::state s;
  auto st = catering_match::react(s, menu_offered{"o", "vegan", "c", 500});
  s = fold(s, st);
  st = catering_match::react(s, customer_confirmed_menu{"o", "vegan"});
  s = fold(s, st);
  st = catering_match::react(s, cairn::deadline{answer_deadline, "o"});
  REQUIRE(st.commands().size() == 1);
  CHECK(st.commands()[0].entity == "o");
  s = fold(s, st);
  CHECK(s.stage == match_stage::expiring);
  st = catering_match::react(s, accepted("cateringorder", "o"));
  CHECK(st.completes());
}

TEST_CASE("cairn-sagas runs every path, and a second run re-runs nothing") {
  temp_dir dir;
  std::vector<std::string> argv{bin_path("cairn-sagas"),
                                "--journal.path=" + dir.sub("journal"),
                                "--journal.sync=none", "--deadline=1s"};
  auto first = run(argv);
  INFO(first.output);
  REQUIRE(first.exit_code == 0);
  // The order saga: a happy path and a compensated one.
  CHECK_THAT(first.output, Contains("ordersaga-r1-ann:\n  step 1 on input: "
                                    "cart r1-ann confirmed by ann"));
  CHECK_THAT(first.output, Contains("-> done: the order is completed"));
  CHECK_THAT(first.output, Contains("warehouse-central REJECTED: out of "
                                    "stock: kettle (0 left, 1 wanted)"));
  CHECK_THAT(first.output, Contains("-> COMPENSATE (out of stock: kettle (0 "
                                    "left, 1 wanted)): cancel the order"));
  CHECK_THAT(first.output, Contains("-> COMPENSATE: discard the payment"));
  CHECK_THAT(first.output, Contains("-> done: the order is cancelled"));
  // The group checkout: one failure listed, one group complete.
  CHECK_THAT(first.output, Contains("guestaccount-r1-102 REJECTED: unsettled "
                                    "balance of 40.00"));
  CHECK_THAT(first.output, Contains("-> done: the group checkout FAILED for "
                                    "r1-102"));
  CHECK_THAT(first.output, Contains("-> done: the group is checked out"));
  // The catering match: both orders of confirmations, and a deadline.
  CHECK_THAT(first.output, Contains("order r1-wedding: customer, then caterer "
                                    "confirm"));
  CHECK_THAT(first.output, Contains("order r1-gala: caterer, then customer "
                                    "confirm"));
  CHECK(lines_with(first.output, "-> done: the order is confirmed").size()
        == 2);
  CHECK_THAT(first.output, Contains("on DEADLINE 'answers' came due"));
  CHECK_THAT(first.output, Contains("-> done: the order is expired"));
  CHECK_THAT(first.output, Contains("== the processes of earlier runs: 0 =="));
  auto summaries = lines_with(first.output, ": complete; events:");
  CHECK(summaries.size() == 7);
  // The second run: new processes, the earlier ones untouched.
  auto second = run(argv);
  INFO(second.output);
  REQUIRE(second.exit_code == 0);
  CHECK_THAT(second.output, Contains("run 2 (ids of this run start with r2-)"));
  CHECK_THAT(second.output, Contains("ordersaga-r2-bob:"));
  CHECK_THAT(second.output, Contains("== the processes of earlier runs: 7 =="));
  CHECK_THAT(second.output, Contains("all complete, none ran again"));
  for (auto& line : summaries)
    CHECK_THAT(second.output, Contains(line + " -- unchanged"));
  CHECK_THAT(second.output, !Contains("ordersaga-r1-ann:\n  step"));
  CHECK(lines_with(second.output, ": complete; events:").size() == 14);
}
