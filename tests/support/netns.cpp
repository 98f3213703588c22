#include "tests/support/netns.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace cairn::test {

std::string enter_private_netns() {
  if (::unshare(CLONE_NEWNET) != 0) {
    auto root_err = errno;
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0)
      return std::string{"unshare(CLONE_NEWNET): "} + std::strerror(root_err)
             + "; with a user namespace: " + std::strerror(errno);
  }
  auto fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0)
    return std::string{"socket: "} + std::strerror(errno);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  std::string why;
  if (::ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) {
    why = std::string{"SIOCGIFFLAGS lo: "} + std::strerror(errno);
  } else {
    ifr.ifr_flags |= IFF_UP;
    if (::ioctl(fd, SIOCSIFFLAGS, &ifr) != 0)
      why = std::string{"SIOCSIFFLAGS lo: "} + std::strerror(errno);
  }
  ::close(fd);
  return why;
}

std::optional<uint64_t> tcp_ext_counter(const std::string& name) {
  // Two lines per group: the names, then the values.
  std::ifstream in{"/proc/thread-self/net/netstat"};
  std::string names;
  std::string values;
  while (std::getline(in, names) && std::getline(in, values)) {
    if (names.rfind("TcpExt:", 0) != 0)
      continue;
    std::istringstream ns{names};
    std::istringstream vs{values};
    std::string n;
    std::string v;
    while (ns >> n && vs >> v)
      if (n == name)
        return std::stoull(v);
  }
  return std::nullopt;
}

} // namespace cairn::test
