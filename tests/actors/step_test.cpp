#include "actors/step_messages.hpp"

#include <catch2/catch.hpp>

#include "caf/all.hpp"

#include "actors/runtime.hpp"
#include "journal/codec.hpp"
#include "journal/verify.hpp"
#include "tests/actors/account.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cairn;
using namespace cairn::test;
using namespace std::chrono_literals;

namespace {

struct fixture {
  temp_dir dir;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  std::unique_ptr<runtime> rt;
  caf::actor accounts;

  fixture() {
    start();
  }

  ~fixture() {
    rt->stop();
  }

  void start() {
    runtime_options opts;
    opts.journal_path = dir.path();
    opts.journal.sync = journal::sync_mode::none;
    auto r = runtime::start(sys, opts);
    REQUIRE(r);
    rt = std::move(*r);
    accounts = rt->registry<account>();
  }

  template <class Cmd>
  caf::error tell(const std::string& id, Cmd cmd) {
    caf::error result;
    self->send(accounts, entity_id{id}, std::move(cmd));
    self->receive([] {}, [](int64_t) {},
                  [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  int64_t balance(const std::string& id) {
    int64_t result = -1;
    self->request(accounts, 10s, entity_id{id}, get_balance{})
      .receive([&](int64_t x) { result = x; },
               [](caf::error& err) { FAIL(describe(err)); });
    return result;
  }

  /// A step of the manager stream `checkout-1` at `version` with one
  /// event, commanding `cmds` to accounts.
  step_request make_step(uint64_t version,
                         std::vector<std::pair<std::string, caf::message>>
                           cmds) {
    step_request req;
    journal::append a;
    a.stream = "checkout-1";
    a.expected = journal::expected_version::exact(version);
    journal::event_record r;
    r.type = "checkout_step";
    r.payload = "x";
    a.events.push_back(r);
    req.group.appends.push_back(a);
    req.input_position = 77;
    for (auto& [id, msg] : cmds)
      req.commands.push_back(step_command{accounts, "account-" + id, id, msg});
    return req;
  }

  caf::expected<step_result> run(step_request req) {
    caf::expected<step_result> result{caf::error{}};
    self->request(rt->coordinator(), 10s, step_atom::value, std::move(req))
      .receive([&](step_result& r) { result = std::move(r); },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }
};

} // namespace

TEST_CASE_METHOD(fixture, "a step commits the manager's events, its record "
                          "and the accepted commands' events together") {
  REQUIRE(!tell("1", open_account{"ann"}));
  REQUIRE(!tell("2", open_account{"ben"}));
  REQUIRE(!tell("2", charge{30}));
  auto res = run(make_step(0, {{"1", caf::make_message(check_out{})},
                               {"2", caf::make_message(check_out{})}}));
  REQUIRE(res);
  REQUIRE(res->outcomes.size() == 2);
  CHECK(res->outcomes[0].accepted);
  CHECK(!res->outcomes[1].accepted);
  CHECK(res->outcomes[1].why.find("unsettled balance of 30")
        != std::string::npos);
  // One group: the manager's append, then account-1's.
  REQUIRE(res->receipt.appends.size() == 2);
  CHECK(res->receipt.appends[0].stream == "checkout-1");
  CHECK(res->receipt.appends[0].last_version == 2); // event + step record
  CHECK(res->receipt.appends[1].stream == "account-1");
  CHECK(res->receipt.appends[1].first_position
        == res->receipt.appends[0].first_position + 2);
  CHECK(*rt->journal()->stream_version("account-2") == 2); // unchanged
  // The step record names the input and each outcome.
  auto evs = rt->journal()->read_stream("checkout-1");
  REQUIRE(evs);
  REQUIRE(evs->size() == 2);
  CHECK((*evs)[1].record.type == step_record::event_name);
  auto rec = journal::from_bytes<step_record>((*evs)[1].record.payload);
  REQUIRE(rec);
  CHECK(rec->input_position == 77);
  CHECK(rec->outcomes.size() == 2);
  // The accepted target applied its event: the account is closed now.
  auto err = tell("1", charge{1});
  CHECK(code_of(err) == errc::rejected);
  CHECK(describe(err).find("not open") != std::string::npos);
}

TEST_CASE_METHOD(fixture, "a step is atomic across two aggregates") {
  for (auto id : {"1", "2"})
    REQUIRE(!tell(id, open_account{id}));
  auto res = run(make_step(0, {{"1", caf::make_message(charge{5})},
                               {"2", caf::make_message(charge{7})}}));
  REQUIRE(res);
  CHECK(res->outcomes[0].accepted);
  CHECK(res->outcomes[1].accepted);
  CHECK(balance("1") == 5);
  CHECK(balance("2") == 7);
  SECTION("a conflict on the manager's stream writes nothing anywhere") {
    auto stale = run(make_step(0, {{"1", caf::make_message(charge{100})},
                                   {"2", caf::make_message(charge{100})}}));
    REQUIRE(!stale);
    CHECK(code_of(stale.error()) == errc::conflict);
    CHECK(balance("1") == 5);
    CHECK(balance("2") == 7);
    CHECK(*rt->journal()->stream_version("account-1") == 2);
    CHECK(*rt->journal()->stream_version("checkout-1") == 2);
  }
  SECTION("a failed commit leaves neither the manager's nor the "
          "aggregates' events") {
    self->request(rt->coordinator(), 10s, inject_atom::value,
                  injected_failure::next_commit)
      .receive([](bool) {}, [](caf::error& err) { FAIL(describe(err)); });
    auto failed = run(make_step(2, {{"1", caf::make_message(charge{100})},
                                    {"2", caf::make_message(charge{100})}}));
    REQUIRE(!failed);
    CHECK(code_of(failed.error()) == errc::storage_error);
    CHECK(balance("1") == 5); // discarded, not applied
    CHECK(balance("2") == 7);
    rt->stop();
    rt.reset();
    start();
    CHECK(*rt->journal()->stream_version("checkout-1") == 2);
    CHECK(*rt->journal()->stream_version("account-1") == 2);
    CHECK(balance("1") == 5);
    auto report = journal::verify(*rt->journal());
    REQUIRE(report);
    CHECK(report->ok());
  }
}

TEST_CASE_METHOD(fixture, "a command to an entity that is deciding a step "
                          "waits for the step's outcome") {
  REQUIRE(!tell("1", open_account{"x"}));
  // Send the step, then a direct command, without waiting in between.
  self->send(rt->coordinator(), step_atom::value,
             make_step(0, {{"1", caf::make_message(charge{5})}}));
  self->send(accounts, entity_id{"1"}, charge{1});
  int64_t direct = -1;
  bool step_done = false;
  for (int i = 0; i < 2; ++i)
    self->receive([&](step_result&) { step_done = true; },
                  [&](int64_t x) { direct = x; },
                  [](caf::error& err) { FAIL(describe(err)); });
  CHECK(step_done);
  // Whatever the order, both committed and the balance holds both.
  CHECK((direct == 1 || direct == 6));
  CHECK(balance("1") == 6);
}

TEST_CASE_METHOD(fixture, "a step that commands one entity twice has the "
                          "second command refused at once") {
  REQUIRE(!tell("1", open_account{"x"}));
  auto res = run(make_step(0, {{"1", caf::make_message(charge{5})},
                               {"1", caf::make_message(charge{7})}}));
  REQUIRE(res);
  REQUIRE(res->outcomes.size() == 2);
  CHECK(res->outcomes[0].accepted);
  CHECK(!res->outcomes[1].accepted);
  CHECK(res->outcomes[1].why.find("commands account-1 more than once")
        != std::string::npos);
  CHECK(balance("1") == 5);
  CHECK(*rt->journal()->stream_version("account-1") == 2);
}

TEST_CASE_METHOD(fixture, "a discarded step's command still waiting in an "
                          "entity's stash is dropped, not decided later") {
  REQUIRE(!tell("1", open_account{"x"}));
  // Step 100 holds the entity in `deciding`; step 101's command is stashed.
  self->send(accounts, entity_id{"1"}, decide_atom::value, uint64_t{100},
             charge{1});
  self->receive([](step_decision& d) { REQUIRE(d.accepted); },
                [](caf::error& err) { FAIL(describe(err)); });
  self->send(accounts, entity_id{"1"}, decide_atom::value, uint64_t{101},
             charge{2});
  // The coordinator gave up on step 101, then step 100 did not commit.
  self->send(accounts, entity_id{"1"}, outcome_atom::value, uint64_t{101},
             false);
  self->send(accounts, entity_id{"1"}, outcome_atom::value, uint64_t{100},
             false);
  self->receive(
    [](step_decision& d) {
      CHECK(!d.accepted);
      CHECK(d.why.find("step 101 was abandoned") != std::string::npos);
    },
    [](caf::error& err) { FAIL(describe(err)); });
  // The entity is free: a plain command commits at once.
  REQUIRE(!tell("1", charge{3}));
  CHECK(balance("1") == 3);
}
