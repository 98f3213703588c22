#include "journal/verify.hpp"

#include <unordered_map>

#include "journal/detail/bytes.hpp"
#include "journal/detail/journal_impl.hpp"
#include "journal/detail/record_format.hpp"

namespace cairn::journal {

using detail::get_be64;
using detail::to_val;
using detail::to_view;

namespace {

class checker {
public:
  checker(const journal::impl& self, MDB_txn* t, size_t max_problems,
          verify_report& report)
    : self_(self), txn_(t), max_(max_problems), report_(report) {
    // nop
  }

  void add(std::string stream, uint64_t version, uint64_t position,
           std::string what) {
    if (report_.problems.size() < max_)
      report_.problems.push_back(
        problem{std::move(stream), version, position, std::move(what)});
  }

  caf::error run() {
    if (auto err = check_streams())
      return err;
    if (auto err = check_events())
      return err;
    return check_log();
  }

private:
  struct info {
    std::string name;
    stream_row row;
    uint64_t next_expected = 0;
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
        add(i.name, 0, 0, "stream row has a bad size");
        continue;
      }
      detail::u64_key idk{i.row.id};
      MDB_val nk = to_val(idk.bytes, 8), nv;
      if (mdb_get(txn_, self_.names, &nk, &nv) != MDB_SUCCESS)
        add(i.name, 0, 0,
            "stream id " + std::to_string(i.row.id) + " has no name entry");
      else if (to_view(nv) != i.name)
        add(i.name, 0, 0,
            "stream id " + std::to_string(i.row.id) + " is named "
              + std::string{to_view(nv)} + " in the names database");
      i.next_expected = i.row.first;
      by_id_.emplace(i.row.id, std::move(i));
    }
    if (rc != MDB_NOTFOUND)
      return detail::lmdb_error(rc, "mdb_cursor_get(streams)");
    return caf::none;
  }

  caf::error check_events() {
    detail::cursor c;
    if (auto rc = c.open(txn_, self_.events))
      return detail::lmdb_error(rc, "mdb_cursor_open(events)");
    MDB_val k, v;
    int rc;
    event_record rec;
    for (rc = c.get(k, v, MDB_FIRST); rc == MDB_SUCCESS;
         rc = c.get(k, v, MDB_NEXT)) {
      ++report_.events;
      if (k.mv_size != 16) {
        add("", 0, 0, "events database has a key of bad size");
        continue;
      }
      auto id = get_be64(static_cast<const char*>(k.mv_data));
      auto seq = get_be64(static_cast<const char*>(k.mv_data) + 8);
      auto i = by_id_.find(id);
      if (i == by_id_.end()) {
        add("", seq, 0,
            "event of unknown stream id " + std::to_string(id));
        continue;
      }
      auto& s = i->second;
      if (seq != s.next_expected) {
        if (seq > s.next_expected)
          add(s.name, s.next_expected, 0,
              "versions " + std::to_string(s.next_expected) + " to "
                + std::to_string(seq - 1) + " are missing");
        else
          add(s.name, seq, 0, "version below the first stored version");
      }
      s.next_expected = seq + 1;
      if (seq > s.row.version)
        add(s.name, seq, 0,
            "event beyond the stream's version "
              + std::to_string(s.row.version));
      uint64_t pos = 0;
      auto why = detail::decode_record(static_cast<const char*>(v.mv_data),
                                       v.mv_size, rec, pos);
      if (!why.empty()) {
        add(s.name, seq, 0, why);
        continue;
      }
      detail::u64_key pk{pos};
      MDB_val lk = to_val(pk.bytes, 8), lv;
      if (mdb_get(txn_, self_.log, &lk, &lv) != MDB_SUCCESS)
        add(s.name, seq, pos, "no global log entry at its position");
      else if (lv.mv_size != 16
               || std::memcmp(lv.mv_data, k.mv_data, 16) != 0)
        add(s.name, seq, pos, "the global log entry at its position names "
                              "another event");
    }
    if (rc != MDB_NOTFOUND)
      return detail::lmdb_error(rc, "mdb_cursor_get(events)");
    for (auto& [id, s] : by_id_)
      if (s.row.version >= s.row.first && s.next_expected != s.row.version + 1)
        add(s.name, s.next_expected, 0,
            "versions " + std::to_string(s.next_expected) + " to "
              + std::to_string(s.row.version) + " are missing");
    return caf::none;
  }

  caf::error check_log() {
    detail::cursor c;
    if (auto rc = c.open(txn_, self_.log))
      return detail::lmdb_error(rc, "mdb_cursor_open(log)");
    MDB_val k, v;
    int rc;
    for (rc = c.get(k, v, MDB_FIRST); rc == MDB_SUCCESS;
         rc = c.get(k, v, MDB_NEXT)) {
      ++report_.log_entries;
      auto pos = get_be64(static_cast<const char*>(k.mv_data));
      if (v.mv_size != 16) {
        add("", 0, pos, "log entry has a bad size");
        continue;
      }
      MDB_val ek = v, ev;
      if (mdb_get(txn_, self_.events, &ek, &ev) != MDB_SUCCESS) {
        auto id = get_be64(static_cast<const char*>(v.mv_data));
        auto seq = get_be64(static_cast<const char*>(v.mv_data) + 8);
        auto i = by_id_.find(id);
        add(i == by_id_.end() ? "" : i->second.name, seq, pos,
            "the log entry names a missing event");
      }
    }
    if (rc != MDB_NOTFOUND)
      return detail::lmdb_error(rc, "mdb_cursor_get(log)");
    if (report_.log_entries != report_.events)
      add("", 0, 0,
          "the global log has " + std::to_string(report_.log_entries)
            + " entries for " + std::to_string(report_.events) + " events");
    return caf::none;
  }

  const journal::impl& self_;
  MDB_txn* txn_;
  size_t max_;
  verify_report& report_;
  std::unordered_map<uint64_t, info> by_id_;
};

} // namespace

caf::expected<verify_report> verify(const journal& j, size_t max_problems) {
  auto& self = j.internals();
  std::shared_lock<std::shared_mutex> guard;
  detail::txn t;
  if (auto err = self.read_txn(guard, t))
    return err;
  verify_report report;
  checker chk{self, t.get(), max_problems, report};
  if (auto err = chk.run())
    return err;
  return report;
}

} // namespace cairn::journal
