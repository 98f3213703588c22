#include "cairn/journal/detail/record_format.hpp"

#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include "cairn/journal/detail/crc32c.hpp"

using namespace cairn::journal;
using namespace cairn::journal::detail;

namespace {

event_record sample() {
  event_record r;
  r.type = "payment_received";
  r.schema_version = 2;
  r.correlation_id = "order-1";
  r.causation_id = "cmd-1";
  r.metadata = "trace=abc";
  r.payload = "0123456789";
  return r;
}

std::string encode(const event_record& r, uint64_t pos = 77) {
  std::string buf(encoded_size(r), '\0');
  encode_record(r, pos, 5555, buf.data());
  return buf;
}

} // namespace

TEST_CASE("a record decodes to what was encoded") {
  auto r = sample();
  auto buf = encode(r);
  event_record out;
  uint64_t pos = 0;
  CHECK(decode_record(buf.data(), buf.size(), out, pos).empty());
  CHECK(pos == 77);
  r.timestamp_ns = 5555;
  CHECK(out == r);
}

TEST_CASE("every single flipped byte of a record is detected") {
  auto buf = encode(sample());
  for (size_t i = 0; i < buf.size(); ++i) {
    auto copy = buf;
    copy[i] = static_cast<char>(copy[i] ^ 0x5A);
    event_record out;
    uint64_t pos = 0;
    CHECK(!decode_record(copy.data(), copy.size(), out, pos).empty());
  }
}

TEST_CASE("every truncation of a record is refused without reading past it") {
  auto buf = encode(sample());
  for (size_t n = 0; n < buf.size(); ++n) {
    // A heap copy of exactly n bytes, so sanitizers catch overreads.
    std::vector<char> copy(buf.begin(), buf.begin() + static_cast<long>(n));
    event_record out;
    uint64_t pos = 0;
    CHECK(!decode_record(copy.data(), copy.size(), out, pos).empty());
  }
}

TEST_CASE("random bytes with a valid checksum never decode out of bounds") {
  // Fuzz: random lengths inside a record whose checksum is recomputed, so
  // the decoder's length checks are what stands between it and the end.
  uint64_t state = 42;
  auto next = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<uint32_t>(state >> 33);
  };
  for (int round = 0; round < 2000; ++round) {
    std::vector<char> bytes(record_header_size + next() % 64);
    for (auto& b : bytes)
      b = static_cast<char>(next());
    bytes[4] = static_cast<char>(record_format);
    auto crc = cairn::journal::detail::crc32c(bytes.data() + 4,
                                              bytes.size() - 4);
    std::memcpy(bytes.data(), &crc, 4);
    event_record out;
    uint64_t pos = 0;
    auto why = decode_record(bytes.data(), bytes.size(), out, pos);
    if (why.empty())
      CHECK(encoded_size(out) == bytes.size());
  }
}

TEST_CASE("an oversized field makes the record unencodable") {
  auto r = sample();
  r.type.assign(70000, 't');
  CHECK(encoded_size(r) == 0);
}
