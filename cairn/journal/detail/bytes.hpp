#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

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

/// Appends `x` to `out` as a varint: 7 bits per byte, low bits first, the
/// high bit set on every byte but the last.
inline void put_varint(std::string& out, uint64_t x) {
  while (x >= 0x80) {
    out += static_cast<char>((x & 0x7F) | 0x80);
    x >>= 7;
  }
  out += static_cast<char>(x);
}

/// Writes `x` at `out` as a varint (see above); returns the end. `out` has
/// room for 10 bytes.
inline char* put_varint(char* out, uint64_t x) noexcept {
  while (x >= 0x80) {
    *out++ = static_cast<char>((x & 0x7F) | 0x80);
    x >>= 7;
  }
  *out++ = static_cast<char>(x);
  return out;
}

/// Reads a varint at `pos`, advancing it. False if it runs past `end` or
/// does not fit 64 bits.
inline bool get_varint(const char*& pos, const char* end,
                       uint64_t& x) noexcept {
  x = 0;
  for (unsigned shift = 0; shift < 64 && pos != end; shift += 7) {
    auto byte = static_cast<uint8_t>(*pos++);
    if (shift == 63 && byte > 1)
      return false;
    x |= static_cast<uint64_t>(byte & 0x7F) << shift;
    if ((byte & 0x80) == 0)
      return true;
  }
  return false;
}

/// Appends `n` strictly increasing log positions to `out`: the first as a
/// varint, then each difference to the one before as a varint.
inline void encode_positions(const uint64_t* xs, size_t n, std::string& out) {
  for (size_t i = 0; i < n; ++i)
    put_varint(out, i == 0 ? xs[0] : xs[i] - xs[i - 1]);
}

/// As above, at `out`, which has room for `10 * n` bytes; returns the end.
inline char* encode_positions(const uint64_t* xs, size_t n,
                              char* out) noexcept {
  for (size_t i = 0; i < n; ++i)
    out = put_varint(out, i == 0 ? xs[0] : xs[i] - xs[i - 1]);
  return out;
}

/// Calls `f` on each position encoded in `in`, in order, while it returns
/// true. False if `in` is malformed (a truncated varint, a zero
/// difference, an overflow) or if `f` returned false.
template <class F>
bool for_each_position(std::string_view in, F&& f) {
  auto pos = in.data();
  auto end = pos + in.size();
  uint64_t prev = 0;
  bool first = true;
  while (pos != end) {
    uint64_t x = 0;
    if (!get_varint(pos, end, x))
      return false;
    if (!first && (x == 0 || prev + x < prev))
      return false;
    prev = first ? x : prev + x;
    first = false;
    if (!f(prev))
      return false;
  }
  return true;
}

/// Appends the positions encoded in `in` to `out`. False if `in` is
/// malformed.
inline bool decode_positions(std::string_view in, std::vector<uint64_t>& out) {
  return for_each_position(in, [&out](uint64_t x) {
    out.push_back(x);
    return true;
  });
}

/// An 8-byte key of one number.
struct u64_key {
  char bytes[8];
  explicit u64_key(uint64_t x) noexcept {
    put_be64(bytes, x);
  }
};

} // namespace cairn::journal::detail
