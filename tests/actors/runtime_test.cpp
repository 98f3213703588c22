#include "cairn/actors/runtime.hpp"

#include <catch2/catch.hpp>

#include <mutex>
#include <string>
#include <vector>

#include "caf/all.hpp"

#include "cairn/actors/process_instance.hpp"
#include "cairn/journal/codec.hpp"
#include "cairn/journal/log.hpp"
#include "tests/actors/account.hpp"
#include "tests/actors/group_checkout.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cairn;
using namespace cairn::test;
using namespace std::chrono_literals;

TEST_CASE("a runtime on a bad journal path fails to start with the reason") {
  temp_dir dir;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  runtime_options opts;
  opts.journal_path = dir.path() + "/missing/deeper";
  auto r = runtime::start(sys, opts);
  REQUIRE(!r);
  CHECK(code_of(r.error()) == errc::storage_error);
  CHECK(describe(r.error()).find("missing/deeper") != std::string::npos);
}

TEST_CASE("a runtime hands out one registry per aggregate type and stops "
          "once") {
  temp_dir dir;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  runtime_options opts;
  opts.journal_path = dir.path();
  opts.journal.sync = journal::sync_mode::none;
  auto r = runtime::start(sys, opts);
  REQUIRE(r);
  auto& rt = **r;
  CHECK(rt.registry<account>() == rt.registry<account>());
  CHECK(rt.journal()->path() == dir.path());
  CHECK(rt.coordinator());
  CHECK(rt.hub());
  rt.stop();
  rt.stop(); // idempotent
}

TEST_CASE("stop returns once every actor of the runtime has terminated, "
          "under load, a hundred times") {
  temp_dir dir;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  journal::codec c;
  c.add<group_checkout_requested>(group_checkout_requested::event_name);
  auto started = std::chrono::steady_clock::now();
  for (int round = 0; round < 100; ++round) {
    auto baseline = sys.registry().running();
    runtime_options opts;
    opts.journal_path = dir.path();
    opts.journal.sync = journal::sync_mode::none;
    opts.registry.passivate_after = 1ms; // instances passivate under way
    auto r = runtime::start(sys, opts);
    REQUIRE(r);
    auto& rt = **r;
    auto accounts = rt.registry<account>();
    start_process_manager<group_checkout>(rt);
    std::vector<std::string> guests;
    for (int i = 0; i < 8; ++i) {
      auto id = "r" + std::to_string(round) + "g" + std::to_string(i);
      self->send(accounts, entity_id{id}, open_account{id});
      guests.push_back(id);
    }
    // Saga steps in flight: inputs committed, the router and the
    // instances busy with them when the runtime stops.
    for (int k = 0; k < 4; ++k) {
      journal::write_group g;
      journal::append a;
      auto group = "r" + std::to_string(round) + "k" + std::to_string(k);
      a.stream = "frontdesk-" + group;
      a.events.push_back(c.encode(group_checkout_requested{group, guests}));
      g.appends.push_back(std::move(a));
      self->send(rt.coordinator(), commit_atom::value, std::move(g));
    }
    if (round % 2 == 1)
      self->receive([](const caf::message&) {},
                    caf::after(std::chrono::milliseconds{round % 7}) >> [] {});
    rt.stop();
    // Nothing of the runtime runs any more: no instance may use it now.
    CHECK(sys.registry().running() == baseline);
    r->reset();
    // Drop the replies that reached us.
    bool more = true;
    while (more)
      self->receive([](const caf::message&) {}, [](caf::error&) {},
                    caf::after(0s) >> [&] { more = false; });
  }
  CHECK(std::chrono::steady_clock::now() - started < 30s);
}

TEST_CASE("the log tells an entity's recovery with its time and events at "
          "info, and its passivation at debug") {
  temp_dir dir;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  std::mutex mtx;
  std::vector<std::string> lines;
  auto old = log::set_sink(
    [&](log::level, std::string_view component, std::string_view text) {
      std::lock_guard<std::mutex> guard{mtx};
      lines.push_back(std::string{component} + ": " + std::string{text});
    });
  runtime_options opts;
  opts.journal_path = dir.path();
  opts.journal.sync = journal::sync_mode::none;
  opts.log_level = log::level::debug;
  opts.registry.max_active = 1;
  {
    auto r = runtime::start(sys, opts);
    REQUIRE(r);
    auto accounts = (*r)->registry<account>();
    caf::scoped_actor self{sys};
    auto ok = [] {};
    auto fail = [](caf::error& err) { FAIL(describe(err)); };
    self->request(accounts, 10s, entity_id{"a"}, open_account{"ann"})
      .receive(ok, fail);
    for (int i = 0; i < 2; ++i)
      self->request(accounts, 10s, entity_id{"a"}, charge{5})
        .receive([](int64_t) {}, fail);
    // Over max-active 1: "a" is passivated; asking it again recovers it.
    self->request(accounts, 10s, entity_id{"b"}, open_account{"bob"})
      .receive(ok, fail);
    int64_t balance = 0;
    self->request(accounts, 10s, entity_id{"a"}, get_balance{})
      .receive([&](int64_t x) { balance = x; }, fail);
    CHECK(balance == 10);
    (*r)->stop();
  }
  log::set_sink(std::move(old));
  log::set_level(log::level::warning);
  auto has = [&](const std::string& prefix, const std::string& part) {
    for (auto& l : lines)
      if (l.rfind(prefix, 0) == 0 && l.find(part) != std::string::npos)
        return true;
    return false;
  };
  INFO(lines.size() << " lines");
  CHECK(has("registry.account: passivating a: ", "aggregates.max-active (1)"));
  CHECK(has("account-a: recovered in ", " ms from 3 events"));
  // A new entity with no events logs no recovery.
  CHECK(!has("account-b: recovered", ""));
}
