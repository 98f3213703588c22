#pragma once

#include <cstdint>
#include <cstring>
#include <string>

/// Byte-level helpers for keys and values: big-endian keys (so LMDB's
/// memcmp order is numeric order) and little-endian fields.
namespace cairn::journal::detail {

inline void put_be64(char* out, uint64_t x) noexcept {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(x & 0xFF);
    x >>= 8;
  }
}

inline uint64_t get_be64(const char* in) noexcept {
  uint64_t x = 0;
  for (int i = 0; i < 8; ++i)
    x = (x << 8) | static_cast<uint8_t>(in[i]);
  return x;
}

template <class T>
void put_le(char* out, T x) noexcept {
  static_assert(std::is_integral<T>::value);
  std::memcpy(out, &x, sizeof(T)); // x86_64 and aarch64 are little-endian
}

template <class T>
T get_le(const char* in) noexcept {
  T x;
  std::memcpy(&x, in, sizeof(T));
  return x;
}

/// A 16-byte key of (stream id, sequence number).
struct event_key {
  char bytes[16];
  event_key(uint64_t id, uint64_t seq) noexcept {
    put_be64(bytes, id);
    put_be64(bytes + 8, seq);
  }
};

/// An 8-byte key of one number.
struct u64_key {
  char bytes[8];
  explicit u64_key(uint64_t x) noexcept {
    put_be64(bytes, x);
  }
};

} // namespace cairn::journal::detail
