#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "caf/expected.hpp"

#include "cairn/journal/journal.hpp"

/// Consistency check of a whole journal, for `cairn-journal verify` and tests.
namespace cairn::journal {

/// One inconsistency found by `verify`.
struct problem {
  /// The stream concerned, empty for problems of the global log alone.
  std::string stream;
  /// The event's version in its stream, 0 when not about one event.
  uint64_t version = 0;
  /// The global position concerned, 0 when unknown.
  uint64_t position = 0;
  /// What is wrong, for humans.
  std::string what;
};

/// What `verify` checked and found.
struct verify_report {
  uint64_t streams = 0;
  uint64_t events = 0;
  uint64_t log_entries = 0;
  /// Snapshots checked.
  uint64_t snapshots = 0;
  /// Values of application tables checked.
  uint64_t table_rows = 0;
  std::vector<problem> problems;

  bool ok() const noexcept {
    return problems.empty();
  }
};

/// Checks, in one read transaction:
/// - first, LMDB's page structure of every database's tree (each page's
///   kind, bounds, nodes and child page numbers, read from the data file):
///   a damaged page is a problem naming the page and the database, and
///   ends the check, since LMDB aborts the process when a cursor steps
///   into a damaged leaf;
/// - every record of the log: its checksum, its structure, the position it
///   records, and that it belongs to a known stream and to one of the
///   stream's stored versions (`first` to `version`);
/// - that each stream's index blocks and recent positions give a position
///   to each stored version, without gap or overlap, growing with the
///   version, and that the log holds that version of the stream there;
/// - that the log holds no other entries of the stream's versions;
/// - that the stream names and ids agree: each row's id is its own and has
///   its name in `names`, and each entry of `names` belongs to a row;
/// - the `meta` database: the format version, the journal id, the layout
///   of table values, that the next stream id is above every stream's id,
///   the size of the position mark, and that it holds no other key;
/// - the checksum and structure of every snapshot and table value.
///
/// `verify_report::events` counts the versions checked, `log_entries` the
/// entries of the log.
///
/// Returns the report; an error only when the journal cannot be read at all
/// (`errc::storage_error`, e.g. naming LMDB's `MDB_CORRUPTED` and the
/// database and position it met).
/// Progress of `verify` through the log: entries checked, and the entries
/// of the log.
using verify_progress = std::function<void(uint64_t done, uint64_t total)>;

/// Stops collecting after `max_problems` problems. Calls `progress`, if
/// given, every few thousand log entries and at the end of the log.
caf::expected<verify_report> verify(const journal& j,
                                    size_t max_problems = 1000,
                                    const verify_progress& progress = {});

} // namespace cairn::journal
