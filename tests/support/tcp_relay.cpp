#include "tests/support/tcp_relay.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace cairn::test {

namespace {

/// A relayed connection: the accepted socket and the one to the target.
struct pair_fds {
  int down = -1;
  int up = -1;
  /// Open during a blackhole: bytes were or may have been dropped.
  bool broken = false;
};

void close_pair(pair_fds& p) {
  if (p.down >= 0)
    ::close(p.down);
  if (p.up >= 0)
    ::close(p.up);
  p.down = p.up = -1;
}

int connect_to(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  sockaddr_in addr;
  std::memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

/// Writes all of `buf` to `fd`, waiting at most 1 s for room each time.
bool write_all(int fd, const char* buf, size_t len) {
  while (len > 0) {
    auto n = ::send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      buf += n;
      len -= static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, 1000) <= 0)
        return false;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    return false;
  }
  return true;
}

} // namespace

tcp_relay::tcp_relay(uint16_t target) : target_(target) {
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener_ < 0)
    throw std::runtime_error("tcp_relay: socket: "
                             + std::string{std::strerror(errno)});
  sockaddr_in addr;
  std::memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0
      || ::listen(listener_, 64) != 0
      || ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0
      || ::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) {
    auto why = std::string{std::strerror(errno)};
    ::close(listener_);
    throw std::runtime_error("tcp_relay: cannot listen: " + why);
  }
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread{[this] { run(); }};
}

tcp_relay::~tcp_relay() {
  done_ = true;
  wake();
  thread_.join();
  ::close(listener_);
  ::close(wake_[0]);
  ::close(wake_[1]);
}

void tcp_relay::wake() {
  char c = 0;
  [[maybe_unused]] auto rc = ::write(wake_[1], &c, 1);
}

void tcp_relay::wait_round() {
  std::unique_lock<std::mutex> guard{mtx_};
  // Two rounds: the one running when asked may have polled before.
  auto want = rounds_ + 2;
  wake();
  guard.unlock();
  wake();
  guard.lock();
  cv_.wait_for(guard, std::chrono::seconds{5}, [&] { return rounds_ >= want; });
}

void tcp_relay::blackhole() {
  blackholed_ = true;
  wait_round();
}

void tcp_relay::heal() {
  heal_requested_ = true;
  blackholed_ = false;
  wait_round();
}

void tcp_relay::run() {
  std::vector<pair_fds> pairs;
  std::vector<char> buf(64 * 1024);
  while (!done_) {
    if (heal_requested_.exchange(false)) {
      for (auto& p : pairs)
        if (p.broken)
          close_pair(p);
    }
    bool holed = blackholed_;
    std::vector<pollfd> fds;
    fds.push_back({wake_[0], POLLIN, 0});
    fds.push_back({listener_, POLLIN, 0});
    for (auto& p : pairs) {
      if (p.down < 0)
        continue;
      if (holed)
        p.broken = true;
      fds.push_back({p.down, POLLIN, 0});
      fds.push_back({p.up, POLLIN, 0});
    }
    {
      std::lock_guard<std::mutex> guard{mtx_};
      ++rounds_;
    }
    cv_.notify_all();
    if (::poll(fds.data(), fds.size(), 1000) < 0 && errno != EINTR)
      break;
    if (fds[0].revents != 0) {
      char drain[64];
      while (::read(wake_[0], drain, sizeof(drain)) > 0)
        ; // nop
    }
    // Forwarding (or dropping) first: `pairs` changes below.
    size_t k = 2;
    for (auto& p : pairs) {
      if (p.down < 0)
        continue;
      for (int side = 0; side < 2; ++side, ++k) {
        if (p.down < 0 || fds[k].revents == 0)
          continue;
        int from = side == 0 ? p.down : p.up;
        int to = side == 0 ? p.up : p.down;
        auto n = ::recv(from, buf.data(), buf.size(), MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
          continue;
        if (n <= 0) {
          close_pair(p);
          continue;
        }
        if (blackholed_ || p.broken) {
          p.broken = true;
          dropped_ += static_cast<uint64_t>(n);
          continue;
        }
        if (!write_all(to, buf.data(), static_cast<size_t>(n)))
          close_pair(p);
      }
    }
    pairs.erase(std::remove_if(pairs.begin(), pairs.end(),
                               [](const pair_fds& p) { return p.down < 0; }),
                pairs.end());
    if (fds[1].revents & POLLIN) {
      int down = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (down >= 0) {
        int up = connect_to(target_);
        if (up < 0) {
          ::close(down);
        } else {
          int one = 1;
          ::setsockopt(down, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
          pairs.push_back({down, up, static_cast<bool>(blackholed_)});
        }
      }
    }
  }
  for (auto& p : pairs)
    close_pair(p);
}

} // namespace cairn::test
