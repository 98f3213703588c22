#include "cairn/journal/detail/record_format.hpp"

#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include "cairn/journal/detail/bytes.hpp"
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

// -- log values ---------------------------------------------------------------

namespace {

std::string encode_value(const event_record& r, uint64_t id = 3,
                         uint64_t seq = 7, uint64_t pos = 77) {
  std::string buf(log_value_size(r, id, seq, pos), '\0');
  encode_log_value(r, id, seq, pos, 5555, buf.data());
  return buf;
}

/// The value as journal formats 2 to 4 wrote it.
std::string encode_prefixed(const event_record& r, uint64_t id = 3,
                            uint64_t seq = 7, uint64_t pos = 77) {
  std::string buf(prefixed_value_header + encoded_size(r), '\0');
  put_be64(buf.data(), id);
  put_be64(buf.data() + 8, seq);
  encode_record(r, pos, 5555, buf.data() + prefixed_value_header);
  return buf;
}

/// Sets the checksum of the compact value `buf` to match its bytes.
void reseal(std::string& buf) {
  auto crc = crc32c(buf.data() + 5, buf.size() - 5);
  std::memcpy(buf.data() + 1, &crc, 4);
}

} // namespace

TEST_CASE("a log value decodes to the stream, version, position and record "
          "encoded") {
  auto r = sample();
  auto big = GENERATE(false, true);
  uint64_t id = big ? uint64_t{1} << 62 : 3;
  uint64_t seq = big ? ~uint64_t{0} - 1 : 7;
  uint64_t pos = big ? uint64_t{1} << 40 : 77;
  auto buf = encode_value(r, id, seq, pos);
  CHECK(buf.size() == log_value_size(r, id, seq, pos));
  CHECK(static_cast<uint8_t>(buf[0]) == compact_record_format);
  event_record out;
  uint64_t got_id = 0, got_seq = 0, got_pos = 0;
  REQUIRE(decode_log_value(buf.data(), buf.size(), got_id, got_seq, out,
                           got_pos)
            .empty());
  r.timestamp_ns = 5555;
  CHECK(out == r);
  CHECK(got_id == id);
  CHECK(got_seq == seq);
  CHECK(got_pos == pos);
  record_view view;
  got_id = got_seq = got_pos = 0;
  REQUIRE(decode_log_value(buf.data(), buf.size(), got_id, got_seq, view,
                           got_pos)
            .empty());
  CHECK(view.type == r.type);
  CHECK(view.schema_version == r.schema_version);
  CHECK(view.timestamp_ns == 5555);
  CHECK(view.correlation_id == r.correlation_id);
  CHECK(view.causation_id == r.causation_id);
  CHECK(view.metadata == r.metadata);
  CHECK(view.payload == r.payload);
  CHECK(got_pos == pos);
  uint64_t key_id = 0, key_seq = 0;
  REQUIRE(log_value_key(buf.data(), buf.size(), key_id, key_seq));
  CHECK(key_id == id);
  CHECK(key_seq == seq);
}

TEST_CASE("a log value as formats 2 to 4 wrote it still decodes") {
  auto r = sample();
  auto buf = encode_prefixed(r);
  event_record out;
  uint64_t id = 0, seq = 0, pos = 0;
  REQUIRE(decode_log_value(buf.data(), buf.size(), id, seq, out, pos).empty());
  r.timestamp_ns = 5555;
  CHECK(out == r);
  CHECK(id == 3);
  CHECK(seq == 7);
  CHECK(pos == 77);
  uint64_t key_id = 0, key_seq = 0;
  REQUIRE(log_value_key(buf.data(), buf.size(), key_id, key_seq));
  CHECK(key_id == 3);
  CHECK(key_seq == 7);
}

TEST_CASE("a compact log value is smaller than the prefixed record") {
  // A 200-byte payload and a short type: the bench's event.
  event_record r;
  r.type = "recorded";
  r.payload.assign(200, 'p');
  auto compact = log_value_size(r, 1000, 5000, 5'000'000);
  auto prefixed = prefixed_value_header + encoded_size(r);
  CHECK(compact + 25 <= prefixed);
}

TEST_CASE("every single flipped byte of a log value is detected") {
  auto buf = encode_value(sample());
  for (size_t i = 0; i < buf.size(); ++i) {
    auto copy = buf;
    copy[i] = static_cast<char>(copy[i] ^ 0x5A);
    event_record out;
    uint64_t id = 0, seq = 0, pos = 0;
    CHECK(!decode_log_value(copy.data(), copy.size(), id, seq, out, pos)
             .empty());
  }
}

TEST_CASE("every truncation of a log value is refused without reading past "
          "it") {
  auto compact = GENERATE(true, false);
  auto buf = compact ? encode_value(sample()) : encode_prefixed(sample());
  for (size_t n = 0; n < buf.size(); ++n) {
    std::vector<char> copy(buf.begin(), buf.begin() + static_cast<long>(n));
    event_record out;
    uint64_t id = 0, seq = 0, pos = 0;
    CHECK(!decode_log_value(copy.data(), copy.size(), id, seq, out, pos)
             .empty());
  }
}

TEST_CASE("a log value of an unknown format is refused, naming the format") {
  auto buf = encode_value(sample());
  buf[0] = 9;
  event_record out;
  uint64_t id = 0, seq = 0, pos = 0;
  auto why = decode_log_value(buf.data(), buf.size(), id, seq, out, pos);
  CHECK(why == "unknown log value format 9");
  CHECK(!log_value_key(buf.data(), buf.size(), id, seq));
}

TEST_CASE("a log value with a longer encoding of a number is refused") {
  // Stream id 3 as two bytes (0x83 0x00) instead of one: the same number,
  // under a valid checksum. Only the one encoding decodes, so that a
  // value that decodes is the bytes the journal would write.
  auto buf = encode_value(sample());
  REQUIRE(buf[5] == 3);
  buf.insert(buf.begin() + 6, '\0');
  buf[5] = static_cast<char>(0x83);
  reseal(buf);
  event_record out;
  uint64_t id = 0, seq = 0, pos = 0;
  CHECK(!decode_log_value(buf.data(), buf.size(), id, seq, out, pos).empty());
}

TEST_CASE("random log values with a valid checksum never decode out of "
          "bounds") {
  uint64_t state = 7;
  auto next = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<uint32_t>(state >> 33);
  };
  size_t decoded = 0;
  for (int round = 0; round < 4000; ++round) {
    std::string bytes(5 + next() % 48, '\0');
    for (auto& b : bytes)
      b = static_cast<char>(next() % 4 == 0 ? next() : next() % 3);
    bytes[0] = static_cast<char>(compact_record_format);
    reseal(bytes);
    event_record out;
    uint64_t id = 0, seq = 0, pos = 0;
    if (!decode_log_value(bytes.data(), bytes.size(), id, seq, out, pos)
           .empty())
      continue;
    ++decoded;
    REQUIRE(log_value_size(out, id, seq, pos) == bytes.size());
    std::string again(bytes.size(), '\0');
    encode_log_value(out, id, seq, pos, out.timestamp_ns, again.data());
    CHECK(again == bytes);
  }
  CHECK(decoded > 0);
}

TEST_CASE("an oversized field makes the log value unencodable") {
  auto r = sample();
  r.correlation_id.assign(70000, 'c');
  CHECK(log_value_size(r, 1, 1, 1) == 0);
}

TEST_CASE("a damaged log value is refused with what is wrong with it") {
  event_record out;
  uint64_t id = 0, seq = 0, pos = 0;
  auto why = [&](const std::string& bytes) {
    return decode_log_value(bytes.data(), bytes.size(), id, seq, out, pos);
  };
  auto good = encode_value(sample());
  CHECK(why("") == "empty log value");
  CHECK(why(good.substr(0, 3)) == "log value of 3 bytes is shorter than its "
                                  "header");
  CHECK(why(std::string(9, '\0'))
        == "log value of 9 bytes is shorter than its stream prefix");
  // Cut right after the checksum, then inside the timestamp; resealed, so
  // that the checksum passes and the fields are what fails.
  auto cut = good.substr(0, 5);
  reseal(cut);
  CHECK(why(cut) == "a bad stream id, version or position in the record");
  cut = good.substr(0, 5 + 3 + 4);
  reseal(cut);
  CHECK(why(cut) == "the record ends before its timestamp");
  // A schema version over 32 bits: 2^35 as a varint.
  auto big_schema = good.substr(0, 5 + 3 + 8);
  big_schema += std::string{"\x80\x80\x80\x80\x80\x01", 6};
  big_schema += std::string(5, '\0');
  reseal(big_schema);
  CHECK(why(big_schema) == "a bad schema version in the record");
  // A type length past the end.
  auto long_type = good.substr(0, 5 + 3 + 8 + 1);
  long_type += '\x7F';
  reseal(long_type);
  CHECK(why(long_type) == "a field length runs past the end of the record");
  // A value of the older layout too short for its record.
  auto prefixed = encode_prefixed(sample());
  prefixed.resize(prefixed_value_header + 3);
  CHECK(why(prefixed) == "record of 3 bytes is shorter than "
                           + std::to_string(record_header_size));
}
