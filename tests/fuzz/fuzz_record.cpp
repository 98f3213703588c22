// Fuzzes the stored event record formats and the `log` values that hold
// them (cairn/journal/detail/record_format.hpp).
//
// Each input is decoded as a record of format 1 and as a `log` value: as
// it is, which almost always stops at the CRC check, and with its checksum
// replaced by the CRC32C of the bytes it covers, which reaches the format
// byte and every length field. Invariants: a decode never reads out of
// bounds (ASan); a record or value that decodes is exactly the bytes
// `encode_record` or `encode_log_value` makes of what it decoded to.

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

void check_value(const std::string& bytes) {
  event_record rec;
  uint64_t id = 0, seq = 0, position = 0;
  auto why
    = detail::decode_log_value(bytes.data(), bytes.size(), id, seq, rec,
                               position);
  if (!why.empty())
    return;
  uint64_t key_id = 0, key_seq = 0;
  CAIRN_FUZZ_CHECK(
    detail::log_value_key(bytes.data(), bytes.size(), key_id, key_seq));
  CAIRN_FUZZ_CHECK(key_id == id && key_seq == seq);
  if (static_cast<uint8_t>(bytes[0]) != detail::compact_record_format)
    return; // a prefixed value: its record is checked by `check`
  auto size = detail::log_value_size(rec, id, seq, position);
  CAIRN_FUZZ_CHECK(size == bytes.size());
  std::string again(size, '\0');
  detail::encode_log_value(rec, id, seq, position, rec.timestamp_ns,
                           again.data());
  CAIRN_FUZZ_CHECK(again == bytes);
}

std::string encode_value(const event_record& rec, uint64_t id, uint64_t seq,
                         uint64_t position) {
  std::string out(detail::log_value_size(rec, id, seq, position), '\0');
  detail::encode_log_value(rec, id, seq, position, rec.timestamp_ns,
                           out.data());
  return out;
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
  return {encode(a, 1),
          encode(b, 42),
          encode(c, uint64_t{1} << 40),
          encode_value(a, 1, 1, 1),
          encode_value(b, 300, 70000, 42),
          encode_value(c, uint64_t{1} << 50, 2, uint64_t{1} << 40)};
}

} // namespace cairn::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes{reinterpret_cast<const char*>(data), size};
  check(bytes);
  check_value(bytes);
  if (bytes.size() >= 5
      && static_cast<uint8_t>(bytes[0]) == detail::compact_record_format) {
    auto value = bytes;
    auto crc = detail::crc32c(value.data() + 5, value.size() - 5);
    if (crc != detail::get_le<uint32_t>(value.data() + 1)) {
      detail::put_le<uint32_t>(value.data() + 1, crc);
      check_value(value);
    }
  }
  if (bytes.size() >= 4) {
    auto crc = detail::crc32c(bytes.data() + 4, bytes.size() - 4);
    if (crc != detail::get_le<uint32_t>(bytes.data())) {
      detail::put_le<uint32_t>(bytes.data(), crc);
      check(bytes);
    }
  }
  return 0;
}
