#include "cairn/actors/subscription_hub.hpp"

#include <catch2/catch.hpp>

#include "caf/all.hpp"

using namespace cairn;
using namespace std::chrono_literals;

namespace {

journal::stored_event at(std::string stream, uint64_t pos) {
  journal::stored_event ev;
  ev.stream = std::move(stream);
  ev.position = pos;
  ev.version = 1;
  ev.record.type = "e";
  return ev;
}

uint64_t subscribe(caf::scoped_actor& self, const subscription_hub_actor& hub,
                   std::string category) {
  uint64_t result = 0;
  self
    ->request(hub, 10s, subscribe_atom::value, caf::actor{self},
              std::move(category))
    .receive([&](uint64_t pos) { result = pos; },
             [](caf::error& err) { FAIL(to_string(err)); });
  return result;
}

} // namespace

TEST_CASE("a subscriber learns where the live feed starts and gets what "
          "follows") {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto hub = spawn_subscription_hub(sys, 41);
  CHECK(subscribe(self, hub, "") == 41);
  self->send(
    hub, publish_atom::value,
    std::vector<journal::stored_event>{at("order-1", 42), at("invoice-1", 43)});
  self->receive(
    [](events_atom, std::vector<journal::stored_event>& evs) {
      REQUIRE(evs.size() == 2);
      CHECK(evs[0].position == 42);
      CHECK(evs[1].position == 43);
    },
    caf::after(10s) >> [] { FAIL("no events from the hub"); });
  uint64_t last = 0;
  self->request(hub, 10s, stats_atom::value)
    .receive([&](uint64_t pos) { last = pos; },
             [](caf::error& err) { FAIL(to_string(err)); });
  CHECK(last == 43);
  SECTION("after unsubscribing nothing arrives") {
    self->send(hub, unsubscribe_atom::value, caf::actor{self});
    self->send(hub, publish_atom::value,
               std::vector<journal::stored_event>{at("order-2", 44)});
    // A request after the publish returns after it was handled.
    self->request(hub, 10s, stats_atom::value)
      .receive([&](uint64_t pos) { CHECK(pos == 44); },
               [](caf::error& err) { FAIL(to_string(err)); });
    bool got_events = false;
    self->receive(
      [&](events_atom, std::vector<journal::stored_event>&) {
        got_events = true;
      },
      caf::after(std::chrono::milliseconds{0}) >> [] {});
    CHECK(!got_events);
  }
  self->send_exit(hub, caf::exit_reason::user_shutdown);
}

TEST_CASE("a category subscriber gets only its category, in order") {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto hub = spawn_subscription_hub(sys, 0);
  subscribe(self, hub, "order");
  self->send(hub, publish_atom::value,
             std::vector<journal::stored_event>{at("invoice-1", 1)});
  self->send(hub, publish_atom::value,
             std::vector<journal::stored_event>{
               at("order-1", 2), at("invoice-2", 3), at("order-7", 4)});
  self->receive(
    [](events_atom, std::vector<journal::stored_event>& evs) {
      REQUIRE(evs.size() == 2);
      CHECK(evs[0].stream == "order-1");
      CHECK(evs[1].stream == "order-7");
    },
    caf::after(10s) >> [] { FAIL("no events from the hub"); });
  self->send_exit(hub, caf::exit_reason::user_shutdown);
}
