#pragma once

#include <string>
#include <utility>
#include <vector>

/// SVG charts of `cairn-bench` figures (`--plot DIR`), drawn by gnuplot
/// (Debian's gnuplot-nox): one chart per figure, Cairn's line next to its
/// raw baseline's, against the concurrency of the case.
namespace cairn::bench {

/// One line of a chart: its legend and its points (x, y).
struct plot_series {
  std::string title;
  std::vector<std::pair<double, double>> points;
};

/// One chart.
struct plot_spec {
  /// File name without extension: the chart goes to `DIR/<name>.svg`, its
  /// data to `DIR/<name>.dat` and its gnuplot script to `DIR/<name>.gp`, so
  /// that it can be drawn again or restyled by hand.
  std::string name;
  std::string title;
  std::string xlabel;
  std::string ylabel;
  /// Logarithmic axes (concurrency usually grows by powers of ten).
  bool log_x = true;
  bool log_y = false;
  std::vector<plot_series> series;
};

/// Writes the data and script of `spec` into `dir` (created if missing) and
/// runs gnuplot on them. Returns the path of the SVG file.
///
/// Throws `std::runtime_error` naming the file or the command when `dir`
/// cannot be written, when a series has no point or a point is not finite
/// (not positive on a logarithmic axis), or when gnuplot is missing or fails.
std::string write_plot(const std::string& dir, const plot_spec& spec);

/// The gnuplot program `write_plot` runs: `$CAIRN_GNUPLOT` if set, else
/// `gnuplot` on the PATH.
std::string gnuplot_program();

} // namespace cairn::bench
