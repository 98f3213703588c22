// Fuzzes the checked values of the `snapshots` and `tables` databases
// (cairn/journal/detail/value_format.hpp), as `journal::latest_snapshot` and
// `journal::table_get` read them.
//
// Input: a mode byte, a length byte and that many bytes of stream name (or
// table key), then the stored value. Bit 0 of the mode picks snapshots or
// table values; bit 1 replaces the stored checksum by the right one, so
// that the fields after it are reached.
//
// Invariants: no read out of bounds (ASan); `snapshot_version` accepts
// exactly the snapshot values `decode_snapshot` accepts, with the same
// version; a checked value that decodes is exactly what the encoder makes
// of its fields; a value of the earlier layout encodes to a checked value
// that decodes to the same fields.

#include "cairn/journal/detail/value_format.hpp"

#include "cairn/journal/detail/bytes.hpp"
#include "cairn/journal/detail/crc32c.hpp"
#include "tests/fuzz/fuzz_support.hpp"

using namespace cairn;
using namespace cairn::journal;

namespace {

bool same_fields(const snapshot& x, const snapshot& y) {
  return x.version == y.version && x.type == y.type && x.payload == y.payload
         && x.schema_version == y.schema_version;
}

uint32_t checksum(std::string_view key, std::string_view rest) {
  return detail::crc32c(rest.data(), rest.size(),
                        detail::crc32c(key.data(), key.size()));
}

void fuzz_snapshot(std::string_view stream, std::string value, bool fix) {
  if (fix && value.size() >= 5
      && static_cast<uint8_t>(value[0]) == detail::snapshot_layout)
    detail::put_le<uint32_t>(
      value.data() + 1, checksum(stream, std::string_view{value}.substr(5)));
  snapshot s;
  auto why = detail::decode_snapshot(stream, value, s);
  uint64_t version = 0;
  auto version_ok = detail::snapshot_version(stream, value, version);
  CAIRN_FUZZ_CHECK(why.empty() == version_ok);
  if (!why.empty())
    return;
  CAIRN_FUZZ_CHECK(version == s.version);
  CAIRN_FUZZ_CHECK(s.type.size() <= 0xFFFF);
  s.stream = std::string{stream};
  auto encoded = detail::encode_snapshot(s);
  if (static_cast<uint8_t>(value[0]) == detail::snapshot_layout) {
    CAIRN_FUZZ_CHECK(encoded == value);
  } else {
    CAIRN_FUZZ_CHECK(s.schema_version == 1);
    snapshot again;
    CAIRN_FUZZ_CHECK(detail::decode_snapshot(stream, encoded, again).empty());
    CAIRN_FUZZ_CHECK(same_fields(s, again));
  }
}

void fuzz_table_value(std::string_view key, std::string stored, bool fix) {
  if (fix && stored.size() >= detail::table_value_header_size)
    detail::put_le<uint32_t>(stored.data(),
                             checksum(key, std::string_view{stored}.substr(
                                             detail::table_value_header_size)));
  std::string_view value;
  auto why = detail::decode_table_value(key, stored, value);
  if (!why.empty())
    return;
  CAIRN_FUZZ_CHECK(detail::encode_table_value(key, value) == stored);
}

std::string with_header(uint8_t mode, const std::string& key,
                        const std::string& value) {
  std::string result;
  result += static_cast<char>(mode);
  result += static_cast<char>(key.size());
  result += key;
  result += value;
  return result;
}

} // namespace

namespace cairn::fuzz {

void init() {
  // nop
}

std::vector<std::string> seeds() {
  snapshot a;
  a.stream = "order-7";
  a.version = 12;
  a.type = "order_state";
  a.schema_version = 3;
  a.payload = std::string{"\x02\x00\x00\x00\x00\x00\x00\x00ok", 10};
  snapshot b;
  b.stream = "c";
  b.version = uint64_t{1} << 33;
  b.type = "";
  // The layout of earlier builds: version, type name length, type, payload.
  std::string old(8, '\0');
  detail::put_be64(old.data(), 5);
  old += std::string{"\x05\x00", 2} + "state" + "payload";
  // A `tables` key: table name, a NUL byte, key.
  auto key = std::string{"cairn.outbox"} + '\0' + "order-7/1";
  return {
    with_header(2, a.stream, detail::encode_snapshot(a)),
    with_header(0, b.stream, detail::encode_snapshot(b)),
    with_header(2, "order-8", old),
    with_header(3, key, detail::encode_table_value(key, "value")),
    with_header(1, "t", detail::encode_table_value("t", "")),
  };
}

} // namespace cairn::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto in = fuzz::as_view(data, size);
  auto mode = fuzz::take_byte(in);
  auto key = fuzz::take(in, fuzz::take_byte(in));
  bool fix = (mode & 2) != 0;
  if ((mode & 1) == 0)
    fuzz_snapshot(key, std::string{in}, fix);
  else
    fuzz_table_value(key, std::string{in}, fix);
  return 0;
}
