#include "cairn/journal/journal.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>

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

// -- reads --------------------------------------------------------------------

namespace {

/// Returns whether `key` can be a key in LMDB. Reads treat any other key
/// as absent: no write can have stored it.
bool storable(const std::string& key) noexcept {
  return !key.empty() && key.size() <= max_key_size;
}

caf::error corrupt(const std::string& stream, uint64_t version,
                   const std::string& why) {
  return make_error(errc::corrupt_record, "stream " + stream + " version "
                                            + std::to_string(version) + ": "
                                            + why);
}

/// A read transaction that holds the resize lock shared while it lives.
class read_scope {
public:
  explicit read_scope(const journal::impl& self) : self_(self) {
    err_ = self.read_txn(guard_, txn_);
  }

  const caf::error& error() const noexcept {
    return err_;
  }

  MDB_txn* get() const noexcept {
    return txn_.get();
  }

  /// Looks up a stream row; false if missing; errors through `err`.
  bool row(const std::string& stream, stream_row& out, caf::error& err) {
    if (!storable(stream))
      return false; // no such stream can exist
    MDB_val k = to_val(stream), v;
    auto rc = mdb_get(txn_.get(), self_.streams, &k, &v);
    if (rc == MDB_NOTFOUND)
      return false;
    if (rc != MDB_SUCCESS) {
      err = detail::lmdb_error(rc, "mdb_get(streams)");
      return false;
    }
    if (!detail::decode_stream_row(to_view(v), out)) {
      err = make_error(errc::corrupt_record,
                       "stream " + stream + ": bad stream row");
      return false;
    }
    return true;
  }

private:
  const journal::impl& self_;
  std::shared_lock<std::shared_mutex> guard_;
  detail::txn txn_;
  caf::error err_;
};

/// Decodes the `log` value `v` at position `pos`, which holds version `seq`
/// of `stream`, into `out`.
caf::error decode_into(const std::string& stream, uint64_t seq, uint64_t pos,
                       const MDB_val& v, stored_event& out) {
  out.stream = stream;
  out.version = seq;
  uint64_t id = 0, stored_seq = 0;
  auto why = detail::decode_log_value(static_cast<const char*>(v.mv_data),
                                      v.mv_size, id, stored_seq, out.record,
                                      out.position);
  if (!why.empty())
    return corrupt(stream, seq, why);
  if (out.position != pos)
    return corrupt(stream, seq,
                   "the record at log position " + std::to_string(pos)
                     + " says position " + std::to_string(out.position));
  return caf::none;
}

} // namespace

caf::expected<std::vector<stored_event>>
journal::read_stream(const std::string& stream, uint64_t from,
                     size_t max_count) const {
  std::vector<stored_event> result;
  if (auto err = read_stream(stream, from, max_count, result))
    return err;
  return result;
}

namespace {

/// Entries of the log that a read finds before it touches any of their
/// records (see `walk_stream`).
constexpr size_t log_window = 16;

/// Asks for the cache lines of `v`'s value from byte `from` on, so that a
/// window's records are fetched side by side.
void prefetch_value(const MDB_val& v, size_t from) noexcept {
  auto data = static_cast<const char*>(v.mv_data);
  for (size_t off = from; off < v.mv_size; off += 64)
    __builtin_prefetch(data + off);
}

/// Walks the log entries of up to `max_count` events of `stream` from version
/// `from`, calling `f(seq, pos, value)` for each, with its stream row's
/// checks done: an entry missing from the index or the log, or holding
/// another event, is `corrupt`. `f` returns an error to stop the walk.
template <class F>
caf::error walk_stream(read_scope& rs, const journal::impl& self,
                       const std::string& stream, uint64_t from,
                       size_t max_count, F&& f) {
  if (rs.error())
    return rs.error();
  stream_row row;
  caf::error err;
  if (!rs.row(stream, row, err))
    return err;
  from = std::max({from, row.first, uint64_t{1}});
  if (from > row.version || max_count == 0)
    return caf::none;
  auto count = std::min<uint64_t>(max_count, row.version - from + 1);
  std::vector<uint64_t> positions;
  positions.reserve(count);
  uint64_t missing = 0;
  if (auto rc = detail::find_positions(rs.get(), self, row, from, count,
                                       positions, missing))
    return detail::lmdb_error(rc, "mdb_cursor_get(index)");
  detail::cursor c;
  if (auto rc = c.open(rs.get(), self.log); rc != MDB_SUCCESS)
    return detail::lmdb_error(rc, "mdb_cursor_open(log)");
  // The log is walked in windows: the cursor first finds the values of a
  // window, whose memory is then fetched side by side, before any of them is
  // checked. A record spans several cache lines and the pages of a stream
  // are seldom adjacent, so touching the records one after the other (the
  // checksum reads all of each) would wait for memory once per line.
  constexpr size_t window = log_window;
  MDB_val vals[window];
  caf::error failed;
  for (size_t first = 0; first < positions.size(); first += window) {
    auto n = std::min(window, positions.size() - first);
    for (size_t j = 0; j < n; ++j) {
      auto i = first + j;
      auto pos = positions[i];
      MDB_val k;
      auto& v = vals[j];
      int rc;
      if (i > 0 && pos == positions[i - 1] + 1) {
        // Consecutive positions, as a stream written alone has: step on.
        rc = c.get(k, v, MDB_NEXT);
        if (rc == MDB_SUCCESS
            && (k.mv_size != 8
                || get_be64(static_cast<const char*>(k.mv_data)) != pos))
          rc = MDB_NOTFOUND;
      } else {
        detail::u64_key pk{pos};
        k = to_val(pk.bytes, 8);
        rc = c.get(k, v, MDB_SET);
      }
      if (rc != MDB_SUCCESS) {
        // The events before this one are still handed to `f`, as a walk one
        // by one would have.
        failed = rc == MDB_NOTFOUND
                   ? corrupt(stream, from + i, "event is missing")
                   : detail::lmdb_error(rc, "mdb_cursor_get(log)");
        n = j;
        break;
      }
      prefetch_value(v, 0);
    }
    for (size_t j = 0; j < n; ++j) {
      auto i = first + j;
      auto seq = from + i;
      if (!detail::log_entry_is(vals[j], row.id, seq))
        return corrupt(stream, seq,
                       "event is missing: log position "
                         + std::to_string(positions[i])
                         + " holds another event");
      if (auto err = f(seq, positions[i], vals[j]))
        return err;
    }
    if (failed)
      return failed;
  }
  if (missing != 0)
    return corrupt(stream, missing,
                   "event is missing from the "
                   "index");
  return caf::none;
}

} // namespace

caf::error journal::read_stream(const std::string& stream, uint64_t from,
                                size_t max_count,
                                std::vector<stored_event>& out) const {
  size_t used = 0;
  read_scope rs{*impl_};
  auto err = walk_stream(rs, *impl_, stream, from, max_count,
                         [&](uint64_t seq, uint64_t pos, const MDB_val& v) {
                           if (out.size() == used)
                             out.emplace_back();
                           return decode_into(stream, seq, pos, v, out[used++]);
                         });
  out.resize(err ? 0 : used);
  return err;
}

caf::expected<size_t>
journal::visit_stream(const std::string& stream, uint64_t from,
                      size_t max_count,
                      const std::function<void(const event_view&)>& f) const {
  size_t visited = 0;
  event_view ev;
  ev.stream = stream;
  read_scope rs{*impl_};
  auto err = walk_stream(
    rs, *impl_, stream, from, max_count,
    [&](uint64_t seq, uint64_t pos, const MDB_val& v) -> caf::error {
      ev.version = seq;
      uint64_t id = 0, stored_seq = 0;
      auto why = detail::decode_log_value(static_cast<const char*>(v.mv_data),
                                          v.mv_size, id, stored_seq,
                                          ev.record, ev.position);
      if (!why.empty())
        return corrupt(stream, seq, why);
      if (ev.position != pos)
        return corrupt(stream, seq,
                       "the record at log position " + std::to_string(pos)
                         + " says position " + std::to_string(ev.position));
      f(ev);
      ++visited;
      return caf::none;
    });
  if (err)
    return err;
  return visited;
}

caf::expected<log_slice> journal::read_all(uint64_t from, size_t max_count,
                                           const std::string& category) const {
  read_scope rs{*impl_};
  if (rs.error())
    return rs.error();
  log_slice result;
  from = std::max(from, uint64_t{1});
  result.next_position = from;
  if (max_count == 0)
    return result;
  size_t max_scan = category.empty() ? max_count : max_count * 16;
  detail::cursor c;
  if (auto rc = c.open(rs.get(), impl_->log); rc != MDB_SUCCESS)
    return detail::lmdb_error(rc, "mdb_cursor_open(log)");
  std::unordered_map<uint64_t, std::string> names;
  detail::u64_key pk{from};
  MDB_val k = to_val(pk.bytes, 8), v;
  auto rc = c.get(k, v, MDB_SET_RANGE);
  result.events.reserve(std::min<size_t>(max_count, 1024));
  // As `walk_stream`, in windows: the cursor finds a window of entries, whose
  // records are fetched side by side before any is decoded. With a category,
  // most records may be skipped, so only their prefixes are touched.
  constexpr size_t window = log_window;
  MDB_val keys[window];
  MDB_val vals[window];
  size_t scanned = 0;
  // Never more entries looked at than the call may scan: a read of one
  // event steps the cursor once.
  size_t gathered = 0;
  while (rc == MDB_SUCCESS && gathered < max_scan) {
    size_t n = 0;
    for (; rc == MDB_SUCCESS && n < window && gathered < max_scan;
         ++n, ++gathered) {
      keys[n] = k;
      vals[n] = v;
      if (category.empty())
        prefetch_value(v, 64); // the cursor touched the first line
      rc = c.get(k, v, MDB_NEXT);
    }
    for (size_t j = 0; j < n; ++j) {
      if (result.events.size() >= max_count || scanned >= max_scan)
        return result; // the entries read ahead are left for the next call
      ++scanned;
      auto& val = vals[j];
      auto pos = get_be64(static_cast<const char*>(keys[j].mv_data));
      result.next_position = pos + 1;
      uint64_t id = 0, seq = 0;
      if (!detail::log_value_key(static_cast<const char*>(val.mv_data),
                                 val.mv_size, id, seq))
        return make_error(errc::corrupt_record, "log position "
                                                  + std::to_string(pos)
                                                  + ": bad log entry");
      auto i = names.find(id);
      if (i == names.end()) {
        detail::u64_key idk{id};
        MDB_val nk = to_val(idk.bytes, 8), nv;
        auto nrc = mdb_get(rs.get(), impl_->names, &nk, &nv);
        if (nrc != MDB_SUCCESS)
          return make_error(errc::corrupt_record,
                            "log position " + std::to_string(pos)
                              + ": unknown stream id " + std::to_string(id));
        i = names.emplace(id, std::string{to_view(nv)}).first;
      }
      if (category.empty() || category_of(i->second) == category) {
        auto& se = result.events.emplace_back();
        if (auto err = decode_into(i->second, seq, pos, val, se))
          return err;
      }
    }
  }
  if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
    return detail::lmdb_error(rc, "mdb_cursor_get(log)");
  return result;
}

caf::expected<uint64_t>
journal::stream_version(const std::string& stream) const {
  read_scope rs{*impl_};
  if (rs.error())
    return rs.error();
  stream_row row;
  caf::error err;
  if (rs.row(stream, row, err))
    return row.version;
  if (err)
    return err;
  return uint64_t{0};
}

caf::expected<std::vector<stream_info>> journal::streams() const {
  read_scope rs{*impl_};
  if (rs.error())
    return rs.error();
  std::vector<stream_info> result;
  detail::cursor c;
  if (auto rc = c.open(rs.get(), impl_->streams); rc != MDB_SUCCESS)
    return detail::lmdb_error(rc, "mdb_cursor_open(streams)");
  MDB_val k, v;
  auto rc = c.get(k, v, MDB_FIRST);
  for (; rc == MDB_SUCCESS; rc = c.get(k, v, MDB_NEXT)) {
    stream_row row;
    std::string name{to_view(k)};
    if (!detail::decode_stream_row(to_view(v), row))
      return make_error(errc::corrupt_record,
                        "stream " + name + ": bad stream row");
    result.push_back(stream_info{std::move(name), row.version, row.first});
  }
  if (rc != MDB_NOTFOUND)
    return detail::lmdb_error(rc, "mdb_cursor_get(streams)");
  return result;
}

caf::expected<std::optional<snapshot>>
journal::latest_snapshot(const std::string& stream) const {
  read_scope rs{*impl_};
  if (rs.error())
    return rs.error();
  if (!storable(stream))
    return std::optional<snapshot>{};
  MDB_val k = to_val(stream), v;
  auto rc = mdb_get(rs.get(), impl_->snapshots, &k, &v);
  if (rc == MDB_NOTFOUND)
    return std::optional<snapshot>{};
  if (rc != MDB_SUCCESS)
    return detail::lmdb_error(rc, "mdb_get(snapshots)");
  snapshot result;
  auto why = detail::decode_snapshot(stream, to_view(v), result);
  if (!why.empty())
    return make_error(errc::corrupt_record,
                      "snapshot of stream " + stream + ": " + why);
  result.stream = stream;
  return std::optional<snapshot>{std::move(result)};
}

caf::expected<std::optional<uint64_t>>
journal::checkpoint(const std::string& name) const {
  read_scope rs{*impl_};
  if (rs.error())
    return rs.error();
  if (!storable(name))
    return std::optional<uint64_t>{};
  MDB_val k = to_val(name), v;
  auto rc = mdb_get(rs.get(), impl_->checkpoints, &k, &v);
  if (rc == MDB_NOTFOUND)
    return std::optional<uint64_t>{};
  if (rc != MDB_SUCCESS)
    return detail::lmdb_error(rc, "mdb_get(checkpoints)");
  if (v.mv_size != 8)
    return make_error(errc::corrupt_record,
                      "checkpoint " + name + ": bad value");
  return std::optional<uint64_t>{get_be64(static_cast<const char*>(v.mv_data))};
}

caf::expected<bool> journal::has_dedup_key(const std::string& key) const {
  read_scope rs{*impl_};
  if (rs.error())
    return rs.error();
  if (!storable(key))
    return false;
  MDB_val k = to_val(key), v;
  auto rc = mdb_get(rs.get(), impl_->dedup, &k, &v);
  if (rc == MDB_NOTFOUND)
    return false;
  if (rc != MDB_SUCCESS)
    return detail::lmdb_error(rc, "mdb_get(dedup)");
  return true;
}

caf::expected<std::optional<std::string>>
journal::table_get(const std::string& table, const std::string& key) const {
  read_scope rs{*impl_};
  if (rs.error())
    return rs.error();
  auto full = detail::table_key(table, key);
  if (!storable(full))
    return std::optional<std::string>{};
  MDB_val k = to_val(full), v;
  auto rc = mdb_get(rs.get(), impl_->tables, &k, &v);
  if (rc == MDB_NOTFOUND)
    return std::optional<std::string>{};
  if (rc != MDB_SUCCESS)
    return detail::lmdb_error(rc, "mdb_get(tables)");
  auto value = to_view(v);
  if (impl_->tables_checked) {
    auto why = detail::decode_table_value(full, to_view(v), value);
    if (!why.empty())
      return make_error(errc::corrupt_record,
                        "table " + table + " key " + key + ": " + why);
  }
  return std::optional<std::string>{std::string{value}};
}

caf::expected<std::vector<std::pair<std::string, std::string>>>
journal::table_scan(const std::string& table) const {
  read_scope rs{*impl_};
  if (rs.error())
    return rs.error();
  std::vector<std::pair<std::string, std::string>> result;
  auto prefix = detail::table_key(table, "");
  if (prefix.size() > max_key_size)
    return result; // no such table can exist
  detail::cursor c;
  if (auto rc = c.open(rs.get(), impl_->tables); rc != MDB_SUCCESS)
    return detail::lmdb_error(rc, "mdb_cursor_open(tables)");
  MDB_val k = to_val(prefix), v;
  auto rc = c.get(k, v, MDB_SET_RANGE);
  for (; rc == MDB_SUCCESS; rc = c.get(k, v, MDB_NEXT)) {
    auto key = to_view(k);
    if (key.substr(0, prefix.size()) != prefix)
      break;
    auto value = to_view(v);
    if (impl_->tables_checked) {
      auto why = detail::decode_table_value(key, to_view(v), value);
      if (!why.empty())
        return make_error(errc::corrupt_record,
                          "table " + table + " key "
                            + std::string{key.substr(prefix.size())} + ": "
                            + why);
    }
    result.emplace_back(std::string{key.substr(prefix.size())},
                        std::string{value});
  }
  if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
    return detail::lmdb_error(rc, "mdb_cursor_get(tables)");
  return result;
}

caf::expected<uint64_t> journal::last_position() const {
  read_scope rs{*impl_};
  if (rs.error())
    return rs.error();
  detail::cursor c;
  if (auto rc = c.open(rs.get(), impl_->log); rc != MDB_SUCCESS)
    return detail::lmdb_error(rc, "mdb_cursor_open(log)");
  MDB_val k, v;
  auto rc = c.get(k, v, MDB_LAST);
  uint64_t last = 0;
  if (rc == MDB_SUCCESS)
    last = get_be64(static_cast<const char*>(k.mv_data));
  else if (rc != MDB_NOTFOUND)
    return detail::lmdb_error(rc, "mdb_cursor_get(log)");
  uint64_t mark = 0;
  if (auto mrc = detail::read_position_mark(rs.get(), impl_->meta, mark))
    return detail::lmdb_error(mrc, "mdb_get(meta)");
  return std::max(last, mark > 0 ? mark - 1 : 0);
}

caf::expected<journal_stats> journal::stats() const {
  journal_stats result;
  {
    read_scope rs{*impl_};
    if (rs.error())
      return rs.error();
    auto count = [&](MDB_dbi dbi) -> uint64_t {
      MDB_stat st;
      if (mdb_stat(rs.get(), dbi, &st) != MDB_SUCCESS)
        return 0;
      return st.ms_entries;
    };
    result.streams = count(impl_->streams);
    result.events = count(impl_->log);
    result.snapshots = count(impl_->snapshots);
    result.checkpoints = count(impl_->checkpoints);
    result.dedup_keys = count(impl_->dedup);
    MDB_envinfo info;
    MDB_stat est;
    mdb_env_info(impl_->env.get(), &info);
    mdb_env_stat(impl_->env.get(), &est);
    result.map_size = info.me_mapsize;
    result.page_size = est.ms_psize;
    result.map_used
      = (static_cast<uint64_t>(info.me_last_pgno) + 1) * est.ms_psize;
  }
  if (auto pos = last_position())
    result.last_position = *pos;
  else
    return pos.error();
  struct stat st;
  auto file = impl_->dir + "/data.mdb";
  if (::stat(file.c_str(), &st) == 0)
    result.file_size = static_cast<uint64_t>(st.st_size);
  result.id = impl_->id;
  result.commits = impl_->commits;
  result.map_growths = impl_->map_growths;
  return result;
}

caf::expected<std::optional<std::string>>
journal::raw_event(const std::string& stream, uint64_t version) const {
  read_scope rs{*impl_};
  if (rs.error())
    return rs.error();
  stream_row row;
  caf::error err;
  if (!rs.row(stream, row, err)) {
    if (err)
      return err;
    return std::optional<std::string>{};
  }
  if (version < row.first || version > row.version)
    return std::optional<std::string>{};
  std::vector<uint64_t> positions;
  uint64_t missing = 0;
  if (auto rc = detail::find_positions(rs.get(), *impl_, row, version, 1,
                                       positions, missing))
    return detail::lmdb_error(rc, "mdb_cursor_get(index)");
  if (positions.empty())
    return std::optional<std::string>{};
  detail::u64_key pk{positions.front()};
  MDB_val k = to_val(pk.bytes, 8), v;
  auto rc = mdb_get(rs.get(), impl_->log, &k, &v);
  if (rc == MDB_NOTFOUND
      || (rc == MDB_SUCCESS && !detail::log_entry_is(v, row.id, version)))
    return std::optional<std::string>{};
  if (rc != MDB_SUCCESS)
    return detail::lmdb_error(rc, "mdb_get(log)");
  return std::optional<std::string>{std::string{to_view(v)}};
}

} // namespace cairn::journal
