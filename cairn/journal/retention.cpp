#include "cairn/journal/journal.hpp"

#include <algorithm>
#include <vector>

#include "cairn/journal/detail/bytes.hpp"
#include "cairn/journal/detail/journal_impl.hpp"
#include "cairn/journal/detail/record_format.hpp"
#include "cairn/journal/errc.hpp"

namespace cairn::journal {

using detail::get_be64;
using detail::put_be64;
using detail::to_val;
using detail::to_view;

// -- retention ----------------------------------------------------------------

namespace {

/// Deletes the log entries of `row`'s versions below `version`, and the
/// index and chain blocks that hold only such versions; rewrites an `index`
/// block that holds versions on both sides of the cut to start at
/// `version` (a chain block keeps them: reads start at `row.first`), and
/// drops the cut versions from `row.recent`. Leaves `row.first` to the
/// caller.
int cut_stream(const journal::impl& self, MDB_txn* t, stream_row& row,
               uint64_t version) {
  std::vector<uint64_t> doomed; // log positions to delete
  struct block {
    uint64_t first;
    std::vector<uint64_t> positions;
  };
  std::vector<block> blocks; // the index blocks that start below the cut
  auto tail = row.tail_first();
  if (row.first < std::min(row.chain_first, tail)) {
    detail::cursor c;
    if (auto rc = c.open(t, self.index))
      return rc;
    detail::event_key start{row.id, 0};
    MDB_val k = to_val(start.bytes, 16), v;
    auto rc = c.get(k, v, MDB_SET_RANGE);
    for (; rc == MDB_SUCCESS; rc = c.get(k, v, MDB_NEXT)) {
      auto key = static_cast<const char*>(k.mv_data);
      if (k.mv_size != 16 || get_be64(key) != row.id
          || get_be64(key + 8) >= version)
        break;
      auto& b = blocks.emplace_back();
      b.first = get_be64(key + 8);
      if (!detail::decode_positions(to_view(v), b.positions))
        b.positions.clear(); // unreadable: delete it, keep its log entries
    }
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
      return rc;
  }
  for (auto& b : blocks) {
    detail::event_key ek{row.id, b.first};
    MDB_val k = to_val(ek.bytes, 16);
    if (auto rc = mdb_del(t, self.index, &k, nullptr))
      return rc;
    auto below = std::min<uint64_t>(b.positions.size(), version - b.first);
    doomed.insert(doomed.end(), b.positions.begin(),
                  b.positions.begin() + below);
    if (below < b.positions.size()) {
      // The block straddles the cut: keep its upper part, under `version`.
      std::string buf;
      detail::encode_positions(b.positions.data() + below,
                               b.positions.size() - below, buf);
      detail::event_key nk{row.id, version};
      MDB_val k2 = to_val(nk.bytes, 16), v2 = to_val(buf);
      if (auto rc = mdb_put(t, self.index, &k2, &v2, 0))
        return rc;
    }
  }
  bool chain_gone = false;
  if (auto from = std::max(row.first, row.chain_first);
      row.newest != 0 && from < version && from < tail) {
    auto to = std::min(version, tail);
    detail::cursor c;
    if (auto rc = c.open(t, self.chain))
      return rc;
    std::vector<detail::chain_block> chain;
    int rc = MDB_SUCCESS;
    // A damaged chain keeps its blocks and their log entries.
    if (detail::collect_chain(c.get(), row, from, to, chain, rc)) {
      for (auto& b : chain) {
        auto v = b.first;
        detail::for_each_position(b.positions, [&](uint64_t x) {
          if (v >= from && v < to)
            doomed.push_back(x);
          ++v;
          return true;
        });
      }
      std::vector<uint64_t> dead;
      for (auto& b : chain)
        if (b.end() <= version)
          dead.push_back(b.number);
      c.close();
      for (auto n : dead) {
        detail::u64_key key{n};
        MDB_val k = to_val(key.bytes, 8);
        if (auto rc = mdb_del(t, self.chain, &k, nullptr))
          return rc;
      }
      chain_gone = version >= tail;
    } else if (rc != MDB_SUCCESS) {
      return rc;
    }
  }
  if (version > tail) {
    auto below = std::min<uint64_t>(row.recent.size(), version - tail);
    doomed.insert(doomed.end(), row.recent.begin(), row.recent.begin() + below);
    row.recent.drop_front(below);
  }
  if (chain_gone || (row.newest == 0 && version > tail)) {
    // No block left: the chain starts again at the recent positions.
    row.newest = 0;
    row.chain_first = row.tail_first();
  }
  // Delete only log entries that do belong to the stream.
  detail::cursor c;
  if (auto rc = c.open(t, self.log))
    return rc;
  for (auto pos : doomed) {
    detail::u64_key pk{pos};
    MDB_val k = to_val(pk.bytes, 8), v;
    auto rc = c.get(k, v, MDB_SET);
    if (rc == MDB_NOTFOUND)
      continue;
    if (rc != MDB_SUCCESS)
      return rc;
    uint64_t id = 0, seq = 0;
    if (!detail::log_value_key(static_cast<const char*>(v.mv_data), v.mv_size,
                               id, seq)
        || id != row.id)
      continue;
    if (rc = mdb_cursor_del(c.get(), 0); rc != MDB_SUCCESS)
      return rc;
  }
  c.close();
  return MDB_SUCCESS;
}

/// Stores in `out` the lowest position of the `checkpoints` table. Returns
/// MDB_NOTFOUND when the table is empty.
int lowest_checkpoint(MDB_txn* t, MDB_dbi checkpoints, uint64_t& out) {
  detail::cursor c;
  if (auto rc = c.open(t, checkpoints))
    return rc;
  MDB_val k, v;
  int rc;
  bool found = false;
  for (rc = c.get(k, v, MDB_FIRST); rc == MDB_SUCCESS;
       rc = c.get(k, v, MDB_NEXT)) {
    if (v.mv_size != 8)
      continue; // not a position: verify reports it
    auto pos = get_be64(static_cast<const char*>(v.mv_data));
    if (!found || pos < out)
      out = pos;
    found = true;
  }
  if (rc != MDB_NOTFOUND)
    return rc;
  return found ? MDB_SUCCESS : MDB_NOTFOUND;
}

/// Lowers `version`, the version below which retention deletes the events
/// of `row`, to the first version whose position is above `low`: events a
/// reader checkpointed at `low` has not read yet stay. Returns an LMDB
/// error code.
int clip_to_checkpoint(const journal::impl& self, MDB_txn* t,
                       const stream_row& row, uint64_t low, uint64_t& version) {
  std::vector<uint64_t> positions;
  uint64_t missing = 0;
  if (auto rc = detail::find_positions(t, self, row, row.first,
                                       version - row.first, positions, missing))
    return rc;
  for (size_t i = 0; i < positions.size(); ++i)
    if (positions[i] > low) {
      version = row.first + i;
      return MDB_SUCCESS;
    }
  if (missing != 0)
    version = missing; // unknown positions: keep them
  return MDB_SUCCESS;
}

} // namespace

caf::expected<uint64_t> journal::truncate_before(const std::string& stream,
                                                 uint64_t version) {
  auto& self = *impl_;
  std::lock_guard<std::mutex> write_guard{self.write_mutex};
  if (self.opts.read_only)
    return make_error(errc::invalid_argument,
                      "journal " + self.dir + " is open read-only");
  if (self.failed)
    return make_error(errc::journal_failed,
                      "journal " + self.dir
                        + " failed an earlier commit; reopen it to write");
  for (;;) {
    int rc = MDB_SUCCESS;
    const char* op = "truncate";
    {
      std::shared_lock<std::shared_mutex> guard{self.resize_mutex};
      detail::txn t;
      if (rc = detail::txn::begin(self.env.get(), 0, t); rc != MDB_SUCCESS)
        return detail::lmdb_error(rc, "mdb_txn_begin(write)");
      if (stream.empty() || stream.size() > max_key_size)
        return make_error(errc::not_found, "no stream " + stream);
      MDB_val k = to_val(stream), v;
      rc = mdb_get(t.get(), self.streams, &k, &v);
      if (rc == MDB_NOTFOUND)
        return make_error(errc::not_found, "no stream " + stream);
      if (rc != MDB_SUCCESS)
        return detail::lmdb_error(rc, "mdb_get(streams)");
      stream_row row;
      if (!detail::decode_stream_row(to_view(v), row))
        return make_error(errc::corrupt_record,
                          "stream " + stream + ": bad stream row");
      if (version > row.version + 1)
        return make_error(errc::invalid_argument,
                          "cannot truncate stream " + stream + " below version "
                            + std::to_string(version) + ": it is at version "
                            + std::to_string(row.version));
      if (version <= row.first)
        return row.first; // nothing to delete
      uint64_t low = 0;
      rc = lowest_checkpoint(t.get(), self.checkpoints, low);
      if (rc == MDB_SUCCESS)
        rc = clip_to_checkpoint(self, t.get(), row, low, version);
      else if (rc == MDB_NOTFOUND)
        rc = MDB_SUCCESS; // no reader to wait for
      if (rc != MDB_SUCCESS)
        return detail::lmdb_error(rc, "truncate: reading checkpoints");
      if (version <= row.first)
        return row.first; // a reader still needs the first event
      {
        // Keep the high-water mark of positions: the entries deleted below
        // may be the newest of the log.
        detail::cursor c;
        if (rc = c.open(t.get(), self.log); rc != MDB_SUCCESS)
          return detail::lmdb_error(rc, "mdb_cursor_open(log)");
        MDB_val lk, lv;
        rc = c.get(lk, lv, MDB_LAST);
        if (rc == MDB_SUCCESS) {
          char buf[8];
          put_be64(buf, get_be64(static_cast<const char*>(lk.mv_data)) + 1);
          uint64_t mark = 0;
          if (detail::read_position_mark(t.get(), self.meta, mark)
                == MDB_SUCCESS
              && mark > get_be64(buf))
            put_be64(buf, mark);
          MDB_val mk = to_val(detail::next_position_key), mv = to_val(buf, 8);
          rc = mdb_put(t.get(), self.meta, &mk, &mv, 0);
        } else if (rc == MDB_NOTFOUND) {
          rc = MDB_SUCCESS;
        }
      }
      if (rc == MDB_SUCCESS)
        rc = cut_stream(self, t.get(), row, version);
      if (rc == MDB_SUCCESS) {
        row.first = version;
        char buf[detail::max_row_size];
        MDB_val nv = to_val(buf, detail::encode_stream_row(row, buf));
        rc = mdb_put(t.get(), self.streams, &k, &nv, 0);
      }
      if (rc == MDB_SUCCESS) {
        op = "mdb_txn_commit";
        rc = t.commit();
      }
    }
    if (rc == MDB_SUCCESS) {
      ++self.commits;
      return version;
    }
    if (rc == MDB_MAP_FULL) {
      if (auto err = self.grow_map())
        return err;
      continue;
    }
    if (rc == MDB_TXN_FULL) // aborted: nothing written, the journal is fine
      return make_error(errc::invalid_argument,
                        "truncating stream " + stream + " below version "
                          + std::to_string(version)
                          + " is too large for one transaction; truncate "
                            "in smaller steps");
    self.failed = true;
    return detail::lmdb_error(rc, op);
  }
}

} // namespace cairn::journal
