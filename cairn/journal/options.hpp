#pragma once

#include <cstdint>
#include <string>

#include "caf/expected.hpp"

/// Options for opening a journal.
namespace cairn::journal {

/// What a commit waits for before it returns.
enum class sync_mode : uint8_t {
  /// fsync data and meta pages: a returned commit survives power loss.
  full,
  /// fsync data, not the meta page (`MDB_NOMETASYNC`): a crash of the
  /// machine may lose the last commits but never corrupts the journal.
  no_meta_sync,
  /// No fsync (`MDB_NOSYNC`): the OS decides; a crash of the machine may lose
  /// recent commits. A crash of the process alone loses nothing.
  none,
};

/// Returns `"full"`, `"no-meta-sync"` or `"none"`.
std::string to_string(sync_mode x);

/// Parses the names of `to_string(sync_mode)`; errors name what is accepted.
caf::expected<sync_mode> parse_sync_mode(const std::string& str);

/// Options of `journal::open`.
struct options {
  /// Initial size of the memory map in bytes. The map grows by doubling when
  /// a commit does not fit, and the commit is retried.
  uint64_t map_size = uint64_t{1} << 30;
  /// Upper bound for automatic growth of the map.
  uint64_t max_map_size = uint64_t{1} << 40;
  /// Durability of commits.
  sync_mode sync = sync_mode::full;
  /// Maximum number of concurrent reader slots (threads reading at once).
  uint32_t max_readers = 126;
  /// Open without writing anything; writes fail with `invalid_argument`.
  bool read_only = false;
  /// Create the directory and the journal when missing.
  bool create = true;
};

} // namespace cairn::journal
