#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace cairn::test {

/// Moves the calling thread into a network namespace of its own, with its
/// loopback interface up, so that the kernel's network counters see only
/// this test. Sockets the thread creates afterwards, and threads it starts,
/// live there. Needs root, or unprivileged user namespaces in a process
/// with one thread. Returns an empty string on success, else why not.
std::string enter_private_netns();

/// The counter `name` of the `TcpExt` lines of the calling thread's network
/// namespace (`/proc/thread-self/net/netstat`), e.g. "ListenOverflows".
std::optional<uint64_t> tcp_ext_counter(const std::string& name);

} // namespace cairn::test
