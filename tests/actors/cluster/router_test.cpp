#include "cairn/actors/cluster/router.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "caf/all.hpp"

#include "cairn/actors/aggregate.hpp"
#include "cairn/actors/cluster/messages.hpp"
#include "cairn/journal/errc.hpp"

// A router alone: stand-ins for the local registry and the link to node b
// say which way each command went.

using namespace cairn;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace {

struct ping {
  int32_t x = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ping& x) {
  return f(caf::meta::type_name("test.ping"), x.x);
}

/// A command type that is never announced.
struct unannounced_ping {
  int32_t x = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, unannounced_ping& x) {
  return f(caf::meta::type_name("test.unannounced_ping"), x.x);
}

struct router_config : caf::actor_system_config {
  router_config() {
    add_message_type<entity_id>("cairn.entity_id");
    add_message_type<ping>("test.ping");
    add_error_category(cairn_error_category, render_error);
  }
};

struct fixture {
  fixture() {
    cluster::settings s;
    s.name = "routes";
    s.node_id = "a";
    s.shards = 64;
    s.nodes = {"a@127.0.0.1:1", "b@127.0.0.1:2"};
    auto m = cluster::membership::make(s);
    REQUIRE(m);
    members = std::make_shared<const cluster::membership>(std::move(*m));
    local = sys.spawn([](caf::event_based_actor*) -> caf::behavior {
      return {[](entity_id& id, ping& p) {
        return "local " + id.value + " " + std::to_string(p.x);
      }};
    });
    auto sent = sent_to_b;
    link_b = sys.spawn([sent](caf::event_based_actor*) -> caf::behavior {
      return {[sent](cluster::forward_atom, std::string& category,
                     caf::message& msg) {
        ++*sent;
        return "link b " + category + " " + to_string(msg);
      }};
    });
    v = std::make_shared<cluster::view>(
      [](const std::string&) { return caf::actor{}; });
    router = cluster::spawn_router(sys, "thing", local, v);
    for (int i = 0; on_a.empty() || on_b.empty(); ++i) {
      auto id = "t" + std::to_string(i);
      (members->owner("thing", id).id == "a" ? on_a : on_b) = id;
    }
  }

  ~fixture() {
    for (auto& hdl : {router, local, link_b})
      caf::anon_send_exit(hdl, caf::exit_reason::user_shutdown);
  }

  void join() {
    v->join(members, {{"b", link_b}});
  }

  /// Sends `(entity_id{id}, cmd)` and returns the answer or the error text.
  template <class Command>
  std::string ask(const std::string& id, Command cmd) {
    std::string result;
    caf::scoped_actor self{sys};
    self->request(router, 10s, entity_id{id}, std::move(cmd))
      .receive([&](std::string& x) { result = std::move(x); },
               [&](caf::error& err) { result = "error " + describe(err); });
    return result;
  }

  router_config cfg;
  caf::actor_system sys{cfg};
  std::shared_ptr<const cluster::membership> members;
  std::shared_ptr<std::atomic<int>> sent_to_b
    = std::make_shared<std::atomic<int>>(0);
  caf::actor local;
  caf::actor link_b;
  std::shared_ptr<cluster::view> v;
  caf::actor router;
  std::string on_a;
  std::string on_b;
};

} // namespace

TEST_CASE("a router delivers a command for its own node's entity locally and "
          "one for another node's entity to that node's link") {
  fixture f;
  f.join();
  CHECK(f.ask(f.on_a, ping{1}) == "local " + f.on_a + " 1");
  auto via_b = f.ask(f.on_b, ping{2});
  CHECK_THAT(via_b, Contains("link b thing"));
  // The link gets the command as the router got it.
  CHECK_THAT(via_b, Contains(f.on_b) && Contains("test.ping(2)"));
  CHECK(*f.sent_to_b == 1);
}

TEST_CASE("a router refuses a command type that is not announced, naming "
          "the type, before anything is sent") {
  fixture f;
  f.join();
  for (auto& id : {f.on_a, f.on_b}) {
    auto answer = f.ask(id, unannounced_ping{1});
    INFO(answer);
    CHECK_THAT(answer, Contains("error invalid_argument")
                         && Contains("router thing: the command type")
                         && Contains("unannounced_ping")
                         && Contains("is not announced"));
  }
  CHECK(*f.sent_to_b == 0);
  // Announced commands still pass.
  CHECK(f.ask(f.on_a, ping{3}) == "local " + f.on_a + " 3");
}

TEST_CASE("a router refuses a message that is not (entity_id, command)") {
  fixture f;
  f.join();
  caf::scoped_actor self{f.sys};
  caf::error err;
  self->request(f.router, 10s, ping{1})
    .receive([&](std::string&) { FAIL("accepted"); },
             [&](caf::error& x) { err = std::move(x); });
  CHECK(err == make_error(errc::invalid_argument, ""));
  CHECK_THAT(describe(err), Contains("expects (entity_id, command)"));
}

TEST_CASE("a router refuses commands before its node joined the cluster") {
  fixture f;
  auto answer = f.ask(f.on_a, ping{1});
  CHECK_THAT(answer, Contains("error entity_unavailable")
                       && Contains("has not joined its cluster"));
}

TEST_CASE("unannounced_type names the first element a system cannot "
          "serialize, skipping CAF's own types") {
  fixture f;
  CHECK(cluster::unannounced_type(f.sys, caf::make_message(1, ping{})).empty());
  CHECK_THAT(cluster::unannounced_type(
               f.sys, caf::make_message(std::string{"x"}, unannounced_ping{})),
             Contains("unannounced_ping"));
  // From `first` on only.
  CHECK(cluster::unannounced_type(
          f.sys, caf::make_message(unannounced_ping{}, ping{}), 1)
          .empty());
}
