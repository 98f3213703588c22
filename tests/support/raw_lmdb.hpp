#pragma once

// Raw LMDB access to a journal's files, for tests that damage or rewrite
// what the journal's API would not.

#include <catch2/catch.hpp>

#include <lmdb.h>

#include <string>

namespace cairn::test {

/// Runs `f(txn)` in a transaction on the LMDB environment at `dir`: a
/// write transaction, committed after `f`, or a read-only one if
/// `read_only`.
template <class F>
void with_raw_txn(const std::string& dir, F f, bool read_only = false) {
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == 0);
  mdb_env_set_maxdbs(env, 16);
  REQUIRE(mdb_env_open(env, dir.c_str(), read_only ? MDB_RDONLY : 0, 0644)
          == 0);
  MDB_txn* txn = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, read_only ? MDB_RDONLY : 0, &txn) == 0);
  f(txn);
  if (read_only)
    mdb_txn_abort(txn);
  else
    REQUIRE(mdb_txn_commit(txn) == 0);
  mdb_env_close(env);
}

/// Runs `f(txn, dbi)` in a write transaction on the database `db`, opened
/// with `flags` (MDB_CREATE to create it).
template <class F>
void edit_raw(const std::string& dir, const char* db, F f, unsigned flags = 0) {
  with_raw_txn(dir, [&](MDB_txn* txn) {
    MDB_dbi dbi = 0;
    REQUIRE(mdb_dbi_open(txn, db, flags, &dbi) == 0);
    f(txn, dbi);
  });
}

/// Returns the value of `key` in the database `db`, read in a read-only
/// transaction; the key must be there.
inline std::string read_raw(const std::string& dir, const char* db,
                            const std::string& key) {
  std::string result;
  with_raw_txn(
    dir,
    [&](MDB_txn* txn) {
      MDB_dbi dbi = 0;
      REQUIRE(mdb_dbi_open(txn, db, 0, &dbi) == 0);
      MDB_val k{key.size(), const_cast<char*>(key.data())}, v;
      REQUIRE(mdb_get(txn, dbi, &k, &v) == 0);
      result.assign(static_cast<const char*>(v.mv_data), v.mv_size);
    },
    true);
  return result;
}

} // namespace cairn::test
