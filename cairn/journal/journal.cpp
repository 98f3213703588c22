#include "cairn/journal/journal.hpp"

#include <sys/stat.h>

#include <cstring>
#include <random>
#include <vector>

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
    n += s.stream.size() + s.type.size() + s.payload.size()
         + detail::snapshot_header_size;
  for (auto& t : tables)
    n += t.table.size() + t.key.size() + t.value.size()
         + detail::table_value_header_size;
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

} // namespace detail

namespace {

/// The first format with a `chain` database (format 2 kept index blocks
/// in `index` only).
constexpr uint32_t first_chain_format = 3;

/// Returns 128 random bits as 32 lowercase hex digits.
std::string make_journal_id() {
  std::random_device rd;
  static constexpr char digits[] = "0123456789abcdef";
  std::string result;
  result.reserve(32);
  for (int i = 0; i < 4; ++i) {
    auto x = static_cast<uint32_t>(rd());
    for (int j = 0; j < 8; ++j, x >>= 4)
      result += digits[x & 0xf];
  }
  return result;
}

/// Reads the journal id from `meta` into `out`; a journal without one (made
/// by an older build) gets a new one, unless `read_only`, in which case
/// `out` stays empty.
caf::error load_journal_id(MDB_txn* t, MDB_dbi meta, bool read_only,
                           const std::string& dir, std::string& out) {
  MDB_val key = to_val(detail::journal_id_key), val;
  auto rc = mdb_get(t, meta, &key, &val);
  if (rc == MDB_SUCCESS) {
    out.assign(to_view(val));
    return caf::none;
  }
  if (rc != MDB_NOTFOUND)
    return detail::lmdb_error(rc, "mdb_get(meta)");
  if (read_only)
    return caf::none;
  out = make_journal_id();
  MDB_val v = to_val(out);
  if (auto rc = mdb_put(t, meta, &key, &v, 0); rc != MDB_SUCCESS)
    return detail::lmdb_error(rc, "mdb_put(meta) of the journal id of " + dir);
  return caf::none;
}

/// Sets `self.tables_checked`. A writable journal of an earlier build,
/// whose `tables` values carry no checksum, gets its values rewritten with
/// one in transaction `t`, once.
caf::error check_table_values(MDB_txn* t, journal::impl& self) {
  MDB_val key = to_val(detail::table_values_key), val;
  auto rc = mdb_get(t, self.meta, &key, &val);
  if (rc == MDB_SUCCESS && to_view(val) == detail::table_values_layout) {
    self.tables_checked = true;
    return caf::none;
  }
  if (rc == MDB_SUCCESS)
    return make_error(errc::format_mismatch,
                      "journal at " + self.dir + " has table values of layout "
                        + std::string{to_view(val)}
                        + "; this build reads layout "
                        + std::string{detail::table_values_layout});
  if (rc != MDB_NOTFOUND)
    return detail::lmdb_error(rc, "mdb_get(meta)");
  if (self.opts.read_only) {
    self.tables_checked = false;
    return caf::none;
  }
  std::vector<std::pair<std::string, std::string>> rows;
  {
    detail::cursor c;
    if (auto rc = c.open(t, self.tables))
      return detail::lmdb_error(rc, "mdb_cursor_open(tables)");
    MDB_val k, v;
    for (rc = c.get(k, v, MDB_FIRST); rc == MDB_SUCCESS;
         rc = c.get(k, v, MDB_NEXT))
      rows.emplace_back(std::string{to_view(k)},
                        detail::encode_table_value(to_view(k), to_view(v)));
    if (rc != MDB_NOTFOUND)
      return detail::lmdb_error(rc, "mdb_cursor_get(tables)");
  }
  for (auto& [k, v] : rows) {
    MDB_val mk = to_val(k), mv = to_val(v);
    if (auto rc = mdb_put(t, self.tables, &mk, &mv, 0))
      return detail::lmdb_error(rc, "mdb_put(tables)");
  }
  MDB_val mv = to_val(detail::table_values_layout);
  if (auto rc = mdb_put(t, self.meta, &key, &mv, 0))
    return detail::lmdb_error(rc, "mdb_put(meta)");
  self.tables_checked = true;
  return caf::none;
}

} // namespace

// -- impl ---------------------------------------------------------------------

caf::error journal::impl::read_txn(std::shared_lock<std::shared_mutex>& guard,
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
  if (rc == MDB_READERS_FULL) {
    // Slots of processes that died while reading may fill the table.
    int dead = 0;
    if (mdb_reader_check(env.get(), &dead) == MDB_SUCCESS && dead > 0)
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

caf::expected<std::unique_ptr<journal>> journal::open(const std::string& dir,
                                                      const options& opts) {
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
  if (auto rc = mdb_env_set_maxdbs(env, 16); rc != MDB_SUCCESS)
    return detail::lmdb_error(rc, "mdb_env_set_maxdbs");
  if (auto rc = mdb_env_set_maxreaders(env, opts.max_readers);
      rc != MDB_SUCCESS)
    return rc == EINVAL
             ? make_error(errc::invalid_argument,
                          "mdb_env_set_maxreaders refuses max readers "
                            + std::to_string(opts.max_readers))
             : detail::lmdb_error(rc, "mdb_env_set_maxreaders");
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
  // Free the reader slots of processes that died while reading: they would
  // pin old pages and fill the reader table.
  if (int dead = 0; auto rc = mdb_reader_check(env, &dead))
    return detail::lmdb_error(rc, "mdb_reader_check");
  // Open (and create) the named databases.
  detail::txn t;
  auto rc = detail::txn::begin(env, opts.read_only ? MDB_RDONLY : 0, t);
  if (rc != MDB_SUCCESS)
    return detail::lmdb_error(rc, "mdb_txn_begin(open)");
  unsigned dbi_flags = opts.read_only ? 0 : MDB_CREATE;
  struct {
    const char* name;
    MDB_dbi* dbi;
  } dbs[]
    = {{"meta", &self->meta},           {"streams", &self->streams},
       {"names", &self->names},         {"index", &self->index},
       {"chain", &self->chain},         {"log", &self->log},
       {"snapshots", &self->snapshots}, {"checkpoints", &self->checkpoints},
       {"dedup", &self->dedup},         {"tables", &self->tables}};
  // Check the format first, so that a journal of another format is named as
  // such rather than as a missing database.
  if (auto rc = mdb_dbi_open(t.get(), "meta", dbi_flags, &self->meta);
      rc == MDB_NOTFOUND) {
    return make_error(errc::format_mismatch,
                      dir + " is not a Cairn journal (no meta database)");
  } else if (rc != MDB_SUCCESS) {
    return detail::lmdb_error(rc, "mdb_dbi_open(meta)");
  }
  MDB_val key = to_val(detail::format_key);
  MDB_val val;
  rc = mdb_get(t.get(), self->meta, &key, &val);
  if (rc == MDB_SUCCESS) {
    uint32_t found = 0;
    if (val.mv_size == 4)
      found = detail::get_le<uint32_t>(static_cast<const char*>(val.mv_data));
    if (val.mv_size != 4 || found < oldest_format_version
        || found > format_version)
      return make_error(errc::format_mismatch,
                        "journal at " + dir + " has format version "
                          + (val.mv_size == 4 ? std::to_string(found)
                                              : std::string{"(unreadable)"})
                          + "; this build reads format versions "
                          + std::to_string(oldest_format_version) + " to "
                          + std::to_string(format_version));
    if (found < format_version && !opts.read_only) {
      // Older formats differ in where new index blocks go (2), in how
      // rows end (2, 3) and in how `log` values are laid out (2 to 4):
      // mark the journal, so that builds that only know an older format
      // refuse it.
      char buf[4];
      detail::put_le<uint32_t>(buf, format_version);
      MDB_val v = to_val(buf, 4);
      if (auto rc = mdb_put(t.get(), self->meta, &key, &v, 0);
          rc != MDB_SUCCESS)
        return detail::lmdb_error(rc, "mdb_put(meta)");
    }
    if (found < first_chain_format && opts.read_only)
      self->has_chain = false; // format 2 has no `chain` database
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
  if (auto err
      = load_journal_id(t.get(), self->meta, opts.read_only, dir, self->id))
    return err;
  for (auto& db : dbs) {
    if (db.dbi == &self->chain && !self->has_chain)
      continue; // format 2, read-only: no chain to read
    if (auto rc = mdb_dbi_open(t.get(), db.name, dbi_flags, db.dbi);
        rc != MDB_SUCCESS)
      return detail::lmdb_error(rc,
                                std::string{"mdb_dbi_open("} + db.name + ")");
  }
  if (auto err = check_table_values(t.get(), *self))
    return err;
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

const std::string& journal::id() const noexcept {
  return impl_->id;
}

void journal::inject_commit_failure() {
  impl_->inject_failure = true;
}

void journal::inject_transaction_limit(size_t bytes) {
  impl_->transaction_limit = bytes;
}

void journal::inject_bad_value(size_t group) {
  impl_->inject_bad_value = group + 1;
}

void journal::inject_format2_writes(bool on) {
  impl_->format2_writes = on;
}

bool journal::failed() const noexcept {
  return impl_->failed;
}

} // namespace cairn::journal
