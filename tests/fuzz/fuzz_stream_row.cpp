// Fuzzes the `streams` row, the `index` block and the `chain` block
// formats (cairn/journal/detail/journal_impl.hpp,
// cairn/journal/detail/bytes.hpp): the first input byte picks
// `decode_stream_row`, `decode_positions` (the position list of a block),
// `find_positions`, which reads a stream's positions from fuzzed index
// blocks of format 2 or fuzzed chain blocks in LMDB and a fuzzed row, or
// `decode_chain_block`.
//
// Invariants: no read out of bounds (ASan); what decodes is consistent
// (positions strictly increasing, at most one block of them in a row, the
// row's versions in order) and encodes to bytes that decode to the same
// value, in no more bytes than the input (the encoding is the shortest);
// `find_positions` returns one position per version asked for, or names
// the first version it has none for.

#include "cairn/journal/detail/journal_impl.hpp"

#include "cairn/journal/detail/bytes.hpp"
#include "tests/fuzz/fuzz_support.hpp"

#include <cstdlib>
#include <string>

using namespace cairn;
using namespace cairn::journal;

namespace {

bool strictly_increasing(const uint64_t* first, const uint64_t* last) {
  for (auto i = first; i != last && i + 1 != last; ++i)
    if (i[0] >= i[1])
      return false;
  return true;
}

bool same_row(const stream_row& x, const stream_row& y) {
  return x.id == y.id && x.version == y.version && x.first == y.first
         && x.newest == y.newest && x.chain_first == y.chain_first
         && std::equal(x.recent.begin(), x.recent.end(), y.recent.begin(),
                       y.recent.end());
}

void fuzz_row(std::string_view bytes) {
  stream_row row;
  if (!detail::decode_stream_row(bytes, row))
    return;
  CAIRN_FUZZ_CHECK(row.recent.size() <= detail::index_block_events);
  CAIRN_FUZZ_CHECK(strictly_increasing(row.recent.begin(), row.recent.end()));
  CAIRN_FUZZ_CHECK(row.first >= 1 && row.first <= row.version + 1);
  CAIRN_FUZZ_CHECK(row.tail_first() >= row.first);
  CAIRN_FUZZ_CHECK(row.chain_first <= row.tail_first());
  CAIRN_FUZZ_CHECK((row.newest == 0) == (row.chain_first == row.tail_first()));
  // A row of format 2 encodes as such, one of format 3 or 4 as format 4,
  // which pads it to a multiple of `row_alignment` bytes.
  auto format2 = static_cast<uint8_t>(bytes[0]) != detail::row_layout;
  char buf[detail::max_row_size];
  auto n = detail::encode_stream_row(row, buf, format2);
  CAIRN_FUZZ_CHECK(n <= detail::max_row_size);
  CAIRN_FUZZ_CHECK(format2 ? n <= bytes.size()
                           : n <= bytes.size() + detail::row_alignment - 1
                               && n % detail::row_alignment == 0);
  stream_row again;
  CAIRN_FUZZ_CHECK(detail::decode_stream_row({buf, n}, again));
  CAIRN_FUZZ_CHECK(same_row(row, again));
}

void fuzz_positions(std::string_view bytes) {
  std::vector<uint64_t> xs;
  if (!detail::decode_positions(bytes, xs))
    return;
  CAIRN_FUZZ_CHECK(strictly_increasing(xs.data(), xs.data() + xs.size()));
  std::string encoded;
  detail::encode_positions(xs.data(), xs.size(), encoded);
  CAIRN_FUZZ_CHECK(encoded.size() <= bytes.size());
  std::vector<uint64_t> again;
  CAIRN_FUZZ_CHECK(detail::decode_positions(encoded, again));
  CAIRN_FUZZ_CHECK(again == xs);
}

void fuzz_block(std::string_view bytes) {
  detail::chain_block b;
  if (!detail::decode_chain_block(9, bytes, b))
    return;
  CAIRN_FUZZ_CHECK(b.count >= 1 && b.count <= detail::index_block_events);
  CAIRN_FUZZ_CHECK(b.prev < 9 && b.jump <= b.prev);
  // The block counts its positions without decoding them; those that
  // decode are as many.
  std::vector<uint64_t> xs;
  if (!detail::decode_positions(b.positions, xs))
    return;
  CAIRN_FUZZ_CHECK(xs.size() == b.count);
  char buf[detail::max_chain_block_size];
  auto n = detail::encode_chain_block(b, xs.data(), xs.size(), buf);
  CAIRN_FUZZ_CHECK(n <= bytes.size());
  detail::chain_block again;
  CAIRN_FUZZ_CHECK(detail::decode_chain_block(9, {buf, n}, again));
  CAIRN_FUZZ_CHECK(again.stream == b.stream && again.first == b.first
                   && again.depth == b.depth && again.prev == b.prev
                   && again.jump == b.jump && again.jump_first == b.jump_first
                   && again.jump_depth == b.jump_depth
                   && again.count == b.count);
}

// An LMDB environment with an `index` and a `chain` database, in a
// temporary directory, and a journal's state naming them.
MDB_env* env = nullptr;
cairn::journal::journal::impl* state = nullptr;
std::string env_dir;

void close_env() {
  mdb_env_close(env);
  for (auto file : {"/data.mdb", "/lock.mdb"})
    std::remove((env_dir + file).c_str());
  std::remove(env_dir.c_str());
}

void open_env() {
  state = new cairn::journal::journal::impl;
  auto tmp = std::getenv("TMPDIR");
  env_dir = std::string{tmp ? tmp : "/tmp"} + "/cairn-fuzz-XXXXXX";
  MDB_txn* t = nullptr;
  if (mkdtemp(env_dir.data()) == nullptr || mdb_env_create(&env) != 0
      || mdb_env_set_maxdbs(env, 2) != 0
      || mdb_env_set_mapsize(env, size_t{64} << 20) != 0
      || mdb_env_open(env, env_dir.c_str(), MDB_NOSYNC, 0600) != 0
      || mdb_txn_begin(env, nullptr, 0, &t) != 0
      || mdb_dbi_open(t, "index", MDB_CREATE, &state->index) != 0
      || mdb_dbi_open(t, "chain", MDB_CREATE, &state->chain) != 0
      || mdb_txn_commit(t) != 0) {
    std::fprintf(stderr, "cannot open an LMDB environment in %s\n",
                 env_dir.c_str());
    std::exit(EXIT_FAILURE);
  }
  std::atexit(close_env);
}

// Input: a block count, then per block a sequence number and a length byte
// and that many bytes: positions of an `index` block keyed by the sequence
// number if it is even, else a `chain` value numbered by its place; then
// where to start and how many versions to read, then the `streams` row.
// The blocks are written in a transaction that is thrown away afterwards.
void fuzz_find(std::string_view in) {
  MDB_txn* t = nullptr;
  CAIRN_FUZZ_CHECK(mdb_txn_begin(env, nullptr, 0, &t) == 0);
  struct block {
    uint64_t seq;
    std::string_view positions;
  };
  std::vector<block> blocks;
  for (auto n = fuzz::take_byte(in) % 5; n > 0; --n) {
    uint64_t seq = fuzz::take_byte(in);
    auto len = fuzz::take_byte(in);
    blocks.push_back({seq, fuzz::take(in, len)});
  }
  auto start = fuzz::take_byte(in);
  auto count = fuzz::take_byte(in) % 80u;
  stream_row row;
  if (detail::decode_stream_row(in, row) && row.version >= row.first
      && count > 0) {
    uint64_t number = 0;
    for (auto& b : blocks) {
      auto val = detail::to_val(b.positions);
      if (b.seq % 2 == 0) {
        detail::event_key k{row.id, row.first + b.seq / 2};
        auto key = detail::to_val(k.bytes, 16);
        CAIRN_FUZZ_CHECK(mdb_put(t, state->index, &key, &val, 0) == 0);
      } else {
        detail::u64_key k{++number};
        auto key = detail::to_val(k.bytes, 8);
        CAIRN_FUZZ_CHECK(mdb_put(t, state->chain, &key, &val, 0) == 0);
      }
    }
    // REQUIRES: row.first <= from and from + count - 1 <= row.version.
    auto span = row.version - row.first + 1;
    auto from = row.first + start % span;
    uint64_t n = std::min<uint64_t>(count, row.version - from + 1);
    std::vector<uint64_t> out;
    uint64_t missing = 0;
    auto rc = detail::find_positions(t, *state, row, from, n, out, missing);
    CAIRN_FUZZ_CHECK(rc == 0);
    if (missing == 0) {
      CAIRN_FUZZ_CHECK(out.size() == n);
    } else {
      CAIRN_FUZZ_CHECK(missing >= from && missing < row.tail_first());
      CAIRN_FUZZ_CHECK(out.size() == missing - from);
    }
    // The versions in the row's recent positions are always found.
    if (from >= row.tail_first())
      CAIRN_FUZZ_CHECK(
        missing == 0
        && std::equal(out.begin(), out.end(),
                      row.recent.begin() + (from - row.tail_first())));
  }
  mdb_txn_abort(t);
}

/// A seed for `fuzz_row`: the row as format 4 writes it, or as format 2
/// if it has no chain (`newest` 0).
std::string chained_row_seed(uint64_t id, uint64_t version, uint64_t first,
                             uint64_t newest, uint64_t chain_first,
                             std::vector<uint64_t> recent) {
  stream_row row;
  row.id = id;
  row.version = version;
  row.first = first;
  row.newest = newest;
  row.chain_first = chain_first;
  for (auto x : recent)
    row.recent.push_back(x);
  char buf[detail::max_row_size];
  auto n = detail::encode_stream_row(row, buf, newest == 0);
  return std::string{'\0'} + std::string{buf, n};
}

std::string row_seed(uint64_t id, uint64_t version, uint64_t first,
                     std::vector<uint64_t> recent) {
  return chained_row_seed(id, version, first, 0, version + 1 - recent.size(),
                          std::move(recent));
}

std::string chain_block_bytes(uint64_t stream, uint64_t first, uint64_t depth,
                              uint64_t prev, uint64_t jump, uint64_t jump_first,
                              uint64_t jump_depth,
                              const std::vector<uint64_t>& xs) {
  detail::chain_block b;
  b.stream = stream;
  b.first = first;
  b.depth = depth;
  b.prev = prev;
  b.jump = jump;
  b.jump_first = jump_first;
  b.jump_depth = jump_depth;
  char buf[detail::max_chain_block_size];
  auto n = detail::encode_chain_block(b, xs.data(), xs.size(), buf);
  return std::string{buf, n};
}

// Stream 4 at version 40: versions 1 to 8 in an index block, 9 to 32 in
// three chain blocks (numbers 1 to 3, the third jumping to the first),
// 33 to 40 in the row; reads versions 3 to 34.
std::string chain_seed() {
  std::vector<uint64_t> xs[4], recent;
  for (uint64_t v = 1; v <= 40; ++v)
    (v <= 8    ? xs[0]
     : v <= 32 ? xs[1 + (v - 9) / 8]
               : recent)
      .push_back(100 + 2 * v);
  std::string result{'\2'};
  result += '\4';
  std::string positions;
  detail::encode_positions(xs[0].data(), xs[0].size(), positions);
  result += '\0';
  result += static_cast<char>(positions.size());
  result += positions;
  std::string values[] = {chain_block_bytes(4, 9, 0, 0, 0, 0, 0, xs[1]),
                          chain_block_bytes(4, 17, 1, 1, 1, 9, 0, xs[2]),
                          chain_block_bytes(4, 25, 2, 2, 1, 9, 0, xs[3])};
  for (auto& v : values) {
    result += '\1';
    result += static_cast<char>(v.size());
    result += v;
  }
  result += '\2';
  result += '\40';
  return result + chained_row_seed(4, 40, 1, 3, 9, recent).substr(1);
}

std::string block_seed(std::vector<uint64_t> xs) {
  std::string out{'\1'};
  detail::encode_positions(xs.data(), xs.size(), out);
  return out;
}

// Stream 4 at version 40: versions 1 to 32 in two index blocks, 33 to 40
// in the row; reads versions 3 to 34.
std::string find_seed() {
  std::vector<uint64_t> first_block, second_block, recent;
  for (uint64_t v = 1; v <= 40; ++v)
    (v <= 16   ? first_block
     : v <= 32 ? second_block
               : recent)
      .push_back(100 + 2 * v);
  std::string result{'\2'};
  result += '\2';
  for (auto [seq, xs] : {std::pair{0, &first_block}, {32, &second_block}}) {
    std::string positions;
    detail::encode_positions(xs->data(), xs->size(), positions);
    result += static_cast<char>(seq);
    result += static_cast<char>(positions.size());
    result += positions;
  }
  result += '\2';
  result += '\40';
  return result + row_seed(4, 40, 1, recent).substr(1);
}

} // namespace

namespace cairn::fuzz {

void init() {
  open_env();
}

std::vector<std::string> seeds() {
  std::vector<uint64_t> block;
  for (uint64_t i = 0; i < detail::index_block_events; ++i)
    block.push_back(1000 + 3 * i);
  return {
    row_seed(1, 3, 1, {1, 2, 3}),
    row_seed(7, 40, 1, {90, 95, 130, 131}),
    row_seed(9, 100, 101, {}),
    row_seed(2, 64, 10, block),
    block_seed(block),
    block_seed({5}),
    block_seed({1, 128, 16384, uint64_t{1} << 62}),
    find_seed(),
    chained_row_seed(5, 80, 1, 7, 17, {300, 301}),
    chain_seed(),
    std::string{'\3'} + chain_block_bytes(2, 33, 3, 8, 4, 1, 0, block),
  };
}

} // namespace cairn::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto in = fuzz::as_view(data, size);
  switch (fuzz::take_byte(in) % 4) {
    case 0:
      fuzz_row(in);
      break;
    case 1:
      fuzz_positions(in);
      break;
    case 2:
      fuzz_find(in);
      break;
    default:
      fuzz_block(in);
  }
  return 0;
}
