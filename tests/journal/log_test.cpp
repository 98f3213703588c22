#include "cairn/journal/log.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <thread>
#include <vector>

using namespace cairn;

namespace {

/// Captures the lines written while it lives, at level `x`.
struct capture {
  struct line {
    log::level lvl;
    std::string component;
    std::string text;
  };
  std::vector<line> lines;
  log::level old_level;
  log::sink old_sink;

  explicit capture(log::level x) : old_level(log::current_level()) {
    log::set_level(x);
    old_sink = log::set_sink(
      [this](log::level l, std::string_view c, std::string_view t) {
        lines.push_back({l, std::string{c}, std::string{t}});
      });
  }

  ~capture() {
    log::set_sink(std::move(old_sink));
    log::set_level(old_level);
  }
};

} // namespace

TEST_CASE("levels parse by name and print back") {
  for (auto x : {log::level::quiet, log::level::error, log::level::warning,
                 log::level::info, log::level::debug})
    CHECK(log::parse_level(log::to_string(x)) == x);
  CHECK(!log::parse_level("verbose"));
  CHECK(!log::parse_level(""));
  CHECK(!log::parse_level("INFO"));
}

TEST_CASE("a level writes itself and the levels before it, nothing after") {
  capture cap{log::level::warning};
  CHECK(log::enabled(log::level::error));
  CHECK(log::enabled(log::level::warning));
  CHECK(!log::enabled(log::level::info));
  log::error("journal", "e");
  log::warning("outbox", "w");
  log::info("invoice-1", "i");
  log::debug("registry.invoice", "d");
  REQUIRE(cap.lines.size() == 2);
  CHECK(cap.lines[0].lvl == log::level::error);
  CHECK(cap.lines[0].component == "journal");
  CHECK(cap.lines[1].text == "w");
}

TEST_CASE("quiet writes nothing, not even errors") {
  capture cap{log::level::quiet};
  CHECK(!log::enabled(log::level::error));
  CHECK(!log::enabled(log::level::quiet));
  log::error("journal", "e");
  CHECK(cap.lines.empty());
}

TEST_CASE("debug writes everything") {
  capture cap{log::level::debug};
  log::error("a", "1");
  log::warning("a", "2");
  log::info("a", "3");
  log::debug("a", "4");
  CHECK(cap.lines.size() == 4);
}

TEST_CASE("lines from many threads arrive whole") {
  capture cap{log::level::info};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([t] {
      for (int i = 0; i < 250; ++i)
        log::info("thread" + std::to_string(t), "line " + std::to_string(i));
    });
  for (auto& th : threads)
    th.join();
  REQUIRE(cap.lines.size() == 1000);
  for (auto& l : cap.lines)
    CHECK(l.text.rfind("line ", 0) == 0);
}
