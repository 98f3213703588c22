#include "bench/plot.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "tests/support/temp_dir.hpp"

using namespace cairn::bench;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in{path};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

plot_spec two_lines() {
  return plot_spec{
    "demo",
    "events/s against entities",
    "entities",
    "events/s",
    true,
    false,
    {{"Cairn", {{1, 2400}, {10, 21000}, {1000, 129000}}},
     {"raw \"LMDB\"", {{1, 3100}, {10, 30000}, {1000, 400000}}}}};
}

/// Runs `f` and returns the text of the runtime_error it throws.
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const std::runtime_error& ex) {
    return ex.what();
  }
  FAIL("no error");
  return {};
}

} // namespace

TEST_CASE("write_plot draws an SVG chart with every series and keeps its "
          "data and script") {
  cairn::test::temp_dir dir;
  auto svg = write_plot(dir.sub("charts"), two_lines());
  CHECK(svg == dir.sub("charts") + "/demo.svg");
  auto text = slurp(svg);
  CHECK(text.find("<svg") != std::string::npos);
  CHECK(text.find("</svg>") != std::string::npos);
  CHECK(text.find("Cairn") != std::string::npos);
  CHECK(text.find("raw \"LMDB\"") != std::string::npos);
  CHECK(text.find("events/s against entities") != std::string::npos);
  auto dat = slurp(dir.sub("charts/demo.dat"));
  CHECK(dat.find("1000 129000\n") != std::string::npos);
  CHECK(dat.find("1000 400000\n") != std::string::npos);
  CHECK(slurp(dir.sub("charts/demo.gp")).find("index 1") != std::string::npos);
}

TEST_CASE("write_plot refuses points it cannot draw and names the series") {
  cairn::test::temp_dir dir;
  auto spec = two_lines();
  spec.series[1].points.push_back({0, 5}); // 0 on a logarithmic x axis
  CHECK(error_of([&] { write_plot(dir.path(), spec); }).find("raw \"LMDB\"")
        != std::string::npos);
  spec = two_lines();
  spec.series[0].points.push_back(
    {100, std::numeric_limits<double>::quiet_NaN()});
  CHECK(error_of([&] { write_plot(dir.path(), spec); }).find("not a finite")
        != std::string::npos);
  spec = two_lines();
  spec.series[0].points.clear();
  CHECK(error_of([&] { write_plot(dir.path(), spec); }).find("no point")
        != std::string::npos);
}

TEST_CASE("write_plot without gnuplot says what to install") {
  cairn::test::temp_dir dir;
  setenv("CAIRN_GNUPLOT", "/nonexistent/gnuplot", 1);
  auto what = error_of([&] { write_plot(dir.path(), two_lines()); });
  unsetenv("CAIRN_GNUPLOT");
  CHECK(what.find("/nonexistent/gnuplot failed") != std::string::npos);
  CHECK(what.find("gnuplot-nox") != std::string::npos);
}
