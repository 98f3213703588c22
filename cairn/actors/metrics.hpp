#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "caf/expected.hpp"

namespace cairn {

namespace detail {

class runtime_state;

} // namespace detail

/// The `metrics.*` keys: where a runtime serves its Prometheus metrics.
struct metrics_settings {
  /// Whether to serve them; off unless `metrics.port` is given.
  bool enabled = false;
  /// The address to listen on (`metrics.address`).
  std::string address = "127.0.0.1";
  /// The TCP port (`metrics.port`); 0 lets the OS pick one (see
  /// `runtime::metrics_port`).
  uint16_t port = 0;
};

/// Renders the metrics of a runtime in Prometheus' text format (version
/// 0.0.4), as a scrape of `GET /metrics` returns them:
/// - coordinator: `cairn_commits_total`, `cairn_failed_commits_total`,
///   `cairn_events_total`, `cairn_groups_total{outcome=committed|rejected|
///   failed}`, histograms `cairn_commit_events` (events per commit) and
///   `cairn_commit_seconds` (time in the LMDB commit), and
///   `cairn_journal_failed` (1 once the journal is fail-stopped);
/// - `cairn_journal_last_position`;
/// - registries, per `category`: `cairn_entities_active`,
///   `cairn_entities_spawned_total`, `cairn_entities_passivated_total`;
/// - subscriptions and projections, per `name`: `cairn_subscription_lag`
///   (positions of the global log not yet acknowledged) and
///   `cairn_subscription_delivered_total`;
/// - outbox: `cairn_outbox_pending`, `cairn_outbox_retries_total`,
///   `cairn_outbox_delivered_total`;
/// - cluster, per `peer`: `cairn_cluster_link_up` (1 up, 0 otherwise).
///
/// It asks each actor for its counters with a timeout of `timeout_ms`; an
/// actor that does not answer in time is left out of that scrape (and
/// counted in `cairn_metrics_scrape_errors_total`), never blocks it longer.
std::string render_metrics(const std::shared_ptr<detail::runtime_state>& st,
                           uint32_t timeout_ms = 2000);

/// A Prometheus endpoint (pull, prometheus-cpp's exposer): serves
/// `render_metrics` at `GET /metrics` on its own threads, which never run
/// actor code: they wait for the actors' replies like any client.
class metrics_endpoint {
public:
  /// Starts listening on `settings.address:settings.port`.
  ///
  /// Errors: `errc::bad_config` naming the address when it cannot listen
  /// (port in use, bad address).
  static caf::expected<std::unique_ptr<metrics_endpoint>>
  start(std::shared_ptr<detail::runtime_state> st,
        const metrics_settings& settings);

  /// Stops listening; returns after every running scrape has finished.
  ~metrics_endpoint();

  metrics_endpoint(const metrics_endpoint&) = delete;
  metrics_endpoint& operator=(const metrics_endpoint&) = delete;

  /// The port it listens on (the OS's pick for port 0).
  uint16_t port() const noexcept {
    return port_;
  }

private:
  struct impl;

  explicit metrics_endpoint(std::unique_ptr<impl> x, uint16_t port);

  std::unique_ptr<impl> impl_;
  uint16_t port_;
};

} // namespace cairn
