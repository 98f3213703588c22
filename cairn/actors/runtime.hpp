#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <typeindex>
#include <unordered_map>
#include <vector>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"
#include "caf/expected.hpp"

#include "cairn/actors/aggregate.hpp"
#include "cairn/actors/cluster/membership.hpp"
#include "cairn/actors/coordinator.hpp"
#include "cairn/actors/entity_ref.hpp"
#include "cairn/actors/metrics.hpp"
#include "cairn/actors/registry.hpp"
#include "cairn/actors/subscription_hub.hpp"
#include "cairn/journal/journal.hpp"
#include "cairn/journal/log.hpp"

namespace cairn::cluster {

class node;

} // namespace cairn::cluster

namespace cairn {

/// Everything `runtime::start` needs; `config::runtime_options()` fills it
/// from configuration keys.
struct runtime_options {
  /// The journal's directory (`journal.path`).
  std::string journal_path = "cairn-data";
  journal::options journal;
  coordinator_settings coordinator;
  aggregate_settings aggregates;
  registry_settings registry;
  /// The `cluster.*` keys; a runtime with a `node_id` runs in a cluster.
  cluster::settings cluster;
  /// The `metrics.*` keys: the Prometheus endpoint, off by default.
  metrics_settings metrics;
  /// `log.level`: what the runtime writes to Cairn's log (process-wide, set
  /// by `runtime::start`; see cairn/journal/log.hpp).
  log::level log_level = log::level::warning;
};

class runtime;

namespace detail {

/// What a runtime's actors share with it: the registries, the routes and the
/// outbox. Held by `runtime` and, through `std::shared_ptr`, by process
/// instances, so that an instance never uses a runtime that is gone.
/// Thread-safe.
class runtime_state {
public:
  runtime_state(caf::actor_system& sys, runtime_options opts)
    : sys(sys), opts(std::move(opts)) {
    // nop
  }

  /// Returns the registry of aggregate type `A`, spawned on first use; an
  /// invalid handle once the runtime stopped.
  template <class A>
  caf::actor registry() {
    return find_or_spawn(std::type_index{typeid(A)}, [this] {
      auto hdl = spawn_registry<A>(sys, env, opts.registry);
      watched.push_back({"registry", A::category, hdl});
      return hdl;
    });
  }

  caf::actor find_or_spawn(std::type_index key,
                           const std::function<caf::actor()>& f);

  caf::actor remote_registry(const std::string& category);

  /// Returns where a process step sends a command for entity `id` of
  /// `category` through the outbox: the registry the category is routed
  /// to; else, on a clustered runtime, the cluster router of the category
  /// when another node owns the entity; else an invalid handle (the
  /// command runs in the step's own transaction).
  caf::actor remote_registry(const std::string& category,
                             const std::string& id);

  /// Returns the cluster router of `category` (spawned with its local
  /// registry on first use), or an invalid handle when not clustered or
  /// the category is not announced (`cairn::announce`).
  caf::actor cluster_router_of(const std::string& category);

  caf::actor outbox();

  /// Whether this node serves entity `id` of `category`: always when not
  /// clustered; on a cluster, when it owns the entity (false before it
  /// joined).
  bool serves(const std::string& category, const std::string& id);

  /// Returns the cluster router of `category` delivering locally to
  /// `local`; `local` when the runtime is not clustered.
  caf::actor cluster_router(const std::string& category, caf::actor local);

  caf::actor_system& sys;
  const runtime_options opts;
  std::shared_ptr<const aggregate_env> env;
  subscription_hub_actor hub;
  std::mutex mtx;
  std::unordered_map<std::type_index, caf::actor> registries;
  std::vector<caf::actor> adopted;
  /// An actor whose `(stats_atom)` counters the metrics report: a `registry`,
  /// `(remote_)subscription` or `(cluster_)projection`, with its name.
  struct watched_actor {
    std::string kind;
    std::string name;
    caf::actor hdl;
  };
  /// Guarded by `mtx` (so `find_or_spawn`'s function may add to it).
  std::vector<watched_actor> watched;
  std::vector<caf::actor> routers;
  /// Routed categories; shared with the outbox dispatcher.
  struct routes {
    std::mutex mtx;
    std::unordered_map<std::string, caf::actor> registries;
    /// Whether `registries` is not empty: spares steps the lock while
    /// nothing is routed.
    std::atomic<bool> any{false};

    caf::actor find(const std::string& category);
  };
  std::shared_ptr<routes> routing = std::make_shared<routes>();
  caf::actor outbox_hdl;
  /// The cluster side; null when the runtime is not clustered.
  std::shared_ptr<cluster::node> cluster;
  /// Whether the node joined its cluster. Guarded by `mtx`.
  bool joined = false;
  /// What runs once the node joined (`runtime::when_joined`). Guarded by
  /// `mtx`.
  std::vector<std::function<void(runtime&)>> join_hooks;
  /// This state, for the actors it spawns (set by `runtime::start`).
  std::weak_ptr<runtime_state> self_ref;
  bool stopped = false;
};

} // namespace detail

/// One embedded journal with its coordinator, subscription hub and entity
/// registries, running in one actor system.
///
/// ```
/// cairn::config cfg;                       // or build runtime_options
/// if (auto err = cfg.load(argc, argv)) ...
/// caf::actor_system sys{cfg};
/// auto rt = cairn::runtime::start(sys, cfg.runtime_options());
/// auto invoices = (*rt)->registry<invoice>();
/// self->request(invoices, 5s, cairn::entity_id{"7"}, add_item{...});
/// ```
///
/// `stop()` (or the destructor) tells every actor of the runtime to exit
/// and returns once they have all terminated (registries wait for their
/// entities), or after `stop_timeout` at most; call it before the actor
/// system goes out of scope, or the system waits for them forever.
class runtime {
public:
  /// How long `stop()` waits for the runtime's actors at most.
  static constexpr caf::timespan stop_timeout = std::chrono::seconds{10};

  ~runtime();

  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  /// Opens the journal and spawns the coordinator and the hub.
  ///
  /// Errors: those of `journal::journal::open`.
  static caf::expected<std::unique_ptr<runtime>> start(caf::actor_system& sys,
                                                       runtime_options opts);

  /// Returns the registry of aggregate type `A`, spawned on first use.
  /// On a clustered runtime, returns `A`'s cluster router instead: the
  /// same protocol, `(entity_id, command...)`, delivered to the registry of
  /// the entity's owner (cairn/actors/cluster/router.hpp). Thread-safe.
  template <class A>
  caf::actor registry() {
    auto local = st_->registry<A>();
    if (!st_->cluster)
      return local;
    return st_->cluster_router(A::category, std::move(local));
  }

  /// Returns a reference to entity `id` of aggregate type `A`
  /// (cairn/actors/entity_ref.hpp): once resolved, its commands go to the
  /// entity's actor directly, past the registry. On a clustered runtime, an
  /// entity that another node owns is referenced through `A`'s cluster
  /// router instead, every command routed. Resolves nothing yet.
  /// Thread-safe.
  template <class A>
  entity_ref entity(std::string id) {
    auto local = st_->registry<A>();
    if (st_->serves(A::category, id))
      return entity_ref{std::move(local), std::move(id)};
    return entity_ref{st_->cluster_router(A::category, std::move(local)),
                      std::move(id), false};
  }

  /// Returns the local registry of aggregate type `A`, also on a clustered
  /// runtime (it serves the entities this node owns). Thread-safe.
  template <class A>
  caf::actor local_registry() {
    return st_->registry<A>();
  }

  /// Returns the actor stored under `key`, spawned by `f` on first use; the
  /// runtime tells it to exit on `stop()`. Thread-safe.
  caf::actor find_or_spawn(std::type_index key,
                           const std::function<caf::actor()>& f) {
    return st_->find_or_spawn(key, f);
  }

  /// Routes aggregate type `A` to `registry`, a registry of another runtime
  /// (another journal): process steps in this runtime command it through
  /// the outbox (cairn/actors/outbox.hpp) instead of the atomic step. Starts
  /// the outbox dispatcher, which delivers commands left undelivered by an
  /// earlier run. Routing a type again replaces its registry.
  template <class A>
  void route(caf::actor registry) {
    route(A::category, std::move(registry));
  }

  /// Routes aggregate category `category` to `registry` (see `route<A>`).
  void route(const std::string& category, caf::actor registry);

  /// Returns the registry aggregate category `category` is routed to, or an
  /// invalid handle when it is local. Thread-safe.
  caf::actor remote_registry(const std::string& category) {
    return st_->remote_registry(category);
  }

  /// Returns the outbox dispatcher, spawned on first use.
  caf::actor outbox() {
    return st_->outbox();
  }

  /// Makes `stop()` tell `hdl` to exit too (and wait for it).
  void adopt(caf::actor hdl);

  /// Adopts `hdl`, the input router of a process-manager type, and lists it
  /// in `routers()`.
  void adopt_router(caf::actor hdl);

  /// Adds `hdl` to what the metrics report (see `runtime_state::watched`).
  void watch(std::string kind, std::string name, caf::actor hdl);

  /// Returns the routers adopted with `adopt_router`. Thread-safe.
  std::vector<caf::actor> routers();

  // -- cluster (runtime_options::cluster; cairn/actors/cluster/)
  // --------------------

  /// Joins the cluster of `nodes` (`"id@host:port"`, the `cluster.nodes`
  /// key) when `runtime::start` had a `cluster.node-id` but no nodes: the
  /// second phase of a start whose ports the OS chose. Records the node id
  /// and digest in the journal (or checks them) and starts the links.
  ///
  /// Errors: `errc::bad_config` naming the key (see
  /// `cluster::membership::make`, `cluster::claim_identity`);
  /// `errc::invalid_argument` when the runtime is not clustered or joined
  /// before.
  caf::error join(std::vector<std::string> nodes);

  /// Runs `f` once this node joined its cluster: at once when it joined
  /// already (or the runtime is not clustered), else in `join`, after the
  /// links started. Process managers start their input routers so, as
  /// which node owns an instance is known only then. Thread-safe.
  void when_joined(std::function<void(runtime&)> f);

  /// The port of this node's gateway; 0 when not clustered.
  uint16_t cluster_port() const noexcept;

  /// Returns each peer's link state (`connecting`, `up`, `down`); empty
  /// when not clustered or not joined. Blocks up to a second.
  std::map<std::string, std::string> peers();

  /// Tells every actor of the runtime to exit and waits for them (at most
  /// `stop_timeout`). On a clustered runtime it first unpublishes the
  /// gateway and closes the links; it returns whether the peers were up or
  /// down (peer id -> link state), and returns as fast with peers down.
  /// Idempotent (later calls return an empty map). Call it from outside
  /// the runtime's actors (it blocks).
  std::map<std::string, std::string> stop();

  /// The port of the metrics endpoint (`metrics.port`; the OS's pick for
  /// 0), or 0 when it is off.
  uint16_t metrics_port() const noexcept {
    return metrics_ ? metrics_->port() : 0;
  }

  caf::actor_system& system() noexcept {
    return st_->sys;
  }

  const std::shared_ptr<journal::journal>& journal() const noexcept {
    return st_->env->journal;
  }

  const coordinator_actor& coordinator() const noexcept {
    return st_->env->coordinator;
  }

  const subscription_hub_actor& hub() const noexcept {
    return st_->hub;
  }

  const std::shared_ptr<const aggregate_env>& env() const noexcept {
    return st_->env;
  }

  const runtime_options& options() const noexcept {
    return st_->opts;
  }

  /// What the runtime's actors share with it.
  const std::shared_ptr<detail::runtime_state>& shared() const noexcept {
    return st_;
  }

private:
  explicit runtime(std::shared_ptr<detail::runtime_state> st);

  std::shared_ptr<detail::runtime_state> st_;
  std::unique_ptr<metrics_endpoint> metrics_;
};

} // namespace cairn
