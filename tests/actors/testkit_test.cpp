#include "cairn/actors/testkit.hpp"

#include <catch2/catch.hpp>

#include "tests/actors/account.hpp"

using namespace cairn;
using namespace cairn::test;

TEST_CASE("run_command returns the events, the new state and the reply") {
  testkit<account> kit{"7"};
  auto opened = kit.run_command(open_account{"alice"});
  REQUIRE(opened.reply);
  REQUIRE(opened.events.size() == 1);
  CHECK(std::get<account_opened>(opened.events[0]).guest == "alice");
  CHECK(opened.state.open);
  auto charged_ = kit.run_command<int64_t>(charge{300});
  REQUIRE(charged_.reply);
  CHECK(*charged_.reply == 300);
  CHECK(charged_.version == 2);
  REQUIRE(charged_.events.size() == 1);
  CHECK(std::get<charged>(charged_.events[0]).cents == 300);
  CHECK(charged_.state.balance == 300);
}

TEST_CASE("a reply without events leaves the journal alone") {
  testkit<account> kit;
  auto r = kit.run_command<int64_t>(get_balance{});
  REQUIRE(r.reply);
  CHECK(*r.reply == 0);
  CHECK(r.events.empty());
  CHECK(r.version == 0);
}

TEST_CASE("a rejection comes back as the error, with no events") {
  testkit<account> kit;
  auto r = kit.run_command<int64_t>(pay{10});
  REQUIRE(!r.reply);
  CHECK(code_of(r.reply.error()) == errc::invalid_argument);
  CHECK(r.events.empty());
}

TEST_CASE("restart recovers the same state from the journal") {
  testkit<account> kit;
  kit.run_command(open_account{"bob"});
  for (int i = 1; i <= 20; ++i)
    REQUIRE(kit.run_command<int64_t>(charge{i}).reply);
  auto before = kit.state();
  CHECK(before.balance == 210);
  CHECK(kit.restart() == before);
  CHECK(kit.version() == 21);
}

TEST_CASE("an injected persist failure answers the command with the error "
          "and leaves the state") {
  testkit<account> kit;
  kit.run_command(open_account{"carol"});
  kit.fail_next_persist();
  auto r = kit.run_command<int64_t>(charge{5});
  REQUIRE(!r.reply);
  CHECK(code_of(r.reply.error()) == errc::storage_error);
  CHECK(r.state.balance == 0);
  CHECK(r.version == 1);
  auto next = kit.run_command<int64_t>(charge{5});
  REQUIRE(next.reply);
  CHECK(*next.reply == 5);
}

TEST_CASE("after an injected commit failure the journal refuses writes until "
          "reopened") {
  testkit<account> kit;
  kit.run_command(open_account{"dave"});
  kit.fail_next_commit();
  auto r = kit.run_command<int64_t>(charge{5});
  REQUIRE(!r.reply);
  CHECK(code_of(r.reply.error()) == errc::storage_error);
  CHECK(r.state.balance == 0);
  auto again = kit.run_command<int64_t>(charge{5});
  REQUIRE(!again.reply);
  CHECK(code_of(again.reply.error()) == errc::journal_failed);
  auto st = kit.reopen();
  CHECK(st.balance == 0);
  CHECK(kit.version() == 1);
  auto ok = kit.run_command<int64_t>(charge{5});
  REQUIRE(ok.reply);
  CHECK(*ok.reply == 5);
}
