#include "cairn/journal/detail/crc32c.hpp"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#  include <nmmintrin.h>
#endif

namespace cairn::journal::detail {

namespace {

constexpr uint32_t poly = 0x82F63B78u; // reflected Castagnoli polynomial

struct table_t {
  std::array<std::array<uint32_t, 256>, 8> t{};
  constexpr table_t() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k)
        c = (c & 1) ? (c >> 1) ^ poly : c >> 1;
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i)
      for (size_t k = 1; k < 8; ++k)
        t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFF];
  }
};

constexpr table_t table{};

uint32_t crc32c_sw(const uint8_t* p, size_t n, uint32_t crc) noexcept {
  crc = ~crc;
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    word ^= crc;
    crc = table.t[7][word & 0xFF] ^ table.t[6][(word >> 8) & 0xFF]
          ^ table.t[5][(word >> 16) & 0xFF] ^ table.t[4][(word >> 24) & 0xFF]
          ^ table.t[3][(word >> 32) & 0xFF] ^ table.t[2][(word >> 40) & 0xFF]
          ^ table.t[1][(word >> 48) & 0xFF] ^ table.t[0][word >> 56];
    p += 8;
    n -= 8;
  }
  while (n-- > 0)
    crc = table.t[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t
crc32c_hw(const uint8_t* p, size_t n, uint32_t crc) noexcept {
  uint64_t c = ~crc;
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    c = _mm_crc32_u64(c, word);
    p += 8;
    n -= 8;
  }
  auto c32 = static_cast<uint32_t>(c);
  while (n-- > 0)
    c32 = _mm_crc32_u8(c32, *p++);
  return ~c32;
}

bool have_sse42() noexcept {
  static const bool result = __builtin_cpu_supports("sse4.2");
  return result;
}
#endif

} // namespace

uint32_t crc32c(const void* data, size_t size, uint32_t crc) noexcept {
  auto p = static_cast<const uint8_t*>(data);
#if defined(__x86_64__)
  if (have_sse42())
    return crc32c_hw(p, size, crc);
#endif
  return crc32c_sw(p, size, crc);
}

} // namespace cairn::journal::detail
