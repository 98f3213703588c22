#include "cairn/actors/outbox.hpp"

#include <atomic>
#include <memory>

#include <catch2/catch.hpp>

#include "caf/all.hpp"

#include "cairn/actors/process_instance.hpp"
#include "cairn/journal/codec.hpp"
#include "cairn/journal/verify.hpp"
#include "tests/actors/account.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cairn;
using namespace cairn::test;
using namespace std::chrono_literals;

namespace {

// -- a manager in one journal that bills accounts kept in another ------------

/// Input: bill `cents` to `account` (stream desk-<bill>); `cents` 0 asks to
/// check the account out instead (a command type without `serialize`).
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
    if (e.cents == 0)
      return step<biller>{}.send<account>(e.account, check_out{});
    return step<biller>{}.send<account>(e.account, charge{e.cents});
  }
  static step<biller> react(const state&, const command_result& r) {
    return step<biller>{}.emit(bill_settled{r.accepted, r.why}).complete();
  }
};

/// Two runtimes in one actor system: `billing` runs the manager in its own
/// journal, `ledger` keeps the accounts in another.
struct fixture {
  temp_dir billing_dir;
  temp_dir ledger_dir;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  std::unique_ptr<runtime> billing;
  std::unique_ptr<runtime> ledger;

  fixture() {
    ledger = start(ledger_dir);
    start_billing();
  }

  ~fixture() {
    if (billing)
      billing->stop();
    if (ledger)
      ledger->stop();
  }

  std::unique_ptr<runtime> start(temp_dir& dir) {
    runtime_options opts;
    opts.journal_path = dir.path();
    opts.journal.sync = journal::sync_mode::none;
    auto r = runtime::start(sys, opts);
    REQUIRE(r);
    return std::move(*r);
  }

  void start_billing() {
    billing = start(billing_dir);
    billing->route<account>(ledger->registry<account>());
    start_process_manager<biller>(*billing);
  }

  void open(const std::string& id) {
    self
      ->request(ledger->registry<account>(), 10s, entity_id{id},
                open_account{id})
      .receive([] {}, [](caf::error& err) { FAIL(describe(err)); });
  }

  int64_t balance(const std::string& id) {
    int64_t result = -1;
    self
      ->request(ledger->registry<account>(), 10s, entity_id{id}, get_balance{})
      .receive([&](int64_t x) { result = x; },
               [](caf::error& err) { FAIL(describe(err)); });
    return result;
  }

  void request_bill(const std::string& bill, const std::string& acc,
                    int64_t cents) {
    journal::codec c;
    c.add<bill_requested>(bill_requested::event_name);
    journal::write_group g;
    journal::append a;
    a.stream = "desk-" + bill;
    a.events.push_back(c.encode(bill_requested{bill, acc, cents}));
    g.appends.push_back(a);
    commit(*billing, g);
  }

  void commit(runtime& rt, const journal::write_group& g) {
    self->request(rt.coordinator(), 10s, commit_atom::value, g)
      .receive([](journal::group_receipt&) {},
               [](caf::error& err) { FAIL(describe(err)); });
  }

  /// Waits for `pred` to hold, checking the journal as it goes.
  template <class Pred>
  bool eventually(Pred pred) {
    for (int i = 0; i < 2000; ++i) {
      if (pred())
        return true;
      self->receive(caf::after(std::chrono::milliseconds{5}) >> [] {});
    }
    return false;
  }

  /// The settlements recorded in the stream of bill `bill`.
  std::vector<bill_settled> settlements(const std::string& bill) {
    journal::codec c;
    c.add<bill_settled>(bill_settled::event_name);
    std::vector<bill_settled> result;
    auto evs = billing->journal()->read_stream("biller-" + bill);
    REQUIRE(evs);
    for (auto& ev : *evs)
      if (ev.record.type == bill_settled::event_name)
        result.push_back(*c.decode<bill_settled>(ev));
    return result;
  }

  size_t outbox_rows() {
    auto rows = billing->journal()->table_scan(outbox_table);
    REQUIRE(rows);
    return rows->size();
  }

  /// `(delivered, duplicates, retries, pending, corrupt)` of billing's
  /// dispatcher.
  using stats_tuple
    = std::tuple<uint64_t, uint64_t, uint64_t, uint64_t, uint64_t>;
  stats_tuple dispatcher_stats() {
    stats_tuple result;
    self->request(billing->outbox(), 10s, stats_atom::value)
      .receive([&](uint64_t d, uint64_t dup, uint64_t r, uint64_t p,
                   uint64_t c) { result = std::make_tuple(d, dup, r, p, c); },
               [](caf::error& err) { FAIL(describe(err)); });
    return result;
  }
};

} // namespace

TEST_CASE("the outbox keys of a journal sort in the order they are made, "
          "whatever their streams") {
  std::string id(32, 'a');
  auto first = outbox_key(id, "zz-1", 9, 0);
  // The next key made at a later nanosecond (the clock may repeat one).
  std::string second;
  for (int i = 0; i < 1000000; ++i) {
    second = outbox_key(id, "aa-1", 0, 0);
    if (second.compare(33, 16, first, 33, 16) != 0)
      break;
  }
  REQUIRE(second.compare(33, 16, first, 33, 16) != 0);
  CHECK(first < second);
  CHECK(first.compare(0, 33, id + "#") == 0);
  CHECK(first.compare(first.size() - 9, 9, "#zz-1#9#0") == 0);
}

TEST_CASE_METHOD(fixture, "a command to an aggregate of another journal "
                          "goes through the outbox and its outcome comes "
                          "back as an input") {
  open("ann");
  request_bill("b1", "ann", 25);
  REQUIRE(eventually([&] { return !settlements("b1").empty(); }));
  auto s = settlements("b1");
  REQUIRE(s.size() == 1);
  CHECK(s[0].accepted);
  CHECK(balance("ann") == 25);
  CHECK(outbox_rows() == 0);
  // The target stored the command's key with its event.
  auto stats = ledger->journal()->stats();
  REQUIRE(stats);
  CHECK(stats->dedup_keys == 1);
  for (auto* rt : {billing.get(), ledger.get()}) {
    auto report = journal::verify(*rt->journal());
    REQUIRE(report);
    CHECK(report->ok());
  }
}

TEST_CASE_METHOD(fixture, "a redelivered command has no second effect") {
  open("ben");
  request_bill("b2", "ben", 10);
  REQUIRE(eventually([&] { return !settlements("b2").empty(); }));
  REQUIRE(balance("ben") == 10);
  auto version = *ledger->journal()->stream_version("account-ben");
  // The key the step gave its command, as its outcome records it: the
  // journal's id, the time, the manager's stream, the version before the
  // step, the command's index.
  auto outcomes = billing->journal()->read_stream(std::string{outcome_category}
                                                  + "-biller-b2");
  REQUIRE(outcomes);
  REQUIRE(outcomes->size() == 1);
  auto outcome = journal::from_bytes<remote_outcome>(
    outcomes->front().record.payload, "the outcome of b2");
  REQUIRE(outcome);
  auto key = outcome->key;
  CHECK(key.size() == 32 + 1 + 16 + 1 + 9 + 4);
  CHECK(key.compare(0, 33, billing->journal()->id() + "#") == 0);
  CHECK(key.compare(key.size() - 14, 14, "#biller-b2#0#0") == 0);
  auto enc = detail::encode_remote_command<account>(charge{10});
  REQUIRE(enc);
  SECTION("delivered again to the entity, it is refused as a duplicate") {
    self
      ->request(ledger->registry<account>(), 10s, entity_id{"ben"},
                deliver_atom::value, key, enc->first, enc->second)
      .receive([](const caf::message&) { FAIL("applied twice"); },
               [](caf::error& err) { CHECK(code_of(err) == errc::duplicate); });
  }
  SECTION("a row that survived a crash is delivered again at start, "
          "without a second effect or a second outcome") {
    journal::write_group g;
    g.tables.push_back(journal::table_write{
      outbox_table, key,
      journal::to_bytes(outbox_entry{"biller", "b2", "account", "ben",
                                     enc->first, enc->second}),
      false});
    commit(*billing, g);
    billing->stop();
    billing.reset();
    start_billing();
    REQUIRE(eventually([&] { return outbox_rows() == 0; }));
    CHECK(std::get<1>(dispatcher_stats()) == 1); // answered as a duplicate
    CHECK(settlements("b2").size() == 1);
  }
  CHECK(balance("ben") == 10);
  CHECK(*ledger->journal()->stream_version("account-ben") == version);
}

TEST_CASE_METHOD(fixture, "commands of same-named instances in two journals "
                          "to the same target both take effect") {
  open("eve");
  // A second billing runtime on its own journal, with an instance of the
  // same stream name commanding the same account.
  temp_dir other_dir;
  auto other = start(other_dir);
  other->route<account>(ledger->registry<account>());
  start_process_manager<biller>(*other);
  REQUIRE(other->journal()->id() != billing->journal()->id());
  request_bill("b7", "eve", 25);
  journal::codec c;
  c.add<bill_requested>(bill_requested::event_name);
  journal::write_group g;
  g.appends.push_back({"desk-b7", journal::expected_version::any(), {}});
  g.appends.back().events.push_back(c.encode(bill_requested{"b7", "eve", 25}));
  commit(*other, g);
  REQUIRE(eventually([&] { return !settlements("b7").empty(); }));
  auto other_settled = [&] {
    auto evs = other->journal()->read_stream("biller-b7");
    REQUIRE(evs);
    for (auto& ev : *evs)
      if (ev.record.type == bill_settled::event_name)
        return true;
    return false;
  };
  REQUIRE(eventually(other_settled));
  CHECK(settlements("b7").at(0).accepted);
  CHECK(balance("eve") == 50);
  auto stats = ledger->journal()->stats();
  REQUIRE(stats);
  CHECK(stats->dedup_keys == 2);
  other->stop();
}

TEST_CASE_METHOD(fixture, "a duplicate that does not name the command's key "
                          "is recorded as a rejection, not as accepted") {
  // A target whose own rule refuses with errc::duplicate.
  auto target = sys.spawn([]() -> caf::behavior {
    return {
      [](entity_id&, deliver_atom, std::string&, uint32_t,
         std::string&) -> caf::result<void> {
        return make_error(errc::duplicate, "account already exists");
      },
    };
  });
  billing->route<account>(target);
  request_bill("b8", "fay", 5);
  REQUIRE(eventually([&] { return !settlements("b8").empty(); }));
  auto s = settlements("b8");
  CHECK(!s.at(0).accepted);
  CHECK(s.at(0).why.find("account already exists") != std::string::npos);
  CHECK(std::get<1>(dispatcher_stats()) == 0);
  self->send_exit(target, caf::exit_reason::user_shutdown);
}

TEST_CASE_METHOD(fixture, "while the other journal's runtime is down the "
                          "command waits in the outbox; nothing is lost") {
  open("cid");
  ledger->stop(); // the routed registry is gone
  request_bill("b3", "cid", 7);
  REQUIRE(eventually([&] { return std::get<2>(dispatcher_stats()) >= 2; }));
  CHECK(outbox_rows() == 1);
  CHECK(settlements("b3").empty());
  ledger.reset();
  ledger = start(ledger_dir);
  billing->route<account>(ledger->registry<account>());
  REQUIRE(eventually([&] { return !settlements("b3").empty(); }));
  CHECK(settlements("b3")[0].accepted);
  CHECK(balance("cid") == 7);
  CHECK(outbox_rows() == 0);
}

TEST_CASE_METHOD(fixture, "refusals through the outbox are outcomes") {
  SECTION("the target rejects the command") {
    request_bill("b4", "nobody", 5);
    REQUIRE(eventually([&] { return !settlements("b4").empty(); }));
    auto s = settlements("b4");
    CHECK(!s[0].accepted);
    CHECK(s[0].why.find("not open") != std::string::npos);
  }
  SECTION("a command type without serialize cannot travel") {
    open("dan");
    request_bill("b5", "dan", 0);
    REQUIRE(eventually([&] { return !settlements("b5").empty(); }));
    auto s = settlements("b5");
    CHECK(!s[0].accepted);
    CHECK(s[0].why.find("no serialize function") != std::string::npos);
    CHECK(*ledger->journal()->stream_version("account-dan") == 1);
  }
  CHECK(outbox_rows() == 0);
}

TEST_CASE_METHOD(fixture, "bad deliveries and bad outbox rows are refused "
                          "by name and lose nothing") {
  open("eve");
  SECTION("a command index the aggregate does not have") {
    self
      ->request(ledger->registry<account>(), 10s, entity_id{"eve"},
                deliver_atom::value, std::string{"k1"}, uint32_t{99},
                std::string{})
      .receive([](const caf::message&) { FAIL("accepted index 99"); },
               [](caf::error& err) {
                 CHECK(code_of(err) == errc::invalid_argument);
                 CHECK(describe(err).find("command index 99 is not a "
                                          "command of this aggregate")
                       != std::string::npos);
               });
  }
  SECTION("command bytes that do not decode") {
    auto index = detail::encode_remote_command<account>(charge{1})->first;
    self
      ->request(ledger->registry<account>(), 10s, entity_id{"eve"},
                deliver_atom::value, std::string{"k2"}, index,
                std::string{"\x01"})
      .receive([](const caf::message&) { FAIL("accepted garbage"); },
               [](caf::error& err) {
                 CHECK(code_of(err) == errc::corrupt_record);
                 CHECK(describe(err).find("delivered command")
                       != std::string::npos);
               });
  }
  SECTION("an outbox row that does not decode stays; the others go on") {
    journal::write_group g;
    g.tables.push_back(
      journal::table_write{outbox_table, "biller-x#0#0", "garbage", false});
    commit(*billing, g);
    billing->stop();
    billing.reset();
    start_billing();
    request_bill("b6", "eve", 3);
    REQUIRE(eventually([&] { return !settlements("b6").empty(); }));
    CHECK(std::get<4>(dispatcher_stats()) == 1);
    CHECK(outbox_rows() == 1); // kept for inspection
  }
  CHECK(balance("eve") == (outbox_rows() == 1 ? 3 : 0));
  CHECK(*ledger->journal()->stream_version("account-eve")
        == (outbox_rows() == 1 ? 2 : 1));
}

TEST_CASE_METHOD(fixture, "a command through the outbox is recorded on its "
                          "first delivery, without a retry") {
  open("gil");
  request_bill("b9", "gil", 4);
  REQUIRE(eventually([&] { return !settlements("b9").empty(); }));
  REQUIRE(eventually([&] { return outbox_rows() == 0; }));
  auto [delivered, duplicates, retries, pending, corrupt] = dispatcher_stats();
  CHECK(delivered == 1);
  CHECK(duplicates == 0);
  CHECK(retries == 0);
  CHECK(pending == 0);
  CHECK(corrupt == 0);
}

TEST_CASE_METHOD(fixture, "a target's answer of any type counts as the "
                          "command's acceptance, even one that stores "
                          "nothing") {
  // Answers without storing the key: a redelivery would take effect again,
  // so only the first answer can tell the dispatcher the command was taken.
  auto answers = std::make_shared<std::atomic<int>>(0);
  caf::actor target;
  SECTION("a value") {
    target = sys.spawn([answers]() -> caf::behavior {
      return {
        [answers](entity_id&, deliver_atom, std::string&, uint32_t,
                  std::string&) -> std::string {
          ++*answers;
          return "taken";
        },
      };
    });
  }
  SECTION("an empty answer") {
    target = sys.spawn([answers]() -> caf::behavior {
      return {
        [answers](entity_id&, deliver_atom, std::string&, uint32_t,
                  std::string&) { ++*answers; },
      };
    });
  }
  billing->route<account>(target);
  request_bill("b10", "hal", 6);
  REQUIRE(eventually([&] { return !settlements("b10").empty(); }));
  CHECK(settlements("b10").at(0).accepted);
  CHECK(*answers == 1);
  CHECK(std::get<2>(dispatcher_stats()) == 0); // no retry
  self->send_exit(target, caf::exit_reason::user_shutdown);
}
