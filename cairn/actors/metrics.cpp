#include "cairn/actors/metrics.hpp"

#include <chrono>
#include <sstream>
#include <utility>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include "caf/all.hpp"

#include "cairn/actors/atoms.hpp"
#include "cairn/actors/cluster/node.hpp"
#include "cairn/actors/projection.hpp"
#include "cairn/actors/runtime.hpp"
#include "cairn/journal/errc.hpp"

namespace cairn {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

/// Builds the families of one scrape.
class scrape {
public:
  scrape(const std::shared_ptr<detail::runtime_state>& st, uint32_t timeout_ms)
    : st_(st), self_(st->sys), timeout_(std::chrono::milliseconds{timeout_ms}) {
    // nop
  }

  std::vector<MetricFamily> run() {
    coordinator();
    journal();
    watched();
    outbox();
    cluster();
    add(family("cairn_metrics_scrape_errors_total",
               "Actors that did not answer this scrape in time",
               MetricType::Counter),
        {}, static_cast<double>(errors_));
    std::vector<MetricFamily> result;
    for (auto& f : families_)
      if (!f.metric.empty())
        result.push_back(std::move(f));
    return result;
  }

private:
  MetricFamily& family(const std::string& name, const std::string& help,
                       MetricType type) {
    for (auto& f : families_)
      if (f.name == name)
        return f;
    families_.push_back(MetricFamily{name, help, type, {}});
    return families_.back();
  }

  static void add(MetricFamily& f, std::vector<ClientMetric::Label> labels,
                  double value) {
    ClientMetric m;
    m.label = std::move(labels);
    if (f.type == MetricType::Counter)
      m.counter.value = value;
    else
      m.gauge.value = value;
    f.metric.push_back(std::move(m));
  }

  template <size_t N>
  static void histogram(MetricFamily& f, const std::array<uint64_t, N>& bounds,
                        const std::vector<uint64_t>& counts, double scale,
                        double sum) {
    ClientMetric m;
    uint64_t cumulative = 0;
    for (size_t i = 0; i < counts.size(); ++i) {
      cumulative += counts[i];
      ClientMetric::Bucket b;
      b.cumulative_count = cumulative;
      b.upper_bound = i < N ? static_cast<double>(bounds[i]) * scale
                            : std::numeric_limits<double>::infinity();
      m.histogram.bucket.push_back(b);
    }
    m.histogram.sample_count = cumulative;
    m.histogram.sample_sum = sum;
    f.metric.push_back(std::move(m));
  }

  /// Sends `(stats_atom)` to `hdl` and hands the reply to `f`; an error or
  /// a timeout counts as a scrape error.
  template <class Handle, class F>
  void ask(const Handle& hdl, F f) {
    self_->request(hdl, timeout_, stats_atom::value)
      .receive(std::move(f), [&](caf::error&) { ++errors_; });
  }

  void coordinator() {
    if (!st_->env || !st_->env->coordinator)
      return;
    bool ok = false;
    coordinator_stats s;
    self_->request(st_->env->coordinator, timeout_, stats_atom::value)
      .receive(
        [&](coordinator_stats& x) {
          s = std::move(x);
          ok = true;
        },
        [&](caf::error&) {});
    if (!ok) {
      ++errors_;
      return;
    }
    auto counter = [&](const char* name, const char* help, uint64_t x) {
      add(family(name, help, MetricType::Counter), {}, static_cast<double>(x));
    };
    counter("cairn_commits_total",
            "LMDB transactions of the coordinator (group commits)", s.commits);
    counter("cairn_failed_commits_total",
            "Transactions whose commit failed (the journal then fail-stops)",
            s.failed_commits);
    counter("cairn_events_total", "Events committed", s.events);
    counter("cairn_steps_total", "Atomic process steps committed", s.steps);
    auto& groups = family("cairn_groups_total",
                          "Write groups by outcome: committed, rejected by "
                          "validation (conflict, duplicate, damaged stream "
                          "row, ...), failed commit",
                          MetricType::Counter);
    add(groups, {{"outcome", "committed"}}, static_cast<double>(s.groups));
    add(groups, {{"outcome", "rejected"}},
        static_cast<double>(s.rejected_groups));
    add(groups, {{"outcome", "failed"}}, static_cast<double>(s.failed_groups));
    histogram(family("cairn_commit_events", "Events committed per transaction",
                     MetricType::Histogram),
              coordinator_stats::events_bounds, s.events_hist, 1.0,
              static_cast<double>(s.events));
    histogram(family("cairn_commit_seconds",
                     "Time in the LMDB commit (with its sync), seconds",
                     MetricType::Histogram),
              coordinator_stats::latency_bounds_ns, s.latency_hist, 1e-9,
              static_cast<double>(s.commit_ns_total) * 1e-9);
  }

  void journal() {
    if (!st_->env || !st_->env->journal)
      return;
    auto& j = *st_->env->journal;
    add(family("cairn_journal_failed",
               "1 once a commit failed and the journal refuses writes until "
               "it is reopened (fail-stop)",
               MetricType::Gauge),
        {}, j.failed() ? 1.0 : 0.0);
    if (auto last = j.last_position()) {
      last_ = *last;
      add(family("cairn_journal_last_position",
                 "Position of the last event in the global log",
                 MetricType::Gauge),
          {}, static_cast<double>(*last));
    }
  }

  void watched() {
    std::vector<detail::runtime_state::watched_actor> xs;
    {
      std::lock_guard<std::mutex> guard{st_->mtx};
      xs = st_->watched;
    }
    for (auto& x : xs) {
      std::vector<ClientMetric::Label> labels;
      if (x.kind == "registry") {
        labels.push_back({"category", x.name});
        ask(x.hdl, [&](const registry_stats& s) {
          add(family("cairn_entities_active", "Entities running now",
                     MetricType::Gauge),
              labels, static_cast<double>(s.active));
          add(family("cairn_entities_spawned_total",
                     "Entities spawned (recovered from the journal)",
                     MetricType::Counter),
              labels, static_cast<double>(s.spawned));
          add(family("cairn_entities_passivated_total",
                     "Entities stopped when idle or over the active cap",
                     MetricType::Counter),
              labels, static_cast<double>(s.passivated));
        });
      } else {
        labels.push_back({"kind", x.kind});
        labels.push_back({"name", x.name});
        // Those reading other nodes' logs count positions of those logs:
        // no lag behind this node's log.
        auto remote
          = x.kind == "remote_subscription" || x.kind == "cluster_projection";
        auto report = [&](const subscription_stats& s) {
          auto lag = last_ > s.acknowledged ? last_ - s.acknowledged : 0;
          if (!remote)
            add(family("cairn_subscription_lag",
                       "Positions of the global log not yet acknowledged",
                       MetricType::Gauge),
                labels, static_cast<double>(lag));
          add(family("cairn_subscription_delivered_total",
                     "Events delivered to the handler", MetricType::Counter),
              labels, static_cast<double>(s.delivered));
        };
        if (x.kind == "projection" || x.kind == "cluster_projection")
          ask(x.hdl,
              [&](const projection_stats& s) { report(s.subscription); });
        else
          ask(x.hdl, report);
      }
    }
  }

  void outbox() {
    caf::actor hdl;
    {
      std::lock_guard<std::mutex> guard{st_->mtx};
      hdl = st_->outbox_hdl;
    }
    if (!hdl)
      return;
    ask(hdl, [&](uint64_t delivered, uint64_t, uint64_t retries,
                 uint64_t pending, uint64_t) {
      add(family("cairn_outbox_pending",
                 "Outbox rows not yet delivered and confirmed",
                 MetricType::Gauge),
          {}, static_cast<double>(pending));
      add(family("cairn_outbox_retries_total",
                 "Outbox deliveries sent again after a failure or timeout",
                 MetricType::Counter),
          {}, static_cast<double>(retries));
      add(family("cairn_outbox_delivered_total",
                 "Outbox commands delivered and confirmed",
                 MetricType::Counter),
          {}, static_cast<double>(delivered));
    });
  }

  void cluster() {
    if (!st_->cluster)
      return;
    auto& f = family("cairn_cluster_link_up",
                     "1 while the link to the peer is up, 0 otherwise",
                     MetricType::Gauge);
    for (auto& [peer, state] : st_->cluster->peers(timeout_))
      add(f, {{"peer", peer}, {"state", state}}, state == "up" ? 1.0 : 0.0);
  }

  std::shared_ptr<detail::runtime_state> st_;
  caf::scoped_actor self_;
  caf::timespan timeout_;
  std::vector<MetricFamily> families_;
  uint64_t last_ = 0;
  uint64_t errors_ = 0;
};

/// What the exposer asks at each scrape.
class collector : public prometheus::Collectable {
public:
  explicit collector(std::weak_ptr<detail::runtime_state> st)
    : st_(std::move(st)) {
    // nop
  }

  std::vector<MetricFamily> Collect() const override {
    auto st = st_.lock();
    if (!st)
      return {};
    return scrape{st, 2000}.run();
  }

private:
  std::weak_ptr<detail::runtime_state> st_;
};

} // namespace

std::string render_metrics(const std::shared_ptr<detail::runtime_state>& st,
                           uint32_t timeout_ms) {
  std::ostringstream out;
  prometheus::TextSerializer{}.Serialize(out, scrape{st, timeout_ms}.run());
  return out.str();
}

struct metrics_endpoint::impl {
  std::shared_ptr<collector> source;
  std::unique_ptr<prometheus::Exposer> exposer;
};

metrics_endpoint::metrics_endpoint(std::unique_ptr<impl> x, uint16_t port)
  : impl_(std::move(x)), port_(port) {
  // nop
}

metrics_endpoint::~metrics_endpoint() {
  if (impl_ && impl_->exposer)
    impl_->exposer->RemoveCollectable(impl_->source);
  // The exposer's destructor stops its server and joins its threads.
}

caf::expected<std::unique_ptr<metrics_endpoint>>
metrics_endpoint::start(std::shared_ptr<detail::runtime_state> st,
                        const metrics_settings& settings) {
  auto where = settings.address + ":" + std::to_string(settings.port);
  auto x = std::make_unique<impl>();
  x->source = std::make_shared<collector>(st);
  try {
    x->exposer = std::make_unique<prometheus::Exposer>(where, 2);
  } catch (const std::exception& ex) {
    return make_error(errc::bad_config,
                      "metrics: cannot listen on " + where + ": " + ex.what());
  }
  x->exposer->RegisterCollectable(x->source);
  auto ports = x->exposer->GetListeningPorts();
  if (ports.empty())
    return make_error(errc::bad_config,
                      "metrics: no port to listen on at " + where);
  auto port = static_cast<uint16_t>(ports.front());
  return std::unique_ptr<metrics_endpoint>{
    new metrics_endpoint(std::move(x), port)};
}

} // namespace cairn
