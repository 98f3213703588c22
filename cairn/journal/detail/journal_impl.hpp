#pragma once

#include <algorithm>
#include <atomic>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "caf/expected.hpp"

#include "cairn/journal/detail/lmdb.hpp"
#include "cairn/journal/journal.hpp"

namespace cairn::journal {

/// The state behind a `journal` handle. Shared by the journal's sources
/// (journal.cpp, commit_builder.cpp, reads.cpp, retention.cpp,
/// stream_rows.cpp) and verify.cpp.
struct journal::impl {
  std::string dir;
  options opts;
  /// The journal id from `meta`; empty for an old journal opened read-only.
  std::string id;
  /// Whether `tables` values carry their checksum (see value_format.hpp):
  /// false only for a journal of an earlier build opened read-only.
  bool tables_checked = true;
  detail::env env;
  MDB_dbi meta = 0;
  MDB_dbi streams = 0;
  MDB_dbi names = 0;
  /// Index blocks of format 2, keyed by stream id and first version; read
  /// for the versions of a stream below its row's `chain_first`.
  MDB_dbi index = 0;
  /// Index blocks of format 3, keyed by a number that only grows (see
  /// `chain_block`).
  MDB_dbi chain = 0;
  /// False for a journal of format 2 opened read-only, which has no
  /// `chain` database.
  bool has_chain = true;
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
  /// Bytes of groups (by `write_group::byte_size`) past which a write
  /// transaction fails with MDB_TXN_FULL; 0 for no limit. For tests.
  std::atomic<size_t> transaction_limit{0};
  /// 1 + the index of the group of the next commit whose writes fail with
  /// MDB_BAD_VALSIZE after its appends; 0 for none. For tests.
  std::atomic<size_t> inject_bad_value{0};
  /// Whether commits write index blocks, rows and `log` values as format
  /// 2 did. For tests of the upgrade from format 2.
  std::atomic<bool> format2_writes{false};
  std::atomic<uint64_t> commits{0};
  std::atomic<uint64_t> map_growths{0};

  /// The counters that the last commit of this process left, for the write
  /// transaction right after it: LMDB numbers write transactions, so a
  /// transaction whose id is `txn_id + 1` follows it with no other write
  /// between (retention's, another process's), and need not look them up.
  /// Guarded by `write_mutex`.
  struct commit_counters {
    /// LMDB's id of the transaction that left these; 0 for none.
    size_t txn_id = 0;
    uint64_t next_position = 0;
    uint64_t next_stream_id = 0;
    /// The number of the next `chain` block; 0 when not looked up.
    uint64_t next_block = 0;
  } after_commit;

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

namespace detail {

/// Most positions in one index block, and in a row's recent positions.
constexpr size_t index_block_events = 32;

/// Positions that complete a block as this build writes them: a row holds
/// fewer, and is smaller, than format 2's (whose rows may hold up to
/// `index_block_events`).
constexpr size_t block_events = 16;

/// Returns whether appending version `seq` to the recent positions of
/// stream `id`, which then hold `n` positions, completes an index block.
/// Block boundaries are staggered by stream id so that streams written in
/// step do not all fill their blocks in the same commit.
constexpr bool block_complete(uint64_t id, uint64_t seq, size_t n) noexcept {
  return n >= block_events || (seq + id) % block_events == 0;
}

/// Up to `index_block_events` positions, stored inline.
class recent_positions {
public:
  size_t size() const noexcept {
    return size_;
  }

  bool empty() const noexcept {
    return size_ == 0;
  }

  bool full() const noexcept {
    return size_ == index_block_events;
  }

  const uint64_t* data() const noexcept {
    return xs_;
  }

  const uint64_t* begin() const noexcept {
    return xs_;
  }

  const uint64_t* end() const noexcept {
    return xs_ + size_;
  }

  uint64_t operator[](size_t i) const noexcept {
    return xs_[i];
  }

  /// REQUIRES: `!full()`.
  void push_back(uint64_t x) noexcept {
    xs_[size_++] = x;
  }

  void clear() noexcept {
    size_ = 0;
  }

  /// Drops the first `n` positions. REQUIRES: `n <= size()`.
  void drop_front(size_t n) noexcept {
    std::copy(xs_ + n, xs_ + size_, xs_);
    size_ -= n;
  }

private:
  uint64_t xs_[index_block_events];
  size_t size_ = 0;
};

} // namespace detail

/// A stream's row in the `streams` database.
///
/// The positions of versions `first` to `version` are found in three
/// places, in version order: the `index` blocks of format 2 (versions
/// below `chain_first`), the stream's chain of blocks in `chain` (from
/// `chain_first` to `tail_first() - 1`), then `recent`.
struct stream_row {
  uint64_t id = 0;
  uint64_t version = 0;
  uint64_t first = 1;
  /// The number of the stream's newest `chain` block; 0 if it has none.
  uint64_t newest = 0;
  /// The first version of the stream's chain, or where it will start:
  /// `tail_first()` while `newest` is 0.
  uint64_t chain_first = 1;
  /// Log positions of the stream's newest events, versions
  /// `tail_first()` to `version`, not yet in an index block.
  detail::recent_positions recent;

  /// The version of the first position in `recent`; `version + 1` when
  /// `recent` is empty. The index blocks hold versions `first` to
  /// `tail_first() - 1`.
  uint64_t tail_first() const noexcept {
    return version + 1 - recent.size();
  }
};

namespace detail {

/// The first byte of a `streams` value of formats 3 and 4. A value of
/// format 2 starts with the high byte of a stream id, 0.
constexpr uint8_t row_layout = 0x83;

/// Format 4 pads a row with zero bytes to a multiple of this. A row grows
/// by a position with each commit to its stream; padded, its size changes
/// every few commits instead of at each, and LMDB replaces a row of the
/// same size in place rather than deleting and inserting it.
constexpr size_t row_alignment = 8;

/// Decodes a `streams` value of format 4: `row_layout`, then varints id,
/// version, first, `newest` and `chain_first`, then the positions of
/// `recent` (see `encode_positions`), then zero bytes up to a multiple of
/// `row_alignment` bytes (format 3: none); or of format 2: u64 id, u64
/// version, u64 first (big-endian), then the positions of `recent`. A row
/// of format 2 has no chain: its `chain_first` is its `tail_first()`.
/// False if it is malformed or inconsistent (`recent` longer than the
/// stored versions, a chain outside them).
bool decode_stream_row(std::string_view bytes, stream_row& out);

/// Most bytes of an encoded `streams` value.
constexpr size_t max_row_size
  = 1 + 5 * 10 + 10 * index_block_events + row_alignment - 1;

/// Encodes `row` as a `streams` value at `out`, which has room for
/// `max_row_size` bytes: as format 4, or as format 2 if `format2` (for
/// tests; REQUIRES `row.newest == 0`). Returns the size.
size_t encode_stream_row(const stream_row& row, char* out,
                         bool format2 = false) noexcept;

// -- the chain of index blocks ----------------------------------------------
//
// A `chain` value holds up to `index_block_events` positions of one
// stream, keyed by its block number (u64 big-endian), which grows with
// every block written: a commit's blocks go to the end of the tree, onto
// neighbouring pages, whatever streams they belong to. Each block names the
// stream's block before it (`prev`) and one further back (`jump`, as in
// Myers' skew-binary lists), so that the block of any version is found from
// the newest in O(log n) lookups. All fields are varints:
//
// | field        |                                                       |
// |--------------|-------------------------------------------------------|
// | stream       | the stream id                                         |
// | first        | the version of the first position                     |
// | depth        | blocks of the chain before this one                   |
// | prev         | the number of the block before; 0 for none            |
// | jump         | the number of a block further back; 0 for none        |
// | jump_first   | that block's `first`                                  |
// | jump_depth   | that block's `depth`                                  |
// | positions    | as `encode_positions`                                 |

/// A decoded `chain` value; `positions` views its encoded positions.
struct chain_block {
  uint64_t number = 0;
  uint64_t stream = 0;
  uint64_t first = 0;
  uint64_t depth = 0;
  uint64_t prev = 0;
  uint64_t jump = 0;
  uint64_t jump_first = 0;
  uint64_t jump_depth = 0;
  /// The encoded positions.
  std::string_view positions;
  /// How many positions `positions` holds.
  size_t count = 0;

  /// One past the last version of the block.
  uint64_t end() const noexcept {
    return first + count;
  }
};

/// Most bytes of an encoded `chain` value.
constexpr size_t max_chain_block_size = 7 * 10 + 10 * index_block_events;

/// Decodes the `chain` value `bytes` of block `number`, counting its
/// positions without decoding them. False if it is malformed: a truncated
/// varint, no positions or more than `index_block_events`, links that do
/// not point back. Positions that do not decode (a zero difference, an
/// overflow) are found by their readers.
bool decode_chain_block(uint64_t number, std::string_view bytes,
                        chain_block& out);

/// Encodes block `b` with positions `xs[0..n)` at `out`, which has room
/// for `max_chain_block_size` bytes. Returns the size.
size_t encode_chain_block(const chain_block& b, const uint64_t* xs, size_t n,
                          char* out) noexcept;

/// Reads block `number` through cursor `c` of `chain`. Returns an LMDB
/// error code; `ok` tells whether the block exists and decodes.
int read_chain_block(MDB_cursor* c, uint64_t number, chain_block& out,
                     bool& ok);

/// Returns whether the `log` value `v` belongs to version `seq` of stream
/// `id`.
bool log_entry_is(const MDB_val& v, uint64_t id, uint64_t seq) noexcept;

/// Appends to `out` the log positions of versions `from` to
/// `from + count - 1` of the stream of `row`: from its `index` blocks, its
/// chain, then from `row.recent`. Stops at the first version without a
/// position and stores it in `missing` (else 0). Returns an LMDB error
/// code.
///
/// REQUIRES: `row.first <= from` and `from + count - 1 <= row.version`.
int find_positions(MDB_txn* t, const journal::impl& self, const stream_row& row,
                   uint64_t from, uint64_t count, std::vector<uint64_t>& out,
                   uint64_t& missing);

/// Collects in `out`, newest first, the chain blocks of `row` that hold
/// versions `from` to `to - 1`: from the newest block back to the one that
/// holds `to - 1` (by the jumps if `jumps`, else block by block), then
/// block by block. False if one is missing or malformed, or the blocks
/// leave a gap. Returns an LMDB error code through `rc`.
///
/// REQUIRES: `row.chain_first <= from < to <= row.tail_first()`.
bool collect_chain(MDB_cursor* c, const stream_row& row, uint64_t from,
                   uint64_t to, std::vector<chain_block>& out, int& rc,
                   bool jumps = true);

// -- the meta database
// ----------------------------------------------------------

/// Key of the format version (u32 little-endian) in `meta`.
constexpr std::string_view format_key = "format";

/// Key of the journal id (see `journal::id`) in `meta`.
constexpr std::string_view journal_id_key = "journal-id";

/// Key of the layout of `tables` values in `meta`: present, with value
/// `table_values_layout`, once every value carries its checksum.
constexpr std::string_view table_values_key = "table-values";

/// The value of `table_values_key`.
constexpr std::string_view table_values_layout = "crc32c";

/// Key of the next stream id (u64 big-endian) in `meta`.
constexpr std::string_view next_id_key = "next-stream-id";

/// Key of the high-water mark of positions in `meta`, written when
/// retention deletes the newest log entries, so that positions are never
/// handed out twice.
constexpr std::string_view next_position_key = "next-position";

/// Reads the position mark of `meta` into `out`: 0 when absent. Returns an
/// LMDB error code.
int read_position_mark(MDB_txn* t, MDB_dbi meta, uint64_t& out);

/// Returns the `tables` key of `key` in table `table`: the table name, a NUL
/// byte, then the key.
std::string table_key(const std::string& table, const std::string& key);

} // namespace detail

} // namespace cairn::journal
