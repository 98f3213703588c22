#include "actors/registry.hpp"

#include <catch2/catch.hpp>

#include "caf/all.hpp"

#include "actors/runtime.hpp"
#include "tests/actors/account.hpp"
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
};

} // namespace

TEST_CASE_METHOD(fixture, "a message without an entity id is refused by "
                          "name") {
  auto reg = rt->registry<account>();
  caf::error err;
  self->request(reg, 10s, charge{5})
    .receive([] { FAIL("accepted"); }, [&](caf::error& e) { err = e; });
  CHECK(code_of(err) == errc::invalid_argument);
  CHECK(describe(err).find("registry account") != std::string::npos);
  self->request(reg, 10s, entity_id{""}, charge{5})
    .receive([](int64_t) { FAIL("accepted"); },
             [&](caf::error& e) { err = e; });
  CHECK(describe(err).find("empty entity id") != std::string::npos);
}

TEST_CASE_METHOD(fixture, "the registry spawns one entity per id and counts "
                          "what it routes") {
  auto reg = rt->registry<account>();
  CHECK(reg == rt->registry<account>());
  for (auto id : {"a", "b", "a"})
    self->request(reg, 10s, entity_id{id}, get_balance{})
      .receive([](int64_t x) { CHECK(x == 0); },
               [](caf::error& e) { FAIL(describe(e)); });
  self->request(reg, 10s, stats_atom::value)
    .receive(
      [](registry_stats& s) {
        CHECK(s.spawned == 2);
        CHECK(s.active == 2);
        CHECK(s.routed == 3);
      },
      [](caf::error& e) { FAIL(describe(e)); });
}
