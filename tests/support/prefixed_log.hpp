#pragma once

// Rewrites a journal's `log` values as journal formats 2 to 4 stored them,
// for tests of journals written by earlier builds.

#include <catch2/catch.hpp>

#include <lmdb.h>

#include <string>
#include <utility>
#include <vector>

#include "cairn/journal/detail/bytes.hpp"
#include "cairn/journal/detail/record_format.hpp"

namespace cairn::test {

/// Rewrites every value of the `log` database `log` in `txn` as a (stream
/// id, version) prefix and a record of format 1. Returns how many values
/// it rewrote.
inline size_t rewrite_log_prefixed(MDB_txn* txn, MDB_dbi log) {
  namespace jd = cairn::journal::detail;
  std::vector<std::pair<std::string, std::string>> values;
  MDB_cursor* c = nullptr;
  REQUIRE(mdb_cursor_open(txn, log, &c) == 0);
  MDB_val k, v;
  for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    cairn::journal::event_record rec;
    uint64_t id = 0, seq = 0, pos = 0;
    auto data = static_cast<const char*>(v.mv_data);
    REQUIRE(static_cast<uint8_t>(data[0]) == jd::compact_record_format);
    REQUIRE(jd::decode_log_value(data, v.mv_size, id, seq, rec, pos).empty());
    std::string old(jd::prefixed_value_header + jd::encoded_size(rec), '\0');
    jd::put_be64(old.data(), id);
    jd::put_be64(old.data() + 8, seq);
    jd::encode_record(rec, pos, rec.timestamp_ns,
                      old.data() + jd::prefixed_value_header);
    values.emplace_back(std::string{static_cast<char*>(k.mv_data), k.mv_size},
                        std::move(old));
  }
  mdb_cursor_close(c);
  for (auto& [key, value] : values) {
    MDB_val vk{key.size(), key.data()}, vv{value.size(), value.data()};
    REQUIRE(mdb_put(txn, log, &vk, &vv, 0) == 0);
  }
  return values.size();
}

} // namespace cairn::test
