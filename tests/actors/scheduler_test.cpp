#include "cairn/actors/scheduler.hpp"

#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/stateful_actor.hpp"

#include "cairn/journal/errc.hpp"

using namespace cairn;
using namespace std::chrono_literals;

namespace {

using ping_atom = caf::atom_constant<caf::atom("s_ping")>;

/// An actor system on Cairn's scheduler with `threads` workers.
struct system_config : caf::actor_system_config {
  explicit system_config(size_t threads) {
    set("scheduler.max-threads", threads);
    use_cairn_scheduler(*this);
  }
};

/// Answers each ping with its argument plus one.
caf::behavior echo() {
  return {[](ping_atom, int64_t x) { return x + 1; }};
}

struct player_state {
  caf::actor peer;
  int64_t rounds = 0;
  caf::actor parent;
};

/// Plays `rounds` rounds of ping and reply with `peer`, then tells
/// `parent`. The echo's answer to a ping sent without a request comes back
/// as an ordinary message.
caf::behavior player(caf::stateful_actor<player_state>* self, caf::actor peer,
                     int64_t rounds, caf::actor parent) {
  self->state.peer = std::move(peer);
  self->state.rounds = rounds;
  self->state.parent = std::move(parent);
  self->send(self->state.peer, ping_atom::value, int64_t{0});
  return {
    [self](int64_t x) {
      auto& st = self->state;
      if (x == st.rounds) {
        self->send(st.parent, x);
        self->quit();
        return;
      }
      self->send(st.peer, ping_atom::value, x);
    },
  };
}

/// Runs `pairs` players of `rounds` rounds each against an echo of their
/// own, side by side, and checks that every one finishes within a minute.
/// Returns the echos, still running.
std::vector<caf::actor> play_pairs(caf::actor_system& sys,
                                   caf::scoped_actor& self, int pairs,
                                   int64_t rounds) {
  std::vector<caf::actor> echos;
  for (int i = 0; i < pairs; ++i) {
    echos.push_back(sys.spawn(echo));
    sys.spawn(player, echos.back(), rounds, caf::actor{self});
  }
  int done = 0;
  bool timed_out = false;
  self->receive_while([&] { return done < pairs && !timed_out; })(
    [&](int64_t x) {
      CHECK(x == rounds);
      ++done;
    },
    caf::after(60s) >> [&] { timed_out = true; });
  CHECK_FALSE(timed_out);
  return echos;
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6;
  };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

} // namespace

TEST_CASE("on Cairn's scheduler, ten thousand actors made runnable at once "
          "all run, with one, two or four workers") {
  for (size_t threads : {1u, 2u, 4u}) {
    CAPTURE(threads);
    system_config cfg{threads};
    caf::actor_system sys{cfg};
    CHECK(sys.scheduler().num_workers() == threads);
    constexpr int64_t n = 10000;
    std::vector<caf::actor> actors;
    for (int64_t i = 0; i < n; ++i)
      actors.push_back(sys.spawn(echo));
    caf::scoped_actor self{sys};
    for (int64_t i = 0; i < n; ++i)
      self->send(actors[static_cast<size_t>(i)], ping_atom::value, i);
    int64_t sum = 0;
    int64_t received = 0;
    bool timed_out = false;
    self->receive_while([&] { return received < n && !timed_out; })(
      [&](int64_t x) {
        sum += x;
        ++received;
      },
      caf::after(30s) >> [&] { timed_out = true; });
    REQUIRE_FALSE(timed_out);
    CHECK(sum == n * (n + 1) / 2); // each answered i + 1 exactly once
    for (auto& a : actors)
      self->send_exit(a, caf::exit_reason::user_shutdown);
  }
}

TEST_CASE("on Cairn's scheduler, pairs of actors play long request/reply "
          "chains side by side") {
  system_config cfg{2};
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  for (auto& e : play_pairs(sys, self, 8, 20000))
    self->send_exit(e, caf::exit_reason::user_shutdown);
}

TEST_CASE("on Cairn's scheduler, idle workers sleep instead of polling, and "
          "wake for the next message") {
  system_config cfg{2};
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto a = sys.spawn(echo);
  auto ask = [&](int64_t x) {
    int64_t answer = -1;
    self->request(a, 10s, ping_atom::value, x)
      .receive([&](int64_t y) { answer = y; },
               [&](caf::error& err) { FAIL(caf::to_string(err)); });
    return answer;
  };
  REQUIRE(ask(1) == 2);
  struct stop_echo {
    caf::scoped_actor& self;
    caf::actor& a;
    ~stop_echo() {
      self->send_exit(a, caf::exit_reason::user_shutdown);
    }
  } stop{self, a};
  // Idle for 300 ms: two polling workers would burn about 600 ms of CPU,
  // sleeping ones next to none (they look again every 10 ms at most).
  auto before = cpu_seconds();
  std::this_thread::sleep_for(300ms);
  auto used = cpu_seconds() - before;
  CHECK(used < 0.1);
  CHECK(ask(41) == 42);
}

TEST_CASE("while a thread waits for the disk, idle workers sleep at once and "
          "still wake for every message") {
  auto active = disk_wait::active();
  auto made = disk_wait::made();
  {
    disk_wait outer;
    CHECK(disk_wait::active() == active + 1);
    {
      disk_wait inner;
      CHECK(disk_wait::active() == active + 2);
    }
    CHECK(disk_wait::active() == active + 1);
    CHECK(disk_wait::made() == made + 2);
    // Request/reply chains leave a worker idle between messages again and
    // again; each time it skips the naps and sleeps, and must be woken.
    system_config cfg{2};
    caf::actor_system sys{cfg};
    caf::scoped_actor self{sys};
    auto echos = play_pairs(sys, self, 4, 5000);
    // Asked one at a time from outside the workers: every ask finds them
    // asleep.
    for (int64_t i = 0; i < 200; ++i) {
      int64_t answer = -1;
      self->request(echos[0], 10s, ping_atom::value, i)
        .receive([&](int64_t y) { answer = y; },
                 [&](caf::error& err) { FAIL(caf::to_string(err)); });
      REQUIRE(answer == i + 1);
    }
    for (auto& e : echos)
      self->send_exit(e, caf::exit_reason::user_shutdown);
  }
  CHECK(disk_wait::active() == active);
}

TEST_CASE("a worker about to wait for the disk hands the actor waiting in "
          "its deque to another worker") {
  system_config cfg{2};
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto ran = std::make_shared<std::promise<void>>();
  std::shared_future<void> done = ran->get_future().share();
  auto y = sys.spawn([ran](caf::event_based_actor*) -> caf::behavior {
    return {[ran](ping_atom, int64_t) { ran->set_value(); }};
  });
  // `x` makes `y` runnable on its own worker, alone in its deque, then
  // blocks that worker until `y` has run: only another worker can run it.
  auto x = sys.spawn([y, done](caf::event_based_actor* me) -> caf::behavior {
    return {[me, y, done](ping_atom, int64_t) {
      me->send(y, ping_atom::value, int64_t{1});
      disk_wait wait;
      return done.wait_for(10s) == std::future_status::ready;
    }};
  });
  bool ok = false;
  self->request(x, 20s, ping_atom::value, int64_t{0})
    .receive([&](bool b) { ok = b; },
             [&](caf::error& err) { FAIL(caf::to_string(err)); });
  CHECK(ok); // `y` ran while `x` held its worker
  self->send_exit(x, caf::exit_reason::user_shutdown);
  self->send_exit(y, caf::exit_reason::user_shutdown);
}

TEST_CASE("apply_scheduler_policy installs Cairn's scheduler for 'cairn', "
          "leaves CAF's to CAF and refuses any other name") {
  caf::actor_system_config cfg;
  CHECK(!apply_scheduler_policy(cfg, "stealing"));
  CHECK(!apply_scheduler_policy(cfg, "sharing"));
  CHECK(cfg.module_factories.empty());
  CHECK(!apply_scheduler_policy(cfg, "cairn"));
  CHECK(cfg.module_factories.size() == 1);
  auto err = apply_scheduler_policy(cfg, "fast");
  REQUIRE(err);
  CHECK(code_of(err) == errc::bad_config);
  CHECK(context_of(err)
        == "scheduler.policy: 'fast' is not one of: cairn, stealing, sharing");
}
