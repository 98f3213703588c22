#include "journal/journal.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>
#include <unordered_map>
#include <unordered_set>

#include "journal/detail/bytes.hpp"
#include "journal/detail/journal_impl.hpp"
#include "journal/detail/record_format.hpp"
#include "journal/errc.hpp"

namespace cairn::journal {

using detail::get_be64;
using detail::put_be64;
using detail::to_val;
using detail::to_view;

// -- free functions -----------------------------------------------------------

std::string category_of(const std::string& stream) {
  auto pos = stream.find('-');
  return pos == std::string::npos ? stream : stream.substr(0, pos);
}

std::string expected_version::to_string() const {
  switch (kind_) {
    case kind::any:
      return "any";
    case kind::no_stream:
      return "no_stream";
    default:
      return std::to_string(value_);
  }
}

size_t write_group::event_count() const noexcept {
  size_t n = 0;
  for (auto& a : appends)
    n += a.events.size();
  return n;
}

size_t write_group::byte_size() const noexcept {
  size_t n = 0;
  for (auto& a : appends) {
    n += a.stream.size();
    for (auto& e : a.events)
      n += detail::record_header_size + e.type.size() + e.correlation_id.size()
           + e.causation_id.size() + e.metadata.size() + e.payload.size();
  }
  for (auto& s : snapshots)
    n += s.stream.size() + s.type.size() + s.payload.size() + 16;
  for (auto& t : tables)
    n += t.table.size() + t.key.size() + t.value.size();
  for (auto& k : dedup_keys)
    n += k.size();
  for (auto& c : checkpoints)
    n += c.first.size() + 8;
  return n;
}

std::string to_string(sync_mode x) {
  switch (x) {
    case sync_mode::full:
      return "full";
    case sync_mode::no_meta_sync:
      return "no-meta-sync";
    default:
      return "none";
  }
}

caf::expected<sync_mode> parse_sync_mode(const std::string& str) {
  if (str == "full")
    return sync_mode::full;
  if (str == "no-meta-sync")
    return sync_mode::no_meta_sync;
  if (str == "none")
    return sync_mode::none;
  return make_error(errc::invalid_argument,
                    "sync mode '" + str
                      + "' is not one of: full, no-meta-sync, none");
}

namespace detail {

caf::error lmdb_error(int rc, std::string_view operation) {
  std::string what{operation};
  what += ": ";
  what += mdb_strerror(rc);
  return make_error(errc::storage_error, std::move(what));
}

bool decode_stream_row(std::string_view bytes, stream_row& out) {
  if (bytes.size() < 24)
    return false;
  out.id = get_be64(bytes.data());
  out.version = get_be64(bytes.data() + 8);
  out.first = get_be64(bytes.data() + 16);
  out.recent.clear();
  auto& recent = out.recent;
  if (!for_each_position(bytes.substr(24), [&recent](uint64_t x) {
        if (recent.full())
          return false;
        recent.push_back(x);
        return true;
      }))
    return false;
  return out.first >= 1 && out.first <= out.version + 1
         && out.recent.size() <= out.version + 1 - out.first;
}

size_t encode_stream_row(const stream_row& row, char* out) noexcept {
  put_be64(out, row.id);
  put_be64(out + 8, row.version);
  put_be64(out + 16, row.first);
  auto end = encode_positions(row.recent.data(), row.recent.size(), out + 24);
  return static_cast<size_t>(end - out);
}

} // namespace detail

namespace {

constexpr std::string_view format_key = "format";
constexpr std::string_view next_id_key = "next-stream-id";
/// High-water mark of positions, written when retention deletes the newest
/// log entries, so that positions are never handed out twice.
constexpr std::string_view next_position_key = "next-position";

/// Reads the position mark of `meta`: 0 when absent.
int read_position_mark(MDB_txn* t, MDB_dbi meta, uint64_t& out) {
  MDB_val k = to_val(next_position_key), v;
  auto rc = mdb_get(t, meta, &k, &v);
  out = 0;
  if (rc == MDB_SUCCESS && v.mv_size == 8)
    out = get_be64(static_cast<const char*>(v.mv_data));
  return rc == MDB_NOTFOUND ? MDB_SUCCESS : rc;
}

std::string table_key(const std::string& table, const std::string& key) {
  std::string result;
  result.reserve(table.size() + 1 + key.size());
  result += table;
  result += '\0';
  result += key;
  return result;
}

int64_t now_ns() {
  using namespace std::chrono;
  return duration_cast<nanoseconds>(system_clock::now().time_since_epoch())
    .count();
}

caf::error corrupt(const std::string& stream, uint64_t version,
                   const std::string& why) {
  return make_error(errc::corrupt_record, "stream " + stream + " version "
                                            + std::to_string(version) + ": "
                                            + why);
}

} // namespace

// -- impl ---------------------------------------------------------------------

caf::error
journal::impl::read_txn(std::shared_lock<std::shared_mutex>& guard,
                        detail::txn& out) const {
  guard = std::shared_lock<std::shared_mutex>{resize_mutex};
  auto rc = detail::txn::begin(env.get(), MDB_RDONLY, out);
  if (rc == MDB_MAP_RESIZED) {
    // Another process (a writer while we read, say) grew the map.
    guard.unlock();
    adopt_map_size();
    guard.lock();
    rc = detail::txn::begin(env.get(), MDB_RDONLY, out);
  }
  if (rc != MDB_SUCCESS)
    return detail::lmdb_error(rc, "mdb_txn_begin(read)");
  return caf::none;
}

void journal::impl::adopt_map_size() const {
  std::unique_lock<std::shared_mutex> guard{resize_mutex};
  mdb_env_set_mapsize(env.get(), 0);
}

caf::error journal::impl::grow_map() {
  std::unique_lock<std::shared_mutex> guard{resize_mutex};
  MDB_envinfo info;
  mdb_env_info(env.get(), &info);
  auto current = static_cast<uint64_t>(info.me_mapsize);
  if (current >= opts.max_map_size)
    return make_error(errc::storage_error,
                      "the map is full at its maximum size of "
                        + std::to_string(opts.max_map_size)
                        + " bytes (journal.max-map-size)");
  auto next = std::min(current * 2, opts.max_map_size);
  auto rc = mdb_env_set_mapsize(env.get(), next);
  if (rc != MDB_SUCCESS)
    return detail::lmdb_error(rc, "mdb_env_set_mapsize");
  ++map_growths;
  return caf::none;
}

// -- construction -------------------------------------------------------------

journal::journal(std::unique_ptr<impl> ptr) : impl_(std::move(ptr)) {
  // nop
}

journal::~journal() = default;

caf::expected<std::unique_ptr<journal>>
journal::open(const std::string& dir, const options& opts) {
  if (dir.empty())
    return make_error(errc::invalid_argument, "journal path is empty");
  if (opts.map_size < (uint64_t{1} << 16))
    return make_error(errc::invalid_argument,
                      "map size " + std::to_string(opts.map_size)
                        + " is below the minimum of 65536 bytes");
  if (opts.max_readers == 0)
    return make_error(errc::invalid_argument, "max readers must be positive");
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    if (!opts.create || opts.read_only)
      return make_error(errc::not_found, "no journal at " + dir);
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
      return make_error(errc::storage_error, "cannot create directory " + dir
                                               + ": " + std::strerror(errno));
  } else if (!S_ISDIR(st.st_mode)) {
    return make_error(errc::invalid_argument,
                      "journal path " + dir + " is not a directory");
  }
  auto self = std::make_unique<impl>();
  self->dir = dir;
  self->opts = opts;
  self->opts.max_map_size = std::max(opts.max_map_size, opts.map_size);
  if (auto rc = self->env.create(); rc != MDB_SUCCESS)
    return detail::lmdb_error(rc, "mdb_env_create");
  auto env = self->env.get();
  mdb_env_set_maxdbs(env, 16);
  mdb_env_set_maxreaders(env, opts.max_readers);
  if (auto rc = mdb_env_set_mapsize(env, opts.map_size); rc != MDB_SUCCESS)
    return detail::lmdb_error(rc, "mdb_env_set_mapsize");
  unsigned flags = MDB_NOTLS;
  if (opts.read_only)
    flags |= MDB_RDONLY;
  if (opts.sync == sync_mode::no_meta_sync)
    flags |= MDB_NOMETASYNC;
  else if (opts.sync == sync_mode::none)
    flags |= MDB_NOSYNC;
  if (auto rc = mdb_env_open(env, dir.c_str(), flags, 0644); rc != MDB_SUCCESS)
    return detail::lmdb_error(rc, "mdb_env_open(" + dir + ")");
  if (opts.read_only)
    mdb_env_set_mapsize(env, 0); // adopt the writer's map size
  // Open (and create) the named databases.
  detail::txn t;
  auto rc = detail::txn::begin(env, opts.read_only ? MDB_RDONLY : 0, t);
  if (rc != MDB_SUCCESS)
    return detail::lmdb_error(rc, "mdb_txn_begin(open)");
  unsigned dbi_flags = opts.read_only ? 0 : MDB_CREATE;
  struct {
    const char* name;
    MDB_dbi* dbi;
  } dbs[] = {{"meta", &self->meta},
             {"streams", &self->streams},
             {"names", &self->names},
             {"index", &self->index},
             {"log", &self->log},
             {"snapshots", &self->snapshots},
             {"checkpoints", &self->checkpoints},
             {"dedup", &self->dedup},
             {"tables", &self->tables}};
  // Check the format first, so that a journal of another format is named as
  // such rather than as a missing database.
  if (auto rc = mdb_dbi_open(t.get(), "meta", dbi_flags, &self->meta);
      rc == MDB_NOTFOUND) {
    return make_error(errc::format_mismatch,
                      dir + " is not a Cairn journal (no meta database)");
  } else if (rc != MDB_SUCCESS) {
    return detail::lmdb_error(rc, "mdb_dbi_open(meta)");
  }
  MDB_val key = to_val(format_key);
  MDB_val val;
  rc = mdb_get(t.get(), self->meta, &key, &val);
  if (rc == MDB_SUCCESS) {
    uint32_t found = 0;
    if (val.mv_size == 4)
      found = detail::get_le<uint32_t>(static_cast<const char*>(val.mv_data));
    if (val.mv_size != 4 || found != format_version)
      return make_error(errc::format_mismatch,
                        "journal at " + dir + " has format version "
                          + (val.mv_size == 4 ? std::to_string(found)
                                              : std::string{"(unreadable)"})
                          + "; this build reads format version "
                          + std::to_string(format_version));
  } else if (rc == MDB_NOTFOUND) {
    if (opts.read_only)
      return make_error(errc::format_mismatch,
                        dir + " is not a Cairn journal (no format version)");
    char buf[4];
    detail::put_le<uint32_t>(buf, format_version);
    MDB_val v = to_val(buf, 4);
    if (auto rc = mdb_put(t.get(), self->meta, &key, &v, 0); rc != MDB_SUCCESS)
      return detail::lmdb_error(rc, "mdb_put(meta)");
  } else {
    return detail::lmdb_error(rc, "mdb_get(meta)");
  }
  for (auto& db : dbs) {
    if (auto rc = mdb_dbi_open(t.get(), db.name, dbi_flags, db.dbi);
        rc != MDB_SUCCESS)
      return detail::lmdb_error(rc, std::string{"mdb_dbi_open("} + db.name
                                      + ")");
  }
  if (rc = t.commit(); rc != MDB_SUCCESS)
    return detail::lmdb_error(rc, "mdb_txn_commit(open)");
  return std::unique_ptr<journal>{new journal(std::move(self))};
}

const std::string& journal::path() const noexcept {
  return impl_->dir;
}

const options& journal::opts() const noexcept {
  return impl_->opts;
}

// -- writes -------------------------------------------------------------------

namespace {

/// One write transaction's work: validation against the state it has built
/// so far, then the puts. Lives for one attempt of `journal::commit`.
class commit_builder {
public:
  commit_builder(journal::impl& self, MDB_txn* t) : self_(self), txn_(t) {
    // nop
  }

  /// Loads the counters this commit continues from.
  caf::error init() {
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
    if (auto mrc = read_position_mark(txn_, self_.meta, mark))
      return detail::lmdb_error(mrc, "mdb_get(meta)");
    next_position_ = std::max(next_position_, mark);
    MDB_val key = to_val(next_id_key);
    rc = mdb_get(txn_, self_.meta, &key, &v);
    if (rc == MDB_SUCCESS && v.mv_size == 8)
      next_stream_id_ = get_be64(static_cast<const char*>(v.mv_data));
    else if (rc != MDB_NOTFOUND && rc != MDB_SUCCESS)
      return detail::lmdb_error(rc, "mdb_get(meta)");
    if (auto rc = log_cursor_.open(txn_, self_.log); rc != MDB_SUCCESS)
      return detail::lmdb_error(rc, "mdb_cursor_open(log)");
    return caf::none;
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
        std::memcpy(buf, a.stream.data(), std::min<size_t>(16,
                                                           a.stream.size()));
        names.push_back(
          entry{{get_be64(buf), get_be64(buf + 8)}, a.stream, names.size()});
      }
    std::sort(names.begin(), names.end(),
              [](const entry& x, const entry& y) {
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
    for (auto& [prefix, name, index] : names) {
      if (rows_.empty() || rows_.back().name != name) {
        auto& row = rows_.emplace_back();
        row.name = name;
        if (!name.empty()) { // empty names fail validation
          MDB_val k = to_val(name), v;
          auto rc = c.get(k, v, MDB_SET);
          if (rc == MDB_SUCCESS) {
            if (!detail::decode_stream_row(to_view(v), row.value))
              return make_error(errc::corrupt_record,
                                "stream " + std::string{name}
                                  + ": bad stream row");
            row.exists = true;
          } else if (rc != MDB_NOTFOUND) {
            return detail::lmdb_error(rc, "mdb_cursor_get(streams)");
          }
        }
      }
      slots_[index] = rows_.size() - 1;
    }
    return caf::none;
  }

  /// Validates `group`; returns its validation error, or an empty error.
  /// A storage error is reported through `fatal`.
  caf::error validate(size_t index, const write_group& group,
                      caf::error& fatal) {
    auto slot = slots_.data() + offsets_[index];
    for (auto& a : group.appends) {
      if (a.stream.empty())
        return make_error(errc::invalid_argument, "an append has an empty "
                                                  "stream name");
      // An earlier append of this group to the same stream counts.
      auto& row = rows_[*slot++];
      auto current = row.overlay_group == index + 1
                       ? row.overlay
                       : (row.exists ? row.value.version : 0);
      if (!a.expected.matches(current))
        return make_error(errc::conflict,
                          "stream " + a.stream + " expected version "
                            + a.expected.to_string() + ", is at "
                            + std::to_string(current));
      for (auto& e : a.events) {
        if (e.type.empty())
          return make_error(errc::invalid_argument,
                            "an event for stream " + a.stream
                              + " has an empty type name");
        if (detail::encoded_size(e) == 0)
          return make_error(errc::invalid_argument,
                            "an event of type " + e.type + " for stream "
                              + a.stream + " has a field over its size limit");
      }
      row.overlay = current + a.events.size();
      row.overlay_group = index + 1;
    }
    group_keys_.clear();
    for (auto& k : group.dedup_keys) {
      if (k.empty())
        return make_error(errc::invalid_argument, "a dedup key is empty");
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
    for (auto& s : group.snapshots)
      if (s.stream.empty())
        return make_error(errc::invalid_argument,
                          "a snapshot has an empty stream name");
    for (auto& t : group.tables)
      if (t.table.empty() || t.table.find('\0') != std::string::npos)
        return make_error(errc::invalid_argument,
                          "a table write has an empty table name or one "
                          "with a NUL byte");
    for (auto& c : group.checkpoints)
      if (c.first.empty())
        return make_error(errc::invalid_argument, "a checkpoint name is empty");
    return caf::none;
  }

  /// Writes a validated group. Returns an LMDB error (MDB_MAP_FULL
  /// included) through `rc`.
  int apply(size_t index, const write_group& group, int64_t now,
            group_receipt& receipt) {
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
        MDB_val v{detail::log_prefix_size + detail::encoded_size(e), nullptr};
        if (auto rc = mdb_cursor_put(log_cursor_.get(), &k, &v,
                                     MDB_RESERVE | MDB_APPEND))
          return rc;
        auto out = static_cast<char*>(v.mv_data);
        put_be64(out, row.value.id);
        put_be64(out + 8, seq);
        detail::encode_record(e, pos, e.timestamp_ns != 0 ? e.timestamp_ns
                                                          : now,
                              out + detail::log_prefix_size);
        row.value.recent.push_back(pos);
        if (detail::block_complete(row.value.id, seq,
                                   row.value.recent.size()))
          if (auto rc = flush_block(row.value))
            return rc;
      }
      row.dirty = true;
      res.last_version = row.value.version;
      receipt.appends.push_back(std::move(res));
    }
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
      auto key = table_key(t.table, t.key);
      MDB_val k = to_val(key);
      if (t.erase) {
        auto rc = mdb_del(txn_, self_.tables, &k, nullptr);
        if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
          return rc;
      } else {
        MDB_val v = to_val(t.value);
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
  }

  /// Stores the stream rows and counters changed by the applied groups.
  int finish() {
    // In name order, through one cursor: each put starts from the page of
    // the put before.
    detail::cursor c;
    if (auto rc = c.open(txn_, self_.streams))
      return rc;
    for (auto& row : rows_) {
      if (!row.dirty)
        continue;
      char buf[detail::max_row_size];
      MDB_val k = to_val(row.name);
      MDB_val v = to_val(buf, detail::encode_stream_row(row.value, buf));
      if (auto rc = mdb_cursor_put(c.get(), &k, &v, 0))
        return rc;
    }
    c.close();
    if (ids_dirty_) {
      char buf[8];
      put_be64(buf, next_stream_id_);
      MDB_val k = to_val(next_id_key), v = to_val(buf, 8);
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
    bool dirty = false;
    /// The version after the appends to the stream of the group under
    /// validation, if `overlay_group` is 1 + that group's index.
    uint64_t overlay = 0;
    size_t overlay_group = 0;
  };

  /// Moves the `recent` positions of `row` into an `index` block.
  int flush_block(stream_row& row) {
    detail::event_key ek{row.id, row.tail_first()};
    char buf[10 * detail::index_block_events];
    auto end = detail::encode_positions(row.recent.data(), row.recent.size(),
                                        buf);
    MDB_val k = to_val(ek.bytes, 16);
    MDB_val v = to_val(buf, static_cast<size_t>(end - buf));
    if (auto rc = mdb_put(txn_, self_.index, &k, &v, 0))
      return rc;
    row.recent.clear();
    return MDB_SUCCESS;
  }

  int put_snapshot(const snapshot& s) {
    MDB_val k = to_val(s.stream), v;
    auto rc = mdb_get(txn_, self_.snapshots, &k, &v);
    if (rc == MDB_SUCCESS && v.mv_size >= 8
        && get_be64(static_cast<const char*>(v.mv_data)) > s.version)
      return MDB_SUCCESS; // a later snapshot is already stored
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
      return rc;
    if (s.type.size() > std::numeric_limits<uint16_t>::max())
      return EINVAL;
    std::string buf;
    buf.resize(8 + 2 + s.type.size() + s.payload.size());
    put_be64(buf.data(), s.version);
    detail::put_le<uint16_t>(buf.data() + 8,
                             static_cast<uint16_t>(s.type.size()));
    std::memcpy(buf.data() + 10, s.type.data(), s.type.size());
    std::memcpy(buf.data() + 10 + s.type.size(), s.payload.data(),
                s.payload.size());
    v = to_val(buf);
    return mdb_put(txn_, self_.snapshots, &k, &v, 0);
  }

  journal::impl& self_;
  MDB_txn* txn_;
  uint64_t next_position_ = 1;
  uint64_t next_stream_id_ = 1;
  bool ids_dirty_ = false;
  /// The rows of the streams appended to, by name.
  std::vector<cached_row> rows_;
  /// For each append of the commit, in order, its row in `rows_`.
  std::vector<size_t> slots_;
  /// For each group, the index of its first append in `slots_`.
  std::vector<size_t> offsets_;
  std::unordered_set<std::string> group_keys_;
  std::unordered_set<std::string> commit_keys_;
  detail::cursor log_cursor_;
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
  for (;;) {
    std::vector<group_outcome> outcomes;
    outcomes.reserve(groups.size());
    int rc = MDB_SUCCESS;
    const char* op = "mdb_put";
    {
      std::shared_lock<std::shared_mutex> guard{self.resize_mutex};
      detail::txn t;
      if (rc = detail::txn::begin(self.env.get(), 0, t); rc != MDB_SUCCESS) {
        self.failed = true;
        return detail::lmdb_error(rc, "mdb_txn_begin(write)");
      }
      commit_builder builder{self, t.get()};
      if (auto err = builder.init()) {
        self.failed = true;
        return err;
      }
      if (auto err = builder.preload(groups)) {
        self.failed = true;
        return err;
      }
      for (size_t i = 0; i < groups.size(); ++i) {
        auto& g = groups[i];
        caf::error fatal;
        auto err = builder.validate(i, g, fatal);
        if (fatal) {
          self.failed = true;
          return fatal;
        }
        if (err) {
          outcomes.emplace_back(std::move(err));
          continue;
        }
        group_receipt receipt;
        if (rc = builder.apply(i, g, now, receipt); rc != MDB_SUCCESS)
          break;
        outcomes.emplace_back(std::move(receipt));
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
      }
    } // releases the transaction before the map may grow
    if (rc == MDB_SUCCESS) {
      ++self.commits;
      return outcomes;
    }
    if (rc == MDB_MAP_FULL) {
      if (auto err = self.grow_map())
        return err; // at the maximum: the commit fails, the journal is fine
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

namespace {

/// Deletes the log entries of `row`'s versions below `version`, and the
/// index blocks that hold only such versions; rewrites a block that holds
/// versions on both sides of the cut to start at `version`, and drops the
/// cut versions from `row.recent`. Leaves `row.first` to the caller.
int cut_stream(const journal::impl& self, MDB_txn* t, stream_row& row,
               uint64_t version) {
  std::vector<uint64_t> doomed; // log positions to delete
  struct block {
    uint64_t first;
    std::vector<uint64_t> positions;
  };
  std::vector<block> blocks; // the index blocks that start below the cut
  if (row.first < row.tail_first()) {
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
  if (auto tail = row.tail_first(); version > tail) {
    auto below = std::min<uint64_t>(row.recent.size(), version - tail);
    doomed.insert(doomed.end(), row.recent.begin(),
                  row.recent.begin() + below);
    row.recent.drop_front(below);
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
    if (v.mv_size < detail::log_prefix_size
        || get_be64(static_cast<const char*>(v.mv_data)) != row.id)
      continue;
    if (rc = mdb_cursor_del(c.get(), 0); rc != MDB_SUCCESS)
      return rc;
  }
  c.close();
  return MDB_SUCCESS;
}

} // namespace

caf::error journal::truncate_before(const std::string& stream,
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
        return caf::none; // nothing to delete
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
          if (read_position_mark(t.get(), self.meta, mark) == MDB_SUCCESS
              && mark > get_be64(buf))
            put_be64(buf, mark);
          MDB_val mk = to_val(next_position_key), mv = to_val(buf, 8);
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
      return caf::none;
    }
    if (rc == MDB_MAP_FULL) {
      if (auto err = self.grow_map())
        return err;
      continue;
    }
    self.failed = true;
    return detail::lmdb_error(rc, op);
  }
}

void journal::inject_commit_failure() {
  impl_->inject_failure = true;
}

bool journal::failed() const noexcept {
  return impl_->failed;
}

// -- reads --------------------------------------------------------------------

namespace {

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
/// of `stream`, into `out`. REQUIRES: `v` is longer than the log prefix.
caf::error decode_into(const std::string& stream, uint64_t seq, uint64_t pos,
                       const MDB_val& v, stored_event& out) {
  out.stream = stream;
  out.version = seq;
  auto why = detail::decode_record(static_cast<const char*>(v.mv_data)
                                     + detail::log_prefix_size,
                                   v.mv_size - detail::log_prefix_size,
                                   out.record, out.position);
  if (!why.empty())
    return corrupt(stream, seq, why);
  if (out.position != pos)
    return corrupt(stream, seq,
                   "the record at log position " + std::to_string(pos)
                     + " says position " + std::to_string(out.position));
  return caf::none;
}

/// Returns whether the `log` value `v` belongs to version `seq` of stream
/// `id`.
bool log_entry_is(const MDB_val& v, uint64_t id, uint64_t seq) noexcept {
  auto data = static_cast<const char*>(v.mv_data);
  return v.mv_size >= detail::log_prefix_size && get_be64(data) == id
         && get_be64(data + 8) == seq;
}

/// Appends to `out` the log positions of versions `from` to
/// `from + count - 1` of the stream of `row`: from its `index` blocks, then
/// from `row.recent`. Stops at the first version without a position and
/// stores it in `missing` (else 0). Returns an LMDB error code.
///
/// REQUIRES: `row.first <= from` and `from + count - 1 <= row.version`.
int find_positions(MDB_txn* t, MDB_dbi index, const stream_row& row,
                   uint64_t from, uint64_t count, std::vector<uint64_t>& out,
                   uint64_t& missing) {
  missing = 0;
  auto seq = from;
  auto end = from + count;
  auto tail = row.tail_first();
  if (seq < tail) {
    detail::cursor c;
    if (auto rc = c.open(t, index))
      return rc;
    // The block that holds `from` is the last one starting at or below it.
    detail::event_key ek{row.id, seq};
    MDB_val k = to_val(ek.bytes, 16), v;
    auto rc = c.get(k, v, MDB_SET_RANGE);
    if (rc == MDB_SUCCESS
        && (k.mv_size != 16 || std::memcmp(k.mv_data, ek.bytes, 16) != 0))
      rc = c.get(k, v, MDB_PREV);
    else if (rc == MDB_NOTFOUND)
      rc = c.get(k, v, MDB_LAST);
    std::vector<uint64_t> block;
    for (; seq < end && seq < tail; rc = c.get(k, v, MDB_NEXT)) {
      if (rc == MDB_NOTFOUND)
        break;
      if (rc != MDB_SUCCESS)
        return rc;
      auto key = static_cast<const char*>(k.mv_data);
      if (k.mv_size != 16 || get_be64(key) != row.id)
        break;
      auto block_first = get_be64(key + 8);
      block.clear();
      if (block_first > seq || !detail::decode_positions(to_view(v), block)
          || block_first + block.size() <= seq)
        break;
      for (auto i = seq - block_first; i < block.size() && seq < end
                                       && seq < tail;
           ++i, ++seq)
        out.push_back(block[i]);
    }
    if (seq < end && seq < tail) {
      missing = seq;
      return MDB_SUCCESS;
    }
  }
  for (; seq < end; ++seq)
    out.push_back(row.recent[seq - tail]);
  return MDB_SUCCESS;
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

caf::error journal::read_stream(const std::string& stream, uint64_t from,
                                size_t max_count,
                                std::vector<stored_event>& out) const {
  size_t used = 0;
  auto finish = [&](caf::error err) {
    out.resize(err ? 0 : used);
    return err;
  };
  read_scope rs{*impl_};
  if (rs.error())
    return finish(rs.error());
  stream_row row;
  caf::error err;
  if (!rs.row(stream, row, err))
    return finish(std::move(err));
  from = std::max({from, row.first, uint64_t{1}});
  if (from > row.version || max_count == 0)
    return finish(caf::none);
  auto count = std::min<uint64_t>(max_count, row.version - from + 1);
  std::vector<uint64_t> positions;
  positions.reserve(count);
  uint64_t missing = 0;
  if (auto rc = find_positions(rs.get(), impl_->index, row, from, count,
                               positions, missing))
    return finish(detail::lmdb_error(rc, "mdb_cursor_get(index)"));
  if (out.size() < positions.size())
    out.resize(positions.size());
  detail::cursor c;
  if (auto rc = c.open(rs.get(), impl_->log); rc != MDB_SUCCESS)
    return finish(detail::lmdb_error(rc, "mdb_cursor_open(log)"));
  for (size_t i = 0; i < positions.size(); ++i) {
    auto seq = from + i;
    auto pos = positions[i];
    MDB_val k, v;
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
    if (rc == MDB_NOTFOUND)
      return finish(corrupt(stream, seq, "event is missing"));
    if (rc != MDB_SUCCESS)
      return finish(detail::lmdb_error(rc, "mdb_cursor_get(log)"));
    if (!log_entry_is(v, row.id, seq))
      return finish(corrupt(stream, seq,
                            "event is missing: log position "
                              + std::to_string(pos)
                              + " holds another event"));
    if (auto err = decode_into(stream, seq, pos, v, out[used++]))
      return finish(std::move(err));
  }
  if (missing != 0)
    return finish(corrupt(stream, missing, "event is missing from the "
                                           "index"));
  return finish(caf::none);
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
  size_t scanned = 0;
  while (rc == MDB_SUCCESS && result.events.size() < max_count
         && scanned < max_scan) {
    ++scanned;
    auto pos = get_be64(static_cast<const char*>(k.mv_data));
    result.next_position = pos + 1;
    if (v.mv_size <= detail::log_prefix_size)
      return make_error(errc::corrupt_record,
                        "log position " + std::to_string(pos)
                          + ": bad log entry");
    auto id = get_be64(static_cast<const char*>(v.mv_data));
    auto seq = get_be64(static_cast<const char*>(v.mv_data) + 8);
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
      stored_event se;
      if (auto err = decode_into(i->second, seq, pos, v, se))
        return err;
      result.events.push_back(std::move(se));
    }
    rc = c.get(k, v, MDB_NEXT);
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
  MDB_val k = to_val(stream), v;
  auto rc = mdb_get(rs.get(), impl_->snapshots, &k, &v);
  if (rc == MDB_NOTFOUND)
    return std::optional<snapshot>{};
  if (rc != MDB_SUCCESS)
    return detail::lmdb_error(rc, "mdb_get(snapshots)");
  auto bytes = to_view(v);
  if (bytes.size() < 10)
    return make_error(errc::corrupt_record,
                      "snapshot of stream " + stream + ": too short");
  auto type_len = detail::get_le<uint16_t>(bytes.data() + 8);
  if (bytes.size() < 10u + type_len)
    return make_error(errc::corrupt_record,
                      "snapshot of stream " + stream
                        + ": type name runs past the end");
  snapshot result;
  result.stream = stream;
  result.version = get_be64(bytes.data());
  result.type.assign(bytes.data() + 10, type_len);
  result.payload.assign(bytes.data() + 10 + type_len,
                        bytes.size() - 10 - type_len);
  return std::optional<snapshot>{std::move(result)};
}

caf::expected<std::optional<uint64_t>>
journal::checkpoint(const std::string& name) const {
  read_scope rs{*impl_};
  if (rs.error())
    return rs.error();
  MDB_val k = to_val(name), v;
  auto rc = mdb_get(rs.get(), impl_->checkpoints, &k, &v);
  if (rc == MDB_NOTFOUND)
    return std::optional<uint64_t>{};
  if (rc != MDB_SUCCESS)
    return detail::lmdb_error(rc, "mdb_get(checkpoints)");
  if (v.mv_size != 8)
    return make_error(errc::corrupt_record, "checkpoint " + name
                                              + ": bad value");
  return std::optional<uint64_t>{get_be64(static_cast<const char*>(v.mv_data))};
}

caf::expected<bool> journal::has_dedup_key(const std::string& key) const {
  read_scope rs{*impl_};
  if (rs.error())
    return rs.error();
  if (key.empty())
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
  auto full = table_key(table, key);
  MDB_val k = to_val(full), v;
  auto rc = mdb_get(rs.get(), impl_->tables, &k, &v);
  if (rc == MDB_NOTFOUND)
    return std::optional<std::string>{};
  if (rc != MDB_SUCCESS)
    return detail::lmdb_error(rc, "mdb_get(tables)");
  return std::optional<std::string>{std::string{to_view(v)}};
}

caf::expected<std::vector<std::pair<std::string, std::string>>>
journal::table_scan(const std::string& table) const {
  read_scope rs{*impl_};
  if (rs.error())
    return rs.error();
  std::vector<std::pair<std::string, std::string>> result;
  auto prefix = table_key(table, "");
  detail::cursor c;
  if (auto rc = c.open(rs.get(), impl_->tables); rc != MDB_SUCCESS)
    return detail::lmdb_error(rc, "mdb_cursor_open(tables)");
  MDB_val k = to_val(prefix), v;
  auto rc = c.get(k, v, MDB_SET_RANGE);
  for (; rc == MDB_SUCCESS; rc = c.get(k, v, MDB_NEXT)) {
    auto key = to_view(k);
    if (key.substr(0, prefix.size()) != prefix)
      break;
    result.emplace_back(std::string{key.substr(prefix.size())},
                        std::string{to_view(v)});
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
  if (auto mrc = read_position_mark(rs.get(), impl_->meta, mark))
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
    result.map_used = (static_cast<uint64_t>(info.me_last_pgno) + 1)
                      * est.ms_psize;
  }
  if (auto pos = last_position())
    result.last_position = *pos;
  else
    return pos.error();
  struct stat st;
  auto file = impl_->dir + "/data.mdb";
  if (::stat(file.c_str(), &st) == 0)
    result.file_size = static_cast<uint64_t>(st.st_size);
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
  if (auto rc = find_positions(rs.get(), impl_->index, row, version, 1,
                               positions, missing))
    return detail::lmdb_error(rc, "mdb_cursor_get(index)");
  if (positions.empty())
    return std::optional<std::string>{};
  detail::u64_key pk{positions.front()};
  MDB_val k = to_val(pk.bytes, 8), v;
  auto rc = mdb_get(rs.get(), impl_->log, &k, &v);
  if (rc == MDB_NOTFOUND || (rc == MDB_SUCCESS && !log_entry_is(v, row.id,
                                                                version)))
    return std::optional<std::string>{};
  if (rc != MDB_SUCCESS)
    return detail::lmdb_error(rc, "mdb_get(log)");
  return std::optional<std::string>{
    std::string{to_view(v).substr(detail::log_prefix_size)}};
}

} // namespace cairn::journal
