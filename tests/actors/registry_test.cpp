#include "cairn/actors/registry.hpp"

#include <catch2/catch.hpp>

#include "caf/all.hpp"

#include "cairn/actors/runtime.hpp"
#include "cairn/journal/journal.hpp"
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

TEST_CASE_METHOD(fixture, "an entity id over the maximum length is refused "
                          "and the journal goes on") {
  auto reg = rt->registry<account>();
  // account- + 246 bytes is the longest stream name the journal takes.
  auto limit
    = journal::max_stream_name_size - std::string{"account"}.size() - 1;
  caf::error err;
  self->request(reg, 10s, entity_id{std::string(505, 'x')}, open_account{"x"})
    .receive([] { FAIL("accepted"); }, [&](caf::error& e) { err = e; });
  CHECK(code_of(err) == errc::invalid_argument);
  CHECK(describe(err).find("505 bytes") != std::string::npos);
  CHECK(describe(err).find(std::to_string(limit) + " bytes")
        != std::string::npos);
  self->request(reg, 10s, stats_atom::value)
    .receive([](registry_stats& s) { CHECK(s.spawned == 0); },
             [](caf::error& e) { FAIL(describe(e)); });
  // The journal goes on: a normal command right after commits.
  self->request(reg, 10s, entity_id{"1"}, open_account{"ann"})
    .receive([] {}, [](caf::error& e) { FAIL(describe(e)); });
  self->request(reg, 10s, entity_id{"1"}, charge{5})
    .receive([](int64_t x) { CHECK(x == 5); },
             [](caf::error& e) { FAIL(describe(e)); });
  // The longest id is taken.
  self->request(reg, 10s, entity_id{std::string(limit, 'y')}, open_account{"y"})
    .receive([] {}, [](caf::error& e) { FAIL(describe(e)); });
  CHECK(*rt->journal()->stream_version("account-" + std::string(limit, 'y'))
        == 1);
}
