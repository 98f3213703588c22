#include "cairn/journal/journal.hpp"

#include <algorithm>
#include <cstring>

#include "cairn/journal/detail/bytes.hpp"
#include "cairn/journal/detail/journal_impl.hpp"
#include "cairn/journal/detail/record_format.hpp"

namespace cairn::journal {

using detail::get_be64;
using detail::put_be64;
using detail::to_val;
using detail::to_view;

namespace detail {

bool decode_stream_row(std::string_view bytes, stream_row& out) {
  std::string_view rest;
  bool chained = !bytes.empty() && static_cast<uint8_t>(bytes[0]) == row_layout;
  if (chained) {
    auto pos = bytes.data() + 1;
    auto end = bytes.data() + bytes.size();
    if (!get_varint(pos, end, out.id) || !get_varint(pos, end, out.version)
        || !get_varint(pos, end, out.first) || !get_varint(pos, end, out.newest)
        || !get_varint(pos, end, out.chain_first))
      return false;
    // Zero bytes pad a row of format 4 to a multiple of `row_alignment`.
    // No position's varint ends in one (positions and their differences
    // are at least 1), so the padding is what trails the last nonzero
    // byte.
    size_t padding = 0;
    while (end != pos && end[-1] == 0) {
      --end;
      ++padding;
    }
    if (padding > 0 && (padding >= row_alignment
                        || bytes.size() % row_alignment != 0))
      return false;
    rest = std::string_view{pos, static_cast<size_t>(end - pos)};
  } else {
    if (bytes.size() < 24)
      return false;
    out.id = get_be64(bytes.data());
    out.version = get_be64(bytes.data() + 8);
    out.first = get_be64(bytes.data() + 16);
    rest = bytes.substr(24);
  }
  out.recent.clear();
  auto& recent = out.recent;
  if (!for_each_position(rest, [&recent](uint64_t x) {
        if (recent.full())
          return false;
        recent.push_back(x);
        return true;
      }))
    return false;
  if (!(out.first >= 1 && out.version < ~uint64_t{0}
        && out.first <= out.version + 1
        && out.recent.size() <= out.version + 1 - out.first))
    return false;
  auto tail = out.tail_first();
  if (!chained) {
    out.newest = 0;
    out.chain_first = tail;
    return true;
  }
  // An empty chain starts at the recent positions; a chain ends there.
  return out.newest == 0 ? out.chain_first == tail
                         : out.chain_first >= 1 && out.chain_first < tail;
}

size_t encode_stream_row(const stream_row& row, char* out,
                         bool format2) noexcept {
  char* pos;
  if (format2) {
    put_be64(out, row.id);
    put_be64(out + 8, row.version);
    put_be64(out + 16, row.first);
    pos = out + 24;
  } else {
    out[0] = static_cast<char>(row_layout);
    pos = put_varint(out + 1, row.id);
    pos = put_varint(pos, row.version);
    pos = put_varint(pos, row.first);
    pos = put_varint(pos, row.newest);
    pos = put_varint(pos, row.chain_first);
  }
  auto end = encode_positions(row.recent.data(), row.recent.size(), pos);
  if (!format2)
    while ((end - out) % row_alignment != 0)
      *end++ = 0;
  return static_cast<size_t>(end - out);
}

bool decode_chain_block(uint64_t number, std::string_view bytes,
                        chain_block& out) {
  auto pos = bytes.data();
  auto end = pos + bytes.size();
  out.number = number;
  if (!get_varint(pos, end, out.stream) || !get_varint(pos, end, out.first)
      || !get_varint(pos, end, out.depth) || !get_varint(pos, end, out.prev)
      || !get_varint(pos, end, out.jump)
      || !get_varint(pos, end, out.jump_first)
      || !get_varint(pos, end, out.jump_depth))
    return false;
  out.positions = std::string_view{pos, static_cast<size_t>(end - pos)};
  // Each varint ends in a byte below 0x80: counting those counts the
  // positions without decoding them, which their readers do (and check).
  size_t n = 0;
  for (auto ch : out.positions)
    n += static_cast<uint8_t>(ch) < 0x80;
  if (n > index_block_events || out.positions.empty()
      || static_cast<uint8_t>(out.positions.back()) >= 0x80)
    return false;
  out.count = n;
  // Links point to older blocks only, so that every walk ends; a jump goes
  // no later than the block before.
  // A block starts a chain (depth 0) or links back, with a jump then; the
  // fields of an absent link are 0.
  if (n == 0 || out.first < 1 || out.first + n < out.first || out.prev >= number
      || out.jump > out.prev)
    return false;
  if (out.prev == 0)
    return out.depth == 0 && out.jump == 0 && out.jump_first == 0
           && out.jump_depth == 0;
  return out.depth > 0 && out.jump != 0 && out.jump_first < out.first
         && out.jump_depth < out.depth;
}

size_t encode_chain_block(const chain_block& b, const uint64_t* xs, size_t n,
                          char* out) noexcept {
  auto pos = out;
  pos = put_varint(pos, b.stream);
  pos = put_varint(pos, b.first);
  pos = put_varint(pos, b.depth);
  pos = put_varint(pos, b.prev);
  pos = put_varint(pos, b.jump);
  pos = put_varint(pos, b.jump_first);
  pos = put_varint(pos, b.jump_depth);
  pos = encode_positions(xs, n, pos);
  return static_cast<size_t>(pos - out);
}

int read_chain_block(MDB_cursor* c, uint64_t number, chain_block& out,
                     bool& ok) {
  ok = false;
  u64_key key{number};
  MDB_val k = to_val(key.bytes, 8), v;
  auto rc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY);
  if (rc == MDB_NOTFOUND)
    return MDB_SUCCESS;
  if (rc != MDB_SUCCESS)
    return rc;
  ok = decode_chain_block(number, to_view(v), out);
  return MDB_SUCCESS;
}

bool collect_chain(MDB_cursor* c, const stream_row& row, uint64_t from,
                   uint64_t to, std::vector<chain_block>& out, int& rc,
                   bool jumps) {
  rc = MDB_SUCCESS;
  out.clear();
  auto last = to - 1;
  chain_block b;
  bool ok = false;
  // From the newest block back to the one that holds `last`: by the jump
  // while it lands on a block still after `last`, else by the block before.
  for (auto n = row.newest;;) {
    if (n == 0)
      return false;
    if (rc = read_chain_block(c, n, b, ok); rc != MDB_SUCCESS)
      return false;
    if (!ok || b.stream != row.id)
      return false;
    if (b.first <= last)
      break;
    n = jumps && b.jump != 0 && b.jump_first > last ? b.jump : b.prev;
  }
  if (last >= b.end())
    return false;
  out.push_back(b);
  while (b.first > from) {
    auto expected_end = b.first;
    if (b.prev == 0)
      return false;
    if (b.prev + 1 == b.number) {
      // The block just before, as a stream written alone has: the cursor
      // steps back instead of searching.
      MDB_val k, v;
      rc = mdb_cursor_get(c, &k, &v, MDB_PREV);
      if (rc == MDB_NOTFOUND)
        rc = MDB_SUCCESS; // and no block
      if (rc != MDB_SUCCESS)
        return false;
      auto number = b.prev;
      ok = k.mv_size == 8 && k.mv_data != nullptr
           && get_be64(static_cast<const char*>(k.mv_data)) == number
           && decode_chain_block(number, to_view(v), b);
    } else if (rc = read_chain_block(c, b.prev, b, ok); rc != MDB_SUCCESS) {
      return false;
    }
    if (!ok || b.stream != row.id || b.end() != expected_end)
      return false;
    out.push_back(b);
  }
  return true;
}

/// Returns whether the `log` value `v` belongs to version `seq` of stream
/// `id`.
bool log_entry_is(const MDB_val& v, uint64_t id, uint64_t seq) noexcept {
  uint64_t stored_id = 0, stored_seq = 0;
  return log_value_key(static_cast<const char*>(v.mv_data), v.mv_size,
                       stored_id, stored_seq)
         && stored_id == id && stored_seq == seq;
}

/// Appends to `out` the log positions of versions `from` to
/// `from + count - 1` of the stream of `row`: from its `index` blocks, its
/// chain, then from `row.recent`. Stops at the first version without a
/// position and stores it in `missing` (else 0). Returns an LMDB error
/// code.
///
/// REQUIRES: `row.first <= from` and `from + count - 1 <= row.version`.
int find_positions(MDB_txn* t, const journal::impl& self, const stream_row& row,
                   uint64_t from, uint64_t count, std::vector<uint64_t>& out,
                   uint64_t& missing) {
  missing = 0;
  auto seq = from;
  auto end = from + count;
  auto tail = row.tail_first();
  // Versions below `chain_first` are in the `index` blocks of format 2.
  auto legacy_end = std::min(row.chain_first, tail);
  if (seq < end && seq < legacy_end) {
    detail::cursor c;
    if (auto rc = c.open(t, self.index))
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
    for (; seq < end && seq < legacy_end; rc = c.get(k, v, MDB_NEXT)) {
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
           i < block.size() && seq < end && seq < legacy_end; ++i, ++seq)
        out.push_back(block[i]);
    }
    if (seq < end && seq < legacy_end) {
      missing = seq;
      return MDB_SUCCESS;
    }
  }
  if (seq < end && seq < tail) {
    auto to = std::min(end, tail);
    if (!self.has_chain) {
      missing = seq;
      return MDB_SUCCESS;
    }
    detail::cursor c;
    if (auto rc = c.open(t, self.chain))
      return rc;
    std::vector<chain_block> blocks;
    blocks.reserve((to - seq) / block_events + 2);
    int rc = MDB_SUCCESS;
    // A damaged jump may lead astray where the links before still hold.
    if (!collect_chain(c.get(), row, seq, to, blocks, rc, true)
        && (rc != MDB_SUCCESS
            || !collect_chain(c.get(), row, seq, to, blocks, rc, false))) {
      if (rc != MDB_SUCCESS)
        return rc;
      missing = seq;
      return MDB_SUCCESS;
    }
    auto before = out.size();
    for (auto i = blocks.rbegin(); i != blocks.rend(); ++i) {
      auto version = i->first;
      if (!for_each_position(i->positions, [&](uint64_t x) {
            if (version >= seq && version < to)
              out.push_back(x);
            ++version;
            return true;
          })) {
        // Malformed positions: the versions before the block are found.
        auto found = std::max(i->first, seq);
        out.resize(before + (found - seq));
        missing = found;
        return MDB_SUCCESS;
      }
    }
    seq = to;
  }
  for (; seq < end; ++seq)
    out.push_back(row.recent[seq - tail]);
  return MDB_SUCCESS;
}

} // namespace detail

} // namespace cairn::journal
