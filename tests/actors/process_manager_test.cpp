#include "cairn/actors/process_manager.hpp"

#include <catch2/catch.hpp>

#include "caf/all.hpp"

#include "cairn/actors/dead_letter.hpp"
#include "cairn/actors/process_instance.hpp"
#include "cairn/actors/process_router.hpp"
#include "cairn/journal/codec.hpp"
#include "cairn/journal/verify.hpp"
#include "tests/actors/group_checkout.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cairn;
using namespace cairn::test;
using namespace std::chrono_literals;

namespace {

/// Input of `one_shot`.
struct one_shot_requested {
  static constexpr const char* event_name = "one_shot_requested";
  std::string account;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(account);
  }
};

/// Recorded when `one_shot` reacts to an outcome (it must not).
struct one_shot_noted {
  static constexpr const char* event_name = "one_shot_noted";
  template <class Archive>
  void serialize(Archive&) {
    // nop
  }
};

/// Charges an account and completes in the same step.
struct one_shot {
  static constexpr const char* category = "oneshot";
  struct state {
    template <class Archive>
    void serialize(Archive&) {
      // nop
    }
  };
  using events = event_list<one_shot_noted>;
  using inputs = event_list<one_shot_requested>;
  static std::string correlate(const one_shot_requested& e) {
    return e.account;
  }
  static state apply(state s, const one_shot_noted&) {
    return s;
  }
  static step<one_shot> react(const state&, const one_shot_requested& e) {
    return step<one_shot>{}.send<account>(e.account, charge{5}).complete();
  }
  static step<one_shot> react(const state&, const command_result&) {
    return step<one_shot>{}.emit(one_shot_noted{});
  }
};

struct fixture {
  temp_dir dir;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  std::unique_ptr<runtime> rt;
  caf::actor accounts;
  uint64_t snapshot_every = 100;

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
    opts.aggregates.snapshot_every = snapshot_every;
    auto r = runtime::start(sys, opts);
    REQUIRE(r);
    rt = std::move(*r);
    accounts = rt->registry<account>();
  }

  template <class Cmd>
  void tell(const std::string& id, Cmd cmd) {
    self->send(accounts, entity_id{id}, std::move(cmd));
    self->receive([] {}, [](int64_t) {},
                  [&](caf::error& err) { FAIL(describe(err)); },
                  caf::after(10s) >> [] { FAIL("no reply to a command"); });
  }

  /// Commits the front desk's request as an event of stream frontdesk-<g>.
  void request_checkout(const std::string& group,
                        std::vector<std::string> guests) {
    journal::codec c;
    c.add<group_checkout_requested>(group_checkout_requested::event_name);
    journal::write_group g;
    journal::append a;
    a.stream = "frontdesk-" + group;
    a.events.push_back(c.encode(group_checkout_requested{group, guests}));
    g.appends.push_back(a);
    self->request(rt->coordinator(), 10s, commit_atom::value, g)
      .receive([](journal::group_receipt&) {},
               [](caf::error& err) { FAIL(describe(err)); });
  }

  /// Reads the decoded group_finished event of a checkout, waiting for the
  /// condition "the process has completed" by polling the journal.
  std::optional<group_finished> await_finished(const std::string& group) {
    journal::codec c;
    c.add<group_finished>(group_finished::event_name);
    for (int i = 0; i < 2000; ++i) {
      auto evs = rt->journal()->read_stream("checkout-" + group);
      REQUIRE(evs);
      for (auto& ev : *evs)
        if (ev.record.type == group_finished::event_name)
          return *c.decode<group_finished>(ev);
      self->receive(caf::after(std::chrono::milliseconds{5}) >> [] {});
    }
    // Say what is there, to explain the failure.
    if (auto all = rt->journal()->read_all(1, 1000))
      for (auto& ev : all->events)
        UNSCOPED_INFO(ev.position << " " << ev.stream << " v" << ev.version
                                  << " " << ev.record.type);
    return std::nullopt;
  }
};

} // namespace

TEST_CASE_METHOD(fixture, "a group checkout checks out every guest and "
                          "records the one with an unsettled balance") {
  for (auto id : {"ann", "ben", "cid"})
    tell(id, open_account{id});
  tell("ben", charge{40});
  start_process_manager<group_checkout>(*rt);
  request_checkout("g1", {"ann", "ben", "cid"});
  auto fin = await_finished("g1");
  REQUIRE(fin);
  CHECK(fin->failures == std::vector<std::string>{"ben"});
  // ann and cid are checked out: a charge is refused now.
  self->send(accounts, entity_id{"ann"}, charge{1});
  self->receive([](int64_t) { FAIL("charged a closed account"); },
                [](caf::error& err) {
                  CHECK(describe(err).find("not open") != std::string::npos);
                },
                caf::after(10s) >> [] { FAIL("no reply to the charge"); });
  CHECK(*rt->journal()->stream_version("account-ben") == 2);
  // Each checkout event of an account committed in the same transaction
  // as the manager's step that commanded it.
  auto report = journal::verify(*rt->journal());
  REQUIRE(report);
  CHECK(report->ok());
}

TEST_CASE_METHOD(fixture, "after a restart no input has its effect twice") {
  for (auto id : {"a", "b"})
    tell(id, open_account{id});
  start_process_manager<group_checkout>(*rt);
  request_checkout("g2", {"a", "b"});
  REQUIRE(await_finished("g2"));
  auto before = *rt->journal()->stream_version("checkout-g2");
  // Restart with the router's checkpoint removed: every input is read
  // again from the start of the log.
  rt->stop();
  rt.reset();
  start();
  journal::write_group reset;
  reset.checkpoints.emplace_back(router_checkpoint_of("checkout"), 0);
  self->request(rt->coordinator(), 10s, commit_atom::value, reset)
    .receive([](journal::group_receipt&) {},
             [](caf::error& err) { FAIL(describe(err)); });
  start_process_manager<group_checkout>(*rt);
  request_checkout("g3", {"a"}); // a later input, to know the replay ran
  REQUIRE(await_finished("g3"));
  CHECK(*rt->journal()->stream_version("checkout-g2") == before);
  CHECK(*rt->journal()->stream_version("account-a") == 3); // checked out
                                                           // twice: g2, g3
}

TEST_CASE_METHOD(fixture, "a completed process does not react to the "
                          "outcomes of its last step's commands") {
  tell("z", open_account{"z"});
  auto reg = start_process_manager<one_shot>(*rt);
  journal::codec c;
  c.add<one_shot_requested>(one_shot_requested::event_name);
  journal::write_group g;
  journal::append a;
  a.stream = "desk-z";
  a.events.push_back(c.encode(one_shot_requested{"z"}));
  g.appends.push_back(a);
  self->request(rt->coordinator(), 10s, commit_atom::value, g)
    .receive([](journal::group_receipt&) {},
             [](caf::error& err) { FAIL(describe(err)); });
  auto input = rt->journal()->read_stream("desk-z");
  REQUIRE(input);
  REQUIRE(input->size() == 1);
  // Hand the input to the instance twice: the first answer comes once its
  // step committed; the second once everything queued before it (the
  // outcome of the charge) has been dealt with.
  for (int i = 0; i < 2; ++i)
    self->request(reg, 10s, entity_id{"z"}, input_atom::value, input->at(0))
      .receive([] {}, [](caf::error& err) { FAIL(describe(err)); });
  auto evs = rt->journal()->read_stream("oneshot-z");
  REQUIRE(evs);
  for (auto& ev : *evs)
    CHECK(ev.record.type != one_shot_noted::event_name);
  CHECK(evs->back().record.type == step_record::event_name);
  // The command itself took effect.
  self->request(accounts, 10s, entity_id{"z"}, get_balance{})
    .receive([](int64_t x) { CHECK(x == 5); },
             [](caf::error& err) { FAIL(describe(err)); });
}

TEST_CASE_METHOD(fixture, "an instance recovers from its snapshot and the "
                          "tail of its stream") {
  snapshot_every = 2;
  rt->stop();
  start();
  for (auto id : {"s1", "s2", "s3"})
    tell(id, open_account{id});
  auto reg = start_process_manager<group_checkout>(*rt);
  request_checkout("g9", {"s1", "s2", "s3"});
  REQUIRE(await_finished("g9"));
  // The snapshot is written after the step that crossed the interval.
  std::optional<journal::snapshot> snap;
  for (int i = 0; i < 2000 && !snap; ++i) {
    auto x = rt->journal()->latest_snapshot("checkout-g9");
    REQUIRE(x);
    if (*x)
      snap = **x;
    else
      self->receive(caf::after(std::chrono::milliseconds{5}) >> [] {});
  }
  REQUIRE(snap);
  CHECK(snap->type == "cairn.process.checkout");
  auto state_of = [&](caf::actor r) {
    std::pair<uint64_t, std::string> result;
    self->request(r, 10s, entity_id{"g9"}, get_state_atom::value)
      .receive(
        [&](uint64_t v, std::string& bytes) {
          result = {v, bytes};
        },
        [](caf::error& err) { FAIL(describe(err)); });
    return result;
  };
  auto before = state_of(reg);
  // Without the events the snapshot covers, only the snapshot can restore
  // the state.
  // Retention keeps what a reader has not read: the router reads past them
  // first.
  auto last = rt->journal()->last_position();
  REQUIRE(last);
  REQUIRE(await_caught_up(sys, rt->routers().at(0), *last, 10s));
  REQUIRE(rt->journal()->truncate_before("checkout-g9", snap->version + 1)
          == snap->version + 1);
  rt->stop();
  start();
  reg = start_process_manager<group_checkout>(*rt);
  CHECK(state_of(reg) == before);
  // The restored bookkeeping knows the input was handled.
  auto input = rt->journal()->read_stream("frontdesk-g9");
  REQUIRE(input);
  self->request(reg, 10s, entity_id{"g9"}, input_atom::value, input->at(0))
    .receive([] {}, [](caf::error& err) { FAIL(describe(err)); });
  CHECK(state_of(reg).first == before.first);
}

TEST_CASE_METHOD(fixture, "router settings of zero are refused by name") {
  router_settings rs;
  rs.max_in_flight = 0;
  CHECK_THROWS_WITH(start_process_manager<one_shot>(*rt, rs),
                    Catch::Contains("max_in_flight and read_chunk must be at "
                                    "least 1"));
}

TEST_CASE_METHOD(fixture, "a recovery chunk of zero is refused by name, and "
                          "an instance given one still recovers") {
  runtime_options opts;
  opts.journal_path = dir.path() + "/other";
  opts.journal.sync = journal::sync_mode::none;
  opts.aggregates.recovery_chunk = 0;
  // The runtime refuses it before a process manager could take it.
  auto other = runtime::start(sys, opts);
  REQUIRE(!other);
  CHECK(code_of(other.error()) == errc::bad_config);
  CHECK_THAT(describe(other.error()),
             Catch::Contains("aggregates.recovery-chunk"));
  // An instance spawned with such an environment replays in chunks of one.
  tell("r", open_account{"r"});
  start_process_manager<group_checkout>(*rt);
  request_checkout("g0", {"r"});
  REQUIRE(await_finished("g0"));
  auto env = std::make_shared<process_env>();
  env->journal = rt->journal();
  env->coordinator = rt->coordinator();
  env->recovery_chunk = 0;
  std::shared_ptr<const process_env> cenv = env;
  auto inst
    = sys.spawn(detail::process_impl<group_checkout>, cenv, std::string{"g0"});
  self->request(inst, 10s, get_state_atom::value)
    .receive(
      [&](uint64_t v, std::string&) {
        CHECK(v == *rt->journal()->stream_version("checkout-g0"));
      },
      [](caf::error& err) { FAIL(describe(err)); });
  self->send_exit(inst, caf::exit_reason::user_shutdown);
}

TEST_CASE_METHOD(fixture, "an instance whose snapshot is corrupt recovers "
                          "from the start of its stream") {
  tell("q", open_account{"q"});
  auto reg = start_process_manager<group_checkout>(*rt);
  request_checkout("g5", {"q"});
  REQUIRE(await_finished("g5"));
  auto version = *rt->journal()->stream_version("checkout-g5");
  // A snapshot whose bytes are then damaged on disk.
  std::string marker = "CAIRN-CORRUPTION-MARKER/snapshot/";
  marker.resize(64, '#');
  journal::write_group g;
  g.snapshots.push_back(journal::snapshot{"checkout-g5", version,
                                          "cairn.process.checkout", marker});
  self->request(rt->coordinator(), 10s, commit_atom::value, g)
    .receive([](journal::group_receipt&) {},
             [](caf::error& err) { FAIL(describe(err)); });
  rt->stop();
  rt.reset();
  auto path = dir.path() + "/data.mdb";
  auto bytes = test::read_file(path);
  size_t copies = 0;
  for (auto i = bytes.find(marker); i != std::string::npos;
       i = bytes.find(marker, i + 1), ++copies)
    for (size_t k = 20; k < 40; ++k)
      bytes[i + k] = static_cast<char>(bytes[i + k] ^ 0x5A);
  REQUIRE(copies >= 1);
  test::write_file(path, bytes);
  start();
  auto snap = rt->journal()->latest_snapshot("checkout-g5");
  REQUIRE(!snap);
  REQUIRE(code_of(snap.error()) == errc::corrupt_record);
  reg = start_process_manager<group_checkout>(*rt);
  self->request(reg, 10s, entity_id{"g5"}, get_state_atom::value)
    .receive([&](uint64_t v, std::string&) { CHECK(v == version); },
             [](caf::error& err) { FAIL(describe(err)); });
}

TEST_CASE_METHOD(fixture, "an instance refuses a message it does not know, "
                          "and runs on") {
  auto reg = start_process_manager<group_checkout>(*rt);
  tell("u", open_account{"u"});
  request_checkout("gu", {"u"});
  REQUIRE(await_finished("gu"));
  // Not an input of the manager: CAF's unexpected_message, to the asker.
  caf::error err;
  self->request(reg, 10s, entity_id{"gu"}, std::string{"open sesame"})
    .receive([](const caf::message&) { FAIL("answered"); },
             [&](caf::error& e) { err = std::move(e); });
  CHECK(err == caf::sec::unexpected_message);
  // The instance still answers for its state.
  uint64_t version = 0;
  self->request(reg, 10s, entity_id{"gu"}, get_state_atom::value)
    .receive([&](uint64_t v, std::string&) { version = v; },
             [](caf::error& e) { FAIL(describe(e)); });
  auto stored = rt->journal()->stream_version("checkout-gu");
  REQUIRE(stored);
  CHECK(version == *stored);
  CHECK(version > 0);
}

TEST_CASE_METHOD(fixture, "an instance that took an input within the idle "
                          "time declines its registry's idle passivation, "
                          "and stops once idle that long") {
  auto reg = start_process_manager<group_checkout>(*rt);
  tell("v", open_account{"v"});
  request_checkout("gv", {"v"});
  REQUIRE(await_finished("gv"));
  caf::actor instance;
  self->request(reg, 10s, resolve_atom::value, entity_id{"gv"})
    .receive([&](caf::actor& hdl) { instance = hdl; },
             [](caf::error& e) { FAIL(describe(e)); });
  REQUIRE(instance);
  // Its router hands it inputs past the registry: only the instance knows
  // when it took the last one.
  auto idle_check = [&](caf::timespan idle) {
    std::optional<bool> stops;
    self
      ->request(instance, 10s, passivate_atom::value, idle_check_atom::value,
                idle)
      .receive([&](bool b) { stops = b; },
               [](caf::error& e) { FAIL(describe(e)); });
    return stops;
  };
  CHECK(idle_check(std::chrono::hours{1}) == std::optional<bool>{false});
  uint64_t version = 0;
  self->request(instance, 10s, get_state_atom::value)
    .receive([&](uint64_t v, std::string&) { version = v; },
             [](caf::error& e) { FAIL(describe(e)); });
  CHECK(version > 0);
  // Idle for longer than no time at all: it stops.
  self->monitor(instance);
  CHECK(idle_check(caf::timespan{0}) == std::optional<bool>{true});
  self->receive([](caf::down_msg&) {},
                caf::after(10s) >> [] { FAIL("the instance did not stop"); });
}

namespace {

/// Input of `fragile`: note one for instance `id`, or throw from `react`.
struct fragile_requested {
  static constexpr const char* event_name = "fragile_requested";
  std::string id;
  bool poison = false;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(id, poison);
  }
};

struct fragile_noted {
  static constexpr const char* event_name = "fragile_noted";
  template <class Archive>
  void serialize(Archive&) {
    // nop
  }
};

/// A manager whose `react` throws on a poisoned input.
struct fragile {
  static constexpr const char* category = "fragile";
  struct state {
    int64_t noted = 0;
    template <class Archive>
    void serialize(Archive& ar) {
      ar(noted);
    }
  };
  using events = event_list<fragile_noted>;
  using inputs = event_list<fragile_requested>;

  static std::string correlate(const fragile_requested& e) {
    return e.id;
  }
  static state apply(state s, const fragile_noted&) {
    ++s.noted;
    return s;
  }
  static step<fragile> react(const state&, const fragile_requested& e) {
    if (e.poison)
      throw std::runtime_error("poisoned input for " + e.id);
    return step<fragile>{}.emit(fragile_noted{});
  }
};

} // namespace

TEST_CASE_METHOD(fixture, "an input whose reaction throws becomes a dead "
                          "letter that names the exception, and the "
                          "instance's next inputs take effect") {
  start_process_manager<fragile>(*rt);
  journal::codec c;
  c.add<fragile_requested>(fragile_requested::event_name);
  journal::write_group g;
  journal::append a;
  a.stream = "fragile_in-f1";
  for (auto poison : {false, true, false})
    a.events.push_back(c.encode(fragile_requested{"f1", poison}));
  g.appends.push_back(a);
  uint64_t first = 0;
  self->request(rt->coordinator(), 10s, commit_atom::value, g)
    .receive(
      [&](journal::group_receipt& r) {
        first = r.appends.front().first_position;
      },
      [](caf::error& err) { FAIL(describe(err)); });
  REQUIRE(first > 0);
  auto last = first + 2;
  auto caught_up = await_caught_up(sys, rt->routers().at(0), last, 10s);
  REQUIRE(caught_up);
  CHECK(*caught_up >= last);
  auto rows = dead_letters(*rt->journal());
  REQUIRE(rows);
  REQUIRE(rows->size() == 1);
  auto& row = rows->begin()->second;
  CHECK(row.position == first + 1);
  CHECK(row.error.find("rejected") != std::string::npos);
  CHECK(row.error.find("threw: poisoned input for f1") != std::string::npos);
  // The inputs before and after it took effect, each once.
  auto evs = rt->journal()->read_stream("fragile-f1");
  REQUIRE(evs);
  size_t noted = 0;
  for (auto& ev : *evs)
    if (ev.record.type == fragile_noted::event_name)
      ++noted;
  CHECK(noted == 2);
}

namespace {

/// An event of `tally`: adds `n`.
struct tally_noted {
  static constexpr const char* event_name = "tally_noted";
  int64_t n = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(n);
  }
};

/// A manager whose state sums its events, for the fold of a committed step.
struct tally {
  static constexpr const char* category = "tally";
  struct state {
    int64_t sum = 0;
    int64_t count = 0;
    template <class Archive>
    void serialize(Archive& ar) {
      ar(sum, count);
    }
  };
  using events = event_list<tally_noted>;
  using inputs = event_list<one_shot_requested>;
  static std::string correlate(const one_shot_requested& e) {
    return e.account;
  }
  static state apply(state s, const tally_noted& e) {
    s.sum += e.n;
    ++s.count;
    return s;
  }
  static step<tally> react(const state&, const one_shot_requested&) {
    return {};
  }
};

/// Folds `written` and then `rec` into a copy of `base` as a committed step
/// does (typed), and into another copy as a replay does (the stored
/// records), and checks that both copies agree.
void check_same_fold(const detail::process_state<tally>& base,
                     std::vector<detail::written_event<tally>> written,
                     const step_record& rec) {
  using namespace cairn::detail;
  auto& c = process_codec_of<tally>();
  auto replayed = base;
  journal::stored_event ev;
  ev.stream = "tally-1";
  auto replay = [&](journal::event_record r) {
    ++ev.version;
    ++ev.position;
    ev.record = std::move(r);
    auto err = fold_process_event<tally>(replayed, ev);
    REQUIRE(!err);
  };
  for (auto& x : written)
    std::visit(
      [&](auto& y) {
        using type = std::decay_t<decltype(y)>;
        if constexpr (std::is_same_v<type, step<tally>::event_type>)
          std::visit([&](auto& e) { replay(c.encode(e)); }, y);
        else
          replay(c.encode(y));
      },
      x);
  replay(c.encode(rec));
  auto live = base;
  for (auto& x : written)
    fold_written<tally>(live, x);
  fold_builtin<tally>(live, rec);
  live.version = ev.version;
  CHECK(live.version == replayed.version);
  CHECK(live.value.sum == replayed.value.sum);
  CHECK(live.value.count == replayed.value.count);
  CHECK(live.last_input == replayed.last_input);
  CHECK(live.remote_inputs == replayed.remote_inputs);
  CHECK(live.deadlines == replayed.deadlines);
  CHECK(live.due == replayed.due);
  CHECK(live.completed == replayed.completed);
  REQUIRE(live.outcomes.size() == replayed.outcomes.size());
  for (size_t i = 0; i < live.outcomes.size(); ++i) {
    CHECK(live.outcomes[i].category == replayed.outcomes[i].category);
    CHECK(live.outcomes[i].entity == replayed.outcomes[i].entity);
    CHECK(live.outcomes[i].accepted == replayed.outcomes[i].accepted);
    CHECK(live.outcomes[i].why == replayed.outcomes[i].why);
  }
}

} // namespace

TEST_CASE("a committed step folds what it wrote as the replay of its stored "
          "records does") {
  using namespace cairn::detail;
  process_state<tally> base;
  base.version = 4;
  base.value.sum = 1;
  base.last_input = 3;
  base.outcomes.push_back(command_result{"account", "1", true, ""});
  base.deadlines["pay"] = 10;
  base.due.push_back("pay");
  step_record rec{12,
                  {command_outcome{"account-7", true, ""},
                   command_outcome{"account-8", false, "no funds"}}};
  SECTION("events, an outcome taken, deadlines and a remote input") {
    std::vector<written_event<tally>> w;
    w.emplace_back(std::in_place_index<0>, tally_noted{5});
    w.emplace_back(std::in_place_type<outcome_reacted>);
    w.emplace_back(std::in_place_type<deadline_cleared>,
                   deadline_cleared{"pay", true});
    w.emplace_back(std::in_place_type<deadline_scheduled>,
                   deadline_scheduled{"remind", 42});
    w.emplace_back(std::in_place_type<remote_input>,
                   remote_input{"node-b", 17});
    w.emplace_back(std::in_place_index<0>, tally_noted{7});
    check_same_fold(base, std::move(w), rec);
  }
  SECTION("a completing step") {
    std::vector<written_event<tally>> w;
    w.emplace_back(std::in_place_index<0>, tally_noted{2});
    w.emplace_back(std::in_place_type<process_completed>);
    check_same_fold(base, std::move(w), step_record{0, {}});
  }
}
