#include "tests/journal/fault/fault_child.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include "tests/support/child_process.hpp"

extern char** environ;

namespace cairn::test {

namespace {

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

using clock_type = std::chrono::steady_clock;

int ms_left(clock_type::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - clock_type::now())
                .count();
  return left > 0 ? static_cast<int>(left) : 0;
}

} // namespace

fault_child::fault_child(const std::vector<std::string>& argv,
                         const std::vector<std::string>& env,
                         bool merge_stderr) {
  int out[2];
  int in[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(in, O_CLOEXEC) != 0)
    fail("pipe2");
  // Everything the child needs is built before fork: after it, only
  // async-signal-safe calls.
  // The parent's environment, where `env` overrides variables of the same
  // name.
  std::vector<std::string> env_strings;
  auto overridden = [&](const char* var) {
    for (auto& x : env) {
      auto eq = x.find('=');
      if (eq != std::string::npos && std::strncmp(var, x.c_str(), eq + 1) == 0)
        return true;
    }
    return false;
  };
  for (char** e = environ; *e != nullptr; ++e)
    if (!overridden(*e))
      env_strings.emplace_back(*e);
  env_strings.insert(env_strings.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (auto& e : env_strings)
    envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> arg_strings = argv;
  std::vector<char*> args;
  for (auto& a : arg_strings)
    args.push_back(a.data());
  args.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ < 0)
    fail("fork");
  if (pid_ == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    if (merge_stderr)
      ::dup2(out[1], STDERR_FILENO);
    ::dup2(in[0], STDIN_FILENO);
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(in[0]);
  out_ = out[0];
  in_ = in[1];
}

fault_child::~fault_child() {
  if (!reaped_) {
    ::kill(pid_, SIGKILL);
    wait_exit(10000);
  }
  if (out_ >= 0)
    ::close(out_);
  if (in_ >= 0)
    ::close(in_);
}

fault_child::event fault_child::next(std::string& line, int timeout_ms,
                                     int other_fd) {
  auto deadline = clock_type::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
      line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return event::line;
    }
    if (out_ < 0 && other_fd < 0)
      return event::end;
    pollfd fds[2];
    nfds_t n = 0;
    if (out_ >= 0)
      fds[n++] = pollfd{out_, POLLIN, 0};
    if (other_fd >= 0)
      fds[n++] = pollfd{other_fd, POLLIN, 0};
    auto rc = ::poll(fds, n, ms_left(deadline));
    if (rc < 0 && errno == EINTR)
      continue;
    if (rc == 0)
      return event::timeout;
    if (other_fd >= 0 && (fds[n - 1].revents & POLLIN) != 0)
      return event::fd_ready;
    if (out_ < 0 || fds[0].revents == 0)
      continue;
    char buf[4096];
    auto got = ::read(out_, buf, sizeof(buf));
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0) {
      ::close(out_);
      out_ = -1;
      if (!buffer_.empty()) {
        line = std::move(buffer_);
        buffer_.clear();
        return event::line;
      }
      return event::end;
    }
    buffer_.append(buf, static_cast<size_t>(got));
  }
}

bool fault_child::read_line(std::string& line, int timeout_ms) {
  return next(line, timeout_ms) == event::line;
}

void fault_child::send_line(const std::string& line) {
  auto str = line + "\n";
  // A child that is gone makes the write fail with EPIPE: SIGPIPE would end
  // the test, so it is ignored while writing.
  struct sigaction ign {};
  struct sigaction old {};
  ign.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ign, &old);
  (void)!::write(in_, str.data(), str.size());
  ::sigaction(SIGPIPE, &old, nullptr);
}

void fault_child::signal(int sig) {
  if (!reaped_)
    ::kill(pid_, sig);
}

int fault_child::wait_exit(int timeout_ms) {
  auto deadline = clock_type::now() + std::chrono::milliseconds(timeout_ms);
  // A pidfd becomes readable when the child exits: no polling loop.
  auto pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
  while (!reaped_) {
    auto rc = ::waitpid(pid_, &status_, WNOHANG);
    if (rc == pid_ || (rc < 0 && errno != EINTR)) {
      reaped_ = true;
      break;
    }
    if (ms_left(deadline) == 0) {
      ::kill(pid_, SIGKILL);
      while (::waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
        // retry
      }
      reaped_ = true;
      status_ = -1;
      break;
    }
    // Keep reading its output meanwhile, so that it never blocks on a full
    // pipe.
    pollfd fds[2];
    nfds_t n = 0;
    if (pidfd >= 0)
      fds[n++] = pollfd{pidfd, POLLIN, 0};
    if (out_ >= 0)
      fds[n++] = pollfd{out_, POLLIN, 0};
    auto wait_ms
      = pidfd >= 0 ? ms_left(deadline) : std::min(ms_left(deadline), 10);
    if (::poll(fds, n, wait_ms) <= 0 || out_ < 0
        || (fds[n - 1].revents & (POLLIN | POLLHUP)) == 0)
      continue;
    char buf[4096];
    auto got = ::read(out_, buf, sizeof(buf));
    if (got > 0) {
      buffer_.append(buf, static_cast<size_t>(got));
    } else if (got == 0) {
      ::close(out_);
      out_ = -1;
    }
  }
  if (pidfd >= 0)
    ::close(pidfd);
  return status_ != -1 && WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
}

fifo::fifo(std::string path) : path_(std::move(path)) {
  if (::mkfifo(path_.c_str(), 0600) != 0)
    throw std::runtime_error("mkfifo " + path_ + ": " + std::strerror(errno));
  fd_ = ::open(path_.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd_ < 0)
    throw std::runtime_error("open " + path_ + ": " + std::strerror(errno));
}

fifo::~fifo() {
  if (fd_ >= 0)
    ::close(fd_);
  ::unlink(path_.c_str());
}

bool fifo::take_byte() {
  char c;
  return ::read(fd_, &c, 1) == 1;
}

void fifo::put_byte() {
  char c = 'r';
  while (::write(fd_, &c, 1) < 0 && errno == EINTR) {
    // retry
  }
}

std::string fault_shim_path() {
  return bin_path("libcairn-fault-shim.so");
}

} // namespace cairn::test
