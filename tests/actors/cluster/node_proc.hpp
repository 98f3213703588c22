#pragma once

// One cairn-node process (examples/node/main.cpp) for tests: started with
// a journal and a control FIFO of its own, commanded line by line, killed
// and started again on its port and journal, stopped.

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/support/child_process.hpp"
#include "tests/support/temp_dir.hpp"

namespace cairn::test {

/// One cairn-node process, commanded through a FIFO, that can be killed
/// and started again on its port and journal. Every wait (the start, an
/// answer, the peers, the stop) fails the test after `timeout_ms`.
class node_proc {
public:
  using clock_type = std::chrono::steady_clock;

  node_proc(std::string id, const temp_dir& dir, std::string cluster_name,
            int connection_timeout_ms, int timeout_ms = 10000)
    : id_(std::move(id)), journal_(dir.sub(id_ + "-journal")),
      fifo_(dir.sub(id_ + ".fifo")), cluster_name_(std::move(cluster_name)),
      connection_timeout_ms_(connection_timeout_ms), timeout_ms_(timeout_ms) {
    ::mkfifo(fifo_.c_str(), 0600);
  }

  ~node_proc() {
    close_control();
  }

  const std::string& id() const {
    return id_;
  }

  const std::string& journal_dir() const {
    return journal_;
  }

  uint16_t port() const {
    return port_;
  }

  /// Starts the process on `port` (0: the OS picks) and reads its port.
  void start(uint16_t port = 0) {
    close_control();
    lines_.clear();
    child_.reset();
    child_ = std::make_unique<child_process>(std::vector<std::string>{
      bin_path("cairn-node"), "--journal.path=" + journal_,
      "--journal.sync=none", "--cluster.name=" + cluster_name_,
      "--cluster.node-id=" + id_, "--cluster.port=" + std::to_string(port),
      "--cluster.shards=64", "--cluster.heartbeat-interval=100ms",
      "--cluster.connection-timeout=" + std::to_string(connection_timeout_ms_)
        + "ms",
      "--node.control=" + fifo_, "--node.listen=127.0.0.1"});
    // The node opens the FIFO for reading right after it starts.
    auto deadline = clock_type::now() + std::chrono::milliseconds{timeout_ms_};
    while ((fd_ = ::open(fifo_.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC))
           < 0) {
      REQUIRE(errno == ENXIO);
      REQUIRE(clock_type::now() < deadline);
      std::this_thread::sleep_for(std::chrono::milliseconds{2});
    }
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) & ~O_NONBLOCK);
    auto line = expect("listening");
    port_ = static_cast<uint16_t>(std::stoi(line.substr(10)));
  }

  void send(const std::string& line) {
    auto text = line + '\n';
    auto rc = ::write(fd_, text.data(), text.size());
    REQUIRE(rc == static_cast<ssize_t>(text.size()));
  }

  /// Returns the next line starting with `prefix` + ' ' (lines read while
  /// waiting are kept for later calls); fails after `timeout_ms` (0: the
  /// node's timeout).
  std::string expect(const std::string& prefix, int timeout_ms = 0) {
    if (timeout_ms <= 0)
      timeout_ms = timeout_ms_;
    auto deadline = clock_type::now() + std::chrono::milliseconds{timeout_ms};
    for (;;) {
      for (auto i = lines_.begin(); i != lines_.end(); ++i) {
        if (i->compare(0, prefix.size() + 1, prefix + " ") == 0) {
          auto result = *i;
          lines_.erase(i);
          return result;
        }
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - clock_type::now())
                    .count();
      std::string line;
      if (left <= 0 || !child_->read_line(line, static_cast<int>(left)))
        FAIL("node " << id_ << ": no line '" << prefix << " ...' within "
                     << timeout_ms << " ms");
      lines_.push_back(std::move(line));
    }
  }

  /// Sends `TAG VERB ARGS` and returns its tag.
  std::string post(const std::string& verb_and_args) {
    auto tag = "t" + std::to_string(next_tag_++);
    send(tag + " " + verb_and_args);
    return tag;
  }

  /// Sends `TAG VERB ARGS` and returns the answer line.
  std::string ask(const std::string& verb_and_args, int timeout_ms = 0) {
    return expect(post(verb_and_args), timeout_ms);
  }

  /// Waits until this node sees the peers in `want` (`"b=up c=up"`);
  /// returns the milliseconds it took.
  long wait_peers(const std::string& want, int timeout_ms = 0) {
    if (timeout_ms <= 0)
      timeout_ms = timeout_ms_;
    auto t0 = clock_type::now();
    auto elapsed = [t0] {
      return static_cast<long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now()
                                                              - t0)
          .count());
    };
    for (;;) {
      auto line = ask("peers");
      if (line.find(" peers " + want) != std::string::npos)
        return elapsed();
      if (elapsed() > timeout_ms)
        FAIL("node " << id_ << ": peers are '" << line << "', not '" << want
                     << "' after " << timeout_ms << " ms");
      std::this_thread::sleep_for(std::chrono::milliseconds{5});
    }
  }

  void signal(int sig) {
    REQUIRE(::kill(child_->pid(), sig) == 0);
  }

  void kill() {
    child_->kill();
    child_->wait();
    close_control();
    lines_.clear();
  }

  /// Sends `stop`; returns the `stopped ...` line and checks a clean exit.
  std::string stop() {
    send("stop");
    auto line = expect("stopped");
    auto status = child_->wait();
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    close_control();
    return line;
  }

private:
  void close_control() {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = -1;
  }

  std::string id_;
  std::string journal_;
  std::string fifo_;
  std::string cluster_name_;
  int connection_timeout_ms_;
  int timeout_ms_;
  std::unique_ptr<child_process> child_;
  int fd_ = -1;
  uint16_t port_ = 0;
  int next_tag_ = 0;
  std::vector<std::string> lines_;
};

} // namespace cairn::test
