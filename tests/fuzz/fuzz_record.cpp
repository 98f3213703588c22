// Fuzzes the stored event record format (cairn/journal/detail/record_format.hpp).
//
// Each input is decoded twice: as it is, which almost always stops at the
// CRC check, and with its first four bytes replaced by the CRC32C of the
// rest, which reaches the format byte and every length field. Invariants:
// a decode never reads out of bounds (ASan); a record that decodes is
// exactly the bytes `encode_record` makes of what it decoded to.

#include "cairn/journal/detail/record_format.hpp"

#include <cstring>

#include "cairn/journal/detail/bytes.hpp"
#include "cairn/journal/detail/crc32c.hpp"
#include "tests/fuzz/fuzz_support.hpp"

using namespace cairn;
using namespace cairn::journal;

namespace {

void check(const std::string& bytes) {
  event_record rec;
  uint64_t position = 0;
  auto why = detail::decode_record(bytes.data(), bytes.size(), rec, position);
  if (!why.empty())
    return;
  auto size = detail::encoded_size(rec);
  CAIRN_FUZZ_CHECK(size == bytes.size());
  std::string again(size, '\0');
  detail::encode_record(rec, position, rec.timestamp_ns, again.data());
  CAIRN_FUZZ_CHECK(again == bytes);
}

std::string encode(const event_record& rec, uint64_t position) {
  std::string out(detail::encoded_size(rec), '\0');
  detail::encode_record(rec, position, rec.timestamp_ns, out.data());
  return out;
}

} // namespace

namespace cairn::fuzz {

void init() {
  // nop
}

std::vector<std::string> seeds() {
  event_record a;
  a.type = "order_placed";
  a.schema_version = 2;
  a.timestamp_ns = 1700000000123456789;
  a.correlation_id = "req-1";
  a.causation_id = "cmd-1";
  a.payload = std::string{"\x07order-7\x00\x01", 10};
  event_record b;
  b.type = "x";
  b.timestamp_ns = 1;
  event_record c = a;
  c.metadata = "trace=abc";
  c.payload.clear();
  return {encode(a, 1), encode(b, 42), encode(c, uint64_t{1} << 40)};
}

} // namespace cairn::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes{reinterpret_cast<const char*>(data), size};
  check(bytes);
  if (bytes.size() >= 4) {
    auto crc = detail::crc32c(bytes.data() + 4, bytes.size() - 4);
    if (crc != detail::get_le<uint32_t>(bytes.data())) {
      detail::put_le<uint32_t>(bytes.data(), crc);
      check(bytes);
    }
  }
  return 0;
}
