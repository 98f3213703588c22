#include "cairn/actors/cluster/identity.hpp"

#include <catch2/catch.hpp>

#include "cairn/journal/errc.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cairn;
using Catch::Matchers::Contains;

TEST_CASE("a journal keeps the node id and digest it first started with") {
  test::temp_dir dir;
  {
    auto j = journal::journal::open(dir.path());
    REQUIRE(j);
    REQUIRE(!cluster::claim_identity(**j, "a", "0123456789abcdef"));
    // The same identity again: accepted.
    REQUIRE(!cluster::claim_identity(**j, "a", "0123456789abcdef"));
  }
  auto j = journal::journal::open(dir.path());
  REQUIRE(j);
  CHECK(!cluster::claim_identity(**j, "a", "0123456789abcdef"));
  auto stored = (*j)->table_get(cluster::identity_table, "node-id");
  REQUIRE(stored);
  CHECK(*stored == std::optional<std::string>{"a"});
  SECTION("another node id is refused, naming both") {
    auto err = cluster::claim_identity(**j, "b", "0123456789abcdef");
    REQUIRE(err);
    CHECK(code_of(err) == errc::bad_config);
    CHECK_THAT(context_of(err),
               Contains("cluster.node-id: the journal at " + dir.path()
                        + " belongs to node 'a', not 'b'"));
  }
  SECTION("another digest is refused, naming both") {
    auto err = cluster::claim_identity(**j, "a", "fedcba9876543210");
    REQUIRE(err);
    CHECK(code_of(err) == errc::bad_config);
    CHECK_THAT(context_of(err), Contains("digest 0123456789abcdef"));
    CHECK_THAT(context_of(err), Contains("digest fedcba9876543210"));
  }
  // A refused identity changed nothing.
  CHECK(!cluster::claim_identity(**j, "a", "0123456789abcdef"));
}
