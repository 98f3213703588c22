#include "cairn/actors/subscription.hpp"

#include <catch2/catch.hpp>

#include <mutex>

#include "caf/all.hpp"

#include "cairn/actors/runtime.hpp"
#include "cairn/journal/errc.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cairn;
using cairn::test::temp_dir;
using namespace std::chrono_literals;

namespace {

using hold_atom = caf::atom_constant<caf::atom("t_hold")>;
using release_atom = caf::atom_constant<caf::atom("t_release")>;
using seen_atom = caf::atom_constant<caf::atom("t_seen")>;
using stop_atom = caf::atom_constant<caf::atom("t_stop")>;
using go_atom = caf::atom_constant<caf::atom("t_go")>;

/// A runtime on a fresh journal without fsync.
struct fixture {
  temp_dir dir;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  std::unique_ptr<runtime> rt;

  fixture() {
    runtime_options opts;
    opts.journal_path = dir.path();
    opts.journal.sync = journal::sync_mode::none;
    auto r = runtime::start(sys, opts);
    REQUIRE(r);
    rt = std::move(*r);
  }

  ~fixture() {
    rt->stop();
  }

  /// Commits one event to `stream`; returns its position.
  uint64_t commit(const std::string& stream) {
    journal::write_group g;
    g.appends.push_back({stream, journal::expected_version::any(), {}});
    g.appends.back().events.push_back({});
    g.appends.back().events.back().type = "e";
    uint64_t pos = 0;
    self->request(rt->coordinator(), 10s, commit_atom::value, g)
      .receive(
        [&](journal::group_receipt& r) { pos = r.appends[0].first_position; },
        [](caf::error& err) { FAIL(describe(err)); });
    return pos;
  }

  subscription_stats stats(const caf::actor& sub) {
    subscription_stats result;
    self->request(sub, 10s, stats_atom::value)
      .receive([&](subscription_stats& x) { result = x; },
               [](caf::error& err) { FAIL(describe(err)); });
    return result;
  }

  void await_live(const caf::actor& sub) {
    self->request(sub, 10s, live_atom::value)
      .receive([](bool) {}, [](caf::error& err) { FAIL(describe(err)); });
  }

  uint64_t last_position() {
    auto last = rt->journal()->last_position();
    REQUIRE(last);
    return *last;
  }

  /// The positions of the committed events of `category` ("" for all).
  std::vector<uint64_t> committed(const std::string& category) {
    std::vector<uint64_t> result;
    uint64_t from = 1;
    for (;;) {
      auto slice = rt->journal()->read_all(from, 1024, category);
      REQUIRE(slice);
      for (auto& ev : slice->events)
        result.push_back(ev.position);
      if (slice->next_position == from)
        return result;
      from = slice->next_position;
    }
  }
};

/// Records what a subscription delivers and acknowledges it at once.
struct recorder {
  std::mutex mtx;
  std::vector<uint64_t> positions;

  subscription_factory factory() {
    return [this](subscription_context& ctx) {
      subscription_handler h;
      h.deliver = [this, ctx](std::vector<journal::stored_event>& events) {
        for (auto& ev : events) {
          {
            std::lock_guard<std::mutex> guard{mtx};
            positions.push_back(ev.position);
          }
          auto c = ctx;
          c.ack(ev.position);
        }
      };
      return h;
    };
  }

  std::vector<uint64_t> seen() {
    std::lock_guard<std::mutex> guard{mtx};
    return positions;
  }
};

struct writer_state {
  coordinator_actor coordinator;
  uint64_t remaining = 0;
  bool stopping = false;
  uint64_t commits = 0;
  caf::response_promise done;
};

using writer_pointer = caf::stateful_actor<writer_state>*;

/// Commits the next event, alternating streams `a-N` and `b-N`.
void write_next(writer_pointer self) {
  auto& st = self->state;
  if (st.stopping && st.remaining == 0) {
    st.done.deliver(st.commits);
    return;
  }
  if (st.stopping)
    --st.remaining;
  journal::write_group g;
  auto n = st.commits++;
  auto stream = (n % 2 == 0 ? "a-" : "b-") + std::to_string(n % 7);
  g.appends.push_back({stream, journal::expected_version::any(), {}});
  g.appends.back().events.resize(1 + n % 3);
  for (auto& ev : g.appends.back().events)
    ev.type = "e";
  self->request(st.coordinator, caf::infinite, commit_atom::value, g)
    .then([self](journal::group_receipt&) { write_next(self); },
          [self](caf::error& err) { self->quit(err); });
}

/// Commits one event after the other until told `(stop_atom, n)`: then it
/// commits `n` more and replies the number of commits.
caf::behavior writer(writer_pointer self, coordinator_actor coordinator) {
  self->state.coordinator = std::move(coordinator);
  self->send(self, go_atom::value);
  return {
    [self](go_atom) { write_next(self); },
    [self](stop_atom, uint64_t n) {
      auto& st = self->state;
      st.stopping = true;
      st.remaining = n;
      st.done = self->make_response_promise();
      return st.done;
    },
  };
}

struct slow_state {
  bool releasing = false;
  std::vector<uint64_t> seen;
  std::vector<caf::response_promise> held;
  uint64_t held_events = 0;
  std::vector<std::pair<uint64_t, caf::response_promise>> waiters;
};

/// A subscriber that holds every acknowledgement until released.
caf::behavior slow_subscriber(caf::stateful_actor<slow_state>* self) {
  return {
    [self](events_atom,
           std::vector<journal::stored_event>& events) -> caf::result<void> {
      auto& st = self->state;
      for (auto& ev : events)
        st.seen.push_back(ev.position);
      if (st.releasing)
        return caf::unit;
      st.held.push_back(self->make_response_promise());
      st.held_events += events.size();
      for (auto& [n, rp] : st.waiters)
        if (rp.pending() && st.held_events >= n)
          rp.deliver(st.held_events);
      return st.held.back();
    },
    [self](hold_atom, uint64_t n) -> caf::result<uint64_t> {
      auto& st = self->state;
      if (st.held_events >= n)
        return st.held_events;
      st.waiters.emplace_back(n, self->make_response_promise());
      return st.waiters.back().second;
    },
    [self](release_atom) {
      auto& st = self->state;
      st.releasing = true;
      for (auto& rp : st.held)
        rp.deliver(caf::unit);
      st.held.clear();
    },
    [self](seen_atom) { return self->state.seen; },
  };
}

void check_strictly_increasing(const std::vector<uint64_t>& xs) {
  for (size_t i = 1; i < xs.size(); ++i)
    if (xs[i] <= xs[i - 1])
      FAIL("position " << xs[i] << " after " << xs[i - 1]);
}

} // namespace

TEST_CASE("a subscription switches from LMDB to the live feed without gap "
          "or duplicate while commits go on") {
  fixture f;
  for (int i = 0; i < 300; ++i)
    f.commit(i % 3 == 0 ? "b-1" : "a-1");
  auto w = f.sys.spawn(writer, f.rt->coordinator());
  recorder all;
  recorder only_a;
  subscription_settings s1;
  s1.read_chunk = 7;
  auto sub_all = subscribe(*f.rt, s1, all.factory());
  REQUIRE(sub_all);
  subscription_settings s2;
  s2.read_chunk = 5;
  s2.category = "a";
  auto sub_a = subscribe(*f.rt, s2, only_a.factory());
  REQUIRE(sub_a);
  f.await_live(*sub_all);
  f.await_live(*sub_a);
  // Commits went on before, during and after the switch.
  f.self->request(w, 10s, stop_atom::value, uint64_t{200})
    .receive([](uint64_t commits) { CHECK(commits >= 200); },
             [](caf::error& err) { FAIL(describe(err)); });
  auto last = f.last_position();
  REQUIRE(await_caught_up(f.sys, *sub_all, last, 10s));
  REQUIRE(await_caught_up(f.sys, *sub_a, last, 10s));
  auto seen_all = all.seen();
  check_strictly_increasing(seen_all);
  CHECK(seen_all.size() == last);
  CHECK(seen_all == f.committed(""));
  auto seen_a = only_a.seen();
  check_strictly_increasing(seen_a);
  CHECK(seen_a == f.committed("a"));
  for (auto& sub : {*sub_all, *sub_a}) {
    auto st = f.stats(sub);
    CHECK(st.switches >= 1);
    CHECK(st.from_journal > 0);
    CHECK(st.from_feed > 0);
    CHECK(st.fallbacks == 0);
    CHECK(st.acknowledged == last);
  }
  f.self->send_exit(w, caf::exit_reason::user_shutdown);
}

TEST_CASE("a slow subscriber leaves the live feed and catches up from LMDB, "
          "seeing every event once, in order") {
  fixture f;
  auto slow = f.sys.spawn(slow_subscriber);
  subscription_settings s;
  s.max_in_flight = 8;
  s.read_chunk = 16;
  auto sub = subscribe(*f.rt, s, deliver_to(slow));
  REQUIRE(sub);
  f.await_live(*sub);
  for (int i = 0; i < 300; ++i)
    f.commit("a-" + std::to_string(i % 5));
  // The subscriber holds its acknowledgements: once 8 events wait, the
  // subscription has left the feed.
  f.self->request(slow, 10s, hold_atom::value, uint64_t{8})
    .receive([](uint64_t n) { CHECK(n >= 8); },
             [](caf::error& err) { FAIL(describe(err)); });
  auto before = f.stats(*sub);
  CHECK(before.fallbacks == 1);
  CHECK(!before.live);
  CHECK(before.in_flight == 8);
  f.self->send(slow, release_atom::value);
  REQUIRE(await_caught_up(f.sys, *sub, 300, 10s));
  std::vector<uint64_t> seen;
  f.self->request(slow, 10s, seen_atom::value)
    .receive([&](std::vector<uint64_t>& xs) { seen = std::move(xs); },
             [](caf::error& err) { FAIL(describe(err)); });
  std::vector<uint64_t> expected(300);
  for (uint64_t i = 0; i < 300; ++i)
    expected[i] = i + 1;
  CHECK(seen == expected);
  f.await_live(*sub); // it switches back once it has caught up
  auto after = f.stats(*sub);
  CHECK(after.fallbacks >= 1);
  CHECK(after.switches >= 2);
  CHECK(after.from_journal > 0);
  CHECK(after.delivered == 300);
  f.self->send_exit(slow, caf::exit_reason::user_shutdown);
}

TEST_CASE("a subscription with a checkpoint resumes after it") {
  fixture f;
  for (int i = 0; i < 10; ++i)
    f.commit("a-1");
  subscription_settings s;
  s.checkpoint = "test.sub";
  recorder first;
  auto sub = subscribe(*f.rt, s, first.factory());
  REQUIRE(sub);
  // Caught up means the checkpoint is stored.
  CHECK(await_caught_up(f.sys, *sub, 10, 10s) == uint64_t{10});
  auto cp = f.rt->journal()->checkpoint("test.sub");
  REQUIRE(cp);
  CHECK(*cp == std::optional<uint64_t>{10});
  f.self->monitor(*sub);
  f.self->send_exit(*sub, caf::exit_reason::user_shutdown);
  f.self->receive([](caf::down_msg&) {},
                  caf::after(10s) >> [] { FAIL("the subscription lives"); });
  for (int i = 0; i < 5; ++i)
    f.commit("a-2");
  recorder second;
  sub = subscribe(*f.rt, s, second.factory());
  REQUIRE(sub);
  CHECK(await_caught_up(f.sys, *sub, 15, 10s) == uint64_t{15});
  CHECK(second.seen() == std::vector<uint64_t>{11, 12, 13, 14, 15});
  CHECK(first.seen().size() == 10);
}

TEST_CASE("a subscription without checkpoint starts after its start "
          "position") {
  fixture f;
  for (int i = 0; i < 6; ++i)
    f.commit("a-1");
  subscription_settings s;
  s.start = 4;
  recorder rec;
  auto sub = subscribe(*f.rt, s, rec.factory());
  REQUIRE(sub);
  CHECK(await_caught_up(f.sys, *sub, 6, 10s) == uint64_t{6});
  CHECK(rec.seen() == std::vector<uint64_t>{5, 6});
}

TEST_CASE("a subscription refuses bad settings naming them") {
  fixture f;
  recorder rec;
  subscription_settings s;
  s.max_in_flight = 0;
  auto sub = subscribe(*f.rt, s, rec.factory());
  REQUIRE(!sub);
  CHECK(code_of(sub.error()) == errc::invalid_argument);
  CHECK(describe(sub.error()).find("max_in_flight") != std::string::npos);
  s.max_in_flight = 1;
  s.read_chunk = 0;
  sub = subscribe(*f.rt, s, rec.factory());
  REQUIRE(!sub);
  CHECK(describe(sub.error()).find("read_chunk") != std::string::npos);
}

TEST_CASE("waiting for a subscription that does not get there times out") {
  fixture f;
  f.commit("a-1");
  auto slow = f.sys.spawn(slow_subscriber);
  auto sub = subscribe(*f.rt, {}, deliver_to(slow));
  REQUIRE(sub);
  auto r = await_caught_up(f.sys, *sub, 1, 50ms);
  REQUIRE(!r);
  CHECK(code_of(r.error()) == errc::timeout);
  f.self->send_exit(slow, caf::exit_reason::user_shutdown);
}

TEST_CASE("a subscription checkpoint name over the maximum length is "
          "refused") {
  temp_dir dir;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  runtime_options opts;
  opts.journal_path = dir.path();
  auto rt = runtime::start(sys, opts);
  REQUIRE(rt);
  subscription_settings ss;
  ss.checkpoint = std::string(journal::max_checkpoint_name_size + 1, 'c');
  auto sub = subscribe(**rt, ss, [](subscription_context&) {
    return subscription_handler{
      [](std::vector<journal::stored_event>&) {}, {}, {}};
  });
  REQUIRE(!sub);
  CHECK(code_of(sub.error()) == errc::invalid_argument);
  CHECK(describe(sub.error()).find("max_checkpoint_name_size")
        != std::string::npos);
  (*rt)->stop();
}
