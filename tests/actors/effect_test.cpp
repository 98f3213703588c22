#include "cairn/actors/effect.hpp"

#include <catch2/catch.hpp>

#include "tests/actors/account.hpp"

using namespace cairn;
using namespace cairn::test;

// Whether `persist(...)` alone converts to an effect: it must not, so that a
// handler that forgets to reply does not compile.
static_assert(!std::is_convertible_v<persist_builder<charged>,
                                     effect<account>>,
              "persist without then_reply must not be an effect");
static_assert(std::is_convertible_v<reply_effect, effect<account>>);
static_assert(std::is_convertible_v<none_effect, effect<account>>);

TEST_CASE("persist then_reply holds the events and replies from the new "
          "state") {
  effect<account> eff = persist(charged{5}, charged{7}).then_reply(
    [](const account_state& s) { return s.balance; });
  REQUIRE(eff.what() == effect<account>::kind::persist);
  REQUIRE(eff.events().size() == 2);
  CHECK(std::get<charged>(eff.events()[1]).cents == 7);
  account_state s;
  s.balance = 12;
  auto msg = eff.on_persisted()(s);
  REQUIRE(msg.match_elements<int64_t>());
  CHECK(msg.get_as<int64_t>(0) == 12);
}

TEST_CASE("then_ack replies with an empty message") {
  effect<account> eff = persist(checked_out{}).then_ack();
  CHECK(eff.on_persisted()(account_state{}).empty());
}

TEST_CASE("reply, reject and none store nothing") {
  effect<account> r = reply(int64_t{3});
  CHECK(r.what() == effect<account>::kind::reply);
  CHECK(r.events().empty());
  CHECK(r.message().get_as<int64_t>(0) == 3);
  effect<account> j = reject("not open");
  CHECK(j.what() == effect<account>::kind::reject);
  CHECK(code_of(j.error()) == errc::rejected);
  CHECK(describe(j.error()) == "rejected: not open");
  effect<account> k = reject(errc::invalid_argument, "negative amount");
  CHECK(code_of(k.error()) == errc::invalid_argument);
  effect<account> n = none();
  CHECK(n.what() == effect<account>::kind::none);
}

TEST_CASE("command handlers are pure functions testable without actors") {
  account_state s;
  auto eff = account::handle(s, charge{10});
  CHECK(eff.what() == effect<account>::kind::reject);
  s = account::apply(s, account_opened{"ann"});
  auto ok = account::handle(s, charge{10});
  REQUIRE(ok.what() == effect<account>::kind::persist);
  CHECK(std::get<charged>(ok.events()[0]).cents == 10);
}
