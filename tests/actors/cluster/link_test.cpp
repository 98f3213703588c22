#include "cairn/actors/cluster/link.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "caf/all.hpp"
#include "caf/io/middleman.hpp"

#include "cairn/actors/aggregate.hpp"
#include "cairn/actors/cluster/configure.hpp"
#include "cairn/actors/cluster/detail/wire.hpp"
#include "cairn/actors/cluster/messages.hpp"
#include "cairn/journal/errc.hpp"
#include "cairn/journal/log.hpp"

// A link in one actor system, its peer's gateway a stand-in published by a
// second actor system of the same process, on 127.0.0.1.

using namespace cairn;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using clock_type = std::chrono::steady_clock;

namespace {

/// The command of these tests: `ping{x}` is answered with `x + 1`, except
/// `ping{-1}`, which the stand-in gateway never answers.
struct ping {
  int32_t x = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ping& x) {
  return f(caf::meta::type_name("test.ping"), x.x);
}

/// A command that no node announces.
struct unknown_command {
  int32_t x = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, unknown_command& x) {
  return f(caf::meta::type_name("test.unknown_command"), x.x);
}

struct node_config : caf::actor_system_config {
  node_config() {
    cluster::settings s;
    s.name = "links";
    s.node_id = "x";
    s.heartbeat_interval = 100ms;
    s.connection_timeout = 600ms;
    cluster::configure(*this, s);
    add_message_type<ping>("test.ping");
    add_error_category(cairn_error_category, render_error);
    set("scheduler.max-threads", 2);
  }
};

/// What the stand-in gateway saw.
struct seen {
  std::atomic<int> batches{0};
  std::atomic<int> commands{0};
};

/// Node b's gateway, as far as a link can tell: accepts the hello, answers
/// each batch's pings with one reply batch, holds `ping{-1}`.
caf::behavior fake_gateway(caf::event_based_actor* self,
                           std::shared_ptr<seen> s) {
  return {
    [](cluster::hello_atom, const std::string&,
       const std::vector<std::string>&) {
      return caf::make_message(cluster::hello_atom::value, std::string{"b"});
    },
    [self, s](cluster::forward_batch_atom,
              std::vector<cluster::forward_item>& items) {
      ++s->batches;
      std::vector<cluster::reply_item> replies;
      for (auto& x : items) {
        ++s->commands;
        caf::message cmd;
        REQUIRE(!cluster::detail::from_bytes(self->context(), x.command, cmd));
        REQUIRE(cmd.match_elements<entity_id, ping>());
        auto n = cmd.get_as<ping>(1).x;
        if (n < 0)
          continue;
        cluster::reply_item r;
        r.key = x.key;
        REQUIRE(!cluster::detail::to_bytes(self->context(),
                                           caf::make_message(n + 1), r.reply));
        replies.push_back(std::move(r));
      }
      if (!replies.empty())
        self->send(caf::actor_cast<caf::actor>(self->current_sender()),
                   cluster::reply_batch_atom::value, std::move(replies));
    },
  };
}

struct fixture {
  fixture() {
    gateway = b.spawn(fake_gateway, s);
    auto port = b.middleman().publish(gateway, 0, "127.0.0.1");
    REQUIRE(port);
    cluster::member peer{"b", "127.0.0.1", *port};
    cluster::link_settings ls;
    ls.self_id = "a";
    ls.connection_timeout = 1s;
    link = cluster::spawn_link(a, peer, ls);
    REQUIRE(wait_state("up"));
  }

  ~fixture() {
    caf::anon_send_exit(link, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(gateway, caf::exit_reason::user_shutdown);
  }

  std::string state() {
    std::string result = "?";
    caf::scoped_actor self{a};
    self->request(link, 10s, cluster::link_state_atom::value)
      .receive([&](std::string& x) { result = std::move(x); },
               [&](caf::error& err) { result = describe(err); });
    return result;
  }

  bool wait_state(const std::string& want) {
    auto deadline = clock_type::now() + 10s;
    while (state() != want) {
      if (clock_type::now() >= deadline)
        return false;
      std::this_thread::sleep_for(5ms);
    }
    return true;
  }

  node_config cfg_a;
  node_config cfg_b;
  caf::actor_system a{cfg_a};
  caf::actor_system b{cfg_b};
  std::shared_ptr<seen> s = std::make_shared<seen>();
  caf::actor gateway;
  caf::actor link;
};

double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0)
    .count();
}

caf::message command(int32_t x) {
  return caf::make_message(entity_id{"e" + std::to_string(x)}, ping{x});
}

} // namespace

TEST_CASE("a link forwards commands to the peer's gateway and passes each "
          "reply to its sender") {
  fixture f;
  caf::scoped_actor self{f.a};
  constexpr int n = 50;
  for (int i = 0; i < n; ++i)
    self->send(f.link, cluster::forward_atom::value, std::string{"thing"},
               command(i));
  // Asynchronous sends: the replies come back to `self` as messages.
  std::vector<int32_t> got;
  for (int i = 0; i < n; ++i)
    self->receive([&](int32_t x) { got.push_back(x); },
                  [&](caf::error& err) { FAIL(describe(err)); },
                  caf::after(10s) >> [&] { FAIL("no reply within 10 s"); });
  std::sort(got.begin(), got.end());
  for (int i = 0; i < n; ++i)
    CHECK(got[static_cast<size_t>(i)] == i + 1);
  CHECK(f.s->commands == n);
  // At most one BASP message per command; fewer when they batch.
  CHECK(f.s->batches <= n);
}

TEST_CASE("a link fails its requests in flight at once when the peer goes "
          "down, naming the node and saying the outcome is unknown") {
  fixture f;
  caf::scoped_actor self{f.a};
  using handle = decltype(self->request(
    f.link, 30s, cluster::forward_atom::value, std::string{}, caf::message{}));
  std::vector<handle> in_flight;
  for (int i = 0; i < 5; ++i)
    in_flight.push_back(self->request(f.link, 30s, cluster::forward_atom::value,
                                      std::string{"thing"}, command(-1)));
  auto deadline = clock_type::now() + 10s;
  while (f.s->commands < 5 && clock_type::now() < deadline)
    std::this_thread::sleep_for(1ms);
  REQUIRE(f.s->commands == 5);
  // The peer's gateway goes down; nothing will ever answer.
  auto t0 = clock_type::now();
  caf::anon_send_exit(f.gateway, caf::exit_reason::kill);
  for (auto& hdl : in_flight) {
    caf::error err;
    hdl.receive([&](int32_t) { FAIL("a held command was answered"); },
                [&](caf::error& x) { err = std::move(x); });
    INFO(describe(err));
    CHECK(err == make_error(errc::entity_unavailable, ""));
    CHECK_THAT(describe(err), Contains("node 'b' (127.0.0.1:")
                                && Contains("outcome of the command is "
                                            "unknown"));
  }
  // Well before the requests' 30 s: the link keeps their promises.
  CHECK(ms_since(t0) < 2000);
  REQUIRE(f.wait_state("down"));
  // While the peer is down a command fails at once, unsent.
  auto t1 = clock_type::now();
  caf::error err;
  self
    ->request(f.link, 30s, cluster::forward_atom::value, std::string{"thing"},
              command(1))
    .receive([&](int32_t) { FAIL("answered by a peer that is down"); },
             [&](caf::error& x) { err = std::move(x); });
  CHECK(ms_since(t1) < 50);
  CHECK(err == make_error(errc::entity_unavailable, ""));
  CHECK_THAT(describe(err), Contains("the command was not sent"));
}

TEST_CASE("a link refuses a command holding a type that is not announced, "
          "naming it, and forwards the others") {
  fixture f;
  caf::scoped_actor self{f.a};
  caf::error err;
  self
    ->request(f.link, 10s, cluster::forward_atom::value, std::string{"thing"},
              caf::make_message(entity_id{"e1"}, unknown_command{}))
    .receive([&] { FAIL("an unannounced command was forwarded"); },
             [&](caf::error& x) { err = std::move(x); });
  CHECK(err == make_error(errc::invalid_argument, ""));
  CHECK_THAT(describe(err),
             Contains("unknown_command") && Contains("is not announced"));
  self
    ->request(f.link, 10s, cluster::forward_atom::value, std::string{"thing"},
              command(41))
    .receive([&](int32_t x) { CHECK(x == 42); },
             [&](caf::error& x) { FAIL(describe(x)); });
}

TEST_CASE("a link logs going up at info and going down at warning, naming "
          "the peer") {
  std::mutex mtx;
  std::vector<std::string> lines;
  auto old_level = log::current_level();
  log::set_level(log::level::info);
  auto old = log::set_sink(
    [&](log::level lvl, std::string_view component, std::string_view text) {
      std::lock_guard<std::mutex> guard{mtx};
      lines.push_back(std::string{log::to_string(lvl)} + " "
                      + std::string{component} + ": " + std::string{text});
    });
  {
    fixture f;
    REQUIRE(f.wait_state("up"));
    caf::anon_send_exit(f.gateway, caf::exit_reason::kill);
    REQUIRE(f.wait_state("down"));
  }
  log::set_sink(std::move(old));
  log::set_level(old_level);
  auto has = [&](const std::string& prefix) {
    std::lock_guard<std::mutex> guard{mtx};
    return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) {
      return l.rfind(prefix, 0) == 0;
    });
  };
  CHECK(has("info cluster.link.b: up (127.0.0.1:"));
  CHECK(has("warning cluster.link.b: down: "));
}

TEST_CASE("a link answers a watch with the peer's gateway while up, holds a "
          "watch for the gateway it has, and fails it when it stops") {
  fixture f;
  caf::scoped_actor self{f.a};
  caf::actor gateway;
  self->request(f.link, 10s, cluster::link_watch_atom::value, caf::actor{})
    .receive([&](caf::actor& x) { gateway = std::move(x); },
             [&](caf::error& err) { FAIL(describe(err)); });
  REQUIRE(gateway);
  CHECK(gateway.node() == f.b.node());
  // The gateway it has now was lost, says the watcher: the answer waits
  // for another connection, and the link stopping fails it.
  auto watch
    = self->request(f.link, 30s, cluster::link_watch_atom::value, gateway);
  auto t0 = clock_type::now();
  caf::anon_send_exit(f.link, caf::exit_reason::user_shutdown);
  caf::error err;
  watch.receive([&](caf::actor&) { FAIL("answered with the same gateway"); },
                [&](caf::error& x) { err = std::move(x); });
  CHECK(ms_since(t0) < 2000);
  CHECK(err == make_error(errc::entity_unavailable, ""));
  CHECK_THAT(describe(err), Contains("node 'b'") && Contains("stopping"));
}
