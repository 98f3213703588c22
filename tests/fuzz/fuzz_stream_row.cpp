// Fuzzes the `streams` row and the `index` block formats
// (journal/detail/journal_impl.hpp, journal/detail/bytes.hpp): the first
// input byte picks `decode_stream_row` (even) or `decode_positions`, the
// position list of an index block (odd), over the rest.
//
// Invariants: no read out of bounds (ASan); what decodes is consistent
// (positions strictly increasing, at most one block of them in a row, the
// row's versions in order) and encodes to bytes that decode to the same
// value, in no more bytes than the input (the encoding is the shortest).

#include "journal/detail/journal_impl.hpp"

#include "journal/detail/bytes.hpp"
#include "tests/fuzz/fuzz_support.hpp"

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
  char buf[detail::max_row_size];
  auto n = detail::encode_stream_row(row, buf);
  CAIRN_FUZZ_CHECK(n <= detail::max_row_size && n <= bytes.size());
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

std::string row_seed(uint64_t id, uint64_t version, uint64_t first,
                     std::vector<uint64_t> recent) {
  stream_row row;
  row.id = id;
  row.version = version;
  row.first = first;
  for (auto x : recent)
    row.recent.push_back(x);
  char buf[detail::max_row_size];
  auto n = detail::encode_stream_row(row, buf);
  return std::string{'\0'} + std::string{buf, n};
}

std::string block_seed(std::vector<uint64_t> xs) {
  std::string out{'\1'};
  detail::encode_positions(xs.data(), xs.size(), out);
  return out;
}

} // namespace

namespace cairn::fuzz {

void init() {
  // nop
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
  };
}

} // namespace cairn::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto in = fuzz::as_view(data, size);
  if (fuzz::take_byte(in) % 2 == 0)
    fuzz_row(in);
  else
    fuzz_positions(in);
  return 0;
}
