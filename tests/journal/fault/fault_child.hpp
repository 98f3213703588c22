#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

/// Child processes and fifos for the fault tests: a child gets extra
/// environment variables (LD_PRELOAD of the fault shim and its settings) and
/// a pipe on its standard input, and the test waits on its output and on a
/// fifo at once, always with a time limit.
namespace cairn::test {

/// A child process started with fork + exec, with `env` (`NAME=value`
/// strings) added to the parent's environment, replacing variables of the
/// same name, its stdout (and, with `merge_stderr`, its stderr)
/// on a pipe the parent reads line by line, its stdin on a pipe the parent
/// writes.
class fault_child {
public:
  /// What `next` saw.
  enum class event { line, fd_ready, end, timeout };

  /// Starts `argv[0]`. Throws `std::runtime_error` on failure.
  fault_child(const std::vector<std::string>& argv,
              const std::vector<std::string>& env, bool merge_stderr = false);

  /// Kills (SIGKILL) and reaps the child if it still runs.
  ~fault_child();

  fault_child(const fault_child&) = delete;
  fault_child& operator=(const fault_child&) = delete;

  /// Waits at most `timeout_ms` for the next line of output or, when
  /// `other_fd` is not negative, for `other_fd` to become readable (then
  /// returns `fd_ready` and reads nothing from it). A line already received
  /// comes first.
  event next(std::string& line, int timeout_ms, int other_fd = -1);

  /// Reads the next line; false at the end of output or after `timeout_ms`.
  bool read_line(std::string& line, int timeout_ms);

  /// Writes `line` and a newline to the child's stdin.
  void send_line(const std::string& line);

  /// Sends `sig`.
  void signal(int sig);

  /// Waits at most `timeout_ms` for the child to exit, then kills it. Returns
  /// its exit code, or -1 when it did not exit normally.
  int wait_exit(int timeout_ms);

  pid_t pid() const noexcept {
    return pid_;
  }

private:
  pid_t pid_ = -1;
  int out_ = -1;
  int in_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::string buffer_;
};

/// A fifo the test creates and holds open read-write (so that the child's
/// opens never block and the test's reads never see end of file).
class fifo {
public:
  /// Creates the fifo at `path` and opens it. Throws on failure.
  explicit fifo(std::string path);

  ~fifo();

  fifo(const fifo&) = delete;
  fifo& operator=(const fifo&) = delete;

  const std::string& path() const noexcept {
    return path_;
  }

  int fd() const noexcept {
    return fd_;
  }

  /// Reads one byte if one is there, without waiting.
  bool take_byte();

  /// Writes one byte.
  void put_byte();

private:
  std::string path_;
  int fd_ = -1;
};

/// Returns the path of the fault shim: `$CAIRN_BIN_DIR/libcairn-fault-shim.so`.
std::string fault_shim_path();

} // namespace cairn::test
