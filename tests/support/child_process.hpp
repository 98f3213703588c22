#pragma once

#include <sys/types.h>

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
