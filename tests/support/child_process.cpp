#include "tests/support/child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace cairn::test {

namespace {

pid_t spawn(const std::vector<std::string>& argv, int& read_fd,
            bool merge_stderr) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    throw std::runtime_error(std::string{"pipe2: "} + std::strerror(errno));
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  auto pid = ::fork();
  if (pid < 0)
    throw std::runtime_error(std::string{"fork: "} + std::strerror(errno));
  if (pid == 0) {
    // Only async-signal-safe calls until exec.
    ::dup2(fds[1], STDOUT_FILENO);
    if (merge_stderr)
      ::dup2(fds[1], STDERR_FILENO);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  read_fd = fds[0];
  return pid;
}

} // namespace

child_process::child_process(const std::vector<std::string>& argv) {
  pid_ = spawn(argv, fd_, false);
}

child_process::~child_process() {
  if (!reaped_) {
    kill();
    wait();
  }
  if (fd_ >= 0)
    ::close(fd_);
}

bool child_process::read_line(std::string& line, int timeout_ms) {
  timed_out_ = false;
  auto deadline = std::chrono::steady_clock::now()
                  + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
      line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return true;
    }
    if (fd_ < 0)
      return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadline - std::chrono::steady_clock::now())
                  .count();
    if (left <= 0) {
      timed_out_ = true;
      return false;
    }
    pollfd p{fd_, POLLIN, 0};
    auto n = ::poll(&p, 1, static_cast<int>(left));
    if (n < 0 && errno == EINTR)
      continue;
    if (n == 0) {
      timed_out_ = true;
      return false;
    }
    char buf[4096];
    auto got = ::read(fd_, buf, sizeof(buf));
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0) {
      ::close(fd_);
      fd_ = -1;
      if (!buffer_.empty()) {
        line = std::move(buffer_);
        buffer_.clear();
        return true;
      }
      return false;
    }
    buffer_.append(buf, static_cast<size_t>(got));
  }
}

void child_process::kill() {
  if (!reaped_)
    ::kill(pid_, SIGKILL);
}

int child_process::wait() {
  if (!reaped_) {
    while (::waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
      // retry
    }
    reaped_ = true;
  }
  return status_;
}

std::string kill_moment::to_string() const {
  std::string result = "after ";
  if (lines > 0)
    result += std::to_string(lines) + " lines";
  if (lines > 0 && ms >= 0)
    result += " or ";
  if (ms >= 0)
    result += std::to_string(ms) + " ms";
  if (lines == 0 && ms < 0)
    result += "the end";
  return result;
}

killed_run kill_at(child_process& child, const kill_moment& when,
                   const std::function<bool(const std::string&)>& counts,
                   int stall_ms) {
  using clock_type = std::chrono::steady_clock;
  killed_run result;
  auto deadline = clock_type::now() + std::chrono::milliseconds(when.ms);
  size_t counted = 0;
  std::string line;
  while (when.lines == 0 || counted < when.lines) {
    auto wait_ms = stall_ms;
    if (when.ms >= 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - clock_type::now())
                    .count();
      if (left <= 0)
        break;
      wait_ms = static_cast<int>(left);
    }
    if (!child.read_line(line, wait_ms)) {
      result.stalled = when.ms < 0 && child.timed_out();
      break;
    }
    if (!counts || counts(line))
      ++counted;
    result.lines.push_back(line);
  }
  child.kill();
  result.status = child.wait();
  // What the child printed before it died belongs to the run too.
  while (child.read_line(line, 10000))
    result.lines.push_back(line);
  return result;
}

run_result run(const std::vector<std::string>& argv, int timeout_ms) {
  run_result result;
  int fd = -1;
  auto pid = spawn(argv, fd, true);
  auto deadline = std::chrono::steady_clock::now()
                  + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadline - std::chrono::steady_clock::now())
                  .count();
    if (left <= 0) {
      ::kill(pid, SIGKILL);
      result.output += "\n[killed: timeout]";
      break;
    }
    pollfd p{fd, POLLIN, 0};
    auto n = ::poll(&p, 1, static_cast<int>(left));
    if (n < 0 && errno == EINTR)
      continue;
    if (n == 0)
      continue;
    char buf[4096];
    auto got = ::read(fd, buf, sizeof(buf));
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0)
      break;
    result.output.append(buf, static_cast<size_t>(got));
  }
  ::close(fd);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    // retry
  }
  if (WIFEXITED(status))
    result.exit_code = WEXITSTATUS(status);
  return result;
}

std::string bin_path(const std::string& name) {
  const char* dir = std::getenv("CAIRN_BIN_DIR");
  return std::string{dir != nullptr ? dir : "."} + "/" + name;
}

} // namespace cairn::test
