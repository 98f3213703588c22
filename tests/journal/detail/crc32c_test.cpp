#include "cairn/journal/detail/crc32c.hpp"

#include <catch2/catch.hpp>

#include <cstring>
#include <string>

using cairn::journal::detail::crc32c;

TEST_CASE("crc32c matches the published check values") {
  // RFC 3720, appendix B.4, and the common "123456789" check value.
  const char* digits = "123456789";
  CHECK(crc32c(digits, 9) == 0xE3069283u);
  std::string zeros(32, '\0');
  CHECK(crc32c(zeros.data(), zeros.size()) == 0x8A9136AAu);
  std::string ones(32, '\xff');
  CHECK(crc32c(ones.data(), ones.size()) == 0x62A8AB43u);
}

TEST_CASE("crc32c can be computed in pieces") {
  std::string text = "the quick brown fox jumps over the lazy dog";
  auto whole = crc32c(text.data(), text.size());
  auto part = crc32c(text.data(), 10);
  CHECK(crc32c(text.data() + 10, text.size() - 10, part) == whole);
}
