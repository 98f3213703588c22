#include "cairn/actors/aggregate_actor.hpp"

#include <catch2/catch.hpp>

#include <lmdb.h>

#include "caf/all.hpp"

#include "cairn/actors/runtime.hpp"
#include "cairn/actors/testkit.hpp"
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
  std::unique_ptr<runtime> rt;
  caf::scoped_actor self{sys};

  fixture() {
    start();
  }

  ~fixture() {
    rt->stop();
  }

  void start(aggregate_settings as = {}) {
    runtime_options opts;
    opts.journal_path = dir.path();
    opts.journal.sync = journal::sync_mode::none;
    opts.aggregates = as;
    auto r = runtime::start(sys, opts);
    REQUIRE(r);
    rt = std::move(*r);
  }

  template <class T = int64_t, class Cmd>
  caf::expected<T> ask(const caf::actor& dest, const std::string& id, Cmd cmd) {
    caf::expected<T> result{caf::error{}};
    self->request(dest, 10s, entity_id{id}, std::move(cmd))
      .receive([&](T x) { result = std::move(x); },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  /// The stream version of `entity`'s committed state (99 if it fails).
  uint64_t version_of(const caf::actor& entity) {
    uint64_t result = 99;
    self->request(entity, 10s, get_state_atom::value)
      .receive([&](uint64_t v, std::string&) { result = v; },
               [](caf::error& err) { FAIL(describe(err)); });
    return result;
  }

  template <class Cmd>
  caf::error tell(const caf::actor& dest, const std::string& id, Cmd cmd) {
    caf::error result;
    self->request(dest, 10s, entity_id{id}, std::move(cmd))
      .receive([&]() {}, [&](caf::error& err) { result = std::move(err); });
    return result;
  }
};

} // namespace

TEST_CASE_METHOD(fixture, "an aggregate persists events and replies after "
                          "the commit") {
  auto accounts = rt->registry<account>();
  REQUIRE(!tell(accounts, "1", open_account{"alice"}));
  auto b = ask(accounts, "1", charge{500});
  REQUIRE(b);
  CHECK(*b == 500);
  CHECK(*ask(accounts, "1", charge{250}) == 750);
  CHECK(*rt->journal()->stream_version("account-1") == 3);
  auto bal = ask(accounts, "1", get_balance{});
  REQUIRE(bal);
  CHECK(*bal == 750);
}

TEST_CASE_METHOD(fixture, "a rejected command stores nothing and names why") {
  auto accounts = rt->registry<account>();
  auto err = tell(accounts, "2", charge{100});
  REQUIRE(err);
  CHECK(code_of(err) == errc::rejected);
  CHECK(describe(err).find("not open") != std::string::npos);
  CHECK(*rt->journal()->stream_version("account-2") == 0);
}

TEST_CASE("recovery from a snapshot gives the same state as a full replay") {
  testkit_options opts;
  opts.aggregates.snapshot_every = 5;
  testkit<account> kit{"9", opts};
  kit.run_command(open_account{"erin"});
  for (int i = 1; i <= 12; ++i)
    REQUIRE(kit.run_command<int64_t>(charge{i}).reply);
  auto before = kit.state();
  auto snap = kit.journal()->latest_snapshot("account-9");
  REQUIRE(snap);
  REQUIRE(*snap);
  CHECK((*snap)->version == 10);
  CHECK((*snap)->type == "account.state");
  CHECK(kit.restart() == before);
  SECTION("also after retention deleted the events below the snapshot") {
    REQUIRE(kit.journal()->truncate_before("account-9", 11));
    CHECK((*kit.journal()->read_stream("account-9")).front().version == 11);
    CHECK(kit.restart() == before);
    REQUIRE(kit.run_command<int64_t>(charge{1}).reply);
    CHECK(kit.restart().balance == before.balance + 1);
  }
}

TEST_CASE("a snapshot of another schema version is not used and recovery "
          "gives the state of a full replay") {
  testkit_options opts;
  opts.aggregates.snapshot_every = 5;
  testkit<account> kit{"9", opts};
  kit.run_command(open_account{"erin"});
  for (int i = 1; i <= 12; ++i)
    REQUIRE(kit.run_command<int64_t>(charge{i}).reply);
  auto before = kit.state();
  auto snap = kit.journal()->latest_snapshot("account-9");
  REQUIRE(snap);
  REQUIRE(*snap);
  CHECK((*snap)->schema_version == snapshot_version_of<account>());
  // A newer build stored a snapshot whose state reads as something else.
  account_state bogus;
  bogus.open = true;
  bogus.balance = 999999;
  journal::write_group g;
  journal::snapshot s;
  s.stream = "account-9";
  s.version = 13;
  s.type = snapshot_type_of<account>();
  s.schema_version = snapshot_version_of<account>() + 1;
  s.payload = journal::to_bytes(bogus);
  g.snapshots.push_back(s);
  caf::scoped_actor self{kit.system()};
  self->request(kit.rt().coordinator(), 10s, commit_atom::value, g)
    .receive([](journal::group_receipt&) {},
             [](caf::error& err) { FAIL(describe(err)); });
  CHECK(kit.restart() == before);
  // Snapshots written from now on carry the current version and are used.
  for (int i = 0; i < 5; ++i)
    REQUIRE(kit.run_command<int64_t>(charge{1}).reply);
  snap = kit.journal()->latest_snapshot("account-9");
  REQUIRE(snap);
  REQUIRE(*snap);
  CHECK((*snap)->version == 15);
  CHECK((*snap)->schema_version == snapshot_version_of<account>());
  REQUIRE(kit.journal()->truncate_before("account-9", 16));
  CHECK(kit.restart().balance == before.balance + 5);
}

namespace {

/// An aggregate like `account` whose state is at schema version 2.
struct account_v2 : account {
  static constexpr uint32_t state_version = 2;
};

} // namespace

TEST_CASE("an aggregate's state_version is stored with its snapshots") {
  STATIC_REQUIRE(snapshot_version_of<account>() == 1);
  STATIC_REQUIRE(snapshot_version_of<account_v2>() == 2);
}

TEST_CASE("a damaged snapshot is not used and recovery replays the events") {
  testkit_options opts;
  opts.aggregates.snapshot_every = 5;
  testkit<account> kit{"9", opts};
  kit.run_command(open_account{"erin"});
  for (int i = 1; i <= 12; ++i)
    REQUIRE(kit.run_command<int64_t>(charge{i}).reply);
  auto before = kit.state();
  auto recovered = kit.reopen_after([](const std::string& dir) {
    MDB_env* env = nullptr;
    REQUIRE(mdb_env_create(&env) == MDB_SUCCESS);
    mdb_env_set_maxdbs(env, 16);
    REQUIRE(mdb_env_open(env, dir.c_str(), 0, 0644) == MDB_SUCCESS);
    MDB_txn* txn = nullptr;
    REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == MDB_SUCCESS);
    MDB_dbi dbi;
    REQUIRE(mdb_dbi_open(txn, "snapshots", 0, &dbi) == MDB_SUCCESS);
    std::string key = "account-9";
    MDB_val k{key.size(), key.data()}, v;
    REQUIRE(mdb_get(txn, dbi, &k, &v) == MDB_SUCCESS);
    std::string value{static_cast<const char*>(v.mv_data), v.mv_size};
    value.back() ^= 0x20;
    MDB_val nv{value.size(), value.data()};
    REQUIRE(mdb_put(txn, dbi, &k, &nv, 0) == MDB_SUCCESS);
    REQUIRE(mdb_txn_commit(txn) == MDB_SUCCESS);
    mdb_env_close(env);
  });
  auto snap = kit.journal()->latest_snapshot("account-9");
  REQUIRE(!snap);
  CHECK(code_of(snap.error()) == errc::corrupt_record);
  CHECK(recovered == before);
}

TEST_CASE("retention without a usable snapshot makes recovery fail with "
          "corrupt_record, not a wrong state") {
  testkit<account> kit{"5"};
  kit.run_command(open_account{"frank"});
  kit.run_command<int64_t>(charge{1});
  REQUIRE(kit.journal()->truncate_before("account-5", 2));
  // The failed entity stays and answers every command with the recovery
  // error until it is passivated: whether a command reaches it during its
  // recovery or after the failure, the answer is the same.
  for (int i = 0; i < 50; ++i) {
    kit.restart_entity_only();
    for (int k = 0; k < 2; ++k) {
      auto r = kit.run_command<int64_t>(get_balance{});
      REQUIRE(!r.reply);
      CHECK(code_of(r.reply.error()) == errc::corrupt_record);
      CHECK(describe(r.reply.error()).find("account-5") != std::string::npos);
    }
  }
}

TEST_CASE_METHOD(fixture, "an entity whose recovery failed answers every "
                          "request with the error until it is passivated") {
  auto accounts = rt->registry<account>();
  REQUIRE(!tell(accounts, "5", open_account{"frank"}));
  REQUIRE(ask(accounts, "5", charge{1}));
  // A chunk that does not decode: the recovery of account-5 fails.
  journal::write_group g;
  journal::append a;
  a.stream = "account-5";
  journal::event_record junk;
  junk.type = "charged";
  junk.payload = "x";
  a.events.push_back(junk);
  g.appends.push_back(a);
  self->request(rt->coordinator(), 10s, commit_atom::value, g)
    .receive([](journal::group_receipt&) {},
             [](caf::error& err) { FAIL(describe(err)); });
  // The running entity does not know; a fresh one fails to recover.
  auto entity = spawn_aggregate<account>(sys, rt->env(), "5");
  for (int i = 0; i < 3; ++i) {
    caf::error err;
    self->request(entity, 10s, get_state_atom::value)
      .receive([](uint64_t, std::string&) { FAIL("recovered"); },
               [&](caf::error& e) { err = std::move(e); });
    CHECK(code_of(err) != errc::none);
    CHECK(describe(err).find("account-5") != std::string::npos);
    self->request(entity, 10s, charge{1})
      .receive([](int64_t) { FAIL("charged"); },
               [&](caf::error& e) { err = std::move(e); });
    CHECK(code_of(err) != errc::none);
    CHECK(describe(err).find("account-5") != std::string::npos);
  }
  // Passivated, it ends at once.
  self->monitor(entity);
  self->send(entity, passivate_atom::value);
  bool down = false;
  self->receive([&](caf::down_msg&) { down = true; },
                caf::after(10s) >> [] { FAIL("the entity did not stop"); });
  CHECK(down);
}

TEST_CASE_METHOD(fixture, "a state request during recovery is answered once "
                          "the entity has recovered") {
  auto accounts = rt->registry<account>();
  REQUIRE(!tell(accounts, "7", open_account{"ida"}));
  for (int i = 0; i < 200; ++i)
    REQUIRE(ask(accounts, "7", charge{1}));
  auto env = std::make_shared<aggregate_env>();
  env->journal = rt->journal();
  env->coordinator = rt->coordinator();
  env->settings.recovery_chunk = 1; // 201 steps of recovery
  auto entity = spawn_aggregate<account>(sys, env, "7");
  uint64_t version = 0;
  self->request(entity, 10s, get_state_atom::value)
    .receive([&](uint64_t v, std::string&) { version = v; },
             [](caf::error& err) { FAIL(describe(err)); });
  CHECK(version == 201);
  self->send_exit(entity, caf::exit_reason::user_shutdown);
}

TEST_CASE_METHOD(fixture, "a recovery chunk of 0 is refused where it enters "
                          "and never loops") {
  runtime_options opts;
  opts.journal_path = dir.path() + "/zero";
  opts.aggregates.recovery_chunk = 0;
  auto r = runtime::start(sys, opts);
  REQUIRE(!r);
  CHECK(code_of(r.error()) == errc::bad_config);
  CHECK(describe(r.error()).find("aggregates.recovery-chunk")
        != std::string::npos);
  // An environment built by hand is not validated: the entity still
  // recovers instead of reading zero events forever.
  auto accounts = rt->registry<account>();
  REQUIRE(!tell(accounts, "8", open_account{"jo"}));
  REQUIRE(ask(accounts, "8", charge{3}));
  auto env = std::make_shared<aggregate_env>();
  env->journal = rt->journal();
  env->coordinator = rt->coordinator();
  env->settings.recovery_chunk = 0;
  auto entity = spawn_aggregate<account>(sys, env, "8");
  int64_t balance = -1;
  self->request(entity, 10s, get_balance{})
    .receive([&](int64_t x) { balance = x; },
             [](caf::error& err) { FAIL(describe(err)); });
  CHECK(balance == 3);
  self->send_exit(entity, caf::exit_reason::user_shutdown);
}

namespace {

/// A coordinator that accepts write groups and never answers: the entity
/// that sent one stays in its persisting phase.
coordinator_actor::behavior_type
stalled_coordinator(coordinator_actor::pointer self) {
  return {
    [self](commit_atom, journal::write_group&)
      -> caf::typed_response_promise<journal::group_receipt> {
      return self->make_response_promise<journal::group_receipt>();
    },
    [](commit_atom, journal::write_group&, uint64_t) {},
    [self](step_atom,
           step_request&) -> caf::typed_response_promise<step_result> {
      return self->make_response_promise<step_result>();
    },
    [](truncate_atom, const std::string&, uint64_t) { return uint64_t{0}; },
    [](stats_atom) { return coordinator_stats{}; },
    [](inject_atom, injected_failure) { return true; },
    [](flush_atom) {},
    [](tick_atom) {},
  };
}

} // namespace

namespace {

struct manual_coordinator_state {
  caf::actor observer;
  caf::strong_actor_ptr entity;
  uint64_t ticket = 0;
};

/// A coordinator that commits nothing: it reports each entity group's
/// ticket to `observer` and answers the entity when told, through
/// `(inject_atom, failure)`: `next_commit` answers the group in flight as
/// committed, `next_persist` answers a ticket that is not in flight.
coordinator_actor::behavior_type manual_coordinator(
  coordinator_actor::stateful_pointer<manual_coordinator_state> self,
  caf::actor observer) {
  self->state.observer = std::move(observer);
  return {
    [self](commit_atom, journal::write_group&)
      -> caf::typed_response_promise<journal::group_receipt> {
      return self->make_response_promise<journal::group_receipt>();
    },
    [self](commit_atom, journal::write_group&, uint64_t ticket) {
      self->state.entity = self->current_sender();
      self->state.ticket = ticket;
      caf::anon_send(self->state.observer, ticket);
    },
    [self](step_atom,
           step_request&) -> caf::typed_response_promise<step_result> {
      return self->make_response_promise<step_result>();
    },
    [](truncate_atom, const std::string&, uint64_t) { return uint64_t{0}; },
    [](stats_atom) { return coordinator_stats{}; },
    [self](inject_atom, injected_failure what) {
      auto& st = self->state;
      auto ticket = what == injected_failure::next_commit ? st.ticket
                                                          : st.ticket + 1;
      // From the coordinator, as the real one sends it.
      st.entity->enqueue(self->ctrl(), caf::make_message_id(),
                         caf::make_message(committed_atom::value, ticket,
                                           caf::error{}),
                         self->context());
      return true;
    },
    [](flush_atom) {},
    [](tick_atom) {},
  };
}

} // namespace

TEST_CASE_METHOD(fixture, "an entity takes its group's outcome from the "
                          "coordinator only, for the group in flight") {
  auto env = std::make_shared<aggregate_env>();
  env->journal = rt->journal();
  env->coordinator = sys.spawn(manual_coordinator, caf::actor{self});
  auto entity = spawn_aggregate<account>(sys, env, "ticket");
  auto version = [&] { return version_of(entity); };
  self->send(entity, open_account{"x"});
  uint64_t ticket = 0;
  self->receive([&](uint64_t t) { ticket = t; },
                caf::after(10s) >> [] { FAIL("no group"); });
  REQUIRE(ticket != 0);
  // Anyone but the coordinator claiming the group committed is refused,
  // named and counted: the entity still waits for its group.
  auto forged_before = env->forged_messages.load();
  caf::anon_send(entity, committed_atom::value, ticket, caf::error{});
  self->send(entity, committed_atom::value, ticket, caf::error{});
  CHECK(version() == 0);
  CHECK(env->forged_messages.load() == forged_before + 2);
  // The coordinator's answer to another ticket is not this group's.
  auto inject = [&](injected_failure what) {
    self->request(env->coordinator, 10s, inject_atom::value, what)
      .receive([](bool) {}, [](caf::error& err) { FAIL(describe(err)); });
  };
  inject(injected_failure::next_persist);
  CHECK(version() == 0);
  // Its answer to the group in flight is: the command is answered and the
  // entity takes the new state.
  inject(injected_failure::next_commit);
  bool replied = false;
  self->receive([&]() { replied = true; },
                [](caf::error& err) { FAIL(describe(err)); },
                caf::after(10s) >> [] { FAIL("no reply"); });
  CHECK(replied);
  CHECK(version() == 1);
  self->send_exit(entity, caf::exit_reason::user_shutdown);
  self->send_exit(env->coordinator, caf::exit_reason::user_shutdown);
}

TEST_CASE_METHOD(fixture, "an entity refuses a message it does not know "
                          "and a recovery chunk from outside, and runs on") {
  auto env = std::make_shared<aggregate_env>();
  env->journal = rt->journal();
  env->coordinator = rt->coordinator();
  auto entity = spawn_aggregate<account>(sys, env, "rare");
  auto version = [&] { return version_of(entity); };
  self->request(entity, 10s, open_account{"x"})
    .receive([] {}, [](caf::error& err) { FAIL(describe(err)); });
  CHECK(version() == 1);
  // Not a command of the aggregate: CAF's unexpected_message, to the asker.
  caf::error err;
  self->request(entity, 10s, std::string{"open sesame"})
    .receive([](const caf::message&) { FAIL("answered"); },
             [&](caf::error& e) { err = std::move(e); });
  CHECK(err == caf::sec::unexpected_message);
  // A recovery chunk the entity did not send itself is counted as forged
  // and does nothing: the state stays, and commands go on.
  auto forged_before = env->forged_messages.load();
  self->send(entity, recover_atom::value);
  CHECK(version() == 1);
  CHECK(env->forged_messages.load() == forged_before + 1);
  self->request(entity, 10s, charge{5})
    .receive([](int64_t) {}, [](caf::error& e) { FAIL(describe(e)); });
  CHECK(version() == 2);
  // The registry's idle check: used just now, so it declines.
  bool stops = true;
  self->request(entity, 10s, passivate_atom::value, idle_check_atom::value,
                caf::timespan{std::chrono::hours{1}})
    .receive([&](bool b) { stops = b; },
             [](caf::error& e) { FAIL(describe(e)); });
  CHECK_FALSE(stops);
  CHECK(version() == 2);
  self->send_exit(entity, caf::exit_reason::user_shutdown);
}

TEST_CASE_METHOD(fixture, "commands beyond the stash capacity are refused "
                          "with overloaded") {
  auto env = std::make_shared<aggregate_env>();
  env->journal = rt->journal();
  env->coordinator = sys.spawn(stalled_coordinator);
  env->settings.stash_capacity = 3;
  auto entity = spawn_aggregate<account>(sys, env, "stash");
  // The first command persists and never hears back; three wait in the
  // stash; the rest are refused at once.
  for (int i = 0; i < 10; ++i)
    self->send(entity, open_account{"x"});
  int overloaded = 0;
  for (int i = 0; i < 6; ++i)
    self->receive(
      [&](caf::error& err) {
        CHECK(code_of(err) == errc::overloaded);
        CHECK(describe(err).find("stash-capacity") != std::string::npos);
        ++overloaded;
      },
      caf::after(10s) >> [] { FAIL("no refusal"); });
  CHECK(overloaded == 6);
  self->send_exit(entity, caf::exit_reason::user_shutdown);
  self->send_exit(env->coordinator, caf::exit_reason::user_shutdown);
}

TEST_CASE_METHOD(fixture, "an idle entity is passivated and recovers on its "
                          "next command") {
  rt->stop();
  runtime_options opts;
  opts.journal_path = dir.path() + "/passivation";
  opts.journal.sync = journal::sync_mode::none;
  opts.registry.passivate_after = std::chrono::milliseconds{20};
  auto r = runtime::start(sys, opts);
  REQUIRE(r);
  rt = std::move(*r);
  auto accounts = rt->registry<account>();
  REQUIRE(!tell(accounts, "1", open_account{"gina"}));
  REQUIRE(*ask(accounts, "1", charge{42}) == 42);
  // Wait for the condition "passivated" by asking the registry. On a busy
  // machine the entity may also have been passivated between the two
  // commands: each passivation is followed by a spawn.
  registry_stats st;
  for (int i = 0; i < 1000 && (st.passivated == 0 || st.active > 0); ++i) {
    self->request(accounts, 10s, stats_atom::value)
      .receive([&](registry_stats& s) { st = s; },
               [](caf::error& err) { FAIL(describe(err)); });
    if (st.passivated == 0 || st.active > 0)
      self->receive(caf::after(std::chrono::milliseconds{5}) >> [] {});
  }
  REQUIRE(st.passivated >= 1);
  CHECK(st.active == 0);
  CHECK(st.spawned == st.passivated);
  // The next command spawns the entity again, which recovers its balance.
  REQUIRE(*ask(accounts, "1", charge{8}) == 50);
  auto passivated = st.passivated;
  self->request(accounts, 10s, stats_atom::value)
    .receive([&](registry_stats& s) { st = s; },
             [](caf::error& err) { FAIL(describe(err)); });
  CHECK(st.spawned >= passivated + 1);
}

TEST_CASE_METHOD(fixture, "the registry keeps at most max-active entities "
                          "running") {
  rt->stop();
  runtime_options opts;
  opts.journal_path = dir.path() + "/lru";
  opts.journal.sync = journal::sync_mode::none;
  opts.registry.max_active = 10;
  auto r = runtime::start(sys, opts);
  REQUIRE(r);
  rt = std::move(*r);
  auto accounts = rt->registry<account>();
  for (int i = 0; i < 30; ++i) {
    auto id = std::to_string(i);
    REQUIRE(!tell(accounts, id, open_account{id}));
    REQUIRE(*ask(accounts, id, charge{i + 1}) == i + 1);
  }
  registry_stats st;
  self->request(accounts, 10s, stats_atom::value)
    .receive([&](registry_stats& s) { st = s; },
             [](caf::error& err) { FAIL(describe(err)); });
  CHECK(st.active <= 10);
  CHECK(st.passivated >= 20);
  // Every entity, passivated or not, still answers with its own state.
  for (int i = 0; i < 30; ++i)
    CHECK(*ask(accounts, std::to_string(i), get_balance{}) == i + 1);
}

namespace {

/// What a charging client keeps between its requests.
struct charging_state {
  caf::actor accounts;
  caf::actor parent;
  int left = 0;
  int failures = 0;
};

using charging_actor = caf::stateful_actor<charging_state>;

/// Sends the next of `remaining` charges to `entity`, or counts the entity
/// as done and reports to the parent once every entity is.
void charge_next(charging_actor* self, int entity, int remaining) {
  auto& st = self->state;
  if (remaining == 0) {
    if (--st.left == 0)
      self->send(st.parent, st.failures);
    return;
  }
  self
    ->request(st.accounts, caf::infinite, entity_id{std::to_string(entity)},
              charge{1})
    .then([=](int64_t) { charge_next(self, entity, remaining - 1); },
          [=](caf::error&) {
            ++self->state.failures;
            charge_next(self, entity, remaining - 1);
          });
}

/// A client that sends `per_entity` charges of 1 cent to each of `n`
/// accounts, one command in flight per account, then reports to `parent`
/// how many commands failed.
caf::behavior charging_client(charging_actor* self, caf::actor accounts,
                              int n, int per_entity, caf::actor parent) {
  self->state.accounts = std::move(accounts);
  self->state.parent = std::move(parent);
  self->state.left = n;
  for (int i = 0; i < n; ++i)
    charge_next(self, i, per_entity);
  return {};
}

} // namespace

TEST_CASE_METHOD(fixture, "1000 entities under concurrent clients lose and "
                          "duplicate no event") {
  auto accounts = rt->registry<account>();
  constexpr int entities = 1000;
  constexpr int clients = 4;
  constexpr int per_client = 5;
  for (int i = 0; i < entities; ++i)
    self->send(accounts, entity_id{std::to_string(i)}, open_account{"g"});
  for (int i = 0; i < entities; ++i)
    self->receive([] {}, [](caf::error& err) { FAIL(describe(err)); },
                  caf::after(10s) >> [] { FAIL("no reply"); });
  for (int c = 0; c < clients; ++c)
    self->spawn(charging_client, accounts, entities, per_client,
                caf::actor{self});
  for (int c = 0; c < clients; ++c)
    self->receive([](int failures) { CHECK(failures == 0); },
                  caf::after(60s) >> [] { FAIL("a client did not end"); });
  auto expected = int64_t{clients * per_client};
  // Restart everything: recovery must give the same balances.
  rt->stop();
  rt.reset();
  start();
  accounts = rt->registry<account>();
  int wrong = 0;
  for (int i = 0; i < entities; ++i) {
    auto id = std::to_string(i);
    if (*ask(accounts, id, get_balance{}) != expected)
      ++wrong;
    auto evs = rt->journal()->read_stream("account-" + id, 1, 1000);
    REQUIRE(evs);
    if (evs->size() != static_cast<size_t>(expected + 1))
      ++wrong;
    for (size_t k = 0; k < evs->size(); ++k)
      if ((*evs)[k].version != k + 1)
        ++wrong;
  }
  CHECK(wrong == 0);
  auto report = journal::verify(*rt->journal());
  REQUIRE(report);
  CHECK(report->ok());
}

TEST_CASE_METHOD(fixture, "a failed commit answers every waiting command "
                          "with the error and advances no state") {
  auto accounts = rt->registry<account>();
  for (int i = 0; i < 20; ++i)
    REQUIRE(!tell(accounts, std::to_string(i), open_account{"h"}));
  self
    ->request(rt->coordinator(), 10s, inject_atom::value,
              injected_failure::next_commit)
    .receive([](bool) {}, [](caf::error& err) { FAIL(describe(err)); });
  for (int i = 0; i < 20; ++i)
    self->send(accounts, entity_id{std::to_string(i)}, charge{10});
  int storage = 0;
  int failed = 0;
  for (int i = 0; i < 20; ++i)
    self->receive([](int64_t) { FAIL("a charge succeeded"); },
                  [&](caf::error& err) {
                    if (code_of(err) == errc::storage_error)
                      ++storage;
                    else if (code_of(err) == errc::journal_failed)
                      ++failed;
                  },
                  caf::after(10s) >> [] { FAIL("no reply"); });
  CHECK(storage >= 1);
  CHECK(storage + failed == 20);
  for (int i = 0; i < 20; ++i)
    CHECK(*ask(accounts, std::to_string(i), get_balance{}) == 0);
  // Reopened, the journal takes writes again and nothing was half-done.
  rt->stop();
  rt.reset();
  start();
  accounts = rt->registry<account>();
  for (int i = 0; i < 20; ++i)
    CHECK(*ask(accounts, std::to_string(i), charge{10}) == 10);
}

namespace {

struct fragile_state {
  int64_t total = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(total);
  }
};

/// An aggregate whose user code throws: its handler on a charge of 13
/// cents, its `apply` on a charge of 99, its reply on a charge of 7.
struct fragile {
  static constexpr const char* category = "fragile";
  using state = fragile_state;
  using events = event_list<charged>;
  using commands = command_list<charge>;

  static state apply(state s, const charged& e) {
    if (e.cents == 99)
      throw std::runtime_error("cannot apply 99");
    s.total += e.cents;
    return s;
  }

  static effect<fragile> handle(const state&, const charge& c) {
    if (c.cents == 13)
      throw std::runtime_error("unlucky charge");
    if (c.cents == 7)
      return persist(charged{c.cents}).then_reply([](const state&) -> int64_t {
        throw std::runtime_error("no reply today");
      });
    return persist(charged{c.cents}).then_reply([](const state& n) {
      return n.total;
    });
  }
};

} // namespace

TEST_CASE_METHOD(fixture, "a command whose handler or apply throws is "
                          "rejected naming the exception, and the entity "
                          "takes its next commands") {
  auto f = rt->registry<fragile>();
  CHECK(*ask(f, "1", charge{5}) == 5);
  auto err = tell(f, "1", charge{13});
  REQUIRE(err);
  CHECK(code_of(err) == errc::rejected);
  CHECK(describe(err).find("unlucky charge") != std::string::npos);
  err = tell(f, "1", charge{99});
  REQUIRE(err);
  CHECK(code_of(err) == errc::rejected);
  CHECK(describe(err).find("cannot apply 99") != std::string::npos);
  CHECK(*rt->journal()->stream_version("fragile-1") == 1);
  CHECK(*ask(f, "1", charge{6}) == 11);
  // A reply that throws comes after the commit: the event is stored, and
  // the error says so.
  auto r = ask(f, "1", charge{7});
  REQUIRE(!r);
  CHECK(describe(r.error()).find("are stored") != std::string::npos);
  CHECK(describe(r.error()).find("no reply today") != std::string::npos);
  CHECK(*rt->journal()->stream_version("fragile-1") == 3);
  CHECK(*ask(f, "1", charge{1}) == 19);
}
