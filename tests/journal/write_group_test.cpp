#include "cairn/journal/write_group.hpp"

#include <catch2/catch.hpp>

#include "cairn/journal/errc.hpp"
#include "cairn/journal/options.hpp"

using namespace cairn;
using namespace cairn::journal;

TEST_CASE("expected versions match as documented") {
  CHECK(expected_version::any().matches(0));
  CHECK(expected_version::any().matches(9));
  CHECK(expected_version::no_stream().matches(0));
  CHECK(!expected_version::no_stream().matches(1));
  CHECK(expected_version::exact(3).matches(3));
  CHECK(!expected_version::exact(3).matches(2));
  CHECK(expected_version::exact(0).what() == expected_version::kind::no_stream);
  CHECK(expected_version::exact(3).to_string() == "3");
  CHECK(expected_version::any().to_string() == "any");
}

TEST_CASE("a write group counts its events and bytes") {
  write_group g;
  append a;
  a.stream = "s-1";
  event_record r;
  r.type = "t";
  r.payload = std::string(100, 'x');
  a.events = {r, r};
  g.appends.push_back(a);
  CHECK(g.event_count() == 2);
  CHECK(g.byte_size() >= 200);
}

TEST_CASE("sync modes parse from their names and refuse others by name") {
  CHECK(*parse_sync_mode("full") == sync_mode::full);
  CHECK(*parse_sync_mode("no-meta-sync") == sync_mode::no_meta_sync);
  CHECK(*parse_sync_mode("none") == sync_mode::none);
  CHECK(to_string(sync_mode::no_meta_sync) == "no-meta-sync");
  auto bad = parse_sync_mode("fast");
  REQUIRE(!bad);
  CHECK(code_of(bad.error()) == errc::invalid_argument);
  CHECK(describe(bad.error()).find("'fast'") != std::string::npos);
}
