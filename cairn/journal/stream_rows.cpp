#include "cairn/journal/journal.hpp"

#include <cstring>

#include "cairn/journal/detail/bytes.hpp"
#include "cairn/journal/detail/journal_impl.hpp"

namespace cairn::journal {

using detail::get_be64;
using detail::put_be64;
using detail::to_val;
using detail::to_view;

namespace detail {

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
      for (auto i = seq - block_first;
           i < block.size() && seq < end && seq < tail; ++i, ++seq)
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

} // namespace detail

} // namespace cairn::journal
