#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace cairn::test {

/// A userspace TCP relay on 127.0.0.1: accepts connections on a port the
/// OS picks and forwards the bytes of each, both ways, to and from a new
/// connection to `127.0.0.1:target`. One thread polls every socket.
///
/// `blackhole()` partitions: the relay still accepts and connects, but
/// forwards nothing and closes nothing; what it reads is dropped, as a
/// network that loses every packet would. `heal()` forwards again; the
/// connections that were open during the blackhole lost bytes, so their
/// streams are broken: heal closes them, and new connections go through.
class tcp_relay {
public:
  /// Listens and starts forwarding to `target`. Throws
  /// `std::runtime_error` when it cannot listen.
  explicit tcp_relay(uint16_t target);

  /// Stops the thread and closes every socket.
  ~tcp_relay();

  tcp_relay(const tcp_relay&) = delete;
  tcp_relay& operator=(const tcp_relay&) = delete;

  /// The port the relay listens on.
  uint16_t port() const noexcept {
    return port_;
  }

  /// Stops forwarding, closing nothing. Returns once the relay thread
  /// forwards no more (at most 5 s).
  void blackhole();

  /// Forwards again, closing the connections the blackhole broke. Returns
  /// once they are closed (at most 5 s).
  void heal();

  /// Bytes dropped during blackholes so far.
  uint64_t dropped() const noexcept {
    return dropped_;
  }

private:
  void run();
  void wake();
  void wait_round();

  uint16_t target_;
  uint16_t port_ = 0;
  int listener_ = -1;
  int wake_[2] = {-1, -1};
  std::atomic<bool> blackholed_{false};
  std::atomic<bool> heal_requested_{false};
  std::atomic<bool> done_{false};
  std::atomic<uint64_t> dropped_{0};
  std::mutex mtx_;
  std::condition_variable cv_;
  uint64_t rounds_ = 0;
  std::thread thread_;
};

} // namespace cairn::test
