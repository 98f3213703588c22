#include "cairn/journal/journal.hpp"

#include <catch2/catch.hpp>

#include <lmdb.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <random>
#include <thread>

#include "cairn/journal/detail/journal_impl.hpp"
#include "cairn/journal/detail/record_format.hpp"
#include "cairn/journal/errc.hpp"
#include "cairn/journal/verify.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/prefixed_log.hpp"
#include "tests/support/raw_lmdb.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cairn;
using namespace cairn::journal;
using cairn::test::bin_path;
using cairn::test::child_process;
using cairn::test::temp_dir;
using store = cairn::journal::journal;

namespace {

event_record ev(std::string type, std::string payload = "x") {
  event_record r;
  r.type = std::move(type);
  r.payload = std::move(payload);
  return r;
}

append app(std::string stream, expected_version exp,
           std::vector<event_record> events) {
  return append{std::move(stream), exp, std::move(events)};
}

write_group group_of(append a) {
  write_group g;
  g.appends.push_back(std::move(a));
  return g;
}

std::unique_ptr<store> open_or_fail(const std::string& dir, options opts = {}) {
  opts.sync = sync_mode::none; // tests do not need fsync
  auto j = store::open(dir, opts);
  if (!j)
    FAIL("open failed: " << describe(j.error()));
  return std::move(*j);
}

} // namespace

TEST_CASE("a new stream gets versions from 1 and positions in commit order") {
  temp_dir dir;
  auto j = open_or_fail(dir.path());
  auto r1 = j->commit(group_of(app("order-1", expected_version::no_stream(),
                                   {ev("created"), ev("paid")})));
  REQUIRE(r1);
  REQUIRE(r1->appends.size() == 1);
  CHECK(r1->appends[0].first_version == 1);
  CHECK(r1->appends[0].last_version == 2);
  CHECK(r1->appends[0].first_position == 1);
  auto r2 = j->commit(
    group_of(app("invoice-7", expected_version::any(), {ev("drafted")})));
  REQUIRE(r2);
  CHECK(r2->appends[0].first_position == 3);
  CHECK(*j->stream_version("order-1") == 2);
  CHECK(*j->stream_version("invoice-7") == 1);
  CHECK(*j->stream_version("nothing-here") == 0);
  CHECK(*j->last_position() == 3);
  auto events = j->read_stream("order-1");
  REQUIRE(events);
  REQUIRE(events->size() == 2);
  CHECK((*events)[0].record.type == "created");
  CHECK((*events)[0].version == 1);
  CHECK((*events)[0].position == 1);
  CHECK((*events)[1].record.type == "paid");
  CHECK((*events)[1].record.timestamp_ns > 0);
}

TEST_CASE("an event record round-trips every field") {
  temp_dir dir;
  auto j = open_or_fail(dir.path());
  event_record r;
  r.type = "item_added";
  r.schema_version = 3;
  r.timestamp_ns = 1234567890123;
  r.correlation_id = "checkout-9";
  r.causation_id = "cmd-17";
  r.metadata = std::string("m\0eta", 5);
  r.payload = std::string("\x00\x01\x02\xff", 4);
  REQUIRE(j->commit(group_of(app("invoice-1", expected_version::any(), {r}))));
  auto events = j->read_stream("invoice-1");
  REQUIRE(events);
  REQUIRE(events->size() == 1);
  CHECK((*events)[0].record == r);
  CHECK((*events)[0].stream == "invoice-1");
}

TEST_CASE("a wrong expected version is rejected with conflict naming the "
          "stream") {
  temp_dir dir;
  auto j = open_or_fail(dir.path());
  REQUIRE(j->commit(
    group_of(app("order-1", expected_version::any(), {ev("a"), ev("b")}))));
  auto r = j->commit(
    group_of(app("order-1", expected_version::exact(1), {ev("c")})));
  REQUIRE(!r);
  CHECK(code_of(r.error()) == errc::conflict);
  CHECK(describe(r.error()).find("order-1") != std::string::npos);
  CHECK(describe(r.error()).find("is at 2") != std::string::npos);
  auto r2 = j->commit(
    group_of(app("order-1", expected_version::no_stream(), {ev("c")})));
  REQUIRE(!r2);
  CHECK(code_of(r2.error()) == errc::conflict);
  CHECK(*j->stream_version("order-1") == 2);
  CHECK(!j->failed()); // a validation error is not a journal failure
  CHECK(
    j->commit(group_of(app("order-1", expected_version::exact(2), {ev("c")}))));
}

TEST_CASE("a rejected group leaves the other groups of its commit intact") {
  temp_dir dir;
  auto j = open_or_fail(dir.path());
  REQUIRE(j->commit(group_of(app("a-1", expected_version::any(), {ev("x")}))));
  std::vector<write_group> groups;
  groups.push_back(
    group_of(app("b-1", expected_version::no_stream(), {ev("x"), ev("y")})));
  // Bad: a-1 is at 1. Its second append would be fine alone.
  write_group bad;
  bad.appends.push_back(app("c-1", expected_version::any(), {ev("x")}));
  bad.appends.push_back(app("a-1", expected_version::exact(5), {ev("y")}));
  bad.dedup_keys.push_back("bad-key");
  groups.push_back(bad);
  groups.push_back(group_of(app("a-1", expected_version::exact(1), {ev("z")})));
  auto res = j->commit(groups);
  REQUIRE(res);
  REQUIRE(res->size() == 3);
  CHECK((*res)[0]);
  REQUIRE(!(*res)[1]);
  CHECK(code_of((*res)[1].error()) == errc::conflict);
  REQUIRE((*res)[2]);
  CHECK((*res)[2]->appends[0].first_version == 2);
  // Positions skip nothing: the rejected group took none.
  CHECK((*res)[0]->appends[0].first_position == 2);
  CHECK((*res)[2]->appends[0].first_position == 4);
  CHECK(*j->stream_version("c-1") == 0);
  CHECK(!*j->has_dedup_key("bad-key"));
  CHECK(*j->stream_version("a-1") == 2);
  CHECK(*j->stream_version("b-1") == 2);
}

TEST_CASE("groups of one commit chain their expected versions") {
  temp_dir dir;
  auto j = open_or_fail(dir.path());
  std::vector<write_group> groups;
  groups.push_back(
    group_of(app("s-1", expected_version::no_stream(), {ev("a")})));
  groups.push_back(group_of(app("s-1", expected_version::exact(1), {ev("b")})));
  write_group twice;
  twice.appends.push_back(app("s-1", expected_version::exact(2), {ev("c")}));
  twice.appends.push_back(app("s-1", expected_version::exact(3), {ev("d")}));
  groups.push_back(twice);
  auto res = j->commit(groups);
  REQUIRE(res);
  for (auto& r : *res)
    CHECK(r);
  CHECK(*j->stream_version("s-1") == 4);
  auto events = j->read_stream("s-1");
  REQUIRE(events->size() == 4);
  CHECK((*events)[3].record.type == "d");
}

TEST_CASE("a dedup key admits one group only") {
  temp_dir dir;
  auto j = open_or_fail(dir.path());
  write_group g = group_of(app("acct-1", expected_version::any(), {ev("x")}));
  g.dedup_keys.push_back("cmd-42");
  REQUIRE(j->commit(g));
  CHECK(*j->has_dedup_key("cmd-42"));
  auto again = j->commit(g);
  REQUIRE(!again);
  CHECK(code_of(again.error()) == errc::duplicate);
  CHECK(describe(again.error()).find("cmd-42") != std::string::npos);
  CHECK(*j->stream_version("acct-1") == 1);
  SECTION("within one commit too") {
    write_group h = group_of(app("acct-2", expected_version::any(), {ev("x")}));
    h.dedup_keys.push_back("cmd-43");
    auto res = j->commit(std::vector<write_group>{h, h});
    REQUIRE(res);
    CHECK((*res)[0]);
    REQUIRE(!(*res)[1]);
    CHECK(code_of((*res)[1].error()) == errc::duplicate);
    CHECK(*j->stream_version("acct-2") == 1);
  }
}

TEST_CASE("invalid groups are refused with invalid_argument") {
  temp_dir dir;
  auto j = open_or_fail(dir.path());
  auto r = j->commit(group_of(app("", expected_version::any(), {ev("x")})));
  REQUIRE(!r);
  CHECK(code_of(r.error()) == errc::invalid_argument);
  auto r2 = j->commit(group_of(app("s-1", expected_version::any(), {ev("")})));
  REQUIRE(!r2);
  CHECK(code_of(r2.error()) == errc::invalid_argument);
  write_group g;
  g.dedup_keys.push_back("");
  auto r3 = j->commit(g);
  REQUIRE(!r3);
  CHECK(code_of(r3.error()) == errc::invalid_argument);
}

TEST_CASE("checkpoints, snapshots and tables commit with their group") {
  temp_dir dir;
  auto j = open_or_fail(dir.path());
  write_group g = group_of(
    app("inv-1", expected_version::any(), {ev("a"), ev("b"), ev("c")}));
  g.checkpoints.emplace_back("stats", 3);
  g.snapshots.push_back(snapshot{"inv-1", 2, "invoice_state", "s2"});
  g.tables.push_back(table_write{"invoice_stats", "count", "3", false});
  g.tables.push_back(table_write{"invoice_stats", "sum", "99", false});
  g.tables.push_back(table_write{"other", "count", "7", false});
  REQUIRE(j->commit(g));
  CHECK(**j->checkpoint("stats") == 3);
  CHECK(!*j->checkpoint("unknown"));
  auto snap = j->latest_snapshot("inv-1");
  REQUIRE(snap);
  REQUIRE(*snap);
  CHECK((*snap)->version == 2);
  CHECK((*snap)->type == "invoice_state");
  CHECK((*snap)->payload == "s2");
  CHECK(**j->table_get("invoice_stats", "count") == "3");
  auto scan = j->table_scan("invoice_stats");
  REQUIRE(scan);
  REQUIRE(scan->size() == 2);
  CHECK((*scan)[0].first == "count");
  CHECK((*scan)[1].first == "sum");
  SECTION("an older snapshot does not replace a newer one") {
    write_group h;
    h.snapshots.push_back(snapshot{"inv-1", 1, "invoice_state", "s1"});
    REQUIRE(j->commit(h));
    CHECK((**j->latest_snapshot("inv-1")).version == 2);
    write_group k;
    k.snapshots.push_back(snapshot{"inv-1", 3, "invoice_state", "s3"});
    REQUIRE(j->commit(k));
    CHECK((**j->latest_snapshot("inv-1")).payload == "s3");
  }
  SECTION("a table entry can be erased") {
    write_group h;
    h.tables.push_back(table_write{"invoice_stats", "sum", "", true});
    REQUIRE(j->commit(h));
    CHECK(!*j->table_get("invoice_stats", "sum"));
  }
}

TEST_CASE("reads come in bounded chunks") {
  temp_dir dir;
  auto j = open_or_fail(dir.path());
  std::vector<event_record> events;
  for (int i = 0; i < 50; ++i)
    events.push_back(ev("e", std::to_string(i)));
  REQUIRE(j->commit(group_of(app("big-1", expected_version::any(), events))));
  REQUIRE(
    j->commit(group_of(app("small-1", expected_version::any(), {ev("e")}))));
  uint64_t from = 1;
  int seen = 0;
  for (;;) {
    auto chunk = j->read_stream("big-1", from, 7);
    REQUIRE(chunk);
    if (chunk->empty())
      break;
    CHECK(chunk->size() <= 7);
    for (auto& e : *chunk) {
      CHECK(e.version == from);
      CHECK(e.record.payload == std::to_string(seen));
      ++from;
      ++seen;
    }
  }
  CHECK(seen == 50);
  auto slice = j->read_all(45, 10);
  REQUIRE(slice);
  REQUIRE(slice->events.size() == 7);
  CHECK(slice->events.back().stream == "small-1");
  CHECK(slice->events.back().position == 51);
  CHECK(slice->next_position == 52);
  auto tail = j->read_all(slice->next_position, 10);
  CHECK(tail->events.empty());
}

TEST_CASE("a stream visited in place shows the events read_stream gives, "
          "from any version, without copying them") {
  temp_dir dir;
  auto j = open_or_fail(dir.path());
  std::vector<event_record> events;
  for (int i = 0; i < 40; ++i) {
    auto r = ev("e" + std::to_string(i % 3), std::to_string(i));
    r.correlation_id = "c" + std::to_string(i);
    r.metadata = "m";
    events.push_back(r);
  }
  // Another stream's events in between, so that positions are not all
  // consecutive.
  REQUIRE(j->commit(group_of(app("big-1", expected_version::any(),
                                 {events.begin(), events.begin() + 20}))));
  REQUIRE(
    j->commit(group_of(app("other-1", expected_version::any(), {ev("x")}))));
  REQUIRE(j->commit(group_of(app("big-1", expected_version::any(),
                                 {events.begin() + 20, events.end()}))));
  for (uint64_t from : {1, 7, 20, 21, 40, 41}) {
    CAPTURE(from);
    auto copies = j->read_stream("big-1", from, 15);
    REQUIRE(copies);
    std::vector<stored_event> seen;
    auto n = j->visit_stream("big-1", from, 15, [&](const event_view& v) {
      stored_event e;
      e.stream = std::string{v.stream};
      e.version = v.version;
      e.position = v.position;
      e.record.type = std::string{v.record.type};
      e.record.schema_version = v.record.schema_version;
      e.record.timestamp_ns = v.record.timestamp_ns;
      e.record.correlation_id = std::string{v.record.correlation_id};
      e.record.causation_id = std::string{v.record.causation_id};
      e.record.metadata = std::string{v.record.metadata};
      e.record.payload = std::string{v.record.payload};
      seen.push_back(std::move(e));
    });
    REQUIRE(n);
    CHECK(*n == copies->size());
    REQUIRE(seen.size() == copies->size());
    for (size_t i = 0; i < seen.size(); ++i) {
      CHECK(seen[i].stream == (*copies)[i].stream);
      CHECK(seen[i].version == (*copies)[i].version);
      CHECK(seen[i].position == (*copies)[i].position);
      CHECK(seen[i].record == (*copies)[i].record);
    }
  }
  auto none = j->visit_stream("no-such-1", 1, 10,
                              [](const event_view&) { FAIL("visited"); });
  REQUIRE(none);
  CHECK(*none == 0);
}

TEST_CASE("the global log can be read by category") {
  temp_dir dir;
  auto j = open_or_fail(dir.path());
  for (int i = 0; i < 10; ++i) {
    std::string stream
      = (i % 2 == 0 ? "order-" : "invoice-") + std::to_string(i);
    REQUIRE(
      j->commit(group_of(app(stream, expected_version::any(), {ev("e")}))));
  }
  auto slice = j->read_all(1, 100, "invoice");
  REQUIRE(slice);
  REQUIRE(slice->events.size() == 5);
  for (auto& e : slice->events)
    CHECK(category_of(e.stream) == "invoice");
  CHECK(slice->events[0].position == 2);
  CHECK(category_of("order-42") == "order");
  CHECK(category_of("plain") == "plain");
  CHECK(category_of("a-b-c") == "a");
}

TEST_CASE("the global log read in chunks of any size gives each event once, "
          "in log order, with or without a category") {
  // read_all looks ahead of the events it returns; a chunk that ends in the
  // middle of what it looked at must resume exactly after its last event.
  temp_dir dir;
  auto j = open_or_fail(dir.path());
  for (int i = 0; i < 70; ++i) {
    auto stream = (i % 3 == 0 ? "invoice-" : "order-") + std::to_string(i % 4);
    REQUIRE(j->commit(group_of(
      app(stream, expected_version::any(), {ev("e", std::to_string(i))}))));
  }
  for (std::string category : {"", "invoice", "order"}) {
    auto whole = j->read_all(1, 1000, category);
    REQUIRE(whole);
    REQUIRE(whole->events.size()
            == (category.empty()        ? 70u
                : category == "invoice" ? 24u
                                        : 46u));
    for (size_t chunk = 1; chunk <= 40; ++chunk) {
      INFO("category '" << category << "', chunks of " << chunk);
      std::vector<uint64_t> positions;
      for (uint64_t from = 1;;) {
        auto slice = j->read_all(from, chunk, category);
        REQUIRE(slice);
        REQUIRE(slice->events.size() <= chunk);
        REQUIRE(slice->next_position >= from);
        for (auto& e : slice->events) {
          CHECK(e.position < slice->next_position);
          positions.push_back(e.position);
        }
        if (slice->next_position == from)
          break; // nothing left to scan
        from = slice->next_position;
      }
      REQUIRE(positions.size() == whole->events.size());
      for (size_t k = 0; k < positions.size(); ++k)
        CHECK(positions[k] == whole->events[k].position);
    }
  }
}

TEST_CASE("streams are listed by name with their versions") {
  temp_dir dir;
  auto j = open_or_fail(dir.path());
  REQUIRE(j->commit(
    group_of(app("b-1", expected_version::any(), {ev("e"), ev("e")}))));
  REQUIRE(j->commit(group_of(app("a-1", expected_version::any(), {ev("e")}))));
  auto list = j->streams();
  REQUIRE(list);
  REQUIRE(list->size() == 2);
  CHECK((*list)[0].name == "a-1");
  CHECK((*list)[1].name == "b-1");
  CHECK((*list)[1].version == 2);
  CHECK((*list)[1].first_version == 1);
}

TEST_CASE("retention deletes events below a version and their log entries") {
  temp_dir dir;
  auto j = open_or_fail(dir.path());
  std::vector<event_record> events;
  for (int i = 1; i <= 10; ++i)
    events.push_back(ev("e", std::to_string(i)));
  REQUIRE(j->commit(group_of(app("inv-1", expected_version::any(), events))));
  REQUIRE(
    j->commit(group_of(app("inv-2", expected_version::any(), {ev("other")}))));
  write_group snap;
  snap.snapshots.push_back(snapshot{"inv-1", 6, "state", "at6"});
  REQUIRE(j->commit(snap));
  CHECK(j->truncate_before("inv-1", 7) == uint64_t{7});
  auto rest = j->read_stream("inv-1");
  REQUIRE(rest);
  REQUIRE(rest->size() == 4);
  CHECK(rest->front().version == 7);
  CHECK(rest->front().record.payload == "7");
  CHECK(*j->stream_version("inv-1") == 10);
  auto all = j->read_all(1, 100);
  REQUIRE(all);
  REQUIRE(all->events.size() == 5);
  CHECK(all->events.front().position == 7);
  CHECK((*j->streams())[0].first_version == 7);
  // Appends continue after the stream's version.
  auto r = j->commit(
    group_of(app("inv-1", expected_version::exact(10), {ev("e", "11")})));
  REQUIRE(r);
  CHECK(r->appends[0].first_version == 11);
  SECTION("errors name what was wrong") {
    auto e1 = j->truncate_before("nope-1", 2);
    CHECK(code_of(e1.error()) == errc::not_found);
    auto e2 = j->truncate_before("inv-1", 100);
    CHECK(code_of(e2.error()) == errc::invalid_argument);
    CHECK(describe(e2.error()).find("inv-1") != std::string::npos);
  }
}

namespace {

/// What a test wrote to each stream: position and payload of each version
/// (index 0 is version 1), and the first version still stored.
struct model {
  std::map<std::string, std::vector<std::pair<uint64_t, std::string>>> events;
  std::map<std::string, uint64_t> first;

  /// Commits, in one transaction, `counts[i]` events to `streams[i]`.
  void commit(store& j, const std::vector<std::string>& streams,
              const std::vector<size_t>& counts) {
    std::vector<write_group> groups;
    for (size_t i = 0; i < streams.size(); ++i) {
      auto& s = streams[i];
      std::vector<event_record> evs;
      for (size_t n = 0; n < counts[i]; ++n)
        evs.push_back(
          ev("e", s + "/" + std::to_string(events[s].size() + n + 1)));
      groups.push_back(
        group_of(app(s, expected_version::exact(events[s].size()), evs)));
    }
    auto res = j.commit(groups);
    REQUIRE(res);
    for (size_t i = 0; i < streams.size(); ++i) {
      REQUIRE((*res)[i]);
      auto& a = (*res)[i]->appends.at(0);
      auto& s = streams[i];
      for (size_t n = 0; n < counts[i]; ++n)
        events[s].emplace_back(a.first_position + n,
                               s + "/" + std::to_string(events[s].size() + 1));
      first.emplace(s, 1);
    }
  }

  /// Checks every read of every stream from every version, and verify.
  void check(const store& j) const {
    for (auto& [s, evs] : events) {
      auto lo = first.at(s);
      for (uint64_t from = 1; from <= evs.size() + 1; ++from) {
        for (size_t max : {size_t{1}, size_t{7}, size_t{1000}}) {
          auto got = j.read_stream(s, from, max);
          REQUIRE(got);
          auto start = std::max(from, lo);
          auto want = start > evs.size()
                        ? 0
                        : std::min<size_t>(max, evs.size() - start + 1);
          REQUIRE(got->size() == want);
          for (size_t i = 0; i < want; ++i) {
            auto& e = (*got)[i];
            CHECK(e.stream == s);
            CHECK(e.version == start + i);
            CHECK(e.position == evs[start + i - 1].first);
            CHECK(e.record.payload == evs[start + i - 1].second);
          }
        }
      }
      for (uint64_t v = 1; v <= evs.size() + 1; ++v)
        CHECK(j.raw_event(s, v)->has_value() == (v >= lo && v <= evs.size()));
    }
    auto report = verify(j);
    REQUIRE(report);
    for (auto& p : report->problems)
      FAIL_CHECK(p.stream << " version " << p.version << " position "
                          << p.position << ": " << p.what);
    auto all = j.read_all(1, 100000);
    REQUIRE(all);
    size_t stored = 0;
    for (auto& [s, evs] : events)
      stored += evs.size() - (first.at(s) - 1);
    CHECK(all->events.size() == stored);
    CHECK(report->events == stored);
    CHECK(j.stats()->events == stored);
  }
};

} // namespace

TEST_CASE("streams written in turn read back across their index blocks") {
  temp_dir dir;
  auto j = open_or_fail(dir.path());
  model m;
  std::vector<std::string> streams{"a-1", "b-1", "c-1", "d-1"};
  for (size_t round = 0; round < 40; ++round) {
    std::vector<size_t> counts;
    for (size_t i = 0; i < streams.size(); ++i)
      counts.push_back((round * (i + 1)) % 5 + (i == 3 ? 40 : 0));
    m.commit(*j, streams, counts);
  }
  // One commit far larger than a block.
  m.commit(*j, {"a-1", "e-1"}, {100, 70});
  m.check(*j);
  j.reset();
  j = open_or_fail(dir.path());
  m.check(*j);
}

TEST_CASE("a commit to streams old and new, neighbours in name order or "
          "not, reads and writes each stream's own row") {
  // Names that sort among each other in every way: prefixes of each other,
  // neighbours, and new ones that fall between stored ones.
  std::vector<std::string> pool{"s",   "s-1", "s-10", "s-2",  "s-20", "s-3",
                                "s0",  "t",   "t-1",  "t-1-1", "u",   "u-9",
                                "a",   "a-a", "a-b",  "b",    "zz",  "z"};
  temp_dir dir;
  auto j = open_or_fail(dir.path());
  model m;
  std::mt19937 rng{20261205};
  for (size_t round = 0; round < 80; ++round) {
    // Some of the pool in a random order, each once; later rounds take
    // more of it, so that stored and new streams alternate.
    auto names = pool;
    std::shuffle(names.begin(), names.end(), rng);
    names.resize(1 + rng() % std::min(pool.size(), 3 + round / 4));
    std::vector<size_t> counts;
    for (size_t i = 0; i < names.size(); ++i)
      counts.push_back(1 + rng() % 3);
    m.commit(*j, names, counts);
  }
  m.check(*j);
  j.reset();
  j = open_or_fail(dir.path());
  m.check(*j);
}

TEST_CASE("retention cuts through index blocks and recent positions") {
  temp_dir dir;
  auto j = open_or_fail(dir.path());
  model m;
  for (size_t round = 0; round < 30; ++round)
    m.commit(*j, {"a-1", "b-1"}, {round % 4 + 1, 3});
  auto versions = m.events["a-1"].size();
  REQUIRE(versions == 73);
  for (uint64_t cut : {uint64_t{2}, uint64_t{5}, uint64_t{33}, uint64_t{34},
                       uint64_t{60}, uint64_t{70}, uint64_t{73}}) {
    INFO("truncate before " << cut);
    CHECK(j->truncate_before("a-1", cut) == cut);
    m.first["a-1"] = cut;
    m.check(*j);
  }
  // The stream grows on after the cut, through new blocks.
  for (size_t round = 0; round < 20; ++round)
    m.commit(*j, {"a-1", "b-1"}, {3, 1});
  m.check(*j);
  REQUIRE(j->truncate_before("a-1", m.events["a-1"].size() + 1));
  m.first["a-1"] = m.events["a-1"].size() + 1;
  m.check(*j);
  m.commit(*j, {"a-1"}, {40});
  m.check(*j);
  CHECK(j->truncate_before("b-1", 100) == uint64_t{100});
  m.first["b-1"] = 100;
  m.check(*j);
}

TEST_CASE("a long stream written among others reads any range through "
          "its chain of blocks") {
  temp_dir dir;
  auto j = open_or_fail(dir.path());
  model m;
  // 1,280 versions of long-1 in commits of 1 to 90 events, each with a
  // block's worth of other streams: its blocks lie far apart in the chain.
  for (size_t round = 0; m.events["long-1"].size() < 1280; ++round)
    m.commit(*j, {"long-1", "x-" + std::to_string(round % 7)},
             {std::min<size_t>(1280 - m.events["long-1"].size(),
                               round % 5 == 0 ? 90 : round % 9 + 1),
              33});
  m.check(*j);
  // Retention in the middle of the chain, then the stream goes on.
  REQUIRE(j->truncate_before("long-1", 700) == uint64_t{700});
  m.first["long-1"] = 700;
  m.commit(*j, {"long-1"}, {100});
  m.check(*j);
}

namespace {

/// Marks the journal at `dir` as format 2 and drops its `chain` database,
/// as a journal written by a build of format 2 has none.
void make_format2(const std::string& dir) {
  test::with_raw_txn(dir, [](MDB_txn* txn) {
    MDB_dbi meta, chain;
    REQUIRE(mdb_dbi_open(txn, "meta", 0, &meta) == 0);
    REQUIRE(mdb_dbi_open(txn, "chain", 0, &chain) == 0);
    MDB_stat st;
    REQUIRE(mdb_stat(txn, chain, &st) == 0);
    REQUIRE(st.ms_entries == 0); // written as format 2: no chain block
    REQUIRE(mdb_drop(txn, chain, 1) == 0);
    uint32_t two = 2;
    MDB_val k{6, const_cast<char*>("format")}, v{4, &two};
    REQUIRE(mdb_put(txn, meta, &k, &v, 0) == 0);
  });
}

uint32_t format_of(const std::string& dir) {
  auto v = test::read_raw(dir, "meta", "format");
  REQUIRE(v.size() == 4);
  uint32_t result = 0;
  std::memcpy(&result, v.data(), 4);
  return result;
}

/// Checks that the journal at `dir`, of format `old`, reads as `m` says
/// when opened read-only and stays `old`; then opens it writable, which
/// marks it `format_version` and reads the same. Returns that journal.
std::unique_ptr<store> upgrade(const std::string& dir, const model& m,
                               uint32_t old) {
  {
    options ro;
    ro.read_only = true;
    auto j = open_or_fail(dir, ro);
    m.check(*j);
  }
  CHECK(format_of(dir) == old);
  auto j = open_or_fail(dir);
  CHECK(format_of(dir) == format_version);
  m.check(*j);
  return j;
}

} // namespace

TEST_CASE("a journal of format 2 reads as it is, and writes on as the "
          "current format without rewriting its index") {
  temp_dir dir;
  model m;
  {
    auto j = open_or_fail(dir.path());
    j->inject_format2_writes(true);
    for (size_t round = 0; round < 30; ++round)
      m.commit(*j, {"a-1", "b-1", "c-1"}, {round % 4 + 1, 3, 40});
    m.check(*j);
  }
  make_format2(dir.path());
  auto j = upgrade(dir.path(), m, 2);
  // New blocks go to the chain; older versions stay in the index.
  for (size_t round = 0; round < 30; ++round)
    m.commit(*j, {"a-1", "b-1", "d-1"}, {round % 4 + 1, 3, 5});
  m.check(*j);
  // Retention below, at and above where each stream's chain starts.
  for (uint64_t cut : {uint64_t{20}, uint64_t{75}, uint64_t{90}}) {
    INFO("truncate before " << cut);
    CHECK(j->truncate_before("a-1", cut) == cut);
    m.first["a-1"] = cut;
    m.check(*j);
  }
  CHECK(j->truncate_before("c-1", 1201) == uint64_t{1201});
  m.first["c-1"] = 1201;
  m.commit(*j, {"c-1"}, {70});
  m.check(*j);
  j.reset();
  j = open_or_fail(dir.path());
  m.check(*j);
}

/// Rewrites every `log` value of the journal at `dir` as formats 2 to 4
/// wrote it (stream id and version prefix, record of format 1) and marks
/// the journal as format `format`. Returns how many values it rewrote.
size_t make_prefixed(const std::string& dir, uint32_t format) {
  size_t rewritten = 0;
  test::with_raw_txn(dir, [&](MDB_txn* txn) {
    MDB_dbi meta, log;
    REQUIRE(mdb_dbi_open(txn, "meta", 0, &meta) == 0);
    REQUIRE(mdb_dbi_open(txn, "log", 0, &log) == 0);
    rewritten = test::rewrite_log_prefixed(txn, log);
    MDB_val fk{6, const_cast<char*>("format")}, fv{4, &format};
    REQUIRE(mdb_put(txn, meta, &fk, &fv, 0) == 0);
  });
  return rewritten;
}

/// The first byte of the `log` value at `position` in the journal at `dir`.
uint8_t value_layout(const std::string& dir, uint64_t position) {
  detail::u64_key k{position};
  auto v = test::read_raw(dir, "log", std::string{k.bytes, 8});
  REQUIRE(!v.empty());
  return static_cast<uint8_t>(v[0]);
}

TEST_CASE("a journal of format 4 reads as it is, and appends compact "
          "values after its prefixed ones") {
  temp_dir dir;
  model m;
  std::vector<std::string> streams{"a-1", "b-1", "c-1"};
  {
    auto j = open_or_fail(dir.path());
    for (size_t round = 0; round < 12; ++round)
      m.commit(*j, streams, {round % 3 + 1, 1, 40});
  }
  auto old_values = make_prefixed(dir.path(), 4);
  REQUIRE(old_values > 0);
  auto j = upgrade(dir.path(), m, 4);
  for (size_t round = 0; round < 12; ++round)
    m.commit(*j, {"a-1", "c-1", "d-1"}, {round % 3 + 1, 2, 3});
  m.check(*j);
  auto all = j->read_all(1, 1'000'000);
  REQUIRE(all);
  CHECK(all->events.size() > old_values);
  auto last = all->events.back().position;
  auto report = verify(*j);
  REQUIRE(report);
  CHECK(report->ok());
  j.reset();
  CHECK(value_layout(dir.path(), 1) == 0);
  CHECK(value_layout(dir.path(), old_values) == 0);
  CHECK(value_layout(dir.path(), old_values + 1)
        == detail::compact_record_format);
  CHECK(value_layout(dir.path(), last) == detail::compact_record_format);
  j = open_or_fail(dir.path());
  m.check(*j);
}

/// Makes the journal at `dir` one of format 3: its `log` values prefixed,
/// its rows without the padding of format 4, and `meta` saying 3.
void make_format3(const std::string& dir) {
  make_prefixed(dir, 3);
  test::with_raw_txn(dir, [](MDB_txn* txn) {
    MDB_dbi meta, streams;
    REQUIRE(mdb_dbi_open(txn, "meta", 0, &meta) == 0);
    REQUIRE(mdb_dbi_open(txn, "streams", 0, &streams) == 0);
    std::vector<std::pair<std::string, std::string>> rows;
    MDB_cursor* c = nullptr;
    REQUIRE(mdb_cursor_open(txn, streams, &c) == 0);
    MDB_val k, v;
    for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
      rows.emplace_back(std::string{static_cast<char*>(k.mv_data), k.mv_size},
                        std::string{static_cast<char*>(v.mv_data), v.mv_size});
    mdb_cursor_close(c);
    size_t padded = 0;
    for (auto& [name, row] : rows) {
      REQUIRE(row.size() % detail::row_alignment == 0);
      while (row.back() == 0)
        row.pop_back();
      padded += row.size() % detail::row_alignment != 0 ? 1 : 0;
      MDB_val rk{name.size(), name.data()}, rv{row.size(), row.data()};
      REQUIRE(mdb_put(txn, streams, &rk, &rv, 0) == 0);
    }
    REQUIRE(padded > 0);
    uint32_t three = 3;
    MDB_val fk{6, const_cast<char*>("format")}, fv{4, &three};
    REQUIRE(mdb_put(txn, meta, &fk, &fv, 0) == 0);
  });
}

/// The size of the row of `stream` in the journal at `dir`.
size_t row_size(const std::string& dir, const std::string& stream) {
  return test::read_raw(dir, "streams", stream).size();
}

TEST_CASE("a journal of format 3 reads as it is, and pads its rows as "
          "the current format rewrites them") {
  temp_dir dir;
  model m;
  std::vector<std::string> streams{"a-1", "b-1", "c-1", "d-1"};
  {
    auto j = open_or_fail(dir.path());
    for (size_t round = 0; round < 23; ++round)
      m.commit(*j, streams, {round % 3 + 1, 1, 2, 17});
  }
  make_format3(dir.path());
  auto j = upgrade(dir.path(), m, 3);
  auto unpadded = row_size(dir.path(), "d-1");
  for (size_t round = 0; round < 9; ++round)
    m.commit(*j, {"a-1", "c-1", "e-1"}, {round % 3 + 1, 1, 2});
  m.check(*j);
  j.reset();
  for (auto s : {"a-1", "c-1", "e-1"}) {
    INFO(s);
    CHECK(row_size(dir.path(), s) % detail::row_alignment == 0);
  }
  // A row no commit rewrote stays as format 3 wrote it.
  CHECK(row_size(dir.path(), "d-1") == unpadded);
  j = open_or_fail(dir.path());
  m.check(*j);
}

TEST_CASE("positions are never handed out twice, even after retention "
          "deleted the newest events") {
  temp_dir dir;
  {
    auto j = open_or_fail(dir.path());
    REQUIRE(j->commit(
      group_of(app("a-1", expected_version::any(), {ev("x"), ev("y")}))));
    CHECK(j->truncate_before("a-1", 3) == uint64_t{3}); // deletes 1 and 2
    CHECK(*j->last_position() == 2);
    auto r
      = j->commit(group_of(app("b-1", expected_version::any(), {ev("z")})));
    REQUIRE(r);
    CHECK(r->appends[0].first_position == 3);
  }
  auto j = open_or_fail(dir.path());
  CHECK(*j->last_position() == 3);
}

TEST_CASE("a journal reopens with everything it committed") {
  temp_dir dir;
  {
    auto j = open_or_fail(dir.path());
    REQUIRE(j->commit(
      group_of(app("s-1", expected_version::any(), {ev("a"), ev("b")}))));
    REQUIRE(
      j->commit(group_of(app("s-2", expected_version::any(), {ev("c")}))));
  }
  auto j = open_or_fail(dir.path());
  CHECK(*j->stream_version("s-1") == 2);
  CHECK(*j->last_position() == 3);
  auto r = j->commit(group_of(app("s-3", expected_version::any(), {ev("d")})));
  REQUIRE(r);
  CHECK(r->appends[0].first_position == 4);
  auto all = j->read_all();
  REQUIRE(all->events.size() == 4);
  CHECK(all->events[3].stream == "s-3");
}

TEST_CASE("a journal of another format version is refused") {
  temp_dir dir;
  { auto j = open_or_fail(dir.path()); }
  // Rewrite the stored format version with the LMDB API directly.
  test::edit_raw(dir.path(), "meta", [](MDB_txn* txn, MDB_dbi meta) {
    uint32_t other = 99;
    MDB_val k{6, const_cast<char*>("format")}, v{4, &other};
    REQUIRE(mdb_put(txn, meta, &k, &v, 0) == 0);
  });
  auto j = store::open(dir.path());
  REQUIRE(!j);
  CHECK(code_of(j.error()) == errc::format_mismatch);
  CHECK(describe(j.error()).find("format version 99") != std::string::npos);
}

TEST_CASE("bad open arguments are refused with a clear error") {
  temp_dir dir;
  auto j1 = store::open("");
  REQUIRE(!j1);
  CHECK(code_of(j1.error()) == errc::invalid_argument);
  test::write_file(dir.sub("file"), "not a directory");
  auto j2 = store::open(dir.sub("file"));
  REQUIRE(!j2);
  CHECK(code_of(j2.error()) == errc::invalid_argument);
  CHECK(describe(j2.error()).find("not a directory") != std::string::npos);
  options tiny;
  tiny.map_size = 10;
  auto j3 = store::open(dir.sub("j"), tiny);
  REQUIRE(!j3);
  CHECK(describe(j3.error()).find("map size") != std::string::npos);
  options ro;
  ro.read_only = true;
  auto j4 = store::open(dir.sub("missing"), ro);
  REQUIRE(!j4);
  CHECK(code_of(j4.error()) == errc::not_found);
}

TEST_CASE("a read-only journal reads but refuses writes") {
  temp_dir dir;
  {
    auto j = open_or_fail(dir.path());
    REQUIRE(
      j->commit(group_of(app("s-1", expected_version::any(), {ev("a")}))));
  }
  options ro;
  ro.read_only = true;
  auto j = open_or_fail(dir.path(), ro);
  CHECK(*j->stream_version("s-1") == 1);
  auto r = j->commit(group_of(app("s-1", expected_version::any(), {ev("b")})));
  REQUIRE(!r);
  CHECK(code_of(r.error()) == errc::invalid_argument);
  CHECK(describe(r.error()).find("read-only") != std::string::npos);
}

TEST_CASE("the map grows when a commit does not fit") {
  temp_dir dir;
  options opts;
  opts.map_size = 256 * 1024; // far too small for what follows
  auto j = open_or_fail(dir.path(), opts);
  std::string payload(4000, 'p');
  for (int i = 0; i < 40; ++i) {
    std::vector<event_record> events;
    for (int k = 0; k < 25; ++k)
      events.push_back(ev("blob", payload));
    auto r = j->commit(group_of(
      app("big-" + std::to_string(i), expected_version::no_stream(), events)));
    REQUIRE(r);
  }
  auto st = j->stats();
  REQUIRE(st);
  CHECK(st->map_growths > 0);
  CHECK(st->map_size > opts.map_size);
  CHECK(st->events == 1000);
  CHECK(!j->failed());
  auto all = j->read_all(1, 2000);
  REQUIRE(all);
  CHECK(all->events.size() == 1000);
  SECTION("up to the configured maximum, then the commit fails cleanly") {
    temp_dir dir2;
    options capped;
    capped.map_size = 256 * 1024;
    capped.max_map_size = 512 * 1024;
    auto k = open_or_fail(dir2.path(), capped);
    caf::error last;
    for (int i = 0; i < 200 && !last; ++i) {
      auto r = k->commit(
        group_of(app("s-" + std::to_string(i), expected_version::any(),
                     {ev("blob", payload)})));
      if (!r)
        last = r.error();
    }
    CHECK(code_of(last) == errc::storage_error);
    CHECK(describe(last).find("maximum size") != std::string::npos);
  }
}

TEST_CASE("after a failed commit the journal refuses writes until reopened") {
  temp_dir dir;
  {
    auto j = open_or_fail(dir.path());
    REQUIRE(
      j->commit(group_of(app("s-1", expected_version::any(), {ev("a")}))));
    j->inject_commit_failure();
    auto r
      = j->commit(group_of(app("s-1", expected_version::any(), {ev("lost")})));
    REQUIRE(!r);
    CHECK(code_of(r.error()) == errc::storage_error);
    CHECK(j->failed());
    auto r2
      = j->commit(group_of(app("s-2", expected_version::any(), {ev("b")})));
    REQUIRE(!r2);
    CHECK(code_of(r2.error()) == errc::journal_failed);
    CHECK(code_of(j->truncate_before("s-1", 1).error())
          == errc::journal_failed);
    // Reads go on.
    CHECK(*j->stream_version("s-1") == 1);
  }
  auto j = open_or_fail(dir.path());
  CHECK(!j->failed());
  CHECK(*j->stream_version("s-1") == 1);
  CHECK(*j->stream_version("s-2") == 0);
  CHECK(j->commit(group_of(app("s-2", expected_version::any(), {ev("b")}))));
}

TEST_CASE("readers run concurrently with the writer and see whole commits") {
  temp_dir dir;
  auto j = open_or_fail(dir.path());
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::thread reader{[&] {
    while (!done) {
      auto a = j->stream_version("x-1");
      auto b = j->stream_version("y-1");
      // Each commit appends to both in one group; a reader sees x-1 at
      // least as far as y-1 was when its own later read began.
      if (!a || !b)
        ++bad;
      auto slice = j->read_all(1, 100000);
      if (!slice || slice->events.size() % 2 != 0)
        ++bad;
    }
  }};
  for (int i = 0; i < 200; ++i) {
    write_group g;
    g.appends.push_back(app("x-1", expected_version::exact(i), {ev("e")}));
    g.appends.push_back(app("y-1", expected_version::exact(i), {ev("e")}));
    REQUIRE(j->commit(g));
  }
  done = true;
  reader.join();
  CHECK(bad == 0);
}

TEST_CASE("a journal keeps its id across reopens and two journals differ") {
  temp_dir dir1;
  temp_dir dir2;
  std::string id1;
  {
    auto j = open_or_fail(dir1.path());
    id1 = j->id();
    CHECK(id1.size() == 32);
    CHECK(id1.find_first_not_of("0123456789abcdef") == std::string::npos);
    auto st = j->stats();
    REQUIRE(st);
    CHECK(st->id == id1);
  }
  {
    auto j = open_or_fail(dir1.path());
    CHECK(j->id() == id1);
  }
  {
    options ro;
    ro.read_only = true;
    auto j = open_or_fail(dir1.path(), ro);
    CHECK(j->id() == id1);
  }
  auto j2 = open_or_fail(dir2.path());
  CHECK(j2->id().size() == 32);
  CHECK(j2->id() != id1);
}

TEST_CASE("a journal without an id gets one at its first open for writing") {
  temp_dir dir;
  open_or_fail(dir.path()); // creates it
  { // Remove the id, as a journal of an older build has none.
    MDB_env* env = nullptr;
    REQUIRE(mdb_env_create(&env) == MDB_SUCCESS);
    mdb_env_set_maxdbs(env, 16);
    REQUIRE(mdb_env_open(env, dir.path().c_str(), 0, 0644) == MDB_SUCCESS);
    MDB_txn* t = nullptr;
    REQUIRE(mdb_txn_begin(env, nullptr, 0, &t) == MDB_SUCCESS);
    MDB_dbi meta;
    REQUIRE(mdb_dbi_open(t, "meta", 0, &meta) == MDB_SUCCESS);
    MDB_val k{10, const_cast<char*>("journal-id")};
    REQUIRE(mdb_del(t, meta, &k, nullptr) == MDB_SUCCESS);
    REQUIRE(mdb_txn_commit(t) == MDB_SUCCESS);
    mdb_env_close(env);
  }
  {
    options ro;
    ro.read_only = true;
    auto j = open_or_fail(dir.path(), ro);
    CHECK(j->id().empty());
  }
  std::string id;
  {
    auto j = open_or_fail(dir.path());
    id = j->id();
    CHECK(id.size() == 32);
  }
  auto j = open_or_fail(dir.path());
  CHECK(j->id() == id);
}

namespace {

/// Commits `bad` between two good groups and checks that `bad` alone is
/// refused with invalid_argument whose text contains `why`, that the good
/// groups commit, and that the journal is not failed and takes the next
/// commit.
void check_refused_alone(store& j, const write_group& bad,
                         const std::string& why) {
  auto before = *j.stream_version("good-1");
  std::vector<write_group> groups;
  groups.push_back(
    group_of(app("good-1", expected_version::exact(before), {ev("a")})));
  groups.push_back(bad);
  groups.push_back(
    group_of(app("good-1", expected_version::exact(before + 1), {ev("b")})));
  auto res = j.commit(groups);
  REQUIRE(res);
  REQUIRE(res->size() == 3);
  CHECK((*res)[0]);
  REQUIRE(!(*res)[1]);
  CHECK(code_of((*res)[1].error()) == errc::invalid_argument);
  CHECK_THAT(describe((*res)[1].error()), Catch::Contains(why));
  CHECK((*res)[2]);
  CHECK(!j.failed());
  CHECK(*j.stream_version("good-1") == before + 2);
  CHECK(j.commit(
    group_of(app("good-1", expected_version::exact(before + 2), {ev("c")}))));
}

} // namespace

TEST_CASE("a stream name over the maximum is refused alone and the journal "
          "goes on") {
  temp_dir dir;
  auto j = open_or_fail(dir.path());
  auto name = "account-" + std::string(497, 'x'); // 505 bytes
  check_refused_alone(*j,
                      group_of(app(name, expected_version::any(), {ev("a")})),
                      "stream name of 505 bytes exceeds the maximum of 255 "
                      "(stream 'account-xxxxxxxx");
  CHECK(*j->stream_version(name) == 0);
  auto events = j->read_stream(name + std::string(100, 'y'));
  REQUIRE(events); // over LMDB's key size: reads as an unknown stream
  CHECK(events->empty());
  write_group snap;
  snap.snapshots.push_back(snapshot{name, 1, "state", "s"});
  check_refused_alone(*j, snap, "snapshot stream name of 505 bytes");
}

TEST_CASE("a dedup key over the maximum is refused alone and the journal "
          "goes on") {
  temp_dir dir;
  auto j = open_or_fail(dir.path());
  write_group bad = group_of(app("x-1", expected_version::any(), {ev("a")}));
  bad.dedup_keys.push_back(std::string(600, 'k'));
  check_refused_alone(*j, bad,
                      "dedup key of 600 bytes exceeds the maximum of 500");
  CHECK(*j->stream_version("x-1") == 0);
  auto has = j->has_dedup_key(std::string(600, 'k'));
  REQUIRE(has);
  CHECK(!*has);
}

TEST_CASE("a checkpoint name over the maximum is refused alone and the "
          "journal goes on") {
  temp_dir dir;
  auto j = open_or_fail(dir.path());
  write_group bad;
  bad.checkpoints.emplace_back(std::string(512, 'c'), 7);
  check_refused_alone(*j, bad,
                      "checkpoint name of 512 bytes exceeds the maximum of "
                      "255");
  auto cp = j->checkpoint(std::string(512, 'c'));
  REQUIRE(cp);
  CHECK(!*cp);
}

TEST_CASE("a table name or key over the maximum is refused alone and the "
          "journal goes on") {
  temp_dir dir;
  auto j = open_or_fail(dir.path());
  write_group long_name;
  long_name.tables.push_back(table_write{std::string(65, 't'), "k", "v"});
  check_refused_alone(*j, long_name,
                      "table name of 65 bytes exceeds the maximum of 64");
  write_group long_key;
  long_key.tables.push_back(table_write{"model", std::string(470, 'k'), "v"});
  check_refused_alone(*j, long_key,
                      "table key of 470 bytes exceeds the maximum of 440 "
                      "(table 'model', key 'kkkk");
  auto got = j->table_get("model", std::string(470, 'k'));
  REQUIRE(got);
  CHECK(!*got);
  auto scan = j->table_scan(std::string(600, 't'));
  REQUIRE(scan);
  CHECK(scan->empty());
}

TEST_CASE("a type name over the maximum is refused alone and the journal "
          "goes on") {
  temp_dir dir;
  auto j = open_or_fail(dir.path());
  write_group snap;
  snap.snapshots.push_back(
    snapshot{"order-1", 1, std::string(70000, 'T'), "state"});
  check_refused_alone(*j, snap,
                      "snapshot type name of 70000 bytes exceeds the maximum "
                      "of 255");
  CHECK(!*j->latest_snapshot("order-1"));
  check_refused_alone(*j,
                      group_of(app("order-1", expected_version::any(),
                                   {ev(std::string(300, 'E'))})),
                      "event type name of 300 bytes exceeds the maximum of "
                      "255 (stream 'order-1', type 'EEEE");
  CHECK(*j->stream_version("order-1") == 0);
}

TEST_CASE("a commit that outgrows one transaction commits in several and "
          "refuses only a group that does not fit alone") {
  temp_dir dir;
  auto j = open_or_fail(dir.path());
  auto big = [](std::string stream, size_t events) {
    std::vector<event_record> evs;
    for (size_t i = 0; i < events; ++i)
      evs.push_back(ev("e", std::string(1000, 'p')));
    return group_of(app(std::move(stream), expected_version::any(), evs));
  };
  // Each group fits alone; two of them do not fit together.
  j->inject_transaction_limit(big("s-1", 6).byte_size() * 3 / 2);
  std::vector<write_group> groups;
  groups.push_back(big("s-1", 6));
  groups.push_back(big("s-2", 6));
  groups.push_back(big("s-3", 6));
  auto commits = j->stats()->commits;
  auto res = j->commit(groups);
  REQUIRE(res);
  REQUIRE(res->size() == 3);
  for (auto& x : *res)
    REQUIRE(x);
  CHECK(j->stats()->commits == commits + 3);
  CHECK((*res)[0]->appends[0].first_position == 1);
  CHECK((*res)[1]->appends[0].first_position == 7);
  CHECK((*res)[2]->appends[0].first_position == 13);
  CHECK(!j->failed());
  SECTION("a group too large for one transaction is refused alone") {
    groups.clear();
    groups.push_back(big("s-4", 2));
    groups.push_back(big("s-5", 20));
    groups.push_back(big("s-6", 2));
    res = j->commit(groups);
    REQUIRE(res);
    REQUIRE(res->size() == 3);
    CHECK((*res)[0]);
    REQUIRE(!(*res)[1]);
    CHECK(code_of((*res)[1].error()) == errc::invalid_argument);
    CHECK_THAT(describe((*res)[1].error()),
               Catch::Contains("write group too large for one transaction: "
                               "20 events, "));
    CHECK((*res)[2]);
    CHECK(*j->stream_version("s-5") == 0);
    CHECK(*j->stream_version("s-6") == 2);
    CHECK(!j->failed());
    j->inject_transaction_limit(0);
    CHECK(j->commit(big("s-5", 20)));
  }
}

namespace {

/// Edits the raw LMDB database `db` of the closed journal in `dir` through
/// `f(txn, dbi)`.
template <class F>
void edit_raw(const std::string& dir, const char* db, F f) {
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == MDB_SUCCESS);
  mdb_env_set_maxdbs(env, 16);
  REQUIRE(mdb_env_open(env, dir.c_str(), 0, 0644) == MDB_SUCCESS);
  MDB_txn* txn = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == MDB_SUCCESS);
  MDB_dbi dbi;
  REQUIRE(mdb_dbi_open(txn, db, 0, &dbi) == MDB_SUCCESS);
  f(txn, dbi);
  REQUIRE(mdb_txn_commit(txn) == MDB_SUCCESS);
  mdb_env_close(env);
}

/// Replaces the value of `key` in database `db` by `f(old value)`.
template <class F>
void rewrite_raw(const std::string& dir, const char* db, const std::string& key,
                 F f) {
  edit_raw(dir, db, [&](MDB_txn* txn, MDB_dbi dbi) {
    MDB_val k{key.size(), const_cast<char*>(key.data())}, v;
    REQUIRE(mdb_get(txn, dbi, &k, &v) == MDB_SUCCESS);
    std::string value{static_cast<const char*>(v.mv_data), v.mv_size};
    f(value);
    MDB_val nv{value.size(), value.data()};
    REQUIRE(mdb_put(txn, dbi, &k, &nv, 0) == MDB_SUCCESS);
  });
}

} // namespace

TEST_CASE("a snapshot keeps its schema version and a damaged one reads as "
          "corrupt_record naming the stream") {
  temp_dir dir;
  {
    auto j = open_or_fail(dir.path());
    write_group g;
    snapshot s{"order-1", 7, "order_state", "the-state"};
    s.schema_version = 3;
    g.snapshots.push_back(s);
    REQUIRE(j->commit(g));
  }
  {
    auto j = open_or_fail(dir.path());
    auto snap = j->latest_snapshot("order-1");
    REQUIRE(snap);
    REQUIRE(*snap);
    CHECK((*snap)->version == 7);
    CHECK((*snap)->schema_version == 3);
    CHECK((*snap)->type == "order_state");
    CHECK((*snap)->payload == "the-state");
  }
  auto expect_corrupt = [&](const std::string& why) {
    auto j = open_or_fail(dir.path());
    auto snap = j->latest_snapshot("order-1");
    REQUIRE(!snap);
    CHECK(code_of(snap.error()) == errc::corrupt_record);
    CHECK_THAT(describe(snap.error()),
               Catch::Contains("snapshot of stream order-1: " + why));
    CHECK(!j->failed());
  };
  SECTION("a flipped payload byte") {
    rewrite_raw(dir.path(), "snapshots", "order-1",
                [](std::string& v) { v.back() ^= 0x20; });
    expect_corrupt("checksum mismatch");
  }
  SECTION("a flipped schema version byte") {
    rewrite_raw(dir.path(), "snapshots", "order-1",
                [](std::string& v) { v[13] ^= 0x01; });
    expect_corrupt("checksum mismatch");
  }
  SECTION("a truncated value") {
    rewrite_raw(dir.path(), "snapshots", "order-1",
                [](std::string& v) { v.resize(9); });
    expect_corrupt("too short");
  }
  SECTION("a value moved to another stream") {
    std::string moved;
    rewrite_raw(dir.path(), "snapshots", "order-1",
                [&](std::string& v) { moved = v; });
    edit_raw(dir.path(), "snapshots", [&](MDB_txn* txn, MDB_dbi dbi) {
      MDB_val k{7, const_cast<char*>("order-2")};
      MDB_val v{moved.size(), moved.data()};
      REQUIRE(mdb_put(txn, dbi, &k, &v, 0) == MDB_SUCCESS);
    });
    auto j = open_or_fail(dir.path());
    auto snap = j->latest_snapshot("order-2");
    REQUIRE(!snap);
    CHECK(code_of(snap.error()) == errc::corrupt_record);
  }
}

TEST_CASE("a snapshot stored by an earlier build still reads, as schema "
          "version 1") {
  temp_dir dir;
  {
    auto j = open_or_fail(dir.path());
    write_group g;
    g.snapshots.push_back(snapshot{"order-1", 5, "order_state", "new"});
    REQUIRE(j->commit(g));
  }
  // The earlier layout: u64 BE version, u16 LE type length, type, payload.
  rewrite_raw(dir.path(), "snapshots", "order-1", [](std::string& v) {
    v.assign(7, '\0');
    v += '\x05';
    v += '\x0b';
    v += '\0';
    v += "order_state";
    v += "old";
  });
  auto j = open_or_fail(dir.path());
  auto snap = j->latest_snapshot("order-1");
  REQUIRE(snap);
  REQUIRE(*snap);
  CHECK((*snap)->version == 5);
  CHECK((*snap)->schema_version == 1);
  CHECK((*snap)->type == "order_state");
  CHECK((*snap)->payload == "old");
  // A later snapshot replaces it, an earlier one does not.
  write_group older;
  older.snapshots.push_back(snapshot{"order-1", 4, "order_state", "older"});
  REQUIRE(j->commit(older));
  CHECK((**j->latest_snapshot("order-1")).payload == "old");
  write_group newer;
  newer.snapshots.push_back(snapshot{"order-1", 6, "order_state", "newer"});
  REQUIRE(j->commit(newer));
  CHECK((**j->latest_snapshot("order-1")).payload == "newer");
}

TEST_CASE("a damaged table value reads as corrupt_record naming the table "
          "and key") {
  temp_dir dir;
  {
    auto j = open_or_fail(dir.path());
    write_group g;
    g.tables.push_back(table_write{"model", "k1", "value-1"});
    g.tables.push_back(table_write{"model", "k2", "value-2"});
    REQUIRE(j->commit(g));
  }
  rewrite_raw(dir.path(), "tables", std::string{"model\0k2", 8},
              [](std::string& v) { v.back() ^= 0x01; });
  auto j = open_or_fail(dir.path());
  CHECK(**j->table_get("model", "k1") == "value-1");
  auto got = j->table_get("model", "k2");
  REQUIRE(!got);
  CHECK(code_of(got.error()) == errc::corrupt_record);
  CHECK_THAT(describe(got.error()),
             Catch::Contains("table model key k2: checksum mismatch"));
  auto scan = j->table_scan("model");
  REQUIRE(!scan);
  CHECK(code_of(scan.error()) == errc::corrupt_record);
  CHECK_THAT(describe(scan.error()), Catch::Contains("table model key k2"));
  // Rewriting the value heals it.
  write_group h;
  h.tables.push_back(table_write{"model", "k2", "value-2b"});
  REQUIRE(j->commit(h));
  CHECK(**j->table_get("model", "k2") == "value-2b");
  CHECK(j->table_scan("model")->size() == 2);
}

TEST_CASE("table values of an earlier build get their checksum at the first "
          "open for writing") {
  temp_dir dir;
  {
    auto j = open_or_fail(dir.path());
    write_group g;
    g.tables.push_back(table_write{"model", "k1", "value-1"});
    g.tables.push_back(table_write{"other", "k", ""});
    REQUIRE(j->commit(g));
  }
  // Back to the earlier layout: bare values, no layout mark in meta.
  for (auto key : {std::string{"model\0k1", 8}, std::string{"other\0k", 7}})
    rewrite_raw(dir.path(), "tables", key,
                [](std::string& v) { v.erase(0, 4); });
  edit_raw(dir.path(), "meta", [](MDB_txn* txn, MDB_dbi dbi) {
    MDB_val k{12, const_cast<char*>("table-values")};
    REQUIRE(mdb_del(txn, dbi, &k, nullptr) == MDB_SUCCESS);
  });
  {
    options ro;
    ro.read_only = true;
    auto j = open_or_fail(dir.path(), ro);
    CHECK(**j->table_get("model", "k1") == "value-1");
  }
  {
    auto j = open_or_fail(dir.path());
    CHECK(**j->table_get("model", "k1") == "value-1");
    CHECK(**j->table_get("other", "k") == "");
    auto report = verify(*j);
    REQUIRE(report);
    CHECK(report->ok());
    CHECK(report->table_rows == 2);
  }
  std::string stored;
  rewrite_raw(dir.path(), "tables", std::string{"model\0k1", 8},
              [&](std::string& v) { stored = v; });
  CHECK(stored.size() == 4 + 7);
}

TEST_CASE("retention never deletes events a checkpointed reader has not "
          "read") {
  temp_dir dir;
  auto j = open_or_fail(dir.path());
  // a-1 gets versions 1..10 at positions 1, 3, 5, ..., 19; b-1 the even
  // positions.
  for (int i = 0; i < 10; ++i) {
    std::vector<write_group> groups;
    groups.push_back(group_of(app("a-1", expected_version::any(), {ev("x")})));
    groups.push_back(group_of(app("b-1", expected_version::any(), {ev("y")})));
    REQUIRE(j->commit(groups));
  }
  SECTION("without checkpoints the cut is whole") {
    CHECK(j->truncate_before("a-1", 9) == uint64_t{9});
  }
  SECTION("the cut stops at the first event above the lowest checkpoint") {
    write_group g;
    g.checkpoints.emplace_back("projection-fast", 18);
    g.checkpoints.emplace_back("subscription-slow", 6); // read up to 6
    REQUIRE(j->commit(g));
    // Version 4 of a-1 is at position 7, the first one above 6.
    CHECK(j->truncate_before("a-1", 9) == uint64_t{4});
    auto events = j->read_stream("a-1");
    REQUIRE(events);
    REQUIRE(events->size() == 7);
    CHECK(events->front().version == 4);
    CHECK(events->front().position == 7);
    auto all = j->read_all(1, 100);
    REQUIRE(all);
    CHECK(all->events.size() == 17); // only a-1's versions 1 to 3 went
    // Nothing is cut while the slow reader stays.
    CHECK(j->truncate_before("a-1", 9) == uint64_t{4});
    // Once it moves on, retention goes on.
    write_group h;
    h.checkpoints.emplace_back("subscription-slow", 12);
    REQUIRE(j->commit(h));
    CHECK(j->truncate_before("a-1", 9) == uint64_t{7});
    CHECK(j->truncate_before("b-1", 3) == uint64_t{3});
    auto report = verify(*j);
    REQUIRE(report);
    CHECK(report->ok());
  }
  SECTION("a reader at position 0 keeps everything") {
    write_group g;
    g.checkpoints.emplace_back("new-reader", 0);
    REQUIRE(j->commit(g));
    CHECK(j->truncate_before("a-1", 9) == uint64_t{1});
    CHECK(j->read_stream("a-1")->size() == 10);
  }
}

TEST_CASE("reader slots left by a killed process are freed when the reader "
          "table is full") {
  temp_dir dir;
  options opts;
  opts.max_readers = 4;
  auto j = open_or_fail(dir.path(), opts);
  REQUIRE(j->commit(group_of(app("a-1", expected_version::any(), {ev("x")}))));
  {
    // Takes every slot, then dies without freeing them.
    child_process holder{
      {bin_path("cairn-reader-holder"), dir.path(), std::to_string(4)}};
    std::string line;
    REQUIRE(holder.read_line(line, 10000));
    REQUIRE(line == "ready");
    holder.kill();
    holder.wait();
  }
  // Each read needs a slot: the journal frees the dead process's slots and
  // retries.
  auto events = j->read_stream("a-1");
  REQUIRE(events);
  CHECK(events->size() == 1);
  CHECK(*j->stream_version("a-1") == 1);
}

TEST_CASE("a damaged snapshot never blocks the next one") {
  temp_dir dir;
  {
    auto j = open_or_fail(dir.path());
    write_group g;
    g.snapshots.push_back(snapshot{"order-1", 5, "order_state", "five"});
    REQUIRE(j->commit(g));
  }
  // The damage hits the version field: it now reads as a huge version.
  rewrite_raw(dir.path(), "snapshots", "order-1",
              [](std::string& v) { v[5] = '\x7f'; });
  auto j = open_or_fail(dir.path());
  auto damaged = j->latest_snapshot("order-1");
  REQUIRE(!damaged);
  CHECK(code_of(damaged.error()) == errc::corrupt_record);
  write_group g;
  g.snapshots.push_back(snapshot{"order-1", 6, "order_state", "six"});
  REQUIRE(j->commit(g));
  auto snap = j->latest_snapshot("order-1");
  REQUIRE(snap);
  REQUIRE(*snap);
  CHECK((*snap)->version == 6);
  CHECK((*snap)->payload == "six");
}

TEST_CASE("a group whose writes LMDB refuses after validation is refused "
          "alone and leaves nothing behind") {
  temp_dir dir;
  auto j = open_or_fail(dir.path());
  std::vector<write_group> groups;
  groups.push_back(group_of(app("a-1", expected_version::any(), {ev("x")})));
  write_group bad;
  bad.appends.push_back(app("a-1", expected_version::any(), {ev("y")}));
  bad.appends.push_back(app("b-1", expected_version::any(), {ev("y")}));
  bad.dedup_keys.push_back("bad-key");
  bad.checkpoints.emplace_back("bad-checkpoint", 1);
  groups.push_back(bad);
  groups.push_back(group_of(app("a-1", expected_version::any(), {ev("z")})));
  j->inject_bad_value(1);
  auto res = j->commit(groups);
  REQUIRE(res);
  REQUIRE(res->size() == 3);
  REQUIRE((*res)[0]);
  REQUIRE(!(*res)[1]);
  CHECK(code_of((*res)[1].error()) == errc::invalid_argument);
  CHECK_THAT(describe((*res)[1].error()),
             Catch::Contains("refused by the storage"));
  REQUIRE((*res)[2]);
  CHECK((*res)[2]->appends[0].first_version == 2);
  CHECK((*res)[2]->appends[0].first_position == 2);
  CHECK(!j->failed());
  CHECK(*j->stream_version("a-1") == 2);
  CHECK(*j->stream_version("b-1") == 0);
  CHECK(!*j->has_dedup_key("bad-key"));
  CHECK(!*j->checkpoint("bad-checkpoint"));
  CHECK(
    j->commit(group_of(app("b-1", expected_version::no_stream(), {ev("w")}))));
  auto report = verify(*j);
  REQUIRE(report);
  CHECK(report->ok());
}

namespace {

/// Returns the number of reader slots in use in the LMDB environment of
/// `j`, as mdb_reader_list lists them.
size_t reader_slots(const store& j) {
  size_t lines = 0;
  mdb_reader_list(
    j.internals().env.get(),
    [](const char* msg, void* ctx) {
      // A header line, then one line per reader, or "(no active readers)".
      std::string str{msg};
      if (str.find("pid") == std::string::npos
          && str.find("no active") == std::string::npos)
        ++*static_cast<size_t*>(ctx);
      return 0;
    },
    &lines);
  return lines;
}

} // namespace

TEST_CASE("open frees the reader slots of processes that died while "
          "reading") {
  temp_dir dir;
  {
    auto j = open_or_fail(dir.path());
    REQUIRE(
      j->commit(group_of(app("a-1", expected_version::any(), {ev("x")}))));
  }
  // One live reader keeps the lock file in use, so that the next open does
  // not reset the reader table; three readers of a killed process stay.
  child_process alive{
    {bin_path("cairn-reader-holder"), dir.path(), std::to_string(1)}};
  std::string line;
  REQUIRE(alive.read_line(line, 10000));
  REQUIRE(line == "ready");
  {
    child_process dead{
      {bin_path("cairn-reader-holder"), dir.path(), std::to_string(3)}};
    REQUIRE(dead.read_line(line, 10000));
    REQUIRE(line == "ready");
    dead.kill();
    dead.wait();
  }
  auto j = open_or_fail(dir.path());
  CHECK(reader_slots(*j) == 1);
  CHECK(j->read_stream("a-1")->size() == 1);
}
