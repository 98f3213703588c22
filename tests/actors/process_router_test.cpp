#include "cairn/actors/process_router.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>

#include "caf/all.hpp"

#include "cairn/actors/aggregate.hpp"
#include "cairn/actors/process_instance.hpp"
#include "cairn/actors/process_manager.hpp"
#include "cairn/actors/runtime.hpp"
#include "cairn/journal/codec.hpp"
#include "cairn/journal/errc.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cairn;
using cairn::test::temp_dir;
using namespace std::chrono_literals;

namespace {

using seen_atom = caf::atom_constant<caf::atom("t_seen")>;

struct instances_state {
  std::vector<uint64_t> seen;
  /// The stand-in instance of each id.
  std::map<std::string, caf::actor> named;
};

/// Stands in for instance `id` of the registry `parent`: hands each input
/// on to `parent` with its id.
caf::behavior named_instance(caf::event_based_actor* self, caf::actor parent,
                             std::string id) {
  return {
    [=](input_atom, uint64_t pos) {
      return self->delegate(parent, entity_id{id}, input_atom::value, pos);
    },
  };
}

/// Stands in for a registry of instances: records each input's position;
/// the instance of `broken` fails.
caf::behavior instances(caf::stateful_actor<instances_state>* self) {
  return {
    [self](resolve_atom, entity_id& id) {
      auto& hdl = self->state.named[id.value];
      if (!hdl)
        hdl = self->spawn(named_instance, caf::actor_cast<caf::actor>(self),
                          id.value);
      return hdl;
    },
    [self](entity_id& id, input_atom, uint64_t pos) -> caf::result<void> {
      self->state.seen.push_back(pos);
      if (id.value == "broken")
        return make_error(errc::rejected, "broken instance");
      if (id.value == "flaky" && self->state.seen.size() < 3)
        return make_error(errc::entity_unavailable, "instance stopping");
      return caf::unit;
    },
    [self](seen_atom) { return self->state.seen; },
  };
}

using forwards_atom = caf::atom_constant<caf::atom("t_fwds")>;
using instance_atom = caf::atom_constant<caf::atom("t_inst")>;
using stop_instance_atom = caf::atom_constant<caf::atom("t_stop")>;

struct log_state {
  /// (instance number, input position) of every input taken.
  std::vector<std::pair<int, uint64_t>> taken;
};

/// Records the inputs the instances took.
caf::behavior input_log(caf::stateful_actor<log_state>* self) {
  return {
    [self](int instance, uint64_t pos) {
      self->state.taken.emplace_back(instance, pos);
    },
    [self](seen_atom) { return self->state.taken; },
  };
}

/// What the first instance of a stand-in registry does with its second
/// input.
enum class second_input {
  /// Takes it, as every other input.
  taken,
  /// Has its registry drop it, then declines the input as a stopping
  /// instance does (`errc::entity_unavailable`).
  declined,
  /// Has its registry drop it, then quits holding the input, never
  /// answered (CAF 0.17 answers nothing for a dead actor's promises).
  held,
  /// Treats its first input as `held` does (and gets no second).
  first_held,
};

/// Stands in for an instance: tells `log` each input it takes, then
/// acknowledges it; its second input as `second` says.
caf::behavior instance(caf::event_based_actor* self, int number, caf::actor log,
                       caf::actor reg, std::string id, second_input second) {
  auto taken = std::make_shared<int>(0);
  return {
    [=](input_atom, uint64_t pos) -> caf::result<void> {
      auto odd = second == second_input::first_held
                   ? ++*taken == 1
                   : ++*taken == 2 && second != second_input::taken;
      if (!odd) {
        caf::anon_send(log, number, pos);
        return caf::unit;
      }
      caf::anon_send(reg, stop_instance_atom::value, id);
      if (second == second_input::declined)
        return make_error(errc::entity_unavailable, "instance stopping");
      self->make_response_promise(); // taken, never answered
      self->quit();
      return caf::delegated<void>{};
    },
  };
}

struct delegating_state {
  std::map<std::string, caf::actor> live;
  int spawned = 0;
  int forwards = 0;
};

/// Spawns the next instance of id `id` for the stand-in registry `self`:
/// the first one treats its second input as `first_second` says.
template <class State>
caf::actor spawn_instance(caf::stateful_actor<State>* self, caf::actor log,
                          const std::string& id, second_input first_second) {
  auto n = ++self->state.spawned;
  return self->spawn(instance, n, log, caf::actor_cast<caf::actor>(self), id,
                     n == 1 ? first_second : second_input::taken);
}

/// The live instance of `id` of the stand-in registry `self`, spawned if
/// there is none (again after one stopped).
template <class State>
caf::actor live_instance(caf::stateful_actor<State>* self, caf::actor log,
                         const std::string& id, second_input first_second) {
  auto& hdl = self->state.live[id];
  if (!hdl)
    hdl = spawn_instance(self, log, id, first_second);
  return hdl;
}

/// What every stand-in registry answers besides the instances' names: the
/// number of requests, the live instance of an id, and a stop of it.
template <class State>
caf::message_handler stand_in_chores(caf::stateful_actor<State>* self) {
  return {
    [self](forwards_atom) { return self->state.forwards; },
    [self](instance_atom, const std::string& id) {
      return self->state.live[id];
    },
    [self](stop_instance_atom, const std::string& id) {
      auto& hdl = self->state.live[id];
      self->send_exit(hdl, caf::exit_reason::user_shutdown);
      hdl = caf::actor{};
    },
  };
}

/// Stands in for the registry of instances as the real one works: names
/// the instance of an id when asked (`resolve_atom`), spawning it first if
/// none is live, and counts the requests as `forwards`. Its first instance
/// treats its second input as `first_second` says.
caf::behavior delegating_registry(caf::stateful_actor<delegating_state>* self,
                                  caf::actor log, second_input first_second) {
  return caf::message_handler{
    [self, log, first_second](resolve_atom, entity_id& id) {
      ++self->state.forwards;
      return live_instance(self, log, id.value, first_second);
    },
  }.or_else(stand_in_chores(self));
}

using release_atom = caf::atom_constant<caf::atom("t_release")>;

struct lagging_state : delegating_state {
  /// Requests held, in the order they came, with their ids.
  std::vector<std::pair<caf::response_promise, std::string>> held;
  bool released = false;
};

/// As `delegating_registry`, but it lags behind: it names the first
/// instance at once and holds every later request, in order, until told
/// (`release_atom`).
caf::behavior lagging_registry(caf::stateful_actor<lagging_state>* self,
                               caf::actor log) {
  return caf::message_handler{
    [self, log](resolve_atom, entity_id& id) -> caf::result<caf::message> {
      auto& st = self->state;
      auto rp = self->make_response_promise();
      if (++st.forwards > 1 && !st.released) {
        st.held.emplace_back(rp, id.value);
        return rp;
      }
      rp.deliver(live_instance(self, log, id.value, second_input::taken));
      return rp;
    },
    [self, log](release_atom) {
      auto& st = self->state;
      st.released = true;
      for (auto& [rp, id] : st.held)
        rp.deliver(live_instance(self, log, id, second_input::taken));
      st.held.clear();
    },
  }.or_else(stand_in_chores(self));
}

// -- a manager whose first version cannot recover its instances --------------

/// Input: asks instance `id` to count one.
struct bump_requested {
  static constexpr const char* event_name = "bump_requested";
  std::string id;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(id);
  }
};

struct bumped {
  static constexpr const char* event_name = "bumped";
  template <class Archive>
  void serialize(Archive&) {
    // nop
  }
};

/// An event that only the second version of the manager knows.
struct bump_note {
  static constexpr const char* event_name = "bump_note";
  template <class Archive>
  void serialize(Archive&) {
    // nop
  }
};

struct bump_state {
  int count = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(count);
  }
};

/// Counts bumps; `Events` lists what its streams may hold.
template <class Events>
struct bump_manager {
  static constexpr const char* category = "bumps";
  using state = bump_state;
  using events = Events;
  using inputs = event_list<bump_requested>;
  static std::string correlate(const bump_requested& e) {
    return e.id;
  }
  static state apply(state s, const bumped&) {
    ++s.count;
    return s;
  }
  static state apply(state s, const bump_note&) {
    return s;
  }
  static step<bump_manager> react(const state&, const bump_requested&) {
    return step<bump_manager>{}.emit(bumped{});
  }
};

/// The first version: it does not know `bump_note`, so an instance whose
/// stream holds one fails to recover.
using bumps_v1 = bump_manager<event_list<bumped>>;

/// The fixed version.
using bumps_v2 = bump_manager<event_list<bumped, bump_note>>;

struct router_fixture {
  temp_dir dir;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  std::unique_ptr<runtime> rt;

  router_fixture() {
    start();
  }

  ~router_fixture() {
    if (rt)
      rt->stop();
  }

  void start() {
    runtime_options opts;
    opts.journal_path = dir.path();
    opts.journal.sync = journal::sync_mode::none;
    auto r = runtime::start(sys, opts);
    REQUIRE(r);
    rt = std::move(*r);
  }

  void stop() {
    rt->stop();
    rt.reset();
  }

  uint64_t commit(const std::string& stream, journal::event_record rec) {
    journal::write_group g;
    g.appends.push_back({stream, journal::expected_version::any(), {}});
    g.appends.back().events.push_back(std::move(rec));
    uint64_t pos = 0;
    self->request(rt->coordinator(), 10s, commit_atom::value, g)
      .receive(
        [&](journal::group_receipt& r) {
          pos = r.appends.front().first_position;
        },
        [](caf::error& err) { FAIL(describe(err)); });
    return pos;
  }

  template <class E>
  uint64_t commit_event(const std::string& stream, const E& e) {
    journal::codec c;
    c.add<E>(E::event_name);
    return commit(stream, c.encode(e));
  }

  caf::actor router() {
    auto rs = rt->routers();
    REQUIRE(rs.size() == 1);
    return rs.front();
  }

  router_stats stats_of(const caf::actor& r) {
    router_stats result;
    self->request(r, 10s, stats_atom::value)
      .receive([&](router_stats& st) { result = st; },
               [](caf::error& err) { FAIL(describe(err)); });
    return result;
  }

  size_t count_of(const std::string& stream, const std::string& type) {
    auto evs = rt->journal()->read_stream(stream);
    REQUIRE(evs);
    size_t n = 0;
    for (auto& ev : *evs)
      n += ev.record.type == type ? 1 : 0;
    return n;
  }

  /// Waits (bounded) until the dead-letter table has `n` rows.
  void await_dead_letters(size_t n) {
    for (int i = 0; i < 2000; ++i) {
      auto rows = dead_letters(*rt->journal());
      REQUIRE(rows);
      if (rows->size() == n)
        return;
      self->receive(caf::after(5ms) >> [] {});
    }
    FAIL("the dead-letter table does not reach " << n << " rows");
  }
};

} // namespace

TEST_CASE_METHOD(router_fixture,
                 "an input whose instance cannot recover is parked as a dead "
                 "letter, listed by cairn-journal, and a replay after the fix "
                 "takes effect exactly once") {
  start_process_manager<bumps_v1>(*rt);
  journal::event_record note;
  note.type = bump_note::event_name;
  commit("bumps-x", note); // bumps_v1 cannot fold it
  auto pos = commit_event("desk-1", bump_requested{"x"});
  // The checkpoint passes the input only once it is parked.
  auto reached = await_caught_up(sys, router(), pos, 10s);
  REQUIRE(reached);
  CHECK(*reached >= pos);
  auto rows = dead_letters(*rt->journal());
  REQUIRE(rows);
  REQUIRE(rows->size() == 1);
  auto& [key, row] = rows->front();
  CHECK(key == dead_letter_key("bumps", pos));
  CHECK(row.manager == "bumps");
  CHECK(row.stream == "desk-1");
  CHECK(row.version == 1);
  CHECK(row.position == pos);
  CHECK(row.type == "bump_requested");
  CHECK(row.error.find("bump_note") != std::string::npos);
  CHECK(!row.replay);
  CHECK(stats_of(router()).dead_letters == 1);
  CHECK(count_of("bumps-x", "bumped") == 0);
  stop();
  // The CLI lists it, then marks it for replay while no process holds the
  // journal.
  auto cli = [&](std::vector<std::string> args) {
    args.insert(args.begin(), test::bin_path("cairn-journal"));
    return test::run(args);
  };
  auto listed = cli({"dead-letters", dir.path()});
  INFO(listed.output);
  CHECK(listed.exit_code == 0);
  CHECK(listed.output.find("desk-1") != std::string::npos);
  CHECK(listed.output.find("bump_note") != std::string::npos);
  auto marked = cli({"dead-letters", "--replay", "--all", dir.path()});
  INFO(marked.output);
  CHECK(marked.exit_code == 0);
  // The fixed manager replays it when its router starts.
  start();
  start_process_manager<bumps_v2>(*rt);
  await_dead_letters(0);
  CHECK(count_of("bumps-x", "bumped") == 1);
  CHECK(stats_of(router()).replayed == 1);
  // A replay repeated (as after a crash before the row's deletion) has no
  // second effect.
  journal::write_group again;
  row.replay = false;
  again.tables.push_back(journal::table_write{dead_letter_table, key,
                                              journal::to_bytes(row), false});
  self->request(rt->coordinator(), 10s, commit_atom::value, again)
    .receive([](journal::group_receipt&) {},
             [](caf::error& err) { FAIL(describe(err)); });
  auto n = replay_dead_letters(*rt);
  REQUIRE(n);
  CHECK(*n == 1);
  await_dead_letters(0);
  CHECK(count_of("bumps-x", "bumped") == 1);
  // A later input still counts once.
  auto pos2 = commit_event("desk-2", bump_requested{"x"});
  auto reached2 = await_caught_up(sys, router(), pos2, 10s);
  REQUIRE(reached2);
  CHECK(*reached2 >= pos2);
  CHECK(count_of("bumps-x", "bumped") == 2);
}

TEST_CASE_METHOD(router_fixture,
                 "an instance id that makes a stream name over the maximum "
                 "length parks its input with invalid_argument, and the router "
                 "goes on") {
  start_process_manager<bumps_v2>(*rt);
  auto long_id = std::string(journal::max_stream_name_size, 'i');
  auto bad = commit_event("desk-1", bump_requested{long_id});
  auto good = commit_event("desk-2", bump_requested{"y"});
  auto reached = await_caught_up(sys, router(), good, 10s);
  REQUIRE(reached);
  CHECK(*reached >= good);
  auto rows = dead_letters(*rt->journal());
  REQUIRE(rows);
  REQUIRE(rows->size() == 1);
  CHECK(rows->front().second.position == bad);
  CHECK(rows->front().second.error.find("invalid_argument")
        != std::string::npos);
  CHECK(rows->front().second.error.find("max_stream_name_size")
        != std::string::npos);
  CHECK(count_of("bumps-y", "bumped") == 1);
}

TEST_CASE_METHOD(router_fixture,
                 "a corrupt record in the log is parked as a dead letter "
                 "naming its stream and version, and the router goes on with "
                 "the rest") {
  std::string marker = "CAIRN-CORRUPTION-MARKER/router/";
  marker.resize(64, '#');
  auto in = [](std::string payload) {
    journal::event_record rec;
    rec.type = "in";
    rec.payload = std::move(payload);
    return rec;
  };
  commit("order-1", in("a"));    // 1
  commit("order-2", in(marker)); // 2
  commit("order-3", in("c"));    // 3
  stop();
  // Flip bytes of the record in every copy of it in the file.
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
  auto reg = sys.spawn(instances);
  input_dispatch fn = [](const journal::stored_event& ev)
    -> caf::expected<std::optional<std::pair<std::string, caf::message>>> {
    return std::optional<std::pair<std::string, caf::message>>{
      std::in_place, "x", caf::make_message(input_atom::value, ev.position)};
  };
  auto r = spawn_process_router(sys, "order", rt->journal(), rt->hub(),
                                rt->coordinator(), reg, fn, router_settings{});
  REQUIRE(r);
  rt->adopt(*r);
  CHECK(await_caught_up(sys, *r, 3, 10s) == uint64_t{3});
  self->request(reg, 10s, seen_atom::value)
    .receive(
      [](std::vector<uint64_t>& xs) {
        CHECK(xs == std::vector<uint64_t>{1, 3});
      },
      [](caf::error& err) { FAIL(describe(err)); });
  auto st = stats_of(*r);
  CHECK(st.subscription.corrupt_records == 1);
  CHECK(st.dead_letters == 1);
  auto rows = dead_letters(*rt->journal());
  REQUIRE(rows);
  REQUIRE(rows->size() == 1);
  auto& row = rows->front().second;
  CHECK(row.position == 2);
  CHECK(row.stream == "order-2");
  CHECK(row.version == 1);
  CHECK(row.error.find("corrupt_record") != std::string::npos);
  // Live events after it are routed too.
  auto pos = commit("order-4", in("d"));
  CHECK(await_caught_up(sys, *r, pos, 10s) == pos);
  self->send_exit(reg, caf::exit_reason::user_shutdown);
}

TEST_CASE("a router hands inputs to their instances, skips and counts "
          "inputs that do not decode, and stores its checkpoint") {
  temp_dir dir;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  runtime_options opts;
  opts.journal_path = dir.path();
  opts.journal.sync = journal::sync_mode::none;
  auto rt = runtime::start(sys, opts);
  REQUIRE(rt);
  auto commit = [&](const std::string& stream, const std::string& type) {
    journal::write_group g;
    g.appends.push_back({stream, journal::expected_version::any(), {}});
    g.appends.back().events.push_back({});
    g.appends.back().events.back().type = type;
    self->request((*rt)->coordinator(), 10s, commit_atom::value, g)
      .receive([](journal::group_receipt&) {},
               [](caf::error& err) { FAIL(describe(err)); });
  };
  commit("order-1", "in");    // 1
  commit("order-2", "bad");   // 2
  commit("order-3", "other"); // 3
  commit("broken-1", "in");   // 4
  commit("order-4", "in");    // 5
  auto reg = sys.spawn(instances);
  input_dispatch fn = [](const journal::stored_event& ev)
    -> caf::expected<std::optional<std::pair<std::string, caf::message>>> {
    if (ev.record.type == "bad")
      return make_error(errc::corrupt_record, "does not decode");
    if (ev.record.type != "in")
      return std::nullopt;
    auto id = journal::category_of(ev.stream) == "broken" ? "broken" : "x";
    return std::optional<std::pair<std::string, caf::message>>{
      std::in_place, id, caf::make_message(input_atom::value, ev.position)};
  };
  router_settings rs;
  rs.read_chunk = 2;
  auto router
    = spawn_process_router(sys, "order", (*rt)->journal(), (*rt)->hub(),
                           (*rt)->coordinator(), reg, fn, rs);
  REQUIRE(router);
  (*rt)->adopt(*router);
  CHECK(await_caught_up(sys, *router, 5, 10s) == uint64_t{5});
  commit("order-5", "in"); // 6, from the live feed
  CHECK(await_caught_up(sys, *router, 6, 10s) == uint64_t{6});
  self->request(reg, 10s, seen_atom::value)
    .receive(
      [](std::vector<uint64_t>& xs) {
        // Instances x and broken each take theirs in order; the two
        // lanes may interleave.
        std::sort(xs.begin(), xs.end());
        CHECK(xs == std::vector<uint64_t>{1, 4, 5, 6});
      },
      [](caf::error& err) { FAIL(describe(err)); });
  self->request(*router, 10s, stats_atom::value)
    .receive(
      [](router_stats& st) {
        CHECK(st.undecodable_inputs == 1);
        CHECK(st.failed_inputs == 1);
        CHECK(st.dead_letters == 2);
        CHECK(st.subscription.checkpoint == 6);
        CHECK(st.subscription.delivered == 6);
        CHECK(st.subscription.from_feed == 1);
      },
      [](caf::error& err) { FAIL(describe(err)); });
  auto cp = (*rt)->journal()->checkpoint(router_checkpoint_of("order"));
  REQUIRE(cp);
  CHECK(*cp == std::optional<uint64_t>{6});
  self->send_exit(reg, caf::exit_reason::user_shutdown);
  (*rt)->stop();
}

TEST_CASE("an input that bounces off a stopping instance goes to its "
          "successor, not to the dead letters") {
  temp_dir dir;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  runtime_options opts;
  opts.journal_path = dir.path();
  opts.journal.sync = journal::sync_mode::none;
  auto rt = runtime::start(sys, opts);
  REQUIRE(rt);
  journal::write_group g;
  g.appends.push_back({"order-1", journal::expected_version::any(), {}});
  g.appends.back().events.push_back({});
  g.appends.back().events.back().type = "in";
  self->request((*rt)->coordinator(), 10s, commit_atom::value, g)
    .receive([](journal::group_receipt&) {},
             [](caf::error& err) { FAIL(describe(err)); });
  auto reg = sys.spawn(instances);
  input_dispatch fn = [](const journal::stored_event& ev)
    -> caf::expected<std::optional<std::pair<std::string, caf::message>>> {
    return std::optional<std::pair<std::string, caf::message>>{
      std::in_place, "flaky",
      caf::make_message(input_atom::value, ev.position)};
  };
  router_settings rs;
  rs.bounce_delay = 1ms;
  auto router
    = spawn_process_router(sys, "order", (*rt)->journal(), (*rt)->hub(),
                           (*rt)->coordinator(), reg, fn, rs);
  REQUIRE(router);
  (*rt)->adopt(*router);
  CHECK(await_caught_up(sys, *router, 1, 10s) == uint64_t{1});
  self->request(*router, 10s, stats_atom::value)
    .receive(
      [](router_stats& st) {
        CHECK(st.bounces == 2);
        CHECK(st.dead_letters == 0);
        CHECK(st.failed_inputs == 0);
      },
      [](caf::error& err) { FAIL(describe(err)); });
  auto rows = dead_letters(*(*rt)->journal());
  REQUIRE(rows);
  CHECK(rows->empty());
  self->send_exit(reg, caf::exit_reason::user_shutdown);
  (*rt)->stop();
}

namespace {

/// A runtime, an input log and a router of category `order` whose inputs
/// all go to instance `x` of a stand-in registry.
struct direct_fixture {
  temp_dir dir;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  std::unique_ptr<runtime> rt;
  caf::actor log;
  caf::actor reg;
  caf::actor router;

  direct_fixture() {
    runtime_options opts;
    opts.journal_path = dir.path();
    opts.journal.sync = journal::sync_mode::none;
    auto r = runtime::start(sys, opts);
    REQUIRE(r);
    rt = std::move(*r);
    log = sys.spawn(input_log);
  }

  ~direct_fixture() {
    self->send_exit(reg, caf::exit_reason::user_shutdown);
    self->send_exit(log, caf::exit_reason::user_shutdown);
    rt->stop();
  }

  /// Starts the router in front of `registry`.
  void start_router(caf::actor registry) {
    reg = std::move(registry);
    input_dispatch fn = [](const journal::stored_event& ev)
      -> caf::expected<std::optional<std::pair<std::string, caf::message>>> {
      return std::optional<std::pair<std::string, caf::message>>{
        std::in_place, "x", caf::make_message(input_atom::value, ev.position)};
    };
    auto r
      = spawn_process_router(sys, "order", rt->journal(), rt->hub(),
                             rt->coordinator(), reg, fn, router_settings{});
    REQUIRE(r);
    rt->adopt(*r);
    router = *r;
  }

  /// Commits `n` inputs; returns the position of the first.
  uint64_t commit(size_t n = 1) {
    journal::write_group g;
    g.appends.push_back({"order-1", journal::expected_version::any(), {}});
    for (size_t i = 0; i < n; ++i) {
      g.appends.back().events.push_back({});
      g.appends.back().events.back().type = "in";
    }
    uint64_t pos = 0;
    self->request(rt->coordinator(), 10s, commit_atom::value, g)
      .receive(
        [&](journal::group_receipt& r) {
          pos = r.appends.front().first_position;
        },
        [](caf::error& err) { FAIL(describe(err)); });
    return pos;
  }

  int forwards() {
    int n = -1;
    self->request(reg, 10s, forwards_atom::value)
      .receive([&](int x) { n = x; },
               [](caf::error& err) { FAIL(describe(err)); });
    return n;
  }

  std::vector<std::pair<int, uint64_t>> taken() {
    std::vector<std::pair<int, uint64_t>> result;
    self->request(log, 10s, seen_atom::value)
      .receive([&](std::vector<std::pair<int, uint64_t>>& xs) { result = xs; },
               [](caf::error& err) { FAIL(describe(err)); });
    return result;
  }

  /// Waits until the router has taken `n` inputs from the log (routed or
  /// waiting for their turn).
  bool await_taken(uint64_t n) {
    auto until = std::chrono::steady_clock::now() + 10s;
    uint64_t got = 0;
    while (got < n && std::chrono::steady_clock::now() < until)
      self->request(router, 10s, stats_atom::value)
        .receive([&](router_stats& st) { got = st.subscription.delivered; },
                 [](caf::error& err) { FAIL(describe(err)); });
    return got >= n;
  }

  /// Stops instance `x` through the registry and waits until it is gone;
  /// returns a weak handle of it.
  caf::weak_actor_ptr stop_instance() {
    caf::actor hdl;
    self->request(reg, 10s, instance_atom::value, std::string{"x"})
      .receive([&](caf::actor& x) { hdl = x; },
               [](caf::error& err) { FAIL(describe(err)); });
    REQUIRE(hdl);
    self->monitor(hdl);
    auto weak = caf::actor_cast<caf::weak_actor_ptr>(hdl);
    hdl = nullptr;
    self->send(reg, stop_instance_atom::value, std::string{"x"});
    self->receive([](caf::down_msg&) {},
                  caf::after(10s) >> [] { FAIL("the instance did not stop"); });
    return weak;
  }

  void check_nothing_parked() {
    self->request(router, 10s, stats_atom::value)
      .receive(
        [](router_stats& st) {
          CHECK(st.dead_letters == 0);
          CHECK(st.failed_inputs == 0);
        },
        [](caf::error& err) { FAIL(describe(err)); });
  }
};

using taken_t = std::vector<std::pair<int, uint64_t>>;

} // namespace

TEST_CASE_METHOD(direct_fixture, "a router hands an instance its next inputs "
                                 "directly, lets go of it when it stops, and "
                                 "hands the next input to its successor") {
  start_router(sys.spawn(delegating_registry, log, second_input::taken));
  auto p1 = commit();
  CHECK(await_caught_up(sys, router, p1, 10s) == p1);
  CHECK(forwards() == 1);
  auto p2 = commit();
  auto p3 = commit();
  CHECK(await_caught_up(sys, router, p3, 10s) == p3);
  // Past the registry: it forwarded the first input only.
  CHECK(forwards() == 1);
  // The instance stops, and tells the router on its way out: once the
  // router answered a request sent after that, nothing holds the instance.
  auto first = stop_instance();
  bool freed = false;
  for (int i = 0; i < 100 && !freed; ++i) {
    check_nothing_parked(); // a round trip to the router
    forwards();             // and one to the registry
    freed = first.lock() == nullptr;
  }
  CHECK(freed);
  auto p4 = commit();
  CHECK(await_caught_up(sys, router, p4, 10s) == p4);
  CHECK(forwards() == 2);
  CHECK(taken() == taken_t{{1, p1}, {1, p2}, {1, p3}, {2, p4}});
  check_nothing_parked();
}

TEST_CASE_METHOD(direct_fixture, "an input that a known instance declines as "
                                 "stopping goes through the registry to its "
                                 "successor") {
  start_router(sys.spawn(delegating_registry, log, second_input::declined));
  auto p1 = commit();
  CHECK(await_caught_up(sys, router, p1, 10s) == p1);
  // The second input goes to the first instance directly, which declines
  // it; the router drops the instance and hands the input to the registry,
  // which starts a second one.
  auto p2 = commit();
  CHECK(await_caught_up(sys, router, p2, 10s) == p2);
  CHECK(forwards() == 2);
  CHECK(taken() == taken_t{{1, p1}, {2, p2}});
  check_nothing_parked();
}

TEST_CASE_METHOD(direct_fixture, "an instance takes its inputs in log order, "
                                 "also when the registry is slow to name it") {
  start_router(sys.spawn(lagging_registry, log));
  auto p1 = commit();
  CHECK(await_caught_up(sys, router, p1, 10s) == p1);
  // The first instance stops: the next input needs the registry, which
  // holds the request. The one after it must wait its turn, not overtake.
  stop_instance();
  auto p2 = commit();
  auto p3 = commit();
  REQUIRE(await_taken(3));
  CHECK(taken() == taken_t{{1, p1}});
  self->send(reg, release_atom::value);
  CHECK(await_caught_up(sys, router, p3, 10s) == p3);
  CHECK(taken() == taken_t{{1, p1}, {2, p2}, {2, p3}});
  CHECK(forwards() == 2);
  check_nothing_parked();
}

TEST_CASE_METHOD(direct_fixture, "an input that an instance held when it "
                                 "stopped goes through the registry to its "
                                 "successor, whether the registry had just "
                                 "named the instance or an input before") {
  auto held = GENERATE(second_input::first_held, second_input::held);
  auto first = held == second_input::first_held;
  INFO((first ? "the first input held" : "the second input held"));
  start_router(sys.spawn(delegating_registry, log, held));
  // The instance that holds an input stops without answering; the router,
  // watching every instance it sends to, asks the registry again, which
  // starts a second instance.
  auto p1 = commit();
  CHECK(await_caught_up(sys, router, p1, 10s) == p1);
  if (first) {
    CHECK(taken() == taken_t{{2, p1}});
  } else {
    // The second input goes to the first instance directly.
    auto p2 = commit();
    CHECK(await_caught_up(sys, router, p2, 10s) == p2);
    CHECK(taken() == taken_t{{1, p1}, {2, p2}});
  }
  CHECK(forwards() == 2);
  check_nothing_parked();
}

TEST_CASE_METHOD(direct_fixture, "an input whose registry names no "
                                 "instance is parked after its bounces, "
                                 "naming why") {
  start_router(sys.spawn([]() -> caf::behavior {
    return {[](resolve_atom, entity_id&) { return caf::actor{}; }};
  }));
  auto p1 = commit();
  CHECK(await_caught_up(sys, router, p1, 20s) == p1);
  auto rows = dead_letters(*rt->journal());
  REQUIRE(rows);
  REQUIRE(rows->size() == 1);
  auto& row = rows->front().second;
  CHECK(row.position == p1);
  CHECK(row.error.find("entity_unavailable") != std::string::npos);
  CHECK(row.error.find("the registry named no instance for x")
        != std::string::npos);
  CHECK(taken().empty());
}

TEST_CASE("a router refuses bad settings") {
  temp_dir dir;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  runtime_options opts;
  opts.journal_path = dir.path();
  auto rt = runtime::start(sys, opts);
  REQUIRE(rt);
  router_settings rs;
  rs.max_in_flight = 0;
  auto router = spawn_process_router(sys, "order", (*rt)->journal(),
                                     (*rt)->hub(), (*rt)->coordinator(),
                                     caf::actor{}, input_dispatch{}, rs);
  REQUIRE(!router);
  CHECK(code_of(router.error()) == errc::invalid_argument);
  (*rt)->stop();
}
