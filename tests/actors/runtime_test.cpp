#include "actors/runtime.hpp"

#include <catch2/catch.hpp>

#include "caf/all.hpp"

#include "tests/actors/account.hpp"
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
