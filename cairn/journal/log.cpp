#include "cairn/journal/log.hpp"

#include <atomic>
#include <iostream>
#include <mutex>
#include <string>

namespace cairn::log {

namespace {

std::atomic<level> current{level::warning};

std::mutex sink_mtx;

sink& installed() {
  static sink f;
  return f;
}

} // namespace

std::string_view to_string(level x) {
  switch (x) {
    case level::quiet:
      return "quiet";
    case level::error:
      return "error";
    case level::warning:
      return "warning";
    case level::info:
      return "info";
    case level::debug:
      return "debug";
  }
  return "?";
}

std::optional<level> parse_level(std::string_view str) {
  for (auto x :
       {level::quiet, level::error, level::warning, level::info, level::debug})
    if (to_string(x) == str)
      return x;
  return std::nullopt;
}

void set_level(level x) {
  current.store(x, std::memory_order_relaxed);
}

level current_level() {
  return current.load(std::memory_order_relaxed);
}

bool enabled(level x) {
  return x != level::quiet
         && static_cast<int>(x)
              <= static_cast<int>(current.load(std::memory_order_relaxed));
}

sink set_sink(sink f) {
  std::lock_guard<std::mutex> guard{sink_mtx};
  auto old = std::move(installed());
  installed() = std::move(f);
  return old;
}

void write(level x, std::string_view component, std::string_view text) {
  if (!enabled(x))
    return;
  std::lock_guard<std::mutex> guard{sink_mtx};
  if (auto& f = installed()) {
    f(x, component, text);
    return;
  }
  std::string line;
  line.reserve(16 + component.size() + text.size());
  line += "cairn: ";
  line += to_string(x);
  line += ": ";
  line += component;
  line += ": ";
  line += text;
  line += '\n';
  std::cerr << line << std::flush;
}

} // namespace cairn::log
