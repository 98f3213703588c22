#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace cairn::journal::detail {

/// Returns the length of the valid UTF-8 sequence at `str[i]`, 0 if the
/// bytes there are not valid UTF-8 (overlong forms and surrogates
/// included).
inline size_t utf8_length(std::string_view str, size_t i) {
  auto byte = [&](size_t k) { return static_cast<uint8_t>(str[i + k]); };
  auto c = byte(0);
  size_t len = 0;
  uint8_t lo = 0x80;
  uint8_t hi = 0xBF;
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    lo = c == 0xE0 ? 0xA0 : 0x80;
    hi = c == 0xED ? 0x9F : 0xBF;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    lo = c == 0xF0 ? 0x90 : 0x80;
    hi = c == 0xF4 ? 0x8F : 0xBF;
  } else {
    return 0;
  }
  if (str.size() - i < len || byte(1) < lo || byte(1) > hi)
    return 0;
  for (size_t k = 2; k < len; ++k)
    if (byte(k) < 0x80 || byte(k) > 0xBF)
      return 0;
  return len;
}

} // namespace cairn::journal::detail
