#include "cairn/journal/verify.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "cairn/journal/detail/bytes.hpp"
#include "cairn/journal/detail/journal_impl.hpp"
#include "cairn/journal/detail/record_format.hpp"
#include "cairn/journal/detail/value_format.hpp"
#include "cairn/journal/errc.hpp"

namespace cairn::journal {

using detail::get_be64;
using detail::to_val;
using detail::to_view;

namespace {

/// Renders `str` for a message: printable ASCII as is, other bytes as
/// `\\xNN`.
std::string printable(std::string_view str) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string result;
  for (auto c : str) {
    auto b = static_cast<uint8_t>(c);
    if (b >= 0x20 && b < 0x7f && b != '\\') {
      result += c;
    } else {
      result += "\\x";
      result += digits[b >> 4];
      result += digits[b & 0xf];
    }
  }
  return result;
}

/// Checks the page structure of LMDB's trees, reading the pages of the
/// snapshot of transaction `t` from the file, so that a damaged page is
/// named before a cursor walks into it: LMDB 0.9 checks the kind of a page
/// it finds by lookup (`MDB_CORRUPTED`), but a cursor stepping into the
/// next leaf asserts that it is one and aborts the process.
///
/// The layout (lmdb.h and mdb.c of LMDB 0.9, 64-bit): a page starts with
/// u64 page number, u16 pad, u16 flags, u16 lower, u16 upper, then the u16
/// offsets of its nodes; a node has u16 lo, u16 hi, u16 flags, u16 key
/// size, the key, then (in a leaf) the data. In a branch, lo | hi << 16 |
/// flags << 32 is the child's page number; in a leaf, lo | hi << 16 is the
/// data size, and with flag 1 (big data) the data is the page number of an
/// overflow page. Pages 0 and 1 hold the meta: after the page header u32
/// magic, u32 version, address, map size, the free and main databases (48
/// bytes each: u32 pad, u16 flags, u16 depth, four u64 counts, u64 root),
/// u64 last page, u64 transaction id.
class page_checker {
public:
  page_checker(MDB_txn* t, std::vector<problem>& out, size_t max)
    : txn_(t), out_(out), max_(max) {
    // nop
  }

  /// Checks the trees of the databases in `names`. Returns an error only
  /// when the file cannot be read.
  caf::error run(const std::vector<std::string>& names) {
    auto env = mdb_txn_env(txn_);
    MDB_stat st;
    if (auto rc = mdb_env_stat(env, &st))
      return detail::lmdb_error(rc, "mdb_env_stat");
    psize_ = st.ms_psize;
    if (auto rc = mdb_env_get_fd(env, &fd_))
      return detail::lmdb_error(rc, "mdb_env_get_fd");
    // The meta page of this snapshot.
    auto txnid = static_cast<uint64_t>(mdb_txn_id(txn_));
    std::string meta;
    bool found = false;
    for (uint64_t p = 0; p < 2 && !found; ++p) {
      if (auto err = read(p, meta))
        return err;
      found = le<uint64_t>(meta, 16 + 128) == txnid;
    }
    if (!found) {
      add("", 0, "no meta page holds transaction " + std::to_string(txnid));
      return caf::none;
    }
    last_ = le<uint64_t>(meta, 16 + 120);
    auto main_root = le<uint64_t>(meta, 16 + 72 + 40);
    auto main_depth = le<uint16_t>(meta, 16 + 72 + 6);
    std::vector<std::pair<std::string, std::string>> records;
    if (auto err = walk("main", main_root, main_depth, &records))
      return err;
    for (auto& name : names) {
      auto i = std::find_if(records.begin(), records.end(),
                            [&](auto& r) { return r.first == name; });
      if (i == records.end())
        continue; // Reported by LMDB when the database opens.
      if (i->second.size() != 48) {
        add(name, 0,
            "its record in the main database has "
              + std::to_string(i->second.size()) + " bytes");
        continue;
      }
      auto root = le<uint64_t>(i->second, 40);
      if (root == ~uint64_t{0})
        continue; // empty
      if (auto err = walk(name, root, le<uint16_t>(i->second, 6), nullptr))
        return err;
    }
    return caf::none;
  }

private:
  template <class T>
  static T le(const std::string& buf, size_t at) {
    T x;
    std::memcpy(&x, buf.data() + at, sizeof(T));
    return x;
  }

  void add(const std::string& db, uint64_t pgno, std::string what) {
    if (out_.size() < max_)
      out_.push_back(problem{"", 0, 0,
                             "LMDB page " + std::to_string(pgno)
                               + " of database " + db + ": "
                               + std::move(what)});
  }

  caf::error read(uint64_t pgno, std::string& buf) {
    buf.resize(psize_);
    auto off = static_cast<off_t>(pgno * psize_);
    auto n = ::pread(fd_, buf.data(), psize_, off);
    if (n != static_cast<ssize_t>(psize_))
      return make_error(errc::storage_error, "cannot read page "
                                               + std::to_string(pgno)
                                               + " of the journal's data file");
    return caf::none;
  }

  /// Checks the tree of `db` from `pgno` at `depth` levels; collects the
  /// leaf records in `records` if not null (for the main database).
  caf::error walk(const std::string& db, uint64_t pgno, uint16_t depth,
                  std::vector<std::pair<std::string, std::string>>* records) {
    if (depth == 0 || depth > 16) {
      add(db, pgno, "tree depth " + std::to_string(depth));
      return caf::none;
    }
    std::string page;
    if (auto err = read(pgno, page))
      return err;
    auto flags = le<uint16_t>(page, 10);
    auto lower = le<uint16_t>(page, 12);
    auto upper = le<uint16_t>(page, 14);
    bool leaf = depth == 1;
    uint16_t want = leaf ? 0x02 : 0x01;
    if ((flags & 0x07) != want) {
      add(db, pgno,
          "flags " + std::to_string(flags) + " where a "
            + (leaf ? "leaf" : "branch") + " page belongs");
      return caf::none;
    }
    if (le<uint64_t>(page, 0) != pgno)
      add(db, pgno,
          "the page says it is page " + std::to_string(le<uint64_t>(page, 0)));
    if (lower < 16 || lower > upper || upper > psize_ || (lower - 16) % 2 != 0
        || (!leaf && lower == 16)) {
      add(db, pgno,
          "bad bounds: lower " + std::to_string(lower) + ", upper "
            + std::to_string(upper));
      return caf::none;
    }
    size_t keys = (lower - 16u) / 2;
    for (size_t i = 0; i < keys; ++i) {
      size_t at = le<uint16_t>(page, 16 + 2 * i);
      if (at < upper || at + 8 > psize_) {
        add(db, pgno, "node " + std::to_string(i) + " outside the page");
        return caf::none;
      }
      auto lo = le<uint16_t>(page, at);
      auto hi = le<uint16_t>(page, at + 2);
      auto nflags = le<uint16_t>(page, at + 4);
      size_t ksize = le<uint16_t>(page, at + 6);
      size_t dsize = leaf ? ((nflags & 0x01) ? 8 : lo | size_t{hi} << 16) : 0;
      if (at + 8 + ksize + dsize > psize_) {
        add(db, pgno, "node " + std::to_string(i) + " runs past the page");
        return caf::none;
      }
      if (!leaf) {
        auto child = lo | uint64_t{hi} << 16 | uint64_t{nflags} << 32;
        if (child < 2 || child > last_) {
          add(db, pgno,
              "node " + std::to_string(i) + " points to page "
                + std::to_string(child) + ", past the last page "
                + std::to_string(last_));
          return caf::none;
        }
        if (auto err = walk(db, child, depth - 1, records))
          return err;
      } else if (nflags & 0x01) {
        auto over = le<uint64_t>(page, at + 8 + ksize);
        if (over < 2 || over > last_) {
          add(db, pgno,
              "node " + std::to_string(i) + " points to overflow page "
                + std::to_string(over) + ", past the last page "
                + std::to_string(last_));
          return caf::none;
        }
      } else if (records) {
        records->emplace_back(page.substr(at + 8, ksize),
                              page.substr(at + 8 + ksize, dsize));
      }
    }
    return caf::none;
  }

  MDB_txn* txn_;
  std::vector<problem>& out_;
  size_t max_;
  size_t psize_ = 0;
  int fd_ = -1;
  uint64_t last_ = 0;
};

class checker {
public:
  checker(const journal::impl& self, MDB_txn* t, size_t max_problems,
          verify_report& report, const verify_progress& progress)
    : self_(self), txn_(t), max_(max_problems), report_(report),
      progress_(progress) {
    // nop
  }

  void add(std::string stream, uint64_t version, uint64_t position,
           std::string what) {
    if (report_.problems.size() < max_)
      report_.problems.push_back(
        problem{std::move(stream), version, position, std::move(what)});
  }

  caf::error run() {
    // A damaged page ends the check: LMDB may abort on walking into it.
    auto before = report_.problems.size();
    page_checker pages{txn_, report_.problems, max_};
    if (auto err
        = pages.run({"meta", "streams", "names", "index", "chain", "log",
                     "snapshots", "checkpoints", "dedup", "tables"}))
      return err;
    if (report_.problems.size() > before)
      return caf::none;
    if (auto err = check_streams())
      return err;
    if (auto err = check_names())
      return err;
    if (auto err = check_meta())
      return err;
    if (auto err = check_log())
      return err;
    if (auto err = check_index())
      return err;
    if (auto err = check_chain())
      return err;
    if (auto err = check_recent())
      return err;
    if (auto err = check_snapshots())
      return err;
    return check_tables();
  }

private:
  struct info {
    std::string name;
    stream_row row;
    /// The next version the index blocks should start at.
    uint64_t next_indexed = 0;
    /// Log entries of the stream with a version in [first, version].
    uint64_t log_entries = 0;
    /// Of these, the ones that the index or the row name.
    uint64_t named = 0;
    /// The position of the last version checked, to check that positions
    /// grow with versions.
    uint64_t last_position = 0;
    /// The last chain block of the stream seen, in block order; 0 for none.
    uint64_t last_block = 0;
    /// The chain blocks seen: number, then first version and depth.
    std::unordered_map<uint64_t, std::pair<uint64_t, uint64_t>> blocks;
  };

  caf::error check_streams() {
    detail::cursor c;
    if (auto rc = c.open(txn_, self_.streams))
      return detail::lmdb_error(rc, "mdb_cursor_open(streams)");
    MDB_val k, v;
    int rc;
    for (rc = c.get(k, v, MDB_FIRST); rc == MDB_SUCCESS;
         rc = c.get(k, v, MDB_NEXT)) {
      ++report_.streams;
      info i;
      i.name = std::string{to_view(k)};
      if (!detail::decode_stream_row(to_view(v), i.row)) {
        add(i.name, 0, 0, "stream row is malformed");
        malformed_.insert(i.name);
        continue;
      }
      max_id_ = std::max(max_id_, i.row.id);
      detail::u64_key idk{i.row.id};
      MDB_val nk = to_val(idk.bytes, 8), nv;
      if (auto rc = mdb_get(txn_, self_.names, &nk, &nv); rc == MDB_NOTFOUND)
        add(i.name, 0, 0,
            "stream id " + std::to_string(i.row.id) + " has no name entry");
      else if (rc != MDB_SUCCESS)
        return detail::lmdb_error(rc, "mdb_get(names)");
      else if (to_view(nv) != i.name)
        add(i.name, 0, 0,
            "stream id " + std::to_string(i.row.id) + " is named "
              + printable(to_view(nv)) + " in the names database");
      i.next_indexed = i.row.first;
      if (auto other = by_id_.find(i.row.id); other != by_id_.end()) {
        add(i.name, 0, 0,
            "stream id " + std::to_string(i.row.id)
              + " is also the id of stream " + other->second.name);
        continue;
      }
      by_id_.emplace(i.row.id, std::move(i));
    }
    if (rc != MDB_NOTFOUND)
      return detail::lmdb_error(rc, "mdb_cursor_get(streams)");
    return caf::none;
  }

  /// Checks that every entry of `names` belongs to a stream row.
  caf::error check_names() {
    detail::cursor c;
    if (auto rc = c.open(txn_, self_.names))
      return detail::lmdb_error(rc, "mdb_cursor_open(names)");
    MDB_val k, v;
    int rc;
    for (rc = c.get(k, v, MDB_FIRST); rc == MDB_SUCCESS;
         rc = c.get(k, v, MDB_NEXT)) {
      auto name = printable(to_view(v));
      if (k.mv_size != 8) {
        add(name, 0, 0,
            "names database: key of " + std::to_string(k.mv_size)
              + " bytes (a stream id has 8)");
        continue;
      }
      auto id = get_be64(static_cast<const char*>(k.mv_data));
      if (by_id_.count(id) == 0
          && malformed_.count(std::string{to_view(v)}) == 0)
        add(name, 0, 0,
            "names database: stream id " + std::to_string(id) + " is named "
              + name + ", but no stream row has that id");
    }
    if (rc != MDB_NOTFOUND)
      return detail::lmdb_error(rc, "mdb_cursor_get(names)");
    return caf::none;
  }

  /// Reads `key` of `meta` into `out`; false if absent.
  caf::expected<bool> meta_value(std::string_view key, std::string_view& out) {
    MDB_val k = to_val(key), v;
    auto rc = mdb_get(txn_, self_.meta, &k, &v);
    if (rc == MDB_NOTFOUND)
      return false;
    if (rc != MDB_SUCCESS)
      return detail::lmdb_error(rc, "mdb_get(meta)");
    out = to_view(v);
    return true;
  }

  /// Checks the values of `meta`, and that it holds no other keys.
  caf::error check_meta() {
    auto bad = [this](std::string_view key, const std::string& what) {
      add("", 0, 0, "meta database: " + std::string{key} + " " + what);
    };
    std::string_view val;
    // The format version.
    auto found = meta_value(detail::format_key, val);
    if (!found)
      return found.error();
    if (!*found)
      bad(detail::format_key, "is missing");
    else if (val.size() != 4)
      bad(detail::format_key,
          "has " + std::to_string(val.size()) + " bytes instead of 4");
    else if (auto v = detail::get_le<uint32_t>(val.data());
             v < oldest_format_version || v > format_version)
      bad(detail::format_key, "is " + std::to_string(v) + ", not one of "
                                + std::to_string(oldest_format_version) + " to "
                                + std::to_string(format_version));
    // The journal id: 32 lowercase hex digits.
    if (found = meta_value(detail::journal_id_key, val); !found)
      return found.error();
    auto hex
      = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
    if (!*found) {
      if (!self_.opts.read_only)
        bad(detail::journal_id_key, "is missing");
    } else if (val.size() != 32 || !std::all_of(val.begin(), val.end(), hex)) {
      bad(detail::journal_id_key,
          "is not 32 hexadecimal digits: " + printable(val));
    } else if (!self_.id.empty() && val != self_.id) {
      bad(detail::journal_id_key,
          "is " + std::string{val} + ", the journal opened as " + self_.id);
    }
    // The layout of table values.
    if (found = meta_value(detail::table_values_key, val); !found)
      return found.error();
    if (*found && val != detail::table_values_layout)
      bad(detail::table_values_key,
          "is " + printable(val) + " instead of "
            + std::string{detail::table_values_layout});
    // The next stream id must be above every stream's id, or a new stream
    // would share an id with an old one.
    if (found = meta_value(detail::next_id_key, val); !found)
      return found.error();
    if (!*found) {
      if (max_id_ > 0)
        bad(detail::next_id_key,
            "is missing, with stream ids up to " + std::to_string(max_id_));
    } else if (val.size() != 8) {
      bad(detail::next_id_key,
          "has " + std::to_string(val.size()) + " bytes instead of 8");
    } else if (auto next = get_be64(val.data()); next <= max_id_) {
      bad(detail::next_id_key,
          "is " + std::to_string(next) + ", not above the stream id "
            + std::to_string(max_id_) + ": a new stream would reuse an id");
    }
    // The position mark.
    if (found = meta_value(detail::next_position_key, val); !found)
      return found.error();
    if (*found && val.size() != 8)
      bad(detail::next_position_key,
          "has " + std::to_string(val.size()) + " bytes instead of 8");
    // No other keys.
    detail::cursor c;
    if (auto rc = c.open(txn_, self_.meta))
      return detail::lmdb_error(rc, "mdb_cursor_open(meta)");
    MDB_val k, v;
    int rc;
    for (rc = c.get(k, v, MDB_FIRST); rc == MDB_SUCCESS;
         rc = c.get(k, v, MDB_NEXT)) {
      auto key = to_view(k);
      if (key != detail::format_key && key != detail::journal_id_key
          && key != detail::table_values_key && key != detail::next_id_key
          && key != detail::next_position_key)
        add("", 0, 0, "meta database: unknown key " + printable(key));
    }
    if (rc != MDB_NOTFOUND)
      return detail::lmdb_error(rc, "mdb_cursor_get(meta)");
    return caf::none;
  }

  /// Checks every record of the log and that it belongs to a stored version
  /// of a known stream.
  caf::error check_log() {
    detail::cursor c;
    if (auto rc = c.open(txn_, self_.log))
      return detail::lmdb_error(rc, "mdb_cursor_open(log)");
    MDB_val k, v;
    int rc;
    event_record rec;
    MDB_stat st{};
    if (progress_)
      mdb_stat(txn_, self_.log, &st);
    for (rc = c.get(k, v, MDB_FIRST); rc == MDB_SUCCESS;
         rc = c.get(k, v, MDB_NEXT)) {
      ++report_.log_entries;
      if (progress_ && report_.log_entries % 4096 == 0)
        progress_(report_.log_entries, st.ms_entries);
      if (k.mv_size != 8) {
        add("", 0, 0, "log key of bad size");
        continue;
      }
      auto pos = get_be64(static_cast<const char*>(k.mv_data));
      auto data = static_cast<const char*>(v.mv_data);
      uint64_t id = 0, seq = 0;
      if (!detail::log_value_key(data, v.mv_size, id, seq)) {
        auto layout = v.mv_size > 0 ? static_cast<uint8_t>(data[0]) : 0;
        add("", 0, pos,
            layout != 0 && layout != detail::compact_record_format
              ? "log entry of unknown format " + std::to_string(layout)
              : std::string{"log entry has a bad size"});
        continue;
      }
      auto i = by_id_.find(id);
      if (i == by_id_.end()) {
        add("", seq, pos,
            "log entry of unknown stream id " + std::to_string(id));
        continue;
      }
      auto& s = i->second;
      uint64_t recorded = 0;
      uint64_t checked_id = 0, checked_seq = 0;
      auto why = detail::decode_log_value(data, v.mv_size, checked_id,
                                          checked_seq, rec, recorded);
      if (!why.empty())
        add(s.name, seq, pos, why);
      else if (recorded != pos)
        add(s.name, seq, pos,
            "the record says position " + std::to_string(recorded));
      if (seq < s.row.first || seq > s.row.version)
        add(s.name, seq, pos,
            "log entry outside the stored versions "
              + std::to_string(s.row.first) + " to "
              + std::to_string(s.row.version));
      else
        ++s.log_entries;
    }
    if (rc != MDB_NOTFOUND)
      return detail::lmdb_error(rc, "mdb_cursor_get(log)");
    if (progress_)
      progress_(report_.log_entries, st.ms_entries);
    return caf::none;
  }

  /// Checks that the log holds version `seq` of `s` at `pos`.
  /// Returns an error, naming the version and position, only when
  /// LMDB cannot read the log there (a damaged page): the transaction is
  /// unusable afterwards.
  caf::error check_position(info& s, uint64_t seq, uint64_t pos) {
    ++report_.events;
    if (pos <= s.last_position)
      add(s.name, seq, pos,
          "position not above the one of the version before ("
            + std::to_string(s.last_position) + ")");
    s.last_position = pos;
    detail::u64_key pk{pos};
    MDB_val k = to_val(pk.bytes, 8), v;
    auto rc = mdb_get(txn_, self_.log, &k, &v);
    if (rc == MDB_NOTFOUND) {
      add(s.name, seq, pos, "event is missing from the log");
      return caf::none;
    }
    if (rc != MDB_SUCCESS)
      return detail::lmdb_error(
        rc, "mdb_get(log) of position " + std::to_string(pos) + ", stream "
              + s.name + " version " + std::to_string(seq));
    uint64_t id = 0, stored_seq = 0;
    if (!detail::log_value_key(static_cast<const char*>(v.mv_data), v.mv_size,
                               id, stored_seq)
        || id != s.row.id || stored_seq != seq) {
      add(s.name, seq, pos,
          "the log entry at its position belongs to "
          "another event");
      return caf::none;
    }
    ++s.named;
    return caf::none;
  }

  /// Checks that the index blocks of each stream cover its versions from
  /// `first` to the row's `recent` positions without gap or overlap.
  caf::error check_index() {
    detail::cursor c;
    if (auto rc = c.open(txn_, self_.index))
      return detail::lmdb_error(rc, "mdb_cursor_open(index)");
    MDB_val k, v;
    int rc;
    std::vector<uint64_t> block;
    for (rc = c.get(k, v, MDB_FIRST); rc == MDB_SUCCESS;
         rc = c.get(k, v, MDB_NEXT)) {
      if (k.mv_size != 16) {
        add("", 0, 0, "index key of bad size");
        continue;
      }
      auto id = get_be64(static_cast<const char*>(k.mv_data));
      auto block_first = get_be64(static_cast<const char*>(k.mv_data) + 8);
      auto i = by_id_.find(id);
      if (i == by_id_.end()) {
        add("", block_first, 0,
            "index block of unknown stream id " + std::to_string(id));
        continue;
      }
      auto& s = i->second;
      block.clear();
      if (!detail::decode_positions(to_view(v), block) || block.empty()) {
        add(s.name, block_first, 0, "index block is malformed");
        continue;
      }
      auto block_last = block_first + block.size() - 1;
      if (block_first > s.next_indexed)
        add(s.name, s.next_indexed, 0,
            "versions " + std::to_string(s.next_indexed) + " to "
              + std::to_string(block_first - 1) + " have no index entry");
      else if (block_first < s.next_indexed)
        add(s.name, block_first, 0,
            "index block of versions " + std::to_string(block_first) + " to "
              + std::to_string(block_last) + " overlaps "
              + (block_first < s.row.first ? "the deleted versions"
                                           : "the block before"));
      if (auto tail = s.row.tail_first(); block_last >= tail) {
        add(s.name, block_first, 0,
            "index block of versions " + std::to_string(block_first) + " to "
              + std::to_string(block_last)
              + " reaches the row's recent versions from "
              + std::to_string(tail));
        continue;
      }
      if (block_last >= s.row.chain_first) {
        add(s.name, block_first, 0,
            "index block of versions " + std::to_string(block_first) + " to "
              + std::to_string(block_last) + " reaches the stream's chain from "
              + std::to_string(s.row.chain_first));
        continue;
      }
      for (size_t n = 0; n < block.size(); ++n)
        if (block_first + n >= s.next_indexed)
          if (auto err = check_position(s, block_first + n, block[n]))
            return err;
      s.next_indexed = std::max(s.next_indexed, block_last + 1);
    }
    if (rc != MDB_NOTFOUND)
      return detail::lmdb_error(rc, "mdb_cursor_get(index)");
    return caf::none;
  }

  /// Checks that the chain blocks of each stream continue its `index`
  /// blocks to the row's `recent` positions without gap or overlap, each
  /// linked to the one before and jumping to one of its stream's blocks,
  /// and that the row names the last as its newest.
  caf::error check_chain() {
    if (!self_.has_chain)
      return caf::none;
    detail::cursor c;
    if (auto rc = c.open(txn_, self_.chain))
      return detail::lmdb_error(rc, "mdb_cursor_open(chain)");
    MDB_val k, v;
    int rc;
    detail::chain_block b;
    for (rc = c.get(k, v, MDB_FIRST); rc == MDB_SUCCESS;
         rc = c.get(k, v, MDB_NEXT)) {
      if (k.mv_size != 8) {
        add("", 0, 0, "chain key of bad size");
        continue;
      }
      auto number = get_be64(static_cast<const char*>(k.mv_data));
      auto named = "chain block " + std::to_string(number);
      if (!detail::decode_chain_block(number, to_view(v), b)) {
        add("", 0, 0, named + " is malformed");
        continue;
      }
      auto i = by_id_.find(b.stream);
      if (i == by_id_.end()) {
        add("", b.first, 0,
            named + " of unknown stream id " + std::to_string(b.stream));
        continue;
      }
      auto& s = i->second;
      auto last = b.end() - 1;
      named += " (versions " + std::to_string(b.first) + " to "
               + std::to_string(last) + ")";
      if (b.first > s.next_indexed)
        add(s.name, s.next_indexed, 0,
            "versions " + std::to_string(s.next_indexed) + " to "
              + std::to_string(b.first - 1) + " have no index entry");
      else if (b.first < s.next_indexed && s.next_indexed > s.row.first)
        add(s.name, b.first, 0, named + " overlaps the block before");
      if (s.last_block != 0 && b.prev != s.last_block) {
        add(s.name, b.first, 0,
            named + " links to block " + std::to_string(b.prev)
              + " instead of the stream's block " + std::to_string(s.last_block)
              + " before it");
      } else if (auto p = s.blocks.find(b.prev);
                 p != s.blocks.end() && b.depth != p->second.second + 1) {
        add(s.name, b.first, 0,
            named + " has depth " + std::to_string(b.depth)
              + ", the block before " + std::to_string(p->second.second));
      } else if (s.last_block == 0 && b.prev != 0 && b.first > s.row.first) {
        add(s.name, b.first, 0,
            named + " links to block " + std::to_string(b.prev)
              + ", which is missing");
      }
      if (b.jump != 0) {
        auto j = s.blocks.find(b.jump);
        if (j != s.blocks.end()
              ? j->second != std::make_pair(b.jump_first, b.jump_depth)
              : b.jump_first >= s.row.first)
          add(s.name, b.first, 0,
              named + " jumps to block " + std::to_string(b.jump)
                + ", which is not the stream's block of versions from "
                + std::to_string(b.jump_first));
      }
      s.last_block = number;
      s.blocks.emplace(number, std::make_pair(b.first, b.depth));
      if (auto tail = s.row.tail_first(); last >= tail) {
        add(s.name, b.first, 0,
            named + " reaches the row's recent versions from "
              + std::to_string(tail));
        continue;
      }
      auto version = b.first;
      caf::error err;
      auto decoded = detail::for_each_position(b.positions, [&](uint64_t pos) {
        if (version >= s.next_indexed)
          err = check_position(s, version, pos);
        ++version;
        return !err;
      });
      if (err)
        return err;
      if (!decoded) {
        add(s.name, version, 0,
            named + " has malformed positions from version "
              + std::to_string(version));
        continue;
      }
      s.next_indexed = std::max(s.next_indexed, b.end());
    }
    if (rc != MDB_NOTFOUND)
      return detail::lmdb_error(rc, "mdb_cursor_get(chain)");
    for (auto& [id, s] : by_id_)
      if (s.last_block != s.row.newest)
        add(s.name, 0, 0,
            s.row.newest == 0
              ? "the row names no chain block, the chain ends at block "
                  + std::to_string(s.last_block)
              : "the row names chain block " + std::to_string(s.row.newest)
                  + " as its newest, "
                  + (s.last_block == 0 ? std::string{"the chain has none"}
                                       : "the chain ends at block "
                                           + std::to_string(s.last_block)));
    return caf::none;
  }

  /// Checks the positions of each row, and the counts.
  caf::error check_recent() {
    for (auto& [id, s] : by_id_) {
      auto tail = s.row.tail_first();
      if (s.next_indexed < tail)
        add(s.name, s.next_indexed, 0,
            "versions " + std::to_string(s.next_indexed) + " to "
              + std::to_string(tail - 1) + " have no index entry");
      for (size_t n = 0; n < s.row.recent.size(); ++n)
        if (auto err = check_position(s, tail + n, s.row.recent[n]))
          return err;
      if (s.log_entries > s.named)
        add(s.name, 0, 0,
            "the log holds " + std::to_string(s.log_entries - s.named)
              + " entries of the stream's versions that no index entry "
                "names");
    }
    return caf::none;
  }

  /// Checks the checksum and structure of every snapshot.
  caf::error check_snapshots() {
    detail::cursor c;
    if (auto rc = c.open(txn_, self_.snapshots))
      return detail::lmdb_error(rc, "mdb_cursor_open(snapshots)");
    MDB_val k, v;
    int rc;
    snapshot snap;
    for (rc = c.get(k, v, MDB_FIRST); rc == MDB_SUCCESS;
         rc = c.get(k, v, MDB_NEXT)) {
      ++report_.snapshots;
      auto stream = to_view(k);
      auto why = detail::decode_snapshot(stream, to_view(v), snap);
      if (!why.empty())
        add(std::string{stream}, 0, 0, "snapshot: " + why);
    }
    if (rc != MDB_NOTFOUND)
      return detail::lmdb_error(rc, "mdb_cursor_get(snapshots)");
    return caf::none;
  }

  /// Checks the key and checksum of every table value.
  caf::error check_tables() {
    detail::cursor c;
    if (auto rc = c.open(txn_, self_.tables))
      return detail::lmdb_error(rc, "mdb_cursor_open(tables)");
    MDB_val k, v;
    int rc;
    for (rc = c.get(k, v, MDB_FIRST); rc == MDB_SUCCESS;
         rc = c.get(k, v, MDB_NEXT)) {
      ++report_.table_rows;
      auto key = to_view(k);
      auto sep = key.find('\0');
      if (sep == std::string_view::npos) {
        add("", 0, 0, "table key without table name: " + std::string{key});
        continue;
      }
      if (!self_.tables_checked)
        continue;
      std::string_view value;
      auto why = detail::decode_table_value(key, to_view(v), value);
      if (!why.empty())
        add("", 0, 0,
            "table " + std::string{key.substr(0, sep)} + " key "
              + std::string{key.substr(sep + 1)} + ": " + why);
    }
    if (rc != MDB_NOTFOUND)
      return detail::lmdb_error(rc, "mdb_cursor_get(tables)");
    return caf::none;
  }

  const journal::impl& self_;
  MDB_txn* txn_;
  size_t max_;
  verify_report& report_;
  const verify_progress& progress_;
  std::unordered_map<uint64_t, info> by_id_;
  /// Names of the streams whose row does not decode.
  std::unordered_set<std::string> malformed_;
  /// The highest id of a stream row.
  uint64_t max_id_ = 0;
};

} // namespace

caf::expected<verify_report> verify(const journal& j, size_t max_problems,
                                    const verify_progress& progress) {
  auto& self = j.internals();
  std::shared_lock<std::shared_mutex> guard;
  detail::txn t;
  if (auto err = self.read_txn(guard, t))
    return err;
  verify_report report;
  checker chk{self, t.get(), max_problems, report, progress};
  if (auto err = chk.run())
    return err;
  return report;
}

} // namespace cairn::journal
