#pragma once

#include <atomic>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "caf/expected.hpp"

#include "journal/detail/lmdb.hpp"
#include "journal/journal.hpp"

namespace cairn::journal {

/// The state behind a `journal` handle. Shared by journal.cpp and verify.cpp.
struct journal::impl {
  std::string dir;
  options opts;
  detail::env env;
  MDB_dbi meta = 0;
  MDB_dbi streams = 0;
  MDB_dbi names = 0;
  MDB_dbi events = 0;
  MDB_dbi log = 0;
  MDB_dbi snapshots = 0;
  MDB_dbi checkpoints = 0;
  MDB_dbi dedup = 0;
  MDB_dbi tables = 0;

  /// Serializes writers.
  std::mutex write_mutex;
  /// Held shared by every transaction, exclusive while the map grows:
  /// LMDB forbids changing the map size while this process has a
  /// transaction open.
  mutable std::shared_mutex resize_mutex;

  std::atomic<bool> failed{false};
  std::atomic<bool> inject_failure{false};
  std::atomic<uint64_t> commits{0};
  std::atomic<uint64_t> map_growths{0};

  /// Adopts a map size grown by another process. Takes `resize_mutex`
  /// exclusive: REQUIRES that the caller holds no transaction.
  void adopt_map_size() const;

  /// Begins a read transaction and takes `guard` (shared on
  /// `resize_mutex`), adopting a map grown by another process first if
  /// needed.
  caf::error read_txn(std::shared_lock<std::shared_mutex>& guard,
                      detail::txn& out) const;

  /// Doubles the map size (up to the maximum). Takes `resize_mutex`.
  caf::error grow_map();
};

/// A stream's row in the `streams` database.
struct stream_row {
  uint64_t id = 0;
  uint64_t version = 0;
  uint64_t first = 1;
};

namespace detail {

/// Decodes a `streams` value; false if its size is wrong.
bool decode_stream_row(std::string_view bytes, stream_row& out) noexcept;

} // namespace detail

} // namespace cairn::journal
