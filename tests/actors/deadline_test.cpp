// Deadlines of process managers, with the catering match of seed 002.
#include "cairn/actors/process_instance.hpp"

#include <catch2/catch.hpp>

#include "caf/all.hpp"

#include "cairn/journal/codec.hpp"
#include "tests/actors/catering.hpp"
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
  caf::actor matches;
  caf::timespan passivate_after = std::chrono::minutes{2};

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
    opts.registry.passivate_after = passivate_after;
    auto r = runtime::start(sys, opts);
    REQUIRE(r);
    rt = std::move(*r);
    matches = start_process_manager<catering_match>(*rt);
  }

  template <class E>
  void publish(const std::string& stream, E e) {
    journal::codec c;
    c.add<E>(E::event_name);
    journal::write_group g;
    journal::append a;
    a.stream = stream;
    a.events.push_back(c.encode(e));
    g.appends.push_back(a);
    self->request(rt->coordinator(), 10s, commit_atom::value, g)
      .receive([](journal::group_receipt&) {},
               [](caf::error& err) { FAIL(describe(err)); });
  }

  /// Waits for the condition "the order has an event" (polling the
  /// journal) and returns the type of its first event.
  std::string await_order(const std::string& id) {
    for (int i = 0; i < 2000; ++i) {
      auto evs = rt->journal()->read_stream("cateringorder-" + id);
      REQUIRE(evs);
      if (!evs->empty())
        return evs->front().record.type;
      self->receive(caf::after(std::chrono::milliseconds{5}) >> [] {});
    }
    return "nothing";
  }
};

} // namespace

TEST_CASE_METHOD(fixture, "the match confirms the order whichever side "
                          "confirms first") {
  catering_timeout() = std::chrono::milliseconds{60000};
  publish("customer-1", customer_confirmed_menu{"o1", "vegan"});
  publish("caterer-1", caterer_confirmed_menu{"o1", "vegan"});
  CHECK(await_order("o1") == order_confirmed::event_name);
  publish("caterer-2", caterer_confirmed_menu{"o2", "fish"});
  publish("customer-2", customer_confirmed_menu{"o2", "fish"});
  CHECK(await_order("o2") == order_confirmed::event_name);
  // Confirming cancelled the deadline: the table holds no entry.
  auto rows = rt->journal()->table_scan(deadline_table);
  REQUIRE(rows);
  CHECK(rows->empty());
}

TEST_CASE_METHOD(fixture, "a caterer that never answers expires the order") {
  catering_timeout() = std::chrono::milliseconds{30};
  publish("customer-3", customer_confirmed_menu{"o3", "vegan"});
  CHECK(await_order("o3") == order_expired::event_name);
}

TEST_CASE_METHOD(fixture, "a deadline that came due while the process was "
                          "down fires at start") {
  catering_timeout() = std::chrono::milliseconds{200};
  publish("customer-4", customer_confirmed_menu{"o4", "vegan"});
  // Wait until the deadline is scheduled, then stop everything.
  for (int i = 0; i < 2000; ++i) {
    auto rows = rt->journal()->table_scan(deadline_table);
    REQUIRE(rows);
    if (!rows->empty())
      break;
    self->receive(caf::after(std::chrono::milliseconds{5}) >> [] {});
  }
  rt->stop();
  rt.reset();
  // Let the deadline come due while nothing runs: here the wait is the
  // point of the test.
  self->receive(caf::after(std::chrono::milliseconds{400}) >> [] {});
  start();
  CHECK(await_order("o4") == order_expired::event_name);
}

TEST_CASE_METHOD(fixture, "a passivated instance is woken when its deadline "
                          "comes due") {
  passivate_after = std::chrono::milliseconds{20};
  rt->stop();
  start();
  catering_timeout() = std::chrono::milliseconds{500};
  publish("customer-5", customer_confirmed_menu{"o5", "vegan"});
  uint64_t passivated = 0;
  for (int i = 0; i < 2000 && passivated == 0; ++i) {
    self->request(matches, 10s, stats_atom::value)
      .receive([&](const registry_stats& x) { passivated = x.passivated; },
               [](caf::error& err) { FAIL(describe(err)); });
    if (passivated == 0)
      self->receive(caf::after(std::chrono::milliseconds{5}) >> [] {});
  }
  REQUIRE(passivated > 0);
  auto evs = rt->journal()->read_stream("cateringorder-o5");
  REQUIRE(evs);
  REQUIRE(evs->empty()); // passivated before the deadline came due
  CHECK(await_order("o5") == order_expired::event_name);
}
