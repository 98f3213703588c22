#include "cairn/journal/verify.hpp"

#include <catch2/catch.hpp>

#include <lmdb.h>

#include "cairn/journal/detail/bytes.hpp"
#include "cairn/journal/detail/record_format.hpp"
#include "cairn/journal/errc.hpp"
#include "tests/support/raw_lmdb.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cairn;
using namespace cairn::journal;
using cairn::test::temp_dir;

namespace {

void fill(journal::journal& j) {
  for (int i = 0; i < 5; ++i) {
    write_group g;
    append a;
    a.stream = "order-" + std::to_string(i);
    for (int k = 0; k < 3; ++k) {
      event_record r;
      r.type = "e";
      r.payload = "payload-" + std::to_string(i * 10 + k);
      a.events.push_back(r);
    }
    g.appends.push_back(a);
    REQUIRE(j.commit(g));
  }
}

std::unique_ptr<journal::journal> open_fast(const std::string& dir) {
  options opts;
  opts.sync = sync_mode::none;
  auto j = journal::journal::open(dir, opts);
  REQUIRE(j);
  return std::move(*j);
}

using cairn::test::edit_raw;

} // namespace

TEST_CASE("verify passes on a consistent journal") {
  temp_dir dir;
  auto j = open_fast(dir.path());
  fill(*j);
  REQUIRE(j->truncate_before("order-2", 3));
  auto report = verify(*j);
  REQUIRE(report);
  CHECK(report->ok());
  CHECK(report->streams == 5);
  CHECK(report->events == 13);
  CHECK(report->log_entries == 13);
}

TEST_CASE("verify names a stream and version whose event is missing") {
  temp_dir dir;
  {
    auto j = open_fast(dir.path());
    fill(*j);
  }
  // Delete order-3 version 2 (stream id 4, log position 11: each stream
  // got 3 positions in turn) behind the journal's back.
  edit_raw(dir.path(), "log", [](MDB_txn* txn, MDB_dbi dbi) {
    detail::u64_key k{11};
    MDB_val key{8, k.bytes}, val;
    REQUIRE(mdb_get(txn, dbi, &key, &val) == 0);
    uint64_t id = 0, seq = 0;
    REQUIRE(detail::log_value_key(static_cast<const char*>(val.mv_data),
                                  val.mv_size, id, seq));
    REQUIRE(id == 4);
    REQUIRE(seq == 2);
    REQUIRE(mdb_del(txn, dbi, &key, nullptr) == 0);
  });
  auto j = open_fast(dir.path());
  auto report = verify(*j);
  REQUIRE(report);
  REQUIRE(!report->ok());
  bool named = false;
  for (auto& p : report->problems)
    if (p.stream == "order-3" && p.version == 2)
      named = true;
  CHECK(named);
  auto read = j->read_stream("order-3");
  REQUIRE(!read);
  CHECK(code_of(read.error()) == errc::corrupt_record);
  CHECK(describe(read.error()).find("order-3 version 2") != std::string::npos);
}

TEST_CASE("verify reports a log entry without its event") {
  temp_dir dir;
  {
    auto j = open_fast(dir.path());
    fill(*j);
  }
  // A well-formed record at position 100 for order-0 (stream id 1)
  // version 99, which the stream does not have: a compact one, or one as
  // formats 2 to 4 wrote it.
  auto compact = GENERATE(true, false);
  edit_raw(dir.path(), "log", [compact](MDB_txn* txn, MDB_dbi dbi) {
    event_record r;
    r.type = "e";
    r.payload = "stray";
    std::string bytes;
    if (compact) {
      bytes.resize(detail::log_value_size(r, 1, 99, 100));
      detail::encode_log_value(r, 1, 99, 100, 1, bytes.data());
    } else {
      bytes.resize(16 + detail::encoded_size(r));
      detail::event_key target{1, 99};
      std::memcpy(bytes.data(), target.bytes, 16);
      detail::encode_record(r, 100, 1, bytes.data() + 16);
    }
    detail::u64_key k{100};
    MDB_val key{8, k.bytes}, val{bytes.size(), bytes.data()};
    REQUIRE(mdb_put(txn, dbi, &key, &val, 0) == 0);
  });
  auto j = open_fast(dir.path());
  auto report = verify(*j);
  REQUIRE(report);
  REQUIRE(!report->ok());
  CHECK(report->problems.front().position == 100);
  CHECK(report->problems.front().stream == "order-0");
  CHECK(report->problems.front().version == 99);
}

TEST_CASE("verify names the versions of a lost index block") {
  temp_dir dir;
  {
    auto j = open_fast(dir.path());
    for (int c = 0; c < 10; ++c) {
      append a;
      a.stream = "long-1";
      a.expected = expected_version::exact(static_cast<uint64_t>(c) * 10);
      for (int k = 0; k < 10; ++k) {
        event_record r;
        r.type = "e";
        a.events.push_back(r);
      }
      write_group g;
      g.appends.push_back(a);
      REQUIRE(j->commit(g));
    }
    auto report = verify(*j);
    REQUIRE(report);
    CHECK(report->ok());
  }
  // Stream id 1: its blocks end where (version + 1) % 16 == 0, so versions
  // 32 to 47 form its third block, the chain's block 3.
  edit_raw(dir.path(), "chain", [](MDB_txn* txn, MDB_dbi dbi) {
    detail::u64_key k{3};
    MDB_val key{8, k.bytes};
    REQUIRE(mdb_del(txn, dbi, &key, nullptr) == 0);
  });
  auto j = open_fast(dir.path());
  auto report = verify(*j);
  REQUIRE(report);
  REQUIRE(!report->ok());
  CHECK(report->problems.front().stream == "long-1");
  CHECK(report->problems.front().version == 32);
  CHECK(report->problems.front().what.find("32 to 47") != std::string::npos);
  // A read from before the lost block cannot reach past it; one after it
  // reads.
  auto read = j->read_stream("long-1");
  REQUIRE(!read);
  CHECK(code_of(read.error()) == errc::corrupt_record);
  CHECK(describe(read.error()).find("long-1 version 1") != std::string::npos);
  auto after = j->read_stream("long-1", 64);
  REQUIRE(after);
  CHECK(after->size() == 37);
}

TEST_CASE("verify reports a damaged snapshot and a damaged table value") {
  temp_dir dir;
  {
    auto j = open_fast(dir.path());
    fill(*j);
    write_group g;
    g.snapshots.push_back(snapshot{"order-1", 3, "state", "snapshot-bytes"});
    g.tables.push_back(table_write{"model", "k1", "value-1"});
    REQUIRE(j->commit(g));
    auto report = verify(*j);
    REQUIRE(report);
    CHECK(report->ok());
    CHECK(report->snapshots == 1);
    CHECK(report->table_rows == 1);
  }
  auto flip_last = [](MDB_txn* txn, MDB_dbi dbi, std::string key) {
    MDB_val k{key.size(), key.data()}, v;
    REQUIRE(mdb_get(txn, dbi, &k, &v) == 0);
    std::string value{static_cast<const char*>(v.mv_data), v.mv_size};
    value.back() ^= 0x40;
    MDB_val nv{value.size(), value.data()};
    REQUIRE(mdb_put(txn, dbi, &k, &nv, 0) == 0);
  };
  edit_raw(dir.path(), "snapshots",
           [&](MDB_txn* txn, MDB_dbi dbi) { flip_last(txn, dbi, "order-1"); });
  edit_raw(dir.path(), "tables", [&](MDB_txn* txn, MDB_dbi dbi) {
    flip_last(txn, dbi, std::string{"model\0k1", 8});
  });
  auto j = open_fast(dir.path());
  auto report = verify(*j);
  REQUIRE(report);
  REQUIRE(report->problems.size() == 2);
  CHECK(report->problems[0].stream == "order-1");
  CHECK_THAT(report->problems[0].what,
             Catch::Contains("snapshot: checksum mismatch"));
  CHECK_THAT(report->problems[1].what,
             Catch::Contains("table model key k1: checksum mismatch"));
}
