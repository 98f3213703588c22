#include "cairn/journal/detail/crc32c.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

using cairn::journal::detail::crc32c;
using cairn::journal::detail::crc32c_portable;

TEST_CASE("crc32c gives the Castagnoli check value") {
  std::string check = "123456789";
  CHECK(crc32c(check.data(), check.size()) == 0xE3069283u);
  CHECK(crc32c_portable(check.data(), check.size()) == 0xE3069283u);
  CHECK(crc32c(check.data(), 0) == 0);
}

TEST_CASE("crc32c agrees with the table-driven version at every length and "
          "alignment, across its blocks of three lanes") {
  std::mt19937_64 rng{42};
  std::vector<uint8_t> bytes(2048 + 8);
  for (auto& b : bytes)
    b = static_cast<uint8_t>(rng());
  for (size_t offset = 0; offset < 8; ++offset)
    for (size_t n = 0; n <= 2048; ++n) {
      auto p = bytes.data() + offset;
      auto expected = crc32c_portable(p, n);
      if (crc32c(p, n) != expected) {
        CAPTURE(offset, n);
        FAIL("crc32c differs from the table-driven version");
      }
    }
}

TEST_CASE("crc32c continues a checksum: the CRC of a then b is the CRC of b "
          "from the CRC of a") {
  std::mt19937_64 rng{7};
  std::vector<uint8_t> bytes(1000);
  for (auto& b : bytes)
    b = static_cast<uint8_t>(rng());
  for (size_t split : {0u, 1u, 100u, 191u, 192u, 193u, 500u, 1000u}) {
    CAPTURE(split);
    auto whole = crc32c(bytes.data(), bytes.size());
    auto first = crc32c(bytes.data(), split);
    CHECK(crc32c(bytes.data() + split, bytes.size() - split, first) == whole);
  }
}
