#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

/// Cairn's log: one small facade for what the runtime reports about itself
/// (an entity recovered, passivated, the journal fail-stopped, a cluster
/// link up or down, a record skipped). CAF 0.17's own logger is compiled out
/// of Debian's libcaf (`CAF_LOG_LEVEL_QUIET`), so it cannot carry these.
///
/// Lines go to standard error by default, as
/// `cairn: <level>: <component>: <text>`; `set_sink` sends them elsewhere.
/// The level comes from `log.level` in cairn.ini (`cairn::config`).
/// Thread-safe: lines are written whole, never interleaved.
namespace cairn::log {

/// How much is written; each level includes the ones before it.
enum class level {
  /// Nothing.
  quiet,
  /// Failures: the journal fail-stopped, a commit failed.
  error,
  /// Data or peers to look at: a corrupt record skipped, a link down, a dead
  /// letter (the default).
  warning,
  /// Life-cycle events: an entity recovered (with time and events), a link
  /// up.
  info,
  /// Everything, passivations included.
  debug,
};

/// Returns the name of `x`: quiet, error, warning, info, debug.
std::string_view to_string(level x);

/// Parses a level's name; nothing for an unknown one.
std::optional<level> parse_level(std::string_view str);

/// Sets the level (process-wide).
void set_level(level x);

/// Returns the current level.
level current_level();

/// Returns whether messages of level `x` are written now: check it before
/// building an expensive message.
bool enabled(level x);

/// Where lines go: `f(level, component, text)`; an empty function restores
/// standard error. Returns the sink it replaces.
using sink = std::function<void(level, std::string_view, std::string_view)>;
sink set_sink(sink f);

/// Writes `text` from `component` (e.g. `journal`, `registry.invoice`) at
/// level `x`, if enabled.
void write(level x, std::string_view component, std::string_view text);

inline void error(std::string_view component, std::string_view text) {
  write(level::error, component, text);
}

inline void warning(std::string_view component, std::string_view text) {
  write(level::warning, component, text);
}

inline void info(std::string_view component, std::string_view text) {
  write(level::info, component, text);
}

inline void debug(std::string_view component, std::string_view text) {
  write(level::debug, component, text);
}

} // namespace cairn::log
