#include "bench/plot.hpp"

#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace cairn::bench {

namespace {

/// Quotes `str` for a gnuplot string in double quotes.
std::string gp_quote(const std::string& str) {
  std::string result = "\"";
  for (auto c : str) {
    if (c == '"' || c == '\\')
      result += '\\';
    result += c;
  }
  result += '"';
  return result;
}

/// Quotes `str` for the shell in single quotes.
std::string sh_quote(const std::string& str) {
  std::string result = "'";
  for (auto c : str) {
    if (c == '\'')
      result += "'\\''";
    else
      result += c;
  }
  result += '\'';
  return result;
}

void check_point(const plot_spec& spec, const plot_series& s, double x,
                 double y) {
  auto bad = [&](const char* why) {
    throw std::runtime_error("plot " + spec.name + ": series '" + s.title
                             + "': " + why);
  };
  if (!std::isfinite(x) || !std::isfinite(y))
    bad("a point is not a finite number");
  if (spec.log_x && x <= 0)
    bad("an x value is not positive on a logarithmic axis");
  if (spec.log_y && y <= 0)
    bad("a y value is not positive on a logarithmic axis");
}

} // namespace

std::string gnuplot_program() {
  if (auto env = std::getenv("CAIRN_GNUPLOT"); env != nullptr && *env != 0)
    return env;
  return "gnuplot";
}

std::string write_plot(const std::string& dir, const plot_spec& spec) {
  namespace fs = std::filesystem;
  if (spec.series.empty())
    throw std::runtime_error("plot " + spec.name + ": no series");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    throw std::runtime_error("plot " + spec.name + ": cannot create " + dir
                             + ": " + ec.message());
  auto base = (fs::path{dir} / spec.name).string();
  auto dat = base + ".dat";
  auto gp = base + ".gp";
  auto svg = base + ".svg";
  {
    std::ofstream out{dat};
    out.precision(10);
    for (auto& s : spec.series) {
      if (s.points.empty())
        throw std::runtime_error("plot " + spec.name + ": series '" + s.title
                                 + "' has no point");
      out << "# " << s.title << '\n';
      for (auto& [x, y] : s.points) {
        check_point(spec, s, x, y);
        out << x << ' ' << y << '\n';
      }
      out << "\n\n"; // gnuplot: the next data set (index)
    }
    if (!out)
      throw std::runtime_error("plot " + spec.name + ": cannot write " + dat);
  }
  {
    std::ofstream out{gp};
    out << "# Draws " << spec.name << ".svg from " << spec.name
        << ".dat: gnuplot " << spec.name << ".gp\n"
        << "set terminal svg size 720,440 dynamic enhanced font 'sans,12'\n"
        << "set output " << gp_quote(fs::path{svg}.filename().string()) << '\n'
        << "set title " << gp_quote(spec.title) << " noenhanced\n"
        << "set xlabel " << gp_quote(spec.xlabel) << " noenhanced\n"
        << "set ylabel " << gp_quote(spec.ylabel) << " noenhanced\n"
        << "set key outside bottom center horizontal noenhanced\n"
        << "set grid\n"
        << "set yrange [" << (spec.log_y ? "*" : "0") << ":*]\n";
    if (spec.log_x)
      out << "set logscale x 10\n";
    if (spec.log_y)
      out << "set logscale y 10\n";
    out << "plot ";
    for (size_t i = 0; i < spec.series.size(); ++i) {
      if (i > 0)
        out << ", \\\n     ";
      out << gp_quote(fs::path{dat}.filename().string()) << " index " << i
          << " using 1:2 with linespoints lw 2 pt 7 title "
          << gp_quote(spec.series[i].title);
    }
    out << '\n';
    if (!out)
      throw std::runtime_error("plot " + spec.name + ": cannot write " + gp);
  }
  // gnuplot runs in `dir`, so the script names its files relative to it.
  auto cmd = "cd " + sh_quote(dir) + " && " + sh_quote(gnuplot_program()) + " "
             + sh_quote(fs::path{gp}.filename().string()) + " 2>&1";
  std::string output;
  auto f = popen(cmd.c_str(), "r");
  if (f == nullptr)
    throw std::runtime_error("plot " + spec.name + ": cannot run " + cmd);
  char buf[512];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
    output.append(buf, n);
  auto status = pclose(f);
  if (status != 0 || !fs::exists(svg))
    throw std::runtime_error(
      "plot " + spec.name + ": " + gnuplot_program() + " failed (exit "
      + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1)
      + "; is gnuplot-nox installed?): " + output);
  return svg;
}

} // namespace cairn::bench
