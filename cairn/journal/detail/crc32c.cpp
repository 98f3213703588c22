#include "cairn/journal/detail/crc32c.hpp"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
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

/// Bytes of each of the three blocks that the hardware CRC computes side by
/// side: one `crc32` instruction has a latency of three cycles and a
/// throughput of one per cycle, so three independent chains keep it busy.
constexpr size_t lane_bytes = 64;

/// The CRC register advanced over `lane_bytes` zero bytes, as tables by byte
/// of the register: the state after block A then block B is the state after
/// A shifted this way, xor the state after B alone (the CRC is linear).
struct shift_table_t {
  std::array<std::array<uint32_t, 256>, 4> t{};
  static constexpr uint32_t zeros8(uint32_t c) {
    // Eight zero bytes in one step of the slicing-by-8 update.
    return table.t[7][c & 0xFF] ^ table.t[6][(c >> 8) & 0xFF]
           ^ table.t[5][(c >> 16) & 0xFF] ^ table.t[4][c >> 24];
  }
  constexpr shift_table_t() {
    for (uint32_t k = 0; k < 4; ++k)
      for (uint32_t b = 0; b < 256; ++b) {
        uint32_t c = b << (8 * k);
        for (size_t i = 0; i < lane_bytes; i += 8)
          c = zeros8(c);
        t[k][b] = c;
      }
  }
  constexpr uint32_t operator()(uint32_t c) const {
    return t[0][c & 0xFF] ^ t[1][(c >> 8) & 0xFF] ^ t[2][(c >> 16) & 0xFF]
           ^ t[3][c >> 24];
  }
};

constexpr shift_table_t shift_lane{};

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
__attribute__((target("sse4.2"))) uint32_t crc32c_hw(const uint8_t* p, size_t n,
                                                     uint32_t crc) noexcept {
  uint64_t c = ~crc;
  auto load = [](const uint8_t* at) {
    uint64_t word;
    std::memcpy(&word, at, 8);
    return word;
  };
  while (n >= 3 * lane_bytes) {
    uint64_t c1 = 0;
    uint64_t c2 = 0;
    for (size_t i = 0; i < lane_bytes; i += 8) {
      c = _mm_crc32_u64(c, load(p + i));
      c1 = _mm_crc32_u64(c1, load(p + lane_bytes + i));
      c2 = _mm_crc32_u64(c2, load(p + 2 * lane_bytes + i));
    }
    auto x = shift_lane(static_cast<uint32_t>(c)) ^ static_cast<uint32_t>(c1);
    c = shift_lane(x) ^ static_cast<uint32_t>(c2);
    p += 3 * lane_bytes;
    n -= 3 * lane_bytes;
  }
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

uint32_t crc32c_portable(const void* data, size_t size, uint32_t crc) noexcept {
  return crc32c_sw(static_cast<const uint8_t*>(data), size, crc);
}

} // namespace cairn::journal::detail
