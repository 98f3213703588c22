#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

namespace cairn::test {

/// A child process started with fork + exec (never a bare fork), its
/// standard output connected to a pipe the parent reads line by line.
class child_process {
public:
  /// Starts `argv[0]` with `argv`. Throws `std::runtime_error` on failure.
  explicit child_process(const std::vector<std::string>& argv);

  /// Kills (SIGKILL) and reaps the child if it still runs.
  ~child_process();

  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  /// Reads the next line of output, waiting at most `timeout_ms`. Returns
  /// false at end of output or on timeout (`timed_out()` tells which).
  bool read_line(std::string& line, int timeout_ms = 30000);

  bool timed_out() const noexcept {
    return timed_out_;
  }

  /// Sends SIGKILL.
  void kill();

  /// Waits for the child to exit and returns its exit status as
  /// `waitpid` reports it.
  int wait();

  pid_t pid() const noexcept {
    return pid_;
  }

private:
  pid_t pid_ = -1;
  int fd_ = -1;
  bool reaped_ = false;
  bool timed_out_ = false;
  int status_ = 0;
  std::string buffer_;
};

/// When `kill_at` kills a child: after `lines` lines of output that count
/// (0: no limit), or `ms` milliseconds after the call (negative: no limit),
/// whichever comes first.
struct kill_moment {
  size_t lines = 0;
  int ms = -1;

  /// `"after 12 lines"`, `"after 80 ms"`, `"after 3 lines or 80 ms"`.
  std::string to_string() const;
};

/// What a child printed until it died, and how it died.
struct killed_run {
  std::vector<std::string> lines;
  /// The status `waitpid` reported.
  int status = 0;
  /// Whether the wait for the next line timed out (the child was stuck).
  bool stalled = false;
};

/// Reads `child`'s output line by line until `when` comes, then kills it
/// (SIGKILL), reaps it and reads what it printed before it died. Returns
/// early when the child ends by itself. A line counts towards `when.lines`
/// if `counts` is empty or returns true for it. Without a time limit, a
/// child that prints nothing for `stall_ms` is killed too (`stalled`).
killed_run kill_at(child_process& child, const kill_moment& when,
                   const std::function<bool(const std::string&)>& counts = {},
                   int stall_ms = 20000);

/// The result of running a command to its end.
struct run_result {
  /// The exit code, or -1 if the child did not exit normally.
  int exit_code = -1;
  /// Its standard output and standard error, interleaved.
  std::string output;
};

/// Runs `argv` to completion (at most `timeout_ms`), capturing stdout and
/// stderr together.
run_result run(const std::vector<std::string>& argv, int timeout_ms = 60000);

/// Returns the path of a built executable: `$CAIRN_BIN_DIR/name`.
std::string bin_path(const std::string& name);

} // namespace cairn::test
