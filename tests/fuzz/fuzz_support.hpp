#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

/// What every fuzz target shares: invariant checks that abort (libFuzzer
/// then saves the input), and seed corpus writing.
///
/// Each target defines `cairn::fuzz::seeds()`, a handful of small valid
/// inputs made with the encoders under test, and `cairn::fuzz::init()`.
/// Run a target with `CAIRN_FUZZ_WRITE_SEEDS=DIR` to write its seeds into
/// DIR (as `seed-00`, `seed-01`, ...) and exit: tests/fuzz/make_corpus.sh
/// does so for every target.
namespace cairn::fuzz {

/// Returns the seed inputs of this target.
std::vector<std::string> seeds();

/// Prepares the target once before the first input.
void init();

[[noreturn]] inline void fail(const char* what, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: invariant violated: %s\n", file, line, what);
  std::abort();
}

/// Returns the bytes of the fuzzer's input as a string view.
inline std::string_view as_view(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/// Splits the first byte off `in`: returns 0 for an empty input.
inline uint8_t take_byte(std::string_view& in) {
  if (in.empty())
    return 0;
  auto x = static_cast<uint8_t>(in.front());
  in.remove_prefix(1);
  return x;
}

/// Splits up to `n` bytes off `in`.
inline std::string_view take(std::string_view& in, size_t n) {
  auto result = in.substr(0, n);
  in.remove_prefix(result.size());
  return result;
}

} // namespace cairn::fuzz

/// Aborts with the condition's text when `cond` is false.
#define CAIRN_FUZZ_CHECK(cond)                                                 \
  ((cond) ? void(0) : ::cairn::fuzz::fail(#cond, __FILE__, __LINE__))

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (auto dir = std::getenv("CAIRN_FUZZ_WRITE_SEEDS")) {
    auto xs = cairn::fuzz::seeds();
    for (size_t i = 0; i < xs.size(); ++i) {
      char name[16];
      std::snprintf(name, sizeof(name), "/seed-%02zu", i);
      std::ofstream out{std::string{dir} + name, std::ios::binary};
      out.write(xs[i].data(), static_cast<std::streamsize>(xs[i].size()));
      if (!out) {
        std::fprintf(stderr, "cannot write %s%s\n", dir, name);
        std::exit(EXIT_FAILURE);
      }
    }
    std::exit(EXIT_SUCCESS);
  }
  cairn::fuzz::init();
  return 0;
}
