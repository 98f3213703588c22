#pragma once

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

/// Small helpers the saga examples share.
namespace sagas {

/// Formats cents as `"1234.50"`.
inline std::string money(int64_t cents) {
  auto abs = std::llabs(cents);
  return (cents < 0 ? "-" : "") + std::to_string(abs / 100) + '.'
         + std::to_string(100 + abs % 100).substr(1);
}

/// Returns the reason of a rejected command without the `"rejected: "` that
/// `cairn::describe` puts before the text an aggregate gave to `reject`.
inline std::string reason_of(const std::string& why) {
  const std::string prefix = "rejected: ";
  if (why.compare(0, prefix.size(), prefix) == 0)
    return why.substr(prefix.size());
  return why;
}

/// Joins `xs` with `", "`.
inline std::string join(const std::vector<std::string>& xs) {
  std::string result;
  for (auto& x : xs) {
    if (!result.empty())
      result += ", ";
    result += x;
  }
  return result;
}

} // namespace sagas
