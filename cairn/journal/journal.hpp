#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "caf/error.hpp"
#include "caf/expected.hpp"

#include "cairn/journal/event_record.hpp"
#include "cairn/journal/options.hpp"
#include "cairn/journal/write_group.hpp"

/// The Cairn journal: an event store in one LMDB environment.
///
/// # Caveats
///
/// - **One writer.** `commit`, `truncate_before` and `put_meta` serialize on
///   LMDB's writer lock. Cairn's coordinator actor is meant to be the only
///   caller of them; other threads only read. Two processes must not write
///   the same journal at once.
/// - **Readers run concurrently** with the writer, each in its own LMDB read
///   transaction that sees the state of the last commit before it started.
///   A read call never holds its transaction after it returns.
/// - **The map size** grows by doubling when a commit does not fit
///   (`MDB_MAP_FULL`), up to `options::max_map_size`; growing waits for the
///   reads under way to end.
/// - **Sync modes**: `full` survives power loss; `no_meta_sync` may lose the
///   last commits on power loss; `none` may lose more on power loss. None of
///   them loses an acknowledged commit when only the process crashes.
/// - **Fail-stop.** When a commit fails for a reason other than a validation
///   error of one group (I/O error, sync error, an injected failure), what
///   reached the disk is unknown: every later write returns
///   `errc::journal_failed` until the journal is reopened. Reads go on,
///   except after a failed write of LMDB's meta page: LMDB then refuses
///   every transaction of this handle (`MDB_PANIC`, reported as
///   `errc::storage_error`), reads included, until the journal is reopened.
///
/// # On-disk layout
///
/// Named LMDB databases, integer keys big-endian so that cursor order is
/// numeric order:
///
/// | database    | key               | value                          |
/// |-------------|-------------------|--------------------------------|
/// | `meta`      | name              | format version, journal id,    |
/// |             |                   | next stream id, position mark  |
/// | `streams`   | stream name       | u64 id, version, first; chain; |
/// |             |                   | recent positions               |
/// | `names`     | u64 stream id     | stream name                    |
/// | `log`       | u64 position      | record with stream id and seq  |
/// | `chain`     | u64 block number  | stream id, first seq, links,   |
/// |             |                   | positions                      |
/// | `index`     | u64 stream id,    | positions of seq, seq + 1, ... |
/// |             | u64 seq           | (format 2; read, not written)  |
/// | `snapshots` | stream name       | layout, CRC32C, u64 version,   |
/// |             |                   | schema version, type, payload  |
/// | `checkpoints` | name            | u64 position                   |
/// | `dedup`     | key               | u64 position of the commit     |
/// | `tables`    | table, 0, key     | CRC32C of key and value, value |
///
/// Each event is stored once, in `log`, as a record that names its stream
/// id and sequence number (see event_record.hpp). Positions only
/// grow, so a commit appends to the end of the log and touches few pages
/// however many streams it writes.
///
/// A stream finds its events through positions. Its row in `streams`
/// holds, after the fixed fields (id, version, first stored version; u64
/// big-endian), the positions of its newest events ("recent": versions
/// `version - n + 1` to `version`) not yet in an index block. When a
/// stream's recent positions complete a block (at most 32), they move to
/// a `chain` block keyed by a number that only grows, so that a commit's
/// blocks, whatever their streams, are appended to neighbouring pages.
/// Each block names the stream's block before it and one further back
/// (a skew-binary jump), and the row names the newest: the block of any
/// version is found in O(log n) lookups (see detail/journal_impl.hpp).
/// The blocks of a stream cover its versions from `first` to the first
/// recent version, without gap. Position lists are varints: the first
/// position, then the differences to the position before.
///
/// Format 5 writes each `log` value as one compact record: the stream id,
/// sequence number, position and lengths as varints, under one checksum.
/// Formats 2 to 4 wrote a 16-byte prefix (u64 stream id, u64 seq,
/// big-endian) and a record of format 1 with fixed-size fields, about 30
/// bytes more per event. The first byte tells the two apart; a journal of
/// an older format opens as format 5, keeps its older values and reads
/// both (read-only, it is read as it is).
///
/// Format 4 pads each row with zero bytes to a multiple of 8 bytes, so
/// that a row's size changes every few commits rather than at each and
/// LMDB replaces it in place. Format 3 wrote rows unpadded; a journal of
/// format 3 opens as format 5 and its rows are padded as they are
/// rewritten (read-only, it is read as it is).
///
/// Format 2 kept the blocks in `index`, keyed by stream id and first
/// version, which scattered a commit's blocks over the tree. A journal of
/// format 2 opens as format 5 (read-only, it is read as it is): its rows
/// read their older versions from `index` and start a chain with their
/// next block.
///
/// `meta` also holds the high-water mark of positions, written when
/// retention deletes the newest log entries, so that positions are never
/// handed out twice.
///
/// Snapshots and table values carry a CRC32C; a mismatch reads as
/// `errc::corrupt_record` (see cairn/journal/detail/value_format.hpp).
namespace cairn::journal {

/// The format version this build writes and reads.
constexpr uint32_t format_version = 5;

/// The oldest format this build reads; a writable open of it marks the
/// journal as `format_version`, nothing else needs rewriting.
constexpr uint32_t oldest_format_version = 2;

// -- size limits
// ----------------------------------------------------------------
//
// LMDB refuses keys over 511 bytes. Every name that becomes a key has a
// documented maximum below that; a write group that exceeds one is refused
// alone with `errc::invalid_argument` naming the name and the limit, and the
// journal goes on.

/// Most bytes of an LMDB key (`mdb_env_get_maxkeysize` of the default build).
constexpr size_t max_key_size = 511;

/// Most bytes of a stream name (`category-id`). An entity id may therefore
/// have at most `max_stream_name_size - category.size() - 1` bytes.
constexpr size_t max_stream_name_size = 255;

/// Most bytes of a checkpoint name.
constexpr size_t max_checkpoint_name_size = 255;

/// Most bytes of a dedup key.
constexpr size_t max_dedup_key_size = 500;

/// Most bytes of an application table's name, and of a key in it.
constexpr size_t max_table_name_size = 64;
constexpr size_t max_table_key_size = 440;

/// Most bytes of a snapshot's type name, and of an event's type name.
constexpr size_t max_type_name_size = 255;

/// A stream as listed by `journal::streams`.
struct stream_info {
  std::string name;
  /// Sequence number of the last event.
  uint64_t version = 0;
  /// Sequence number of the first event still stored (after retention).
  uint64_t first_version = 1;
};

/// A slice of the global log.
struct log_slice {
  /// The events, in position order.
  std::vector<stored_event> events;
  /// The position to read from next (one past the last position scanned).
  uint64_t next_position = 1;
};

/// Counts and sizes of a journal.
struct journal_stats {
  /// The journal's id (see `journal::id`).
  std::string id;
  uint64_t streams = 0;
  /// Events stored: the entries of the global log.
  uint64_t events = 0;
  uint64_t last_position = 0;
  uint64_t snapshots = 0;
  uint64_t checkpoints = 0;
  uint64_t dedup_keys = 0;
  uint64_t map_size = 0;
  /// Bytes of the map in use (last page number times page size).
  uint64_t map_used = 0;
  uint64_t page_size = 0;
  /// Bytes of the data file on disk.
  uint64_t file_size = 0;
  /// Commits done by this handle since it was opened.
  uint64_t commits = 0;
  /// Times this handle grew the map.
  uint64_t map_growths = 0;
};

/// An LMDB-backed event journal. Thread-safe: reads from any thread, writes
/// serialized (see the caveats above).
class journal {
public:
  // -- member types ----------------------------------------------------------

  /// The result of one group in a commit: its receipt, or its validation
  /// error (`conflict`, `duplicate`, `invalid_argument`, `corrupt_record`).
  using group_outcome = caf::expected<group_receipt>;

  // -- construction ----------------------------------------------------------

  ~journal();

  journal(const journal&) = delete;
  journal& operator=(const journal&) = delete;

  /// Opens (or creates) the journal in directory `dir`.
  ///
  /// Errors:
  /// - `errc::format_mismatch` when the journal has another format version;
  /// - `errc::invalid_argument` for bad options or a path that is a file;
  /// - `errc::storage_error` for LMDB errors, with mdb_strerror's text.
  static caf::expected<std::unique_ptr<journal>> open(const std::string& dir,
                                                      const options& opts = {});

  /// The directory the journal lives in.
  const std::string& path() const noexcept;

  /// The options the journal was opened with.
  const options& opts() const noexcept;

  /// The journal's id: 32 lowercase hex digits (128 random bits) drawn when
  /// the journal was created and stored in its `meta` database, so it stays
  /// the same across reopens and differs between journals. A journal made
  /// by an older build gets its id at its first open for writing; opened
  /// read-only before that, its id is empty.
  const std::string& id() const noexcept;

  // -- writes ----------------------------------------------------------------

  /// Commits `groups` in one LMDB write transaction. Each group is validated
  /// and applied in order; a group that fails validation is skipped and gets
  /// its error, the others commit; so is a group that appends to a stream
  /// whose stored row is damaged (`errc::corrupt_record`, naming it). Events
  /// without timestamp get the commit time.
  ///
  /// Invalid input refuses its own group, never the journal: a name or key
  /// over its maximum (see the size limits above) or empty gets
  /// `errc::invalid_argument` naming it, its size and the limit. Should
  /// LMDB still refuse a key or value of a validated group
  /// (`MDB_BAD_VALSIZE`, `EINVAL`), the transaction is aborted and retried
  /// without that group, which gets `errc::invalid_argument`.
  ///
  /// When the transaction outgrows LMDB's dirty page limit (`MDB_TXN_FULL`),
  /// it is aborted and retried with the groups before the one that overflowed;
  /// the rest commit in the transactions that follow, and the outcomes are
  /// returned once all of them have committed. A group that does not fit in
  /// one transaction alone gets `errc::invalid_argument` ("write group too
  /// large for one transaction: N events, B bytes"). Neither is fail-stop.
  ///
  /// Returns one outcome per group, in order, once the transaction is
  /// durable per the sync mode. Returns an error for the whole commit when
  /// the transaction fails (`errc::storage_error`, then fail-stop; groups
  /// of earlier transactions of the same call may have committed), when
  /// the journal is already failed (`errc::journal_failed`) or read-only.
  /// When the map cannot grow further (`errc::storage_error`, no
  /// fail-stop), the groups not committed get that error.
  ///
  /// REQUIRES: at most one thread calls write functions at a time.
  caf::expected<std::vector<group_outcome>>
  commit(const std::vector<write_group>& groups);

  /// Convenience for one group: its receipt or its error.
  caf::expected<group_receipt> commit(const write_group& group);

  /// Deletes the events of `stream` with versions below `version`, and their
  /// entries in the global log, in one transaction. The stream keeps its
  /// version; reads from below the cut start at the first kept event.
  /// Typically called after a snapshot at `version - 1` or later.
  ///
  /// Retention never deletes an event that a reader has not read yet: the
  /// cut is clipped, in the same transaction, to the stream's first event
  /// whose position is above the lowest position stored in the
  /// `checkpoints` table (where subscriptions, routers and projections
  /// keep the position of the last event they processed). With no
  /// checkpoint stored, nothing clips the cut.
  ///
  /// Returns the stream's first stored version after the call: `version`
  /// when the cut was not clipped, less when it was, the old first version
  /// when nothing was deleted.
  ///
  /// Errors: `errc::not_found` for an unknown stream; `invalid_argument` when
  /// `version` is beyond the stream's version plus one, or when the cut
  /// does not fit in one transaction (cut in smaller steps; the journal
  /// goes on); write errors as `commit`.
  caf::expected<uint64_t> truncate_before(const std::string& stream,
                                          uint64_t version);

  /// Makes the next commit fail after its writes, before it reaches the
  /// disk, as a failed fsync would: the commit returns
  /// `errc::storage_error` and the journal turns fail-stop. For tests.
  void inject_commit_failure();

  /// Makes the writes of group number `group` (counted from 0) of the next
  /// commit fail with `MDB_BAD_VALSIZE` after its appends were written, as
  /// when LMDB refuses a key or value that validation let through. For
  /// tests of the safety net: the group alone is refused.
  void inject_bad_value(size_t group);

  /// Makes later commits write index blocks, stream rows and `log` values
  /// as format 2 did (false: as `format_version`). For tests of journals
  /// written by earlier builds.
  void inject_format2_writes(bool on);

  /// Makes every later write transaction fail with `MDB_TXN_FULL` as soon
  /// as the groups applied in it exceed `bytes` (by
  /// `write_group::byte_size`), as LMDB does past its dirty page limit;
  /// 0 lifts the limit. For tests: LMDB 0.9 spills dirty pages to disk, so
  /// a real overflow needs a transaction of gigabytes.
  void inject_transaction_limit(size_t bytes);

  /// Returns whether the journal refuses writes after a failed commit.
  bool failed() const noexcept;

  // -- reads -----------------------------------------------------------------

  /// Reads up to `max_count` events of `stream`, starting at version `from`
  /// (or at the first stored one, if that is later).
  ///
  /// Errors: `errc::corrupt_record` naming the stream and version when a
  /// record fails its checksum or does not decode. An unknown stream reads
  /// as empty.
  caf::expected<std::vector<stored_event>>
  read_stream(const std::string& stream, uint64_t from = 1,
              size_t max_count = 1024) const;

  /// As above, into `out` (resized to the number of events read), reusing
  /// the memory of its elements: a reader that passes the same vector for
  /// every chunk allocates nothing after the first. On error `out` is
  /// empty.
  caf::error read_stream(const std::string& stream, uint64_t from,
                         size_t max_count,
                         std::vector<stored_event>& out) const;

  /// Calls `f` with each of up to `max_count` events of `stream` from
  /// version `from` (or the first stored one, if later), in version order,
  /// read in place: the `event_view` points into the journal's memory map and
  /// lives only while `f` runs; copy what must outlive it. Nothing is copied
  /// or allocated per event. Each record's checksum is verified first, as
  /// `read_stream` does, so `f` never sees a corrupt record. `f` runs inside
  /// the read transaction: keep it short and don't call the journal's write
  /// functions from it. Returns the number of events visited.
  ///
  /// Errors: as `read_stream`; the events before the corrupt one have been
  /// visited.
  caf::expected<size_t>
  visit_stream(const std::string& stream, uint64_t from, size_t max_count,
               const std::function<void(const event_view&)>& f) const;

  /// Reads up to `max_count` events of the global log from position `from`.
  /// With a non-empty `category`, only events of streams of that category
  /// are returned, and at most `max_count * 16` log entries are scanned per
  /// call: `next_position` tells where to go on.
  caf::expected<log_slice> read_all(uint64_t from = 1, size_t max_count = 1024,
                                    const std::string& category = {}) const;

  /// Returns the version of `stream`, 0 if it does not exist.
  caf::expected<uint64_t> stream_version(const std::string& stream) const;

  /// Returns every stream, ordered by name.
  caf::expected<std::vector<stream_info>> streams() const;

  /// Returns the latest snapshot of `stream`, or none. Its
  /// `schema_version` is the one it was stored with (1 for snapshots of
  /// earlier builds): the caller compares it with the state type's.
  ///
  /// Errors: `errc::corrupt_record` naming the stream when the snapshot
  /// fails its checksum or is malformed. Callers treat it as "no usable
  /// snapshot" and replay the events.
  caf::expected<std::optional<snapshot>>
  latest_snapshot(const std::string& stream) const;

  /// Returns the position stored under checkpoint `name`, or none.
  caf::expected<std::optional<uint64_t>>
  checkpoint(const std::string& name) const;

  /// Returns whether dedup key `key` exists.
  caf::expected<bool> has_dedup_key(const std::string& key) const;

  /// Returns the value of `key` in application table `table`, or none.
  ///
  /// Errors: `errc::corrupt_record` naming the table and key when the
  /// stored value fails its checksum.
  caf::expected<std::optional<std::string>>
  table_get(const std::string& table, const std::string& key) const;

  /// Returns all key/value pairs of application table `table`, key order.
  /// Errors: as `table_get`, for the first damaged value.
  caf::expected<std::vector<std::pair<std::string, std::string>>>
  table_scan(const std::string& table) const;

  /// Returns the position of the last committed event, 0 if none.
  caf::expected<uint64_t> last_position() const;

  /// Returns counts and sizes.
  caf::expected<journal_stats> stats() const;

  // -- raw access for tools --------------------------------------------------

  /// Raw stored bytes of one event, unchecked: its whole `log` value, of
  /// either layout (see event_record.hpp); for verification tools.
  /// Returns none if the stream or version is not stored.
  caf::expected<std::optional<std::string>> raw_event(const std::string& stream,
                                                      uint64_t version) const;

  struct impl;

  /// The internals, for cairn/journal/detail/ code (verification) only.
  const impl& internals() const noexcept {
    return *impl_;
  }

private:
  explicit journal(std::unique_ptr<impl> ptr);

  std::unique_ptr<impl> impl_;
};

} // namespace cairn::journal
