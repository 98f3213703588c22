#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

/// `cairn-invoicing load`: measures a running web interface with concurrent
/// HTTP clients, each on its own keep-alive connection. First durable POSTs
/// (each client creates invoices and adds four items to each, so every
/// request persists one event), then GETs of single invoices (through their
/// entities), then GETs of the invoice list (the projection, 20 per page).
namespace invoicing {

/// What `load` runs against, and how long.
struct load_settings {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  size_t clients = 16;
  double seconds = 5;
};

/// The figures of one phase.
struct load_result {
  uint64_t requests = 0;
  /// Answers that were not 2xx, and requests without an answer.
  uint64_t errors = 0;
  double seconds = 0;
  /// Latencies, microseconds.
  uint64_t p50_us = 0;
  uint64_t p99_us = 0;

  double per_second() const {
    return seconds > 0 ? static_cast<double>(requests) / seconds : 0;
  }
};

/// Parses `--url=http://HOST:PORT`, `--clients=N` and `--seconds=S`;
/// returns none and sets `error` for anything else or a bad value.
std::optional<load_settings>
parse_load_args(const std::vector<std::string>& args, std::string& error);

/// Durable POSTs until the time is up; invoice ids start with `tag`, so
/// that runs do not collide. `ids` receives the invoices created.
load_result load_posts(const load_settings& settings, const std::string& tag,
                       std::vector<std::string>& ids);

/// GETs of `paths`, spread over the clients, until the time is up.
load_result load_gets(const load_settings& settings,
                      const std::vector<std::string>& paths);

/// The subcommand: parses `args`, runs the three phases and prints one line
/// per phase; returns the exit code (failure if any request failed).
int run_load(const std::vector<std::string>& args);

} // namespace invoicing
