#include "cairn/journal/journal.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>
#include <unordered_set>

#include "cairn/journal/detail/bytes.hpp"
#include "cairn/journal/detail/journal_impl.hpp"
#include "cairn/journal/detail/record_format.hpp"
#include "cairn/journal/detail/value_format.hpp"
#include "cairn/journal/errc.hpp"

namespace cairn::journal {

using detail::get_be64;
using detail::put_be64;
using detail::to_val;
using detail::to_view;

// -- writes -------------------------------------------------------------------

namespace {

int64_t now_ns() {
  using namespace std::chrono;
  return duration_cast<nanoseconds>(system_clock::now().time_since_epoch())
    .count();
}

/// Returns `name` for an error text: at most 40 bytes of it, with
/// non-printable bytes escaped, and "..." when cut.
std::string quoted(const std::string& name) {
  constexpr size_t max_shown = 40;
  static constexpr char digits[] = "0123456789abcdef";
  std::string result = "'";
  for (size_t i = 0; i < name.size() && i < max_shown; ++i) {
    auto c = static_cast<unsigned char>(name[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      result += static_cast<char>(c);
    } else {
      result += "\\x";
      result += digits[c >> 4];
      result += digits[c & 0xf];
    }
  }
  if (name.size() > max_shown)
    result += "...";
  result += '\'';
  return result;
}

/// Returns `invalid_argument` for `what` of `size` bytes over `limit`, with
/// `context` naming the offending thing.
caf::error too_long(const char* what, size_t size, size_t limit,
                    const std::string& context) {
  return make_error(errc::invalid_argument,
                    std::string{what} + " of " + std::to_string(size)
                      + " bytes exceeds the maximum of " + std::to_string(limit)
                      + " (" + context + ")");
}

/// Returns whether `rc`, returned by a put of a validated group, was caused
/// by the group's input (a key or value LMDB refuses) rather than by the
/// storage: the group is refused, the journal goes on.
bool input_error(int rc) noexcept {
  return rc == MDB_BAD_VALSIZE || rc == EINVAL;
}

/// One write transaction's work: validation against the state it has built
/// so far, then the puts. Lives for one attempt of `journal::commit`.
class commit_builder {
public:
  commit_builder(journal::impl& self, MDB_txn* t) : self_(self), txn_(t) {
    // nop
  }

  /// Makes the writes of group `index - 1` fail after its appends (see
  /// `journal::inject_bad_value`); 0 for none.
  void inject_bad_value(size_t index) noexcept {
    bad_group_ = index;
  }

  /// Loads the counters this commit continues from: those the commit
  /// before left when nothing was written since, else from the journal.
  caf::error init() {
    format2_ = self_.format2_writes.load();
    txn_id_ = mdb_txn_id(txn_);
    if (auto& last = self_.after_commit;
        last.txn_id != 0 && txn_id_ == last.txn_id + 1) {
      next_position_ = last.next_position;
      next_stream_id_ = last.next_stream_id;
      next_block_ = last.next_block;
    } else if (auto err = look_up_counters()) {
      return err;
    }
    first_position_ = next_position_;
    if (auto rc = log_cursor_.open(txn_, self_.log); rc != MDB_SUCCESS)
      return detail::lmdb_error(rc, "mdb_cursor_open(log)");
    return caf::none;
  }

  /// Reads the next position (after the log's last entry and the
  /// position mark) and the next stream id from the journal.
  caf::error look_up_counters() {
    detail::cursor c;
    if (auto rc = c.open(txn_, self_.log); rc != MDB_SUCCESS)
      return detail::lmdb_error(rc, "mdb_cursor_open(log)");
    MDB_val k, v;
    auto rc = c.get(k, v, MDB_LAST);
    if (rc == MDB_SUCCESS)
      next_position_ = get_be64(static_cast<const char*>(k.mv_data)) + 1;
    else if (rc != MDB_NOTFOUND)
      return detail::lmdb_error(rc, "mdb_cursor_get(log)");
    uint64_t mark = 0;
    if (auto mrc = detail::read_position_mark(txn_, self_.meta, mark))
      return detail::lmdb_error(mrc, "mdb_get(meta)");
    next_position_ = std::max(next_position_, mark);
    MDB_val key = to_val(detail::next_id_key);
    rc = mdb_get(txn_, self_.meta, &key, &v);
    if (rc == MDB_SUCCESS && v.mv_size == 8)
      next_stream_id_ = get_be64(static_cast<const char*>(v.mv_data));
    else if (rc != MDB_NOTFOUND && rc != MDB_SUCCESS)
      return detail::lmdb_error(rc, "mdb_get(meta)");
    // The names database's last id bounds it from below: a counter that is
    // damaged (too low, of a bad size, gone) must not make a new stream
    // reuse an id, nor fail the commit (the names' append would), which
    // would stop the journal for a record that `verify` names.
    detail::cursor names;
    if (auto nrc = names.open(txn_, self_.names); nrc != MDB_SUCCESS)
      return detail::lmdb_error(nrc, "mdb_cursor_open(names)");
    rc = names.get(k, v, MDB_LAST);
    if (rc == MDB_SUCCESS && k.mv_size == 8)
      next_stream_id_ = std::max(
        next_stream_id_, get_be64(static_cast<const char*>(k.mv_data)) + 1);
    else if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
      return detail::lmdb_error(rc, "mdb_cursor_get(names)");
    return caf::none;
  }

  /// Keeps the counters for the next commit. REQUIRES: the transaction
  /// committed.
  void committed() noexcept {
    // Only a transaction that wrote surely took its id: LMDB commits one
    // that wrote nothing without a number, and the next writer, perhaps
    // another process, takes it.
    if (next_position_ != first_position_)
      self_.after_commit = {txn_id_, next_position_, next_stream_id_,
                            next_block_};
    else
      self_.after_commit = {};
  }

  /// Loads the rows of every stream that `groups` append to, in name order
  /// with one cursor: neighbouring rows share their pages.
  caf::error preload(const std::vector<write_group>& groups) {
    size_t total = 0;
    offsets_.reserve(groups.size());
    for (auto& g : groups) {
      offsets_.push_back(total);
      total += g.appends.size();
    }
    // Sorted by name; the first 16 bytes, as big-endian numbers, decide
    // most comparisons without a call to memcmp.
    struct entry {
      uint64_t prefix[2];
      std::string_view name;
      size_t index;
    };
    std::vector<entry> names;
    names.reserve(total);
    for (auto& g : groups)
      for (auto& a : g.appends) {
        char buf[16] = {};
        std::memcpy(buf, a.stream.data(),
                    std::min<size_t>(16, a.stream.size()));
        names.push_back(
          entry{{get_be64(buf), get_be64(buf + 8)}, a.stream, names.size()});
      }
    // A merge sort: names that differ in their last characters only
    // ("order-9", "order-10", ...) drive std::sort's quicksort into its
    // heapsort fallback, at twice the time.
    std::stable_sort(names.begin(), names.end(), [](const entry& x,
                                                    const entry& y) {
      if (x.prefix[0] != y.prefix[0])
        return x.prefix[0] < y.prefix[0];
      if (x.prefix[1] != y.prefix[1])
        return x.prefix[1] < y.prefix[1];
      return x.name < y.name;
    });
    slots_.resize(total);
    rows_.reserve(total);
    detail::cursor c;
    if (auto rc = c.open(txn_, self_.streams))
      return detail::lmdb_error(rc, "mdb_cursor_open(streams)");
    // Whether `c` sits on the row found last, whose name is below the next.
    bool on_row = false;
    for (auto& [prefix, name, index] : names) {
      if (rows_.empty() || rows_.back().name != name) {
        auto& row = rows_.emplace_back();
        row.name = name;
        // Empty names and names over the maximum fail validation; a name
        // over LMDB's key size would fail the lookup.
        if (!name.empty() && name.size() <= max_stream_name_size) {
          MDB_val v;
          auto rc = seek_row(c, on_row, name, v);
          on_row = rc == MDB_SUCCESS;
          if (rc == MDB_SUCCESS) {
            // A row that does not decode refuses the groups that append to
            // its stream (see `validate`); the other streams go on.
            row.damaged = !detail::decode_stream_row(to_view(v), row.value);
            row.exists = true;
            row.stored = true;
          } else if (rc != MDB_NOTFOUND) {
            return detail::lmdb_error(rc, "mdb_cursor_get(streams)");
          }
        } else {
          on_row = false;
        }
      }
      slots_[index] = rows_.size() - 1;
    }
    return caf::none;
  }

  /// Finds the row of `name` with `c`, into `v`. When `on_row`, `c` sits on
  /// a row whose name is below `name`: the row after it, the next in name
  /// order, is tried first, and one past `name` means that `name` has no
  /// row. Rows read in name order, as a commit's are, mostly neighbour.
  static int seek_row(detail::cursor& c, bool on_row, std::string_view name,
                      MDB_val& v) {
    if (on_row) {
      MDB_val nk;
      auto rc = c.get(nk, v, MDB_NEXT);
      if (rc != MDB_SUCCESS)
        return rc; // MDB_NOTFOUND: past the last row
      auto next = to_view(nk);
      if (next == name)
        return MDB_SUCCESS;
      if (next > name)
        return MDB_NOTFOUND;
    }
    MDB_val k = to_val(name);
    return c.get(k, v, MDB_SET);
  }

  /// Validates `group`; returns its validation error, or an empty error.
  /// A storage error is reported through `fatal`.
  caf::error validate(size_t index, const write_group& group,
                      caf::error& fatal) {
    // Sizes first: a name over its limit must not reach LMDB.
    if (auto err = check_sizes(group))
      return err;
    auto slot = slots_.data() + offsets_[index];
    for (auto& a : group.appends) {
      // An earlier append of this group to the same stream counts.
      auto& row = rows_[*slot++];
      if (row.damaged)
        return make_error(errc::corrupt_record,
                          "stream " + a.stream
                            + ": its row in the streams database does not "
                              "decode, so its version is unknown; appends "
                              "to it are refused, the other streams go on "
                              "(verify names the damage)");
      auto current = row.overlay_group == index + 1
                       ? row.overlay
                       : (row.exists ? row.value.version : 0);
      if (!a.expected.matches(current))
        return make_error(errc::conflict,
                          "stream " + a.stream + " expected version "
                            + a.expected.to_string() + ", is at "
                            + std::to_string(current));
      row.overlay = current + a.events.size();
      row.overlay_group = index + 1;
    }
    group_keys_.clear();
    for (auto& k : group.dedup_keys) {
      if (!group_keys_.insert(k).second || commit_keys_.count(k) > 0)
        return make_error(errc::duplicate, "dedup key " + k + " exists");
      MDB_val key = to_val(k), v;
      auto rc = mdb_get(txn_, self_.dedup, &key, &v);
      if (rc == MDB_SUCCESS)
        return make_error(errc::duplicate, "dedup key " + k + " exists");
      if (rc != MDB_NOTFOUND) {
        fatal = detail::lmdb_error(rc, "mdb_get(dedup)");
        return caf::none;
      }
    }
    return caf::none;
  }

  /// Checks every name and key of `group` against its documented maximum
  /// (journal.hpp) and refuses empty ones.
  static caf::error check_sizes(const write_group& group) {
    for (auto& a : group.appends) {
      if (a.stream.empty())
        return make_error(errc::invalid_argument, "an append has an empty "
                                                  "stream name");
      if (a.stream.size() > max_stream_name_size)
        return too_long("stream name", a.stream.size(), max_stream_name_size,
                        "stream " + quoted(a.stream));
      for (auto& e : a.events) {
        if (e.type.empty())
          return make_error(errc::invalid_argument,
                            "an event for stream " + a.stream
                              + " has an empty type name");
        if (e.type.size() > max_type_name_size)
          return too_long("event type name", e.type.size(), max_type_name_size,
                          "stream " + quoted(a.stream) + ", type "
                            + quoted(e.type));
        if (detail::encoded_size(e) == 0)
          return make_error(errc::invalid_argument,
                            "an event of type " + e.type + " for stream "
                              + a.stream
                              + " has a field over its size limit (ids of "
                                "at most 65535 bytes, metadata and payload "
                                "under 4 GiB)");
      }
    }
    for (auto& k : group.dedup_keys) {
      if (k.empty())
        return make_error(errc::invalid_argument, "a dedup key is empty");
      if (k.size() > max_dedup_key_size)
        return too_long("dedup key", k.size(), max_dedup_key_size,
                        "key " + quoted(k));
    }
    for (auto& s : group.snapshots) {
      if (s.stream.empty())
        return make_error(errc::invalid_argument,
                          "a snapshot has an empty stream name");
      if (s.stream.size() > max_stream_name_size)
        return too_long("snapshot stream name", s.stream.size(),
                        max_stream_name_size, "stream " + quoted(s.stream));
      if (s.type.size() > max_type_name_size)
        return too_long("snapshot type name", s.type.size(), max_type_name_size,
                        "stream " + quoted(s.stream) + ", type "
                          + quoted(s.type));
    }
    for (auto& t : group.tables) {
      if (t.table.empty() || t.table.find('\0') != std::string::npos)
        return make_error(errc::invalid_argument,
                          "a table write has an empty table name or one "
                          "with a NUL byte");
      if (t.table.size() > max_table_name_size)
        return too_long("table name", t.table.size(), max_table_name_size,
                        "table " + quoted(t.table));
      if (t.key.size() > max_table_key_size)
        return too_long("table key", t.key.size(), max_table_key_size,
                        "table " + quoted(t.table) + ", key " + quoted(t.key));
    }
    for (auto& c : group.checkpoints) {
      if (c.first.empty())
        return make_error(errc::invalid_argument, "a checkpoint name is empty");
      if (c.first.size() > max_checkpoint_name_size)
        return too_long("checkpoint name", c.first.size(),
                        max_checkpoint_name_size,
                        "checkpoint " + quoted(c.first));
    }
    return caf::none;
  }

  /// Writes a validated group. Returns an LMDB error (MDB_MAP_FULL
  /// included) through `rc`.
  int apply(size_t index, const write_group& group, int64_t now,
            group_receipt& receipt) {
    if (auto limit = self_.transaction_limit.load(); limit > 0) {
      applied_bytes_ += group.byte_size();
      if (applied_bytes_ > limit)
        return MDB_TXN_FULL; // as LMDB past its dirty page limit
    }
    receipt.appends.clear();
    receipt.appends.reserve(group.appends.size());
    auto slot = slots_.data() + offsets_[index];
    for (auto& a : group.appends) {
      auto& row = rows_[*slot++];
      if (!row.exists) {
        row.exists = true;
        row.value.id = next_stream_id_++;
        row.value.version = 0;
        row.value.first = 1;
        row.value.newest = 0;
        row.value.chain_first = 1;
        ids_dirty_ = true;
        detail::u64_key idk{row.value.id};
        MDB_val k = to_val(idk.bytes, 8), v = to_val(a.stream);
        if (auto rc = mdb_put(txn_, self_.names, &k, &v, MDB_APPEND))
          return rc;
      }
      append_result res;
      res.stream = a.stream;
      res.first_version = a.events.empty() ? 0 : row.value.version + 1;
      res.first_position = a.events.empty() ? 0 : next_position_;
      for (auto& e : a.events) {
        auto seq = ++row.value.version;
        auto pos = next_position_++;
        // The record goes once, at the end of the log: appends fill pages
        // in order instead of touching one page per stream.
        detail::u64_key pk{pos};
        MDB_val k = to_val(pk.bytes, 8);
        auto stamp = e.timestamp_ns != 0 ? e.timestamp_ns : now;
        MDB_val v{format2_ ? detail::prefixed_value_header
                               + detail::encoded_size(e)
                           : detail::log_value_size(e, row.value.id, seq, pos),
                  nullptr};
        if (auto rc = mdb_cursor_put(log_cursor_.get(), &k, &v,
                                     MDB_RESERVE | MDB_APPEND))
          return rc;
        auto out = static_cast<char*>(v.mv_data);
        if (format2_) {
          put_be64(out, row.value.id);
          put_be64(out + 8, seq);
          detail::encode_record(e, pos, stamp,
                                out + detail::prefixed_value_header);
        } else {
          detail::encode_log_value(e, row.value.id, seq, pos, stamp, out);
        }
        row.value.recent.push_back(pos);
        if (detail::block_complete(row.value.id, seq, row.value.recent.size()))
          if (auto rc = flush_block(row.value))
            return rc;
      }
      row.dirty = true;
      res.last_version = row.value.version;
      receipt.appends.push_back(std::move(res));
    }
    if (bad_group_ == index + 1)
      return MDB_BAD_VALSIZE; // injected, after the appends were written
    for (auto& [name, pos] : group.checkpoints) {
      char buf[8];
      put_be64(buf, pos);
      MDB_val k = to_val(name), v = to_val(buf, 8);
      if (auto rc = mdb_put(txn_, self_.checkpoints, &k, &v, 0))
        return rc;
    }
    for (auto& key : group.dedup_keys) {
      char buf[8];
      put_be64(buf, next_position_ - 1);
      MDB_val k = to_val(key), v = to_val(buf, 8);
      if (auto rc = mdb_put(txn_, self_.dedup, &k, &v, 0))
        return rc;
      commit_keys_.insert(key);
    }
    for (auto& s : group.snapshots)
      if (auto rc = put_snapshot(s))
        return rc;
    for (auto& t : group.tables) {
      auto key = detail::table_key(t.table, t.key);
      MDB_val k = to_val(key);
      if (t.erase) {
        auto rc = mdb_del(txn_, self_.tables, &k, nullptr);
        if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
          return rc;
      } else {
        auto value = detail::encode_table_value(key, t.value);
        MDB_val v = to_val(value);
        if (auto rc = mdb_put(txn_, self_.tables, &k, &v, 0))
          return rc;
      }
    }
    return MDB_SUCCESS;
  }

  /// Closes the write cursors. REQUIRES: called before the transaction
  /// commits or aborts.
  void close_cursors() noexcept {
    log_cursor_.close();
    chain_cursor_.close();
  }

  /// Stores the stream rows and counters changed by the applied groups.
  int finish() {
    // In name order, through one cursor: each put starts from the page of
    // the put before.
    detail::cursor c;
    if (auto rc = c.open(txn_, self_.streams))
      return rc;
    bool on_row = false; // `c` sits on the row written last
    for (auto& row : rows_) {
      if (!row.dirty)
        continue;
      char buf[detail::max_row_size];
      MDB_val k = to_val(row.name);
      MDB_val v
        = to_val(buf, detail::encode_stream_row(row.value, buf, format2_));
      // A stored row is replaced where the cursor finds it (mostly one
      // step after the row written last), without a second search.
      unsigned flags = 0;
      if (row.stored) {
        MDB_val old;
        auto rc = seek_row(c, on_row, row.name, old);
        if (rc == MDB_SUCCESS)
          flags = MDB_CURRENT;
        else if (rc != MDB_NOTFOUND)
          return rc;
      }
      if (auto rc = mdb_cursor_put(c.get(), &k, &v, flags))
        return rc;
      on_row = true;
    }
    c.close();
    if (ids_dirty_) {
      char buf[8];
      put_be64(buf, next_stream_id_);
      MDB_val k = to_val(detail::next_id_key), v = to_val(buf, 8);
      if (auto rc = mdb_put(txn_, self_.meta, &k, &v, 0))
        return rc;
    }
    return MDB_SUCCESS;
  }

private:
  struct cached_row {
    /// The stream's name, in one of the groups of the commit.
    std::string_view name;
    stream_row value;
    bool exists = false;
    /// Whether the row was stored before this commit.
    bool stored = false;
    /// Whether the stored row does not decode.
    bool damaged = false;
    bool dirty = false;
    /// The version after the appends to the stream of the group under
    /// validation, if `overlay_group` is 1 + that group's index.
    uint64_t overlay = 0;
    size_t overlay_group = 0;
  };

  /// Moves the `recent` positions of `row` into a new block at the end of
  /// its chain.
  int flush_block(stream_row& row) {
    if (format2_)
      return flush_format2_block(row);
    if (chain_cursor_.get() == nullptr)
      // The first block of this commit: most commits flush none.
      if (auto rc = chain_cursor_.open(txn_, self_.chain))
        return rc;
    if (next_block_ == 0) {
      MDB_val k, v;
      auto rc = chain_cursor_.get(k, v, MDB_LAST);
      if (rc == MDB_SUCCESS && k.mv_size == 8)
        next_block_ = get_be64(static_cast<const char*>(k.mv_data)) + 1;
      else if (rc == MDB_NOTFOUND || rc == MDB_SUCCESS)
        next_block_ = 1;
      else
        return rc;
    }
    detail::chain_block b;
    b.stream = row.id;
    b.first = row.tail_first();
    if (row.newest != 0) {
      // Link to the newest block; the jump goes to where the newest one's
      // jump goes if that keeps the skew-binary shape, else to the newest.
      detail::chain_block p, j;
      bool p_ok = false, j_ok = false;
      if (auto rc
          = detail::read_chain_block(chain_cursor_.get(), row.newest, p, p_ok))
        return rc;
      if (p_ok && p.jump != 0)
        if (auto rc
            = detail::read_chain_block(chain_cursor_.get(), p.jump, j, j_ok))
          return rc;
      if (!p_ok || p.stream != row.id || p.end() != b.first) {
        // A damaged chain (verify names it, reads of the versions before
        // fail): a new chain starts here.
        b.depth = 0;
      } else {
        b.prev = row.newest;
        b.depth = p.depth + 1;
        if (j_ok && j.jump != 0 && j.stream == row.id
            && p.depth - p.jump_depth == p.jump_depth - j.jump_depth) {
          b.jump = j.jump;
          b.jump_first = j.jump_first;
          b.jump_depth = j.jump_depth;
        } else {
          b.jump = p.number;
          b.jump_first = p.first;
          b.jump_depth = p.depth;
        }
      }
    } else {
      row.chain_first = b.first;
    }
    char buf[detail::max_chain_block_size];
    auto size = detail::encode_chain_block(b, row.recent.data(),
                                           row.recent.size(), buf);
    detail::u64_key key{next_block_};
    MDB_val k = to_val(key.bytes, 8), v = to_val(buf, size);
    if (auto rc = mdb_cursor_put(chain_cursor_.get(), &k, &v, MDB_APPEND))
      return rc;
    row.newest = next_block_++;
    row.recent.clear();
    return MDB_SUCCESS;
  }

  /// Moves the `recent` positions of `row` into an `index` block, as
  /// format 2 did.
  int flush_format2_block(stream_row& row) {
    detail::event_key ek{row.id, row.tail_first()};
    char buf[10 * detail::index_block_events];
    auto end
      = detail::encode_positions(row.recent.data(), row.recent.size(), buf);
    MDB_val k = to_val(ek.bytes, 16);
    MDB_val v = to_val(buf, static_cast<size_t>(end - buf));
    if (auto rc = mdb_put(txn_, self_.index, &k, &v, 0))
      return rc;
    row.recent.clear();
    row.chain_first = row.tail_first();
    return MDB_SUCCESS;
  }

  int put_snapshot(const snapshot& s) {
    MDB_val k = to_val(s.stream), v;
    auto rc = mdb_get(txn_, self_.snapshots, &k, &v);
    uint64_t stored = 0;
    // A damaged snapshot, whose version cannot be trusted, is replaced.
    if (rc == MDB_SUCCESS
        && detail::snapshot_version(s.stream, to_view(v), stored)
        && stored > s.version)
      return MDB_SUCCESS; // a later snapshot is already stored
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
      return rc;
    if (s.type.size() > std::numeric_limits<uint16_t>::max())
      return EINVAL;
    auto buf = detail::encode_snapshot(s);
    v = to_val(buf);
    return mdb_put(txn_, self_.snapshots, &k, &v, 0);
  }

  journal::impl& self_;
  MDB_txn* txn_;
  uint64_t next_position_ = 1;
  uint64_t next_stream_id_ = 1;
  bool ids_dirty_ = false;
  /// Bytes of the groups applied, counted under a transaction limit.
  size_t applied_bytes_ = 0;
  /// 1 + the index of a group whose writes fail (`inject_bad_value`).
  size_t bad_group_ = 0;
  /// The rows of the streams appended to, by name.
  std::vector<cached_row> rows_;
  /// For each append of the commit, in order, its row in `rows_`.
  std::vector<size_t> slots_;
  /// For each group, the index of its first append in `slots_`.
  std::vector<size_t> offsets_;
  std::unordered_set<std::string> group_keys_;
  std::unordered_set<std::string> commit_keys_;
  detail::cursor log_cursor_;
  /// Appends to `chain`, and reads the blocks new ones link to.
  detail::cursor chain_cursor_;
  /// The number of the next `chain` block; 0 until the first is written.
  uint64_t next_block_ = 0;
  /// Whether to write as format 2 (`journal::inject_format2_writes`).
  bool format2_ = false;
  /// LMDB's id of the transaction.
  size_t txn_id_ = 0;
  /// `next_position_` at the start.
  uint64_t first_position_ = 0;
};

} // namespace

caf::expected<std::vector<journal::group_outcome>>
journal::commit(const std::vector<write_group>& groups) {
  auto& self = *impl_;
  std::lock_guard<std::mutex> write_guard{self.write_mutex};
  if (self.opts.read_only)
    return make_error(errc::invalid_argument,
                      "journal " + self.dir + " is open read-only");
  if (self.failed)
    return make_error(errc::journal_failed,
                      "journal " + self.dir
                        + " failed an earlier commit; reopen it to write");
  auto now = now_ns();
  auto bad_group = self.inject_bad_value.exchange(0);
  auto n = groups.size();
  // Groups refused by LMDB rather than by validation (a key it refuses, a
  // group too large for one transaction): they stay refused in the
  // transactions that follow.
  std::vector<caf::error> refused(n);
  std::vector<group_outcome> outcomes;
  outcomes.reserve(n);
  // This transaction holds groups [first, last). After an MDB_TXN_FULL it
  // holds fewer, and the next transactions hold the rest.
  size_t first = 0;
  size_t last = n;
  for (;;) {
    std::vector<group_outcome> part;
    part.reserve(last - first);
    int rc = MDB_SUCCESS;
    const char* op = "mdb_put";
    // The group whose apply failed, if `in_apply`; else the last group
    // applied (`last` if none).
    size_t failed_at = last;
    bool in_apply = false;
    size_t applied = 0;
    {
      std::shared_lock<std::shared_mutex> guard{self.resize_mutex};
      detail::txn t;
      if (rc = detail::txn::begin(self.env.get(), 0, t); rc != MDB_SUCCESS) {
        self.failed = true;
        return detail::lmdb_error(rc, "mdb_txn_begin(write)");
      }
      commit_builder builder{self, t.get()};
      builder.inject_bad_value(bad_group);
      if (auto err = builder.init()) {
        self.failed = true;
        return err;
      }
      if (auto err = builder.preload(groups)) {
        self.failed = true;
        return err;
      }
      for (size_t i = first; i < last; ++i) {
        if (refused[i]) {
          part.emplace_back(refused[i]);
          continue;
        }
        auto& g = groups[i];
        caf::error fatal;
        auto err = builder.validate(i, g, fatal);
        if (fatal) {
          self.failed = true;
          return fatal;
        }
        if (err) {
          part.emplace_back(std::move(err));
          continue;
        }
        group_receipt receipt;
        if (rc = builder.apply(i, g, now, receipt); rc != MDB_SUCCESS) {
          failed_at = i;
          in_apply = true;
          break;
        }
        part.emplace_back(std::move(receipt));
        failed_at = i;
        ++applied;
      }
      if (rc == MDB_SUCCESS)
        rc = builder.finish();
      builder.close_cursors(); // LMDB frees them when the transaction ends
      if (rc == MDB_SUCCESS) {
        if (self.inject_failure.exchange(false)) {
          t.abort();
          self.failed = true;
          return make_error(errc::storage_error,
                            "mdb_txn_commit: injected commit failure");
        }
        op = "mdb_txn_commit";
        rc = t.commit();
        if (rc == MDB_SUCCESS)
          builder.committed();
      }
    } // releases the transaction before the map may grow
    if (rc == MDB_SUCCESS) {
      ++self.commits;
      for (auto& x : part)
        outcomes.emplace_back(std::move(x));
      if (last == n)
        return outcomes;
      first = last;
      last = n;
      continue;
    }
    // The transaction is aborted: nothing of it reached the journal.
    if (in_apply && input_error(rc)) {
      // Validation let through something LMDB refuses: refuse the group
      // alone and retry without it.
      refused[failed_at] = make_error(errc::invalid_argument,
                                      "write group refused by the storage: "
                                        + std::string{mdb_strerror(rc)});
      continue;
    }
    if (rc == MDB_TXN_FULL && failed_at < last) {
      // Too many dirty pages. Commit the groups before the one that
      // overflowed, then the rest in the next transactions; a group that
      // does not fit alone is refused.
      if (applied > (in_apply ? 0 : 1)) {
        last = failed_at;
      } else {
        auto& g = groups[failed_at];
        refused[failed_at]
          = make_error(errc::invalid_argument,
                       "write group too large for one transaction: "
                         + std::to_string(g.event_count()) + " events, "
                         + std::to_string(g.byte_size()) + " bytes");
      }
      continue;
    }
    if (rc == MDB_TXN_FULL)
      return detail::lmdb_error(rc, op); // aborted: the journal is fine
    if (rc == MDB_MAP_FULL) {
      if (auto err = self.grow_map()) {
        // At the maximum: the journal is fine, the groups not committed
        // fail.
        if (outcomes.empty())
          return err;
        for (auto i = outcomes.size(); i < n; ++i)
          outcomes.emplace_back(err);
        return outcomes;
      }
      continue;
    }
    self.failed = true;
    return detail::lmdb_error(rc, op);
  }
}

caf::expected<group_receipt> journal::commit(const write_group& group) {
  std::vector<write_group> groups;
  groups.push_back(group);
  auto res = commit(groups);
  if (!res)
    return std::move(res.error());
  return std::move(res->front());
}

} // namespace cairn::journal
