// Damage beyond payloads: bytes flipped in record headers, stream rows,
// index blocks, the names and meta databases, and LMDB's own pages. Each
// case closes the journal, damages it behind its back (raw mdb_* calls for
// values, data.mdb bytes at page offsets for pages), opens it again and
// checks that `verify` and `cairn-journal verify` name the damage, that
// reading the damaged stream fails with an error rather than a wrong value,
// and that the other streams still read whole.
//
// Which byte of a field is flipped, and with which mask, comes from a seed:
// CAIRN_SEED if set, else a fresh one; it is printed.

#include "cairn/journal/verify.hpp"

#include <catch2/catch.hpp>

#include <lmdb.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "cairn/journal/detail/bytes.hpp"
#include "cairn/journal/detail/crc32c.hpp"
#include "cairn/journal/detail/journal_impl.hpp"
#include "cairn/journal/detail/record_format.hpp"
#include "cairn/journal/errc.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/prefixed_log.hpp"
#include "tests/support/raw_lmdb.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cairn;
using namespace cairn::journal;
using cairn::test::temp_dir;

namespace {

// -- the journal under test ---------------------------------------------------

constexpr int stream_count = 4;

/// Events per stream: enough for index blocks and a log tree of depth 2.
constexpr int events_per_stream = 40;

std::string stream_name(int i) {
  return "order-" + std::to_string(i);
}

std::string payload_of(int i, int k) {
  return "payload-" + std::to_string(i) + "-" + std::to_string(k);
}

/// Writes `events_per_stream` events to each stream, one event of each
/// stream per commit, so that the streams' positions interleave.
void fill(const std::string& dir) {
  options opts;
  opts.sync = sync_mode::none;
  auto j = journal::journal::open(dir, opts);
  REQUIRE(j);
  for (int k = 0; k < events_per_stream; ++k) {
    write_group g;
    for (int i = 0; i < stream_count; ++i) {
      append a;
      a.stream = stream_name(i);
      event_record r;
      r.type = "order_line_added";
      r.correlation_id = "c-" + std::to_string(k);
      r.payload = payload_of(i, k);
      a.events.push_back(r);
      g.appends.push_back(std::move(a));
    }
    REQUIRE((*j)->commit(g));
  }
}

std::unique_ptr<journal::journal> open_read_only(const std::string& dir) {
  options opts;
  opts.read_only = true;
  opts.create = false;
  auto j = journal::journal::open(dir, opts);
  INFO("open: " << (j ? std::string{} : describe(j.error())));
  REQUIRE(j);
  return std::move(*j);
}

uint64_t seed() {
  static uint64_t result = [] {
    uint64_t x;
    if (auto str = std::getenv("CAIRN_SEED")) {
      x = std::strtoull(str, nullptr, 10);
    } else {
      std::random_device rd;
      x = (static_cast<uint64_t>(rd()) << 32) | rd();
    }
    std::cout << "corruption test: seed " << x << " (set CAIRN_SEED to repeat)"
              << std::endl;
    return x;
  }();
  return result;
}

/// A random generator for one test case, from the run's seed.
std::mt19937_64 make_rng() {
  return std::mt19937_64{seed()};
}

/// A byte mask with at least one bit set.
char random_mask(std::mt19937_64& rng) {
  return static_cast<char>(std::uniform_int_distribution<int>{1, 255}(rng));
}

// -- raw access ---------------------------------------------------------------

using cairn::test::edit_raw;

std::string get_raw(MDB_txn* txn, MDB_dbi dbi, const std::string& key) {
  MDB_val k{key.size(), const_cast<char*>(key.data())}, v;
  REQUIRE(mdb_get(txn, dbi, &k, &v) == 0);
  return std::string{static_cast<const char*>(v.mv_data), v.mv_size};
}

void put_raw(MDB_txn* txn, MDB_dbi dbi, const std::string& key,
             const std::string& value) {
  MDB_val k{key.size(), const_cast<char*>(key.data())};
  MDB_val v{value.size(), const_cast<char*>(value.data())};
  REQUIRE(mdb_put(txn, dbi, &k, &v, 0) == 0);
}

std::string be64(uint64_t x) {
  std::string result(8, '\0');
  detail::put_be64(result.data(), x);
  return result;
}

/// The stream ids and the log positions of every version, from the raw
/// databases (the journal is closed), which hold `streams` streams.
struct layout {
  std::map<std::string, uint64_t> ids;
  /// positions[stream][version - 1]
  std::map<std::string, std::vector<uint64_t>> positions;
};

layout read_layout(const std::string& dir, size_t streams = stream_count) {
  layout result;
  std::map<uint64_t, std::string> names;
  edit_raw(dir, "names", [&](MDB_txn* txn, MDB_dbi dbi) {
    MDB_cursor* c = nullptr;
    REQUIRE(mdb_cursor_open(txn, dbi, &c) == 0);
    MDB_val k, v;
    for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
      auto id = detail::get_be64(static_cast<const char*>(k.mv_data));
      std::string name{static_cast<const char*>(v.mv_data), v.mv_size};
      names[id] = name;
      result.ids[name] = id;
    }
    mdb_cursor_close(c);
  });
  edit_raw(dir, "log", [&](MDB_txn* txn, MDB_dbi dbi) {
    MDB_cursor* c = nullptr;
    REQUIRE(mdb_cursor_open(txn, dbi, &c) == 0);
    MDB_val k, v;
    for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
      uint64_t id = 0, seq = 0;
      REQUIRE(detail::log_value_key(static_cast<const char*>(v.mv_data),
                                    v.mv_size, id, seq));
      auto& xs = result.positions[names.at(id)];
      REQUIRE(seq == xs.size() + 1);
      xs.push_back(detail::get_be64(static_cast<const char*>(k.mv_data)));
    }
    mdb_cursor_close(c);
  });
  REQUIRE(result.ids.size() == streams);
  return result;
}

// -- checks -------------------------------------------------------------------

std::string list(const std::vector<problem>& ps) {
  std::string result;
  for (auto& p : ps)
    result += "  [" + p.stream + " v" + std::to_string(p.version) + " @"
              + std::to_string(p.position) + "] " + p.what + "\n";
  return result;
}

/// Whether `report` holds a problem of `stream` (any if empty) whose text
/// contains `what`, at `version` and `position` unless 0.
bool names(const verify_report& report, const std::string& stream,
           uint64_t version, uint64_t position, const std::string& what) {
  for (auto& p : report.problems)
    if ((stream.empty() || p.stream == stream)
        && (version == 0 || p.version == version)
        && (position == 0 || p.position == position)
        && p.what.find(what) != std::string::npos)
      return true;
  return false;
}

verify_report verify_ok(const journal::journal& j) {
  auto report = verify(j);
  INFO("verify: " << (report ? std::string{} : describe(report.error())));
  REQUIRE(report);
  return std::move(*report);
}

/// Runs `cairn-journal verify DIR`: it must fail and print `what`.
void cli_names(const std::string& dir, const std::string& what) {
  auto res
    = cairn::test::run({cairn::test::bin_path("cairn-journal"), "verify", dir});
  INFO("cairn-journal verify " << dir << ":\n" << res.output);
  CHECK(res.exit_code != 0);
  CHECK(res.output.find(what) != std::string::npos);
}

/// Every stream but `except` reads whole, with the payloads it was given.
void others_read_whole(const journal::journal& j,
                       const std::vector<std::string>& except) {
  for (int i = 0; i < stream_count; ++i) {
    auto name = stream_name(i);
    if (std::find(except.begin(), except.end(), name) != except.end())
      continue;
    auto evs = j.read_stream(name);
    INFO(name << ": " << (evs ? std::string{} : describe(evs.error())));
    REQUIRE(evs);
    REQUIRE(evs->size() == events_per_stream);
    for (int k = 0; k < events_per_stream; ++k) {
      CHECK((*evs)[k].version == static_cast<uint64_t>(k + 1));
      CHECK((*evs)[k].stream == name);
      CHECK((*evs)[k].record.payload == payload_of(i, k));
    }
  }
}

/// Reading `stream` gives an error that names it, or exactly its events:
/// never events that are not its own.
void reads_right_or_fails(const journal::journal& j, int i) {
  auto name = stream_name(i);
  auto evs = j.read_stream(name);
  if (!evs) {
    INFO(describe(evs.error()));
    CHECK(describe(evs.error()).find(name) != std::string::npos);
    return;
  }
  REQUIRE(evs->size() == events_per_stream);
  for (int k = 0; k < events_per_stream; ++k) {
    CHECK((*evs)[k].version == static_cast<uint64_t>(k + 1));
    CHECK((*evs)[k].record.payload == payload_of(i, k));
  }
}

// -- record headers -----------------------------------------------------------

/// A field of the record header: its offset in the record (after the log
/// prefix) when every string before it is empty, and its size. The lengths
/// stand each before its bytes: see `field_offset`.
struct field {
  const char* name;
  size_t offset;
  size_t size;
};

constexpr field header_fields[] = {
  {"crc32c", 0, 4},
  {"record format", 4, 1},
  {"position", 5, 8},
  {"timestamp", 13, 8},
  {"schema version", 21, 4},
  {"type length", 25, 2},
  {"correlation length", 27, 2},
  {"causation length", 29, 2},
  {"metadata length", 31, 4},
  {"payload length", 35, 4},
};

constexpr size_t prefix = 16;

/// Returns the offset of header field `n` in the record at `rec`: its
/// offset plus the sizes of the strings before it.
size_t field_offset(const char* rec, size_t n) {
  size_t skipped = 0;
  for (size_t i = 5; i < n; ++i) {
    auto at = header_fields[i].offset + skipped;
    skipped += header_fields[i].size == 2 ? detail::get_le<uint16_t>(rec + at)
                                          : detail::get_le<uint32_t>(rec + at);
  }
  return header_fields[n].offset + skipped;
}

/// Rewrites the CRC32C of the record in the log value `v`.
void fix_crc(std::string& v) {
  auto rec = v.data() + prefix;
  detail::put_le<uint32_t>(rec, detail::crc32c(rec + 4, v.size() - prefix - 4));
}

/// Rewrites every `log` value of the journal at `dir` as formats 2 to 4
/// stored events. A journal upgraded to format 5 keeps such values.
void make_prefixed(const std::string& dir) {
  edit_raw(dir, "log", [](MDB_txn* txn, MDB_dbi dbi) {
    test::rewrite_log_prefixed(txn, dbi);
  });
}

/// The compact `log` value `v` with its checksum made right again.
void fix_compact_crc(std::string& v) {
  detail::put_le<uint32_t>(v.data() + 1,
                           detail::crc32c(v.data() + 5, v.size() - 5));
}

/// Offsets in a compact `log` value: where its position, timestamp, schema
/// version and type length start, and its payload.
struct compact_offsets {
  size_t position, timestamp, schema, type_length, payload;
};

compact_offsets offsets_of(const std::string& v) {
  auto varint_end = [&](size_t at) {
    while (static_cast<uint8_t>(v.at(at)) >= 0x80)
      ++at;
    return at + 1;
  };
  compact_offsets o;
  o.position = varint_end(varint_end(5));   // after stream id and version
  o.timestamp = varint_end(o.position);
  o.schema = o.timestamp + 8;
  o.type_length = varint_end(o.schema);
  // The fixture's events have short strings: one length byte each.
  o.payload = o.type_length;
  for (int i = 0; i < 4; ++i)
    o.payload += 1 + static_cast<uint8_t>(v.at(o.payload));
  return o;
}

} // namespace

TEST_CASE("a flipped byte in any field of a record header is named with its "
          "stream, version and position, and the other streams read whole") {
  // Records as formats 2 to 4 stored them, which format 5 still reads.
  temp_dir dir;
  fill(dir.path());
  make_prefixed(dir.path());
  auto lay = read_layout(dir.path());
  auto rng = make_rng();
  // Field n of order-1's header damaged at version n + 1.
  auto& pos = lay.positions.at("order-1");
  edit_raw(dir.path(), "log", [&](MDB_txn* txn, MDB_dbi dbi) {
    for (size_t n = 0; n < std::size(header_fields); ++n) {
      auto& f = header_fields[n];
      auto key = be64(pos[n]);
      auto v = get_raw(txn, dbi, key);
      auto at = prefix + field_offset(v.data() + prefix, n)
                + std::uniform_int_distribution<size_t>{0, f.size - 1}(rng);
      v[at] ^= random_mask(rng);
      put_raw(txn, dbi, key, v);
    }
  });
  auto j = open_read_only(dir.path());
  auto report = verify_ok(*j);
  INFO(list(report.problems));
  for (size_t n = 0; n < std::size(header_fields); ++n) {
    INFO("field " << header_fields[n].name);
    CHECK(names(report, "order-1", n + 1, pos[n], "checksum mismatch"));
  }
  CHECK(report.problems.size() == std::size(header_fields));
  auto evs = j->read_stream("order-1");
  REQUIRE(!evs);
  CHECK(evs.error() == make_error(errc::corrupt_record));
  CHECK(describe(evs.error()).find("order-1") != std::string::npos);
  // Visited in place: refused at the first damaged record, version 1.
  size_t seen = 0;
  auto visited
    = j->visit_stream("order-1", 1, 100, [&](const event_view&) { ++seen; });
  REQUIRE(!visited);
  CHECK(visited.error() == make_error(errc::corrupt_record));
  CHECK_THAT(describe(visited.error()),
             Catch::Contains("order-1 version 1: checksum mismatch"));
  CHECK(seen == 0);
  others_read_whole(*j, {"order-1"});
  cli_names(dir.path(), "checksum mismatch");
}

TEST_CASE("a record header with a valid checksum but a bad format, position "
          "or length is named, never read out of bounds") {
  // Records as formats 2 to 4 stored them, which format 5 still reads.
  temp_dir dir;
  fill(dir.path());
  make_prefixed(dir.path());
  auto lay = read_layout(dir.path());
  auto rng = make_rng();
  auto& pos = lay.positions.at("order-2");
  // Version n + 1 gets damage n, with its checksum made right again.
  struct damage {
    size_t field;
    const char* named;
  };
  const damage damages[] = {
    {1, "unknown record format"},
    {2, "says position"},
    {5, "a field length runs past the end"},
    {6, "a field length runs past the end"},
    {7, "a field length runs past the end"},
    {8, "a field length runs past the end"},
    {9, "a field length runs past the end"},
  };
  edit_raw(dir.path(), "log", [&](MDB_txn* txn, MDB_dbi dbi) {
    for (size_t n = 0; n < std::size(damages); ++n) {
      auto key = be64(pos[n]);
      auto v = get_raw(txn, dbi, key);
      auto n_field = damages[n].field;
      auto& f = header_fields[n_field];
      // The top byte of a length makes it run past the end; the byte of
      // the others is random.
      auto at
        = prefix + field_offset(v.data() + prefix, n_field)
          + (n_field >= 5
               ? f.size - 1
               : std::uniform_int_distribution<size_t>{0, f.size - 1}(rng));
      v[at] ^= static_cast<char>(0x80 | random_mask(rng));
      fix_crc(v);
      put_raw(txn, dbi, key, v);
    }
  });
  auto j = open_read_only(dir.path());
  auto report = verify_ok(*j);
  INFO(list(report.problems));
  for (size_t n = 0; n < std::size(damages); ++n) {
    INFO("field " << header_fields[damages[n].field].name);
    CHECK(names(report, "order-2", n + 1, pos[n], damages[n].named));
  }
  auto evs = j->read_stream("order-2");
  REQUIRE(!evs);
  CHECK(describe(evs.error()).find("order-2") != std::string::npos);
  others_read_whole(*j, {"order-2"});
  cli_names(dir.path(), "order-2");
}

TEST_CASE("a damaged compact record is named with its stream, version and "
          "position, never read out of bounds") {
  temp_dir dir;
  fill(dir.path());
  auto lay = read_layout(dir.path());
  auto rng = make_rng();
  auto& pos = lay.positions.at("order-1");
  // Version n + 1 gets damage n: a flipped byte that the checksum catches,
  // or a field made wrong under a checksum made right again.
  struct damage {
    const char* what;
    const char* named;
  };
  const damage damages[] = {
    {"checksum", "checksum mismatch"},
    {"position", "checksum mismatch"},
    {"timestamp", "checksum mismatch"},
    {"payload", "checksum mismatch"},
    {"layout byte", "belongs to another event"},
    {"position, resealed", "says position"},
    {"type length, resealed", "a field length runs past the end"},
    {"truncated, resealed", "a field length runs past the end"},
    {"cut to 3 bytes", "belongs to another event"},
  };
  edit_raw(dir.path(), "log", [&](MDB_txn* txn, MDB_dbi dbi) {
    for (size_t n = 0; n < std::size(damages); ++n) {
      auto key = be64(pos[n]);
      auto v = get_raw(txn, dbi, key);
      REQUIRE(static_cast<uint8_t>(v[0]) == detail::compact_record_format);
      auto o = offsets_of(v);
      auto pick = [&](size_t from, size_t to) {
        return std::uniform_int_distribution<size_t>{from, to - 1}(rng);
      };
      switch (n) {
        case 0: v[pick(1, 5)] ^= random_mask(rng); break;
        case 1: v[o.position] ^= 0x01; break;
        case 2: v[pick(o.timestamp, o.schema)] ^= random_mask(rng); break;
        case 3: v[pick(o.payload, v.size())] ^= random_mask(rng); break;
        case 4: v[0] = 0x7F; break;
        case 5:
          v[o.position] ^= 0x01;
          fix_compact_crc(v);
          break;
        case 6:
          v[o.type_length] = 0x7F; // 127 bytes: past the end
          fix_compact_crc(v);
          break;
        case 7:
          v.resize(o.type_length + 3); // the type's bytes cut short
          fix_compact_crc(v);
          break;
        case 8:
          v.resize(3); // not even a checksum
          break;
      }
      put_raw(txn, dbi, key, v);
    }
  });
  auto j = open_read_only(dir.path());
  auto report = verify_ok(*j);
  INFO(list(report.problems));
  for (size_t n = 0; n < std::size(damages); ++n) {
    INFO("damage: " << damages[n].what);
    CHECK(names(report, "order-1", n + 1, pos[n], damages[n].named));
  }
  // A value of an unknown layout names no stream: its position does.
  CHECK(names(report, "", 0, pos[4], "log entry of unknown format 127"));
  CHECK(names(report, "", 0, pos[8], "log entry has a bad size"));
  CHECK(report.problems.size() == std::size(damages) + 2);
  auto evs = j->read_stream("order-1");
  REQUIRE(!evs);
  CHECK(evs.error() == make_error(errc::corrupt_record));
  CHECK(describe(evs.error()).find("order-1") != std::string::npos);
  others_read_whole(*j, {"order-1"});
  cli_names(dir.path(), "checksum mismatch");
}

TEST_CASE("a damaged stream id or version in a log entry is named") {
  // In a compact value (format 5) or in the prefix of formats 2 to 4.
  auto compact = GENERATE(true, false);
  INFO((compact ? "compact" : "prefixed"));
  temp_dir dir;
  fill(dir.path());
  if (!compact)
    make_prefixed(dir.path());
  auto lay = read_layout(dir.path());
  auto& pos = lay.positions.at("order-3");
  // The stream id (4) and version (6) are one varint byte each in a
  // compact value, the last bytes of big-endian u64s in the prefix.
  size_t id_at = compact ? 5 : 7;
  size_t seq_at = compact ? 6 : 15;
  char seq_mask = compact ? 0x40 : static_cast<char>(0x80);
  edit_raw(dir.path(), "log", [&](MDB_txn* txn, MDB_dbi dbi) {
    // Version 5: its stream id becomes one no stream has.
    auto key = be64(pos[4]);
    auto v = get_raw(txn, dbi, key);
    REQUIRE(v[id_at] == 4);
    v[id_at] ^= 0x40;
    put_raw(txn, dbi, key, v);
    // Version 6: its version becomes one the stream does not have.
    key = be64(pos[5]);
    v = get_raw(txn, dbi, key);
    REQUIRE(v[seq_at] == 6);
    v[seq_at] ^= seq_mask;
    put_raw(txn, dbi, key, v);
  });
  auto j = open_read_only(dir.path());
  auto report = verify_ok(*j);
  INFO(list(report.problems));
  CHECK(names(report, "", 0, pos[4], "log entry of unknown stream id"));
  CHECK(names(report, "order-3", 5, pos[4], "belongs to another event"));
  CHECK(names(report, "order-3", 6 ^ static_cast<uint8_t>(seq_mask), pos[5],
              "outside the stored"));
  CHECK(names(report, "order-3", 6, pos[5], "belongs to another event"));
  auto evs = j->read_stream("order-3");
  REQUIRE(!evs);
  CHECK(describe(evs.error()).find("order-3") != std::string::npos);
  others_read_whole(*j, {"order-3"});
  cli_names(dir.path(), "unknown stream id");
}

TEST_CASE("a log entry missing in the middle of a read: the events before it "
          "are visited, then the read names the missing one") {
  // Reads walk the log in windows of several entries; a missing entry late
  // in one still leaves the events before it visited, as a walk entry by
  // entry would. Two layouts: streams whose positions interleave (each
  // entry looked up) and a stream written alone (the cursor steps on).
  temp_dir dir;
  fill(dir.path());
  {
    options opts;
    opts.sync = sync_mode::none;
    auto j = journal::journal::open(dir.path(), opts);
    REQUIRE(j);
    write_group g;
    auto& a = g.appends.emplace_back();
    a.stream = "solo-1";
    for (int k = 0; k < events_per_stream; ++k) {
      event_record r;
      r.type = "order_line_added";
      r.payload = "solo-" + std::to_string(k);
      a.events.push_back(r);
    }
    REQUIRE((*j)->commit(g));
    auto evs = (*j)->read_stream("solo-1");
    REQUIRE(evs);
    REQUIRE(evs->size() == events_per_stream);
    auto first = evs->front().position;
    for (size_t k = 0; k < evs->size(); ++k)
      REQUIRE((*evs)[k].position == first + k);
  }
  auto lay = read_layout(dir.path(), stream_count + 1);
  auto& pos = lay.positions.at("order-2");
  auto& solo = lay.positions.at("solo-1");
  REQUIRE(pos.size() == events_per_stream);
  REQUIRE(solo.size() == events_per_stream);
  const uint64_t lost = 30;
  edit_raw(dir.path(), "log", [&](MDB_txn* txn, MDB_dbi dbi) {
    for (auto at : {pos[lost - 1], solo[lost - 1]}) {
      auto key = be64(at);
      MDB_val k{key.size(), key.data()};
      REQUIRE(mdb_del(txn, dbi, &k, nullptr) == 0);
    }
  });
  auto j = open_read_only(dir.path());
  for (auto stream : {"order-2", "solo-1"}) {
    INFO(stream);
    std::vector<uint64_t> seen;
    auto visited = j->visit_stream(stream, 1, 100, [&](const event_view& ev) {
      seen.push_back(ev.version);
    });
    REQUIRE(!visited);
    CHECK(visited.error() == make_error(errc::corrupt_record));
    CHECK_THAT(describe(visited.error()),
               Catch::Contains(std::string{stream}
                               + " version 30: event is "
                                 "missing"));
    REQUIRE(seen.size() == lost - 1);
    for (size_t k = 0; k < seen.size(); ++k)
      CHECK(seen[k] == k + 1);
    auto evs = j->read_stream(stream);
    REQUIRE(!evs);
    CHECK_THAT(describe(evs.error()),
               Catch::Contains(std::string{stream} + " version 30"));
    // A read that ends before the missing event still succeeds.
    auto head = j->read_stream(stream, 1, lost - 1);
    REQUIRE(head);
    CHECK(head->size() == lost - 1);
  }
}

// -- stream rows --------------------------------------------------------------

namespace {

/// Rewrites the row of `stream` through `f(row)`, encoded as the journal
/// encodes rows.
template <class F>
void edit_row(const std::string& dir, const std::string& stream, F f) {
  edit_raw(dir, "streams", [&](MDB_txn* txn, MDB_dbi dbi) {
    stream_row row;
    REQUIRE(detail::decode_stream_row(get_raw(txn, dbi, stream), row));
    f(row);
    char buf[detail::max_row_size];
    put_raw(txn, dbi, stream,
            std::string{buf, detail::encode_stream_row(row, buf)});
  });
}

/// The bytes of the `streams` value `v` before its recent positions.
size_t row_header_size(const std::string& v) {
  stream_row row;
  REQUIRE(detail::decode_stream_row(v, row));
  row.recent.clear();
  char buf[detail::max_row_size];
  auto n = detail::encode_stream_row(row, buf);
  // Without the padding: the header ends in its last varint, which ends in
  // a nonzero byte (a chain start is at least 1).
  while (n > 0 && buf[n - 1] == 0)
    --n;
  return n;
}

} // namespace

TEST_CASE("a damaged stream row is named with its stream and the other "
          "streams read whole") {
  temp_dir dir;
  fill(dir.path());
  auto lay = read_layout(dir.path());
  auto rng = make_rng();
  SECTION("its id becomes one no stream has") {
    edit_row(dir.path(), "order-1", [&](stream_row& row) {
      row.id += 1000 + static_cast<uint8_t>(random_mask(rng));
    });
    auto j = open_read_only(dir.path());
    auto report = verify_ok(*j);
    INFO(list(report.problems));
    CHECK(names(report, "order-1", 0, 0, "has no name entry"));
    CHECK(names(report, "order-1", 0, 0, "no stream row has that id"));
    CHECK(names(report, "", 0, 0, "log entry of unknown stream id"));
    reads_right_or_fails(*j, 1);
    others_read_whole(*j, {"order-1"});
    cli_names(dir.path(), "no name entry");
  }
  SECTION("its version grows") {
    edit_row(dir.path(), "order-1", [&](stream_row& row) {
      row.version
        += static_cast<uint64_t>(0x10 | static_cast<uint8_t>(random_mask(rng)))
           << 8;
    });
    auto j = open_read_only(dir.path());
    auto report = verify_ok(*j);
    INFO(list(report.problems));
    CHECK(names(report, "order-1", 0, 0, "have no index entry"));
    reads_right_or_fails(*j, 1);
    others_read_whole(*j, {"order-1"});
    cli_names(dir.path(), "order-1");
  }
  SECTION("its first stored version is past its version") {
    edit_row(dir.path(), "order-1", [&](stream_row& row) {
      row.first = row.version + 2 + static_cast<uint8_t>(random_mask(rng));
    });
    auto j = open_read_only(dir.path());
    auto report = verify_ok(*j);
    INFO(list(report.problems));
    CHECK(names(report, "order-1", 0, 0, "stream row is malformed"));
    auto evs = j->read_stream("order-1");
    REQUIRE(!evs);
    CHECK(describe(evs.error()).find("order-1") != std::string::npos);
    others_read_whole(*j, {"order-1"});
    cli_names(dir.path(), "stream row is malformed");
  }
  SECTION("a byte of its recent positions changes") {
    edit_raw(dir.path(), "streams", [&](MDB_txn* txn, MDB_dbi dbi) {
      auto v = get_raw(txn, dbi, "order-1");
      auto header = row_header_size(v);
      REQUIRE(v.size() > header);
      auto at
        = std::uniform_int_distribution<size_t>{header, v.size() - 1}(rng);
      v[at] ^= random_mask(rng);
      put_raw(txn, dbi, "order-1", v);
    });
    auto j = open_read_only(dir.path());
    auto report = verify_ok(*j);
    INFO(list(report.problems));
    CHECK(names(report, "order-1", 0, 0, ""));
    reads_right_or_fails(*j, 1);
    others_read_whole(*j, {"order-1"});
    cli_names(dir.path(), "order-1");
  }
  SECTION("it is cut short") {
    edit_raw(dir.path(), "streams", [&](MDB_txn* txn, MDB_dbi dbi) {
      auto v = get_raw(txn, dbi, "order-1");
      v.resize(
        std::uniform_int_distribution<size_t>{0, row_header_size(v) - 1}(rng));
      put_raw(txn, dbi, "order-1", v);
    });
    auto j = open_read_only(dir.path());
    auto report = verify_ok(*j);
    INFO(list(report.problems));
    CHECK(names(report, "order-1", 0, 0, "stream row is malformed"));
    auto evs = j->read_stream("order-1");
    REQUIRE(!evs);
    others_read_whole(*j, {"order-1"});
    cli_names(dir.path(), "stream row is malformed");
  }
  SECTION("its id becomes the id of another stream") {
    edit_row(dir.path(), "order-1",
             [&](stream_row& row) { row.id = lay.ids.at("order-0"); });
    auto j = open_read_only(dir.path());
    auto report = verify_ok(*j);
    INFO(list(report.problems));
    CHECK(names(report, "order-1", 0, 0, "is also the id of stream order-0"));
    cli_names(dir.path(), "is also the id of stream order-0");
    others_read_whole(*j, {"order-1"});
  }
}

TEST_CASE("a stream row whose padding is malformed does not decode") {
  // A row of format 4 ends in fewer than `row_alignment` zero bytes, and a
  // padded row's size is a multiple of it.
  stream_row row;
  row.id = 9;
  row.version = 3;
  row.first = 1;
  row.chain_first = 1;
  for (uint64_t x : {40, 170, 1000})
    row.recent.push_back(x);
  char buf[detail::max_row_size];
  std::string v{buf, detail::encode_stream_row(row, buf)};
  REQUIRE(v.size() % detail::row_alignment == 0);
  stream_row out;
  REQUIRE(detail::decode_stream_row(v, out));
  CHECK(out.version == 3);
  CHECK(out.recent.size() == 3);
  // A whole `row_alignment` of zero bytes more.
  CHECK_FALSE(
    detail::decode_stream_row(v + std::string(detail::row_alignment, '\0'),
                              out));
  // Padding that leaves the size off the alignment.
  CHECK_FALSE(detail::decode_stream_row(v + std::string(1, '\0'), out));
  auto unpadded = v;
  while (unpadded.back() == '\0')
    unpadded.pop_back();
  if (unpadded.size() + 1 < v.size())
    CHECK_FALSE(detail::decode_stream_row(
      unpadded + std::string(v.size() - unpadded.size() - 1, '\0'), out));
}

TEST_CASE("a damaged stream row refuses the appends to its stream alone, "
          "and the journal goes on writing the others") {
  temp_dir dir;
  fill(dir.path());
  edit_raw(dir.path(), "streams", [&](MDB_txn* txn, MDB_dbi dbi) {
    auto v = get_raw(txn, dbi, "order-1");
    put_raw(txn, dbi, "order-1",
            v + std::string(detail::row_alignment, '\0'));
  });
  options opts;
  opts.sync = sync_mode::none;
  auto j = journal::journal::open(dir.path(), opts);
  REQUIRE(j);
  auto group_of = [](std::vector<std::string> streams) {
    write_group g;
    for (auto& s : streams) {
      append a;
      a.stream = s;
      event_record r;
      r.type = "order_line_added";
      r.payload = "after the damage";
      a.events.push_back(r);
      g.appends.push_back(std::move(a));
    }
    return g;
  };
  // One commit: a group to the damaged stream, one to it and a sound one,
  // and one to sound streams only.
  std::vector<write_group> groups{group_of({"order-1"}),
                                  group_of({"order-0", "order-1"}),
                                  group_of({"order-2", "order-3"})};
  auto res = (*j)->commit(groups);
  REQUIRE(res);
  REQUIRE(res->size() == 3);
  for (size_t i = 0; i < 2; ++i) {
    REQUIRE(!(*res)[i]);
    CHECK(code_of((*res)[i].error()) == errc::corrupt_record);
    CHECK_THAT(describe((*res)[i].error()), Catch::Contains("order-1"));
  }
  REQUIRE((*res)[2]);
  CHECK_FALSE((*j)->failed());
  // Nothing of the refused groups was written; the sound streams go on.
  auto next = (*j)->commit(group_of({"order-0"}));
  REQUIRE(next);
  CHECK(next->appends.front().first_version == events_per_stream + 1);
  for (auto s : {"order-2", "order-3"}) {
    auto evs = (*j)->read_stream(s);
    REQUIRE(evs);
    CHECK(evs->size() == events_per_stream + 1);
  }
  auto evs = (*j)->read_stream("order-0");
  REQUIRE(evs);
  CHECK(evs->size() == events_per_stream + 1);
  CHECK(evs->back().record.payload == "after the damage");
  // The damaged row is as it was: still refused, still named by verify.
  auto again = (*j)->commit(group_of({"order-1"}));
  REQUIRE(!again);
  CHECK(code_of(again.error()) == errc::corrupt_record);
  j->reset();
  auto ro = open_read_only(dir.path());
  auto report = verify_ok(*ro);
  INFO(list(report.problems));
  CHECK(names(report, "order-1", 0, 0, "stream row is malformed"));
}

// -- chain blocks
// ---------------------------------------------------------------

TEST_CASE("a damaged chain block is named with its stream, and the other "
          "streams read whole") {
  temp_dir dir;
  fill(dir.path());
  auto lay = read_layout(dir.path());
  auto rng = make_rng();
  auto id = lay.ids.at("order-2");
  uint64_t number = 0;
  size_t at = 0;
  edit_raw(dir.path(), "chain", [&](MDB_txn* txn, MDB_dbi dbi) {
    // The first block of order-2.
    MDB_cursor* c = nullptr;
    REQUIRE(mdb_cursor_open(txn, dbi, &c) == 0);
    MDB_val k, v;
    std::string key, val;
    for (auto rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
      detail::chain_block b;
      REQUIRE(detail::decode_chain_block(
        detail::get_be64(static_cast<const char*>(k.mv_data)),
        {static_cast<const char*>(v.mv_data), v.mv_size}, b));
      if (b.stream != id)
        continue;
      number = b.number;
      key.assign(static_cast<const char*>(k.mv_data), k.mv_size);
      val.assign(static_cast<const char*>(v.mv_data), v.mv_size);
      break;
    }
    mdb_cursor_close(c);
    REQUIRE(number != 0);
    at = std::uniform_int_distribution<size_t>{0, val.size() - 1}(rng);
    val[at] ^= random_mask(rng);
    put_raw(txn, dbi, key, val);
  });
  auto j = open_read_only(dir.path());
  auto report = verify_ok(*j);
  INFO("chain block " << number << ", byte " << at);
  INFO(list(report.problems));
  CHECK(names(report, "order-2", 0, 0, ""));
  reads_right_or_fails(*j, 2);
  others_read_whole(*j, {"order-2"});
  cli_names(dir.path(), "order-2");
}

// -- names --------------------------------------------------------------------

TEST_CASE("a damaged, missing or extra entry of the names database is named") {
  temp_dir dir;
  fill(dir.path());
  auto lay = read_layout(dir.path());
  SECTION("a stream's entry names another stream") {
    edit_raw(dir.path(), "names", [&](MDB_txn* txn, MDB_dbi dbi) {
      put_raw(txn, dbi, be64(lay.ids.at("order-1")), "order-9");
    });
    auto j = open_read_only(dir.path());
    auto report = verify_ok(*j);
    INFO(list(report.problems));
    CHECK(
      names(report, "order-1", 0, 0, "is named order-9 in the names database"));
    others_read_whole(*j, {});
    cli_names(dir.path(), "is named order-9");
  }
  SECTION("a stream's entry is gone") {
    edit_raw(dir.path(), "names", [&](MDB_txn* txn, MDB_dbi dbi) {
      auto key = be64(lay.ids.at("order-1"));
      MDB_val k{8, key.data()};
      REQUIRE(mdb_del(txn, dbi, &k, nullptr) == 0);
    });
    auto j = open_read_only(dir.path());
    auto report = verify_ok(*j);
    INFO(list(report.problems));
    CHECK(names(report, "order-1", 0, 0, "has no name entry"));
    others_read_whole(*j, {});
    cli_names(dir.path(), "has no name entry");
  }
  SECTION("an entry belongs to no stream") {
    edit_raw(dir.path(), "names", [&](MDB_txn* txn, MDB_dbi dbi) {
      put_raw(txn, dbi, be64(77), "ghost-1");
    });
    auto j = open_read_only(dir.path());
    auto report = verify_ok(*j);
    INFO(list(report.problems));
    CHECK(names(report, "ghost-1", 0, 0,
                "names database: stream id 77 is named ghost-1, but no "
                "stream row has that id"));
    CHECK(report.problems.size() == 1);
    others_read_whole(*j, {});
    cli_names(dir.path(), "stream id 77");
  }
  SECTION("an entry's key is not a stream id") {
    edit_raw(dir.path(), "names", [&](MDB_txn* txn, MDB_dbi dbi) {
      put_raw(txn, dbi, "abc", "ghost-2");
    });
    auto j = open_read_only(dir.path());
    auto report = verify_ok(*j);
    INFO(list(report.problems));
    CHECK(names(report, "ghost-2", 0, 0, "names database: key of 3 bytes"));
    cli_names(dir.path(), "names database: key of 3 bytes");
  }
}

// -- meta ---------------------------------------------------------------------

TEST_CASE("a damaged meta database is named, key by key") {
  temp_dir dir;
  fill(dir.path());
  auto rng = make_rng();
  auto damage = [&](const std::string& key, const std::string& value) {
    edit_raw(dir.path(), "meta",
             [&](MDB_txn* txn, MDB_dbi dbi) { put_raw(txn, dbi, key, value); });
  };
  auto expect = [&](const std::string& what) {
    auto j = open_read_only(dir.path());
    auto report = verify_ok(*j);
    INFO(list(report.problems));
    CHECK(names(report, "", 0, 0, what));
    CHECK(report.problems.size() == 1);
    others_read_whole(*j, {});
    cli_names(dir.path(), what);
  };
  // A damaged counter of stream ids stops nothing: the next new stream
  // takes the id after the names database's last, the commit stores the
  // counter again, and verify finds nothing left to name.
  auto new_stream_takes_the_next_id = [&] {
    {
      options opts;
      opts.sync = sync_mode::none;
      auto j = journal::journal::open(dir.path(), opts);
      REQUIRE(j);
      write_group g;
      append a;
      a.stream = "order-new";
      event_record r;
      r.type = "order_line_added";
      r.payload = "fresh";
      a.events.push_back(r);
      g.appends.push_back(std::move(a));
      auto res = (*j)->commit(g);
      INFO("commit: " << (res ? std::string{} : describe(res.error())));
      REQUIRE(res);
      CHECK_FALSE((*j)->failed());
    }
    edit_raw(dir.path(), "names", [&](MDB_txn* txn, MDB_dbi dbi) {
      CHECK(get_raw(txn, dbi, be64(stream_count + 1)) == "order-new");
    });
    auto j = open_read_only(dir.path());
    auto report = verify_ok(*j);
    INFO(list(report.problems));
    CHECK(report.problems.empty());
    auto got = j->read_stream("order-new");
    REQUIRE(got);
    REQUIRE(got->size() == 1);
    CHECK(got->front().record.payload == "fresh");
    others_read_whole(*j, {});
  };
  SECTION("the next stream id falls to an id in use") {
    damage("next-stream-id",
           be64(std::uniform_int_distribution<uint64_t>{0, stream_count}(rng)));
    expect("not above the stream id 4: a new stream would reuse an id");
    new_stream_takes_the_next_id();
  }
  SECTION("the next stream id has a bad size") {
    damage("next-stream-id", be64(5).substr(1));
    expect("meta database: next-stream-id has 7 bytes instead of 8");
    new_stream_takes_the_next_id();
  }
  SECTION("the next stream id is gone") {
    edit_raw(dir.path(), "meta", [&](MDB_txn* txn, MDB_dbi dbi) {
      MDB_val k{14, const_cast<char*>("next-stream-id")};
      REQUIRE(mdb_del(txn, dbi, &k, nullptr) == 0);
    });
    expect("next-stream-id is missing, with stream ids up to 4");
    new_stream_takes_the_next_id();
  }
  SECTION("the position mark has a bad size") {
    damage("next-position", "xyz");
    expect("meta database: next-position has 3 bytes instead of 8");
  }
  SECTION("the journal id is not 32 hexadecimal digits") {
    std::string id;
    edit_raw(dir.path(), "meta", [&](MDB_txn* txn, MDB_dbi dbi) {
      id = get_raw(txn, dbi, "journal-id");
    });
    REQUIRE(id.size() == 32);
    id[std::uniform_int_distribution<size_t>{0, 31}(rng)] = 'Z';
    damage("journal-id", id);
    expect("journal-id is not 32 hexadecimal digits");
  }
  SECTION("a key the journal does not write") {
    damage("next-stream-iD", be64(9));
    expect("meta database: unknown key next-stream-iD");
  }
  SECTION("the format version: the journal does not open and says why") {
    std::string v;
    edit_raw(dir.path(), "meta", [&](MDB_txn* txn, MDB_dbi dbi) {
      v = get_raw(txn, dbi, "format");
    });
    v[std::uniform_int_distribution<size_t>{0, 3}(rng)] ^= random_mask(rng);
    damage("format", v);
    options opts;
    opts.read_only = true;
    opts.create = false;
    auto j = journal::journal::open(dir.path(), opts);
    REQUIRE(!j);
    CHECK(j.error() == make_error(errc::format_mismatch));
    CHECK(describe(j.error()).find("format version") != std::string::npos);
    cli_names(dir.path(), "format version");
  }
  SECTION("the layout of table values: the journal does not open") {
    damage("table-values", "crc32x");
    options opts;
    opts.read_only = true;
    opts.create = false;
    auto j = journal::journal::open(dir.path(), opts);
    REQUIRE(!j);
    CHECK(j.error() == make_error(errc::format_mismatch));
    CHECK(describe(j.error()).find("crc32x") != std::string::npos);
    cli_names(dir.path(), "crc32x");
  }
}

// -- LMDB pages ---------------------------------------------------------------
//
// LMDB 0.9 page layout (lmdb.h / mdb.c, 64-bit build): a page header of 16
// bytes (u64 page number, u16 pad, u16 flags, u16 lower, u16 upper), then
// u16 offsets of its nodes. A node: u16 lo, u16 hi, u16 flags, u16 key
// size, key, data; in a branch page lo | hi << 16 | flags << 32 is the child
// page number. Pages 0 and 1 are the meta pages; the one with the higher
// transaction id is current. Its meta (after the page header) holds u32
// magic, u32 version, address, map size, then the free and main databases
// (48 bytes each: u32 pad, u16 flags, u16 depth, u64 branch pages, leaf
// pages, overflow pages, entries, root), last page, transaction id. The
// main database's leaf holds each named database's 48-byte record.

namespace {

constexpr size_t page_header = 16;
constexpr uint16_t p_branch = 0x01;
constexpr uint16_t p_leaf = 0x02;

template <class T>
T get_native(const std::string& buf, size_t at) {
  T x;
  std::memcpy(&x, buf.data() + at, sizeof(T));
  return x;
}

struct page_map {
  size_t page_size = 0;
  std::string file;

  size_t offset(uint64_t pgno) const {
    return static_cast<size_t>(pgno) * page_size;
  }

  uint16_t flags(uint64_t pgno) const {
    return get_native<uint16_t>(file, offset(pgno) + 10);
  }

  size_t keys(uint64_t pgno) const {
    return (get_native<uint16_t>(file, offset(pgno) + 12) - page_header) / 2;
  }

  size_t node(uint64_t pgno, size_t i) const {
    return offset(pgno)
           + get_native<uint16_t>(file, offset(pgno) + page_header + 2 * i);
  }

  uint64_t child(uint64_t pgno, size_t i) const {
    auto n = node(pgno, i);
    return get_native<uint16_t>(file, n)
           | (uint64_t{get_native<uint16_t>(file, n + 2)} << 16)
           | (uint64_t{get_native<uint16_t>(file, n + 4)} << 32);
  }

  /// The root page and depth of the named database `db`.
  std::pair<uint64_t, uint16_t> root_of(const std::string& db) const {
    auto txnid = [&](uint64_t p) {
      return get_native<uint64_t>(file, offset(p) + page_header + 128);
    };
    auto meta = txnid(0) > txnid(1) ? 0 : 1;
    auto main_root
      = get_native<uint64_t>(file, offset(meta) + page_header + 72 + 40);
    REQUIRE(flags(main_root) & p_leaf);
    for (size_t i = 0; i < keys(main_root); ++i) {
      auto n = node(main_root, i);
      auto ksize = get_native<uint16_t>(file, n + 6);
      if (file.compare(n + 8, ksize, db) == 0 && ksize == db.size()) {
        auto rec = n + 8 + ksize;
        return {get_native<uint64_t>(file, rec + 40),
                get_native<uint16_t>(file, rec + 6)};
      }
    }
    FAIL("no database " << db << " in the main database");
    return {0, 0};
  }
};

page_map read_pages(const std::string& dir) {
  page_map result;
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == 0);
  REQUIRE(mdb_env_open(env, dir.c_str(), MDB_RDONLY, 0644) == 0);
  MDB_stat st;
  REQUIRE(mdb_env_stat(env, &st) == 0);
  result.page_size = st.ms_psize;
  mdb_env_close(env);
  result.file = cairn::test::read_file(dir + "/data.mdb");
  REQUIRE(result.file.size() % result.page_size == 0);
  return result;
}

void patch(const std::string& dir, size_t at, const void* bytes, size_t n) {
  std::fstream f{dir + "/data.mdb",
                 std::ios::in | std::ios::out | std::ios::binary};
  REQUIRE(f);
  f.seekp(static_cast<std::streamoff>(at));
  f.write(static_cast<const char*>(bytes), static_cast<std::streamsize>(n));
  REQUIRE(f);
}

/// Whether `err` is a storage error naming `db` and one of LMDB's words for
/// a damaged page.
bool names_page_damage(const caf::error& err, const std::string& db) {
  auto str = describe(err);
  return err == make_error(errc::storage_error)
         && str.find(db) != std::string::npos
         && (str.find("MDB_CORRUPTED") != std::string::npos
             || str.find("MDB_PAGE_NOTFOUND") != std::string::npos);
}

} // namespace

TEST_CASE("a damaged page of the log tree is named by verify before any "
          "cursor walks into it, and reads fail naming the log") {
  temp_dir dir;
  fill(dir.path());
  auto pages = read_pages(dir.path());
  auto [root, depth] = pages.root_of("log");
  REQUIRE(depth >= 2);
  REQUIRE(pages.flags(root) & p_branch);
  std::string named;
  bool readable = true;
  SECTION("the root's flags say neither branch nor leaf") {
    uint16_t zero = 0;
    patch(dir.path(), pages.offset(root) + 10, &zero, 2);
    named = "LMDB page " + std::to_string(root)
            + " of database log: flags 0 where a branch page belongs";
  }
  SECTION("the first leaf's flags say neither branch nor leaf") {
    auto leaf = pages.child(root, 0);
    REQUIRE(pages.flags(leaf) & p_leaf);
    uint16_t zero = 0;
    patch(dir.path(), pages.offset(leaf) + 10, &zero, 2);
    named = "LMDB page " + std::to_string(leaf)
            + " of database log: flags 0 where a leaf page belongs";
  }
  SECTION("a middle leaf's flags say neither branch nor leaf") {
    // A cursor steps into it from its sibling without a check of its kind
    // and LMDB aborts: verify must name it before any cursor walks.
    REQUIRE(pages.keys(root) >= 3);
    auto leaf = pages.child(root, 1);
    REQUIRE(pages.flags(leaf) & p_leaf);
    uint16_t flags = 0x04;
    patch(dir.path(), pages.offset(leaf) + 10, &flags, 2);
    named = "LMDB page " + std::to_string(leaf)
            + " of database log: flags 4 where a leaf page belongs";
  }
  SECTION("the root's last child is a page past the end of the map") {
    auto n = pages.node(root, pages.keys(root) - 1);
    uint16_t hi = 0x7fff;
    patch(dir.path(), n + 2, &hi, 2);
    named = "of database log: node " + std::to_string(pages.keys(root) - 1)
            + " points to page";
  }
  SECTION("a leaf's bounds fall outside the page") {
    // LMDB itself trusts these: only verify may look at this page.
    auto leaf = pages.child(root, 1);
    uint16_t lower = static_cast<uint16_t>(pages.page_size - 2);
    patch(dir.path(), pages.offset(leaf) + 12, &lower, 2);
    named = "LMDB page " + std::to_string(leaf)
            + " of database log: bad bounds: lower " + std::to_string(lower);
    readable = false;
  }
  auto j = open_read_only(dir.path());
  auto report = verify(*j);
  INFO((report ? list(report->problems) : describe(report.error())));
  REQUIRE(report);
  CHECK(names(*report, "", 0, 0, named));
  CHECK(report->problems.size() == 1);
  cli_names(dir.path(), named);
  if (!readable)
    return;
  for (int i = 0; i < stream_count; ++i) {
    auto evs = j->read_stream(stream_name(i));
    REQUIRE(!evs);
    INFO(describe(evs.error()));
    CHECK(names_page_damage(evs.error(), "log"));
  }
}

TEST_CASE("a damaged page header of the streams tree is named by verify, and "
          "reads fail naming the streams database") {
  temp_dir dir;
  fill(dir.path());
  auto pages = read_pages(dir.path());
  auto [root, depth] = pages.root_of("streams");
  REQUIRE(depth >= 1);
  uint16_t zero = 0;
  patch(dir.path(), pages.offset(root) + 10, &zero, 2);
  auto j = open_read_only(dir.path());
  auto report = verify(*j);
  INFO((report ? list(report->problems) : describe(report.error())));
  REQUIRE(report);
  auto named = "LMDB page " + std::to_string(root)
               + " of database streams: flags 0 where a";
  CHECK(names(*report, "", 0, 0, named));
  cli_names(dir.path(), named);
  for (int i = 0; i < stream_count; ++i) {
    auto evs = j->read_stream(stream_name(i));
    REQUIRE(!evs);
    INFO(describe(evs.error()));
    CHECK(names_page_damage(evs.error(), "streams"));
  }
}
