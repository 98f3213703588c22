#include "cairn/actors/step_messages.hpp"

#include <catch2/catch.hpp>

#include "caf/all.hpp"

#include "cairn/actors/aggregate_actor.hpp"
#include "cairn/actors/runtime.hpp"
#include "cairn/journal/codec.hpp"
#include "cairn/journal/verify.hpp"
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

  void start(runtime_options opts = {}) {
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
                  [&](caf::error& err) { result = std::move(err); },
                  caf::after(10s) >> [] { FAIL("no reply"); });
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
                         std::vector<std::pair<std::string, caf::message>> cmds,
                         std::string manager = "checkout-1") {
    step_request req;
    journal::append a;
    a.stream = std::move(manager);
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
    self
      ->request(rt->coordinator(), 10s, inject_atom::value,
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
                  [](caf::error& err) { FAIL(describe(err)); },
                  caf::after(10s) >> [] { FAIL("no reply"); });
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
  auto cap = rt->env()->capability;
  // Step 100 holds the entity in `deciding`; step 101's command is stashed.
  self->send(accounts, entity_id{"1"}, decide_atom::value, cap, uint64_t{100},
             charge{1});
  self->receive([](step_decision& d) { REQUIRE(d.accepted); },
                [](caf::error& err) { FAIL(describe(err)); },
                caf::after(10s) >> [] { FAIL("no decision"); });
  self->send(accounts, entity_id{"1"}, decide_atom::value, cap, uint64_t{101},
             charge{2});
  // The coordinator gave up on step 101, then step 100 did not commit.
  self->send(accounts, entity_id{"1"}, outcome_atom::value, cap, uint64_t{101},
             false);
  self->send(accounts, entity_id{"1"}, outcome_atom::value, cap, uint64_t{100},
             false);
  self->receive([](step_decision&) { FAIL("step 101 was decided"); },
                [](caf::error& err) {
                  CHECK(code_of(err) == errc::timeout);
                  CHECK(describe(err).find("step 101 was abandoned")
                        != std::string::npos);
                },
                caf::after(10s) >> [] { FAIL("no answer for step 101"); });
  // The entity is free: a plain command commits at once.
  REQUIRE(!tell("1", charge{3}));
  CHECK(balance("1") == 3);
}

TEST_CASE_METHOD(fixture, "an entity passivated while it decides a step "
                          "hears the outcome and later commands answer") {
  rt->stop();
  runtime_options opts;
  opts.registry.max_active = 2;
  start(opts);
  auto cap = rt->env()->capability;
  REQUIRE(!tell("1", open_account{"a"}));
  REQUIRE(!tell("2", open_account{"b"}));
  // The test holds entity 2 in `deciding` for its own step 900.
  caf::actor two;
  self->send(accounts, entity_id{"2"}, decide_atom::value, cap, uint64_t{900},
             charge{100});
  self->receive(
    [&](step_decision& d) {
      REQUIRE(d.accepted);
      two = d.entity;
    },
    [](caf::error& err) { FAIL(describe(err)); },
    caf::after(10s) >> [] { FAIL("no decision"); });
  REQUIRE(two);
  auto routed = [&] {
    uint64_t result = 0;
    self->request(accounts, 10s, stats_atom::value)
      .receive([&](registry_stats& s) { result = s.routed; },
               [](caf::error& err) { FAIL(describe(err)); });
    return result;
  };
  auto before = routed();
  // A step for 1 and 2: 1 decides and holds, 2's decide waits in its stash.
  self->send(rt->coordinator(), step_atom::value,
             make_step(0, {{"1", caf::make_message(charge{5})},
                           {"2", caf::make_message(charge{7})}}));
  // Both decides went through the registry (1 has decided: one at a time).
  for (int i = 0; i < 2000 && routed() < before + 2; ++i)
    self->receive(caf::after(1ms) >> [] {});
  REQUIRE(routed() == before + 2);
  // A third entity makes the registry passivate 1, the least recently used,
  // while 1 still decides the step.
  REQUIRE(!tell("3", open_account{"c"}));
  registry_stats st;
  self->request(accounts, 10s, stats_atom::value)
    .receive([&](registry_stats& s) { st = s; },
             [](caf::error& err) { FAIL(describe(err)); });
  CHECK(st.passivated == 1);
  // Step 900 did not commit: 2 decides the step, which commits.
  caf::anon_send(two, outcome_atom::value, cap, uint64_t{900}, false);
  self->receive(
    [](step_result& res) {
      REQUIRE(res.outcomes.size() == 2);
      CHECK(res.outcomes[0].accepted);
      CHECK(res.outcomes[1].accepted);
    },
    [](caf::error& err) { FAIL(describe(err)); },
    caf::after(10s) >> [] { FAIL("the step did not end"); });
  // 1 applied the step's event, stopped, and its successor answers.
  CHECK(balance("1") == 5);
  CHECK(balance("2") == 7);
  CHECK(*rt->journal()->stream_version("account-1") == 2);
}

TEST_CASE_METHOD(fixture, "steps commanding the same entities in opposite "
                          "order neither stall nor record false "
                          "rejections") {
  rt->stop();
  runtime_options opts;
  // A stall would show as a timeout long before the test's own limit.
  opts.coordinator.decide_timeout = 2s;
  start(opts);
  REQUIRE(!tell("a", open_account{"a"}));
  REQUIRE(!tell("b", open_account{"b"}));
  constexpr int rounds = 1000;
  auto t0 = std::chrono::steady_clock::now();
  int rejected = 0;
  int failed = 0;
  uint64_t x_version = 0;
  uint64_t y_version = 0;
  for (int i = 0; i < rounds; ++i) {
    self->send(rt->coordinator(), step_atom::value,
               make_step(x_version,
                         {{"a", caf::make_message(charge{1})},
                          {"b", caf::make_message(charge{1})}},
                         "checkout-x"));
    self->send(rt->coordinator(), step_atom::value,
               make_step(y_version,
                         {{"b", caf::make_message(charge{1})},
                          {"a", caf::make_message(charge{1})}},
                         "checkout-y"));
    for (int k = 0; k < 2; ++k)
      self->receive(
        [&](step_result& res) {
          for (auto& o : res.outcomes)
            if (!o.accepted)
              ++rejected;
          auto& own = res.receipt.appends.front();
          (own.stream == "checkout-x" ? x_version : y_version)
            = own.last_version;
        },
        [&](caf::error& err) {
          ++failed;
          UNSCOPED_INFO(describe(err));
        },
        caf::after(10s) >> [&] { FAIL("a step did not end"); });
    if (failed > 0 || rejected > 0)
      break;
  }
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(
    std::chrono::steady_clock::now() - t0);
  CHECK(rejected == 0);
  CHECK(failed == 0);
  CHECK(secs.count() < 60);
  CHECK(balance("a") == 2 * rounds);
  CHECK(balance("b") == 2 * rounds);
}

TEST_CASE_METHOD(fixture, "a decide that times out fails the step instead of "
                          "counting as a rejection") {
  rt->stop();
  runtime_options opts;
  opts.coordinator.decide_timeout = 200ms;
  start(opts);
  auto cap = rt->env()->capability;
  REQUIRE(!tell("1", open_account{"a"}));
  // The test holds entity 1 for its own step: the coordinator's decide
  // waits in its stash past the timeout.
  caf::actor one;
  self->send(accounts, entity_id{"1"}, decide_atom::value, cap, uint64_t{900},
             charge{100});
  self->receive([&](step_decision& d) { one = d.entity; },
                [](caf::error& err) { FAIL(describe(err)); },
                caf::after(10s) >> [] { FAIL("no decision"); });
  auto res = run(make_step(0, {{"1", caf::make_message(charge{5})}}));
  REQUIRE(!res);
  CHECK(code_of(res.error()) == errc::timeout);
  CHECK(describe(res.error()).find("account-1") != std::string::npos);
  // Nothing of the step was written, and no rejection was recorded.
  CHECK(*rt->journal()->stream_version("checkout-1") == 0);
  caf::anon_send(one, outcome_atom::value, cap, uint64_t{900}, false);
  // The abandoned decide was dropped: the entity is free and unchanged.
  CHECK(balance("1") == 0);
  REQUIRE(!tell("1", charge{3}));
  CHECK(balance("1") == 3);
  // Retried, the step commits.
  auto again = run(make_step(0, {{"1", caf::make_message(charge{5})}}));
  REQUIRE(again);
  CHECK(again->outcomes[0].accepted);
  CHECK(balance("1") == 8);
}

TEST_CASE_METHOD(fixture, "a forged outcome is ignored and the entity's "
                          "state stays its journal's") {
  REQUIRE(!tell("1", open_account{"x"}));
  REQUIRE(!tell("1", charge{10}));
  auto cap = rt->env()->capability;
  // A genuine decide (as the coordinator would send it) holds the entity.
  caf::actor one;
  self->send(accounts, entity_id{"1"}, decide_atom::value, cap, uint64_t{7},
             charge{1000});
  self->receive(
    [&](step_decision& d) {
      REQUIRE(d.accepted);
      one = d.entity;
    },
    [](caf::error& err) { FAIL(describe(err)); },
    caf::after(10s) >> [] { FAIL("no decision"); });
  // Someone who guesses the step id, but not the capability, claims the
  // step committed, through the registry and directly.
  auto forged = step_capability::generate();
  for (uint64_t step = 1; step <= 10; ++step) {
    self->send(accounts, entity_id{"1"}, outcome_atom::value, forged, step,
               true);
    caf::anon_send(one, outcome_atom::value, forged, step, true);
  }
  // The genuine outcome: the step did not commit.
  caf::anon_send(one, outcome_atom::value, cap, uint64_t{7}, false);
  CHECK(balance("1") == 10);
  CHECK(rt->env()->forged_messages.load() >= 20);
  // The entity's state equals what recovery from the journal gives.
  self->send_exit(one, caf::exit_reason::user_shutdown);
  auto fresh = spawn_aggregate<account>(sys, rt->env(), "1");
  int64_t recovered = -1;
  self->request(fresh, 10s, get_balance{})
    .receive([&](int64_t x) { recovered = x; },
             [](caf::error& err) { FAIL(describe(err)); });
  CHECK(recovered == 10);
  self->send_exit(fresh, caf::exit_reason::user_shutdown);
}

TEST_CASE_METHOD(fixture, "a forged decide is refused and holds nothing") {
  REQUIRE(!tell("1", open_account{"x"}));
  auto before = rt->env()->forged_messages.load();
  caf::error err;
  self
    ->request(accounts, 10s, entity_id{"1"}, decide_atom::value,
              step_capability::generate(), uint64_t{1}, charge{5})
    .receive([](step_decision&) { FAIL("decided"); },
             [&](caf::error& e) { err = std::move(e); });
  CHECK(code_of(err) == errc::invalid_argument);
  CHECK(describe(err).find("forged internal message refused")
        != std::string::npos);
  CHECK(rt->env()->forged_messages.load() == before + 1);
  // The entity is not held: a plain command commits at once.
  REQUIRE(!tell("1", charge{3}));
  CHECK(balance("1") == 3);
}

TEST_CASE_METHOD(fixture, "an entity whose step failed on a conflict on its "
                          "stream catches up and decides the next step") {
  REQUIRE(!tell("1", open_account{"x"}));
  REQUIRE(balance("1") == 0);
  // Another writer appends to account-1 behind the entity's back.
  journal::write_group g;
  journal::append a;
  a.stream = "account-1";
  a.events.push_back(codec_of<account>().encode(charged{40}));
  g.appends.push_back(std::move(a));
  self->request(rt->coordinator(), 10s, commit_atom::value, std::move(g))
    .receive([](journal::group_receipt&) {},
             [](caf::error& err) { FAIL(describe(err)); });
  // The entity decides against its stale version: the step conflicts.
  auto first = run(make_step(0, {{"1", caf::make_message(charge{5})}}));
  REQUIRE(!first);
  CHECK(code_of(first.error()) == errc::conflict);
  // Retried, the step commits on top of the other writer's event.
  auto second = run(make_step(0, {{"1", caf::make_message(charge{5})}}));
  REQUIRE(second);
  CHECK(second->outcomes[0].accepted);
  CHECK(balance("1") == 45);
  CHECK(*rt->journal()->stream_version("account-1") == 3);
}

TEST_CASE_METHOD(fixture, "a step's decide goes to the entity directly, and "
                          "through the registry once that entity was "
                          "passivated") {
  rt->stop();
  runtime_options opts;
  opts.registry.max_active = 1; // each entity used passivates the other
  start(opts);
  auto routed = [&] {
    uint64_t n = 0;
    self->request(accounts, 10s, stats_atom::value)
      .receive([&](registry_stats& s) { n = s.routed; },
               [](caf::error& err) { FAIL(describe(err)); });
    return n;
  };
  REQUIRE(!tell("1", open_account{"ann"}));
  REQUIRE(!tell("2", open_account{"ben"})); // passivates 1
  // The first decide for account-1 goes through the registry.
  auto before = routed();
  REQUIRE(run(make_step(0, {{"1", caf::make_message(charge{10})}})));
  CHECK(routed() - before == 1);
  // The second reaches the entity that decided the first, directly.
  before = routed();
  REQUIRE(run(make_step(2, {{"1", caf::make_message(charge{10})}})));
  CHECK(routed() == before);
  // Using account 2 passivates account 1: the next decide meets a stopped
  // actor, comes back unhandled and goes through the registry.
  caf::actor one;
  self->request(accounts, 10s, resolve_atom::value, entity_id{"1"})
    .receive([&](caf::actor& hdl) { one = hdl; },
             [](caf::error& err) { FAIL(describe(err)); });
  REQUIRE(one);
  self->monitor(one);
  REQUIRE(!tell("2", charge{1}));
  bool down = false;
  self->receive([&](caf::down_msg& msg) { down = msg.source == one.address(); },
                caf::after(10s) >> [] {});
  REQUIRE(down);
  before = routed();
  auto res = run(make_step(4, {{"1", caf::make_message(charge{10})}}));
  REQUIRE(res);
  REQUIRE(res->outcomes.size() == 1);
  CHECK(res->outcomes[0].accepted);
  CHECK(routed() - before == 1);
  // Each step took effect once.
  CHECK(balance("1") == 30);
  CHECK(*rt->journal()->stream_version("account-1") == 4);
}

TEST_CASE_METHOD(fixture, "the coordinator lets go of an entity that decided "
                          "a step once it is passivated") {
  rt->stop();
  runtime_options opts;
  opts.registry.max_active = 1; // each entity used passivates the other
  start(opts);
  REQUIRE(!tell("1", open_account{"ann"}));
  REQUIRE(run(make_step(0, {{"1", caf::make_message(charge{10})}})));
  caf::weak_actor_ptr one;
  {
    caf::actor hdl;
    self->request(accounts, 10s, resolve_atom::value, entity_id{"1"})
      .receive([&](caf::actor& x) { hdl = x; },
               [](caf::error& err) { FAIL(describe(err)); });
    REQUIRE(hdl);
    self->monitor(hdl);
    one = caf::actor_cast<caf::weak_actor_ptr>(hdl);
  }
  REQUIRE(!tell("2", open_account{"ben"})); // passivates 1
  bool down = false;
  self->receive([&](caf::down_msg&) { down = true; },
                caf::after(10s) >> [] {});
  REQUIRE(down);
  // The coordinator hears of the stop by its own down message; once it
  // answered a request sent after it, nothing holds the stopped entity (the
  // registry let go when it passivated it).
  auto released = [&] {
    self->request(rt->coordinator(), 10s, stats_atom::value)
      .receive([](coordinator_stats&) {},
               [](caf::error& err) { FAIL(describe(err)); });
    self->request(accounts, 10s, stats_atom::value)
      .receive([](registry_stats&) {},
               [](caf::error& err) { FAIL(describe(err)); });
    return one.lock() == nullptr;
  };
  bool freed = false;
  for (int i = 0; i < 100 && !freed; ++i)
    freed = released();
  CHECK(freed);
  // A step for the passivated account still reaches its successor.
  auto res = run(make_step(2, {{"1", caf::make_message(charge{5})}}));
  REQUIRE(res);
  REQUIRE(res->outcomes.size() == 1);
  CHECK(res->outcomes[0].accepted);
  CHECK(balance("1") == 15);
}
