#include "cairn/actors/journal_messages.hpp"

#include <catch2/catch.hpp>

#include "caf/all.hpp"

using namespace cairn;
using namespace cairn::journal;

namespace {

template <class T>
T round_trip(caf::actor_system& sys, const T& x) {
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  auto copy = x;
  REQUIRE(!sink(copy));
  T result;
  caf::binary_deserializer source{sys, buf};
  REQUIRE(!source(result));
  return result;
}

} // namespace

TEST_CASE("a write group survives serialization for the wire") {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  write_group g;
  append a;
  a.stream = "order-1";
  a.expected = expected_version::exact(4);
  event_record r;
  r.type = "order_placed";
  r.schema_version = 2;
  r.timestamp_ns = 99;
  r.correlation_id = "c";
  r.causation_id = "d";
  r.metadata = "m";
  r.payload = std::string("\0\1", 2);
  a.events.push_back(r);
  g.appends.push_back(a);
  g.checkpoints.emplace_back("p", 7);
  g.dedup_keys.push_back("k");
  g.snapshots.push_back(snapshot{"order-1", 4, "t", "s"});
  g.tables.push_back(table_write{"t", "k", "v", true});
  auto back = round_trip(sys, g);
  REQUIRE(back.appends.size() == 1);
  CHECK(back.appends[0].stream == "order-1");
  CHECK(back.appends[0].expected.what() == expected_version::kind::exact);
  CHECK(back.appends[0].expected.value() == 4);
  CHECK(back.appends[0].events[0] == r);
  CHECK(back.checkpoints == g.checkpoints);
  CHECK(back.dedup_keys == g.dedup_keys);
  CHECK(back.snapshots[0].payload == "s");
  CHECK(back.tables[0].erase);
  auto any = round_trip(sys, expected_version::no_stream());
  CHECK(any.what() == expected_version::kind::no_stream);
}

TEST_CASE("a receipt and a stored event survive serialization") {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  group_receipt rc;
  rc.appends.push_back(append_result{"a-1", 3, 5, 17});
  auto back = round_trip(sys, rc);
  REQUIRE(back.appends.size() == 1);
  CHECK(back.appends[0].first_position == 17);
  stored_event ev;
  ev.stream = "a-1";
  ev.version = 3;
  ev.position = 17;
  ev.record.type = "x";
  auto ev2 = round_trip(sys, ev);
  CHECK(ev2.position == 17);
  CHECK(ev2.record.type == "x");
}
