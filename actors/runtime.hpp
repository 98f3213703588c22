#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <typeindex>
#include <unordered_map>
#include <vector>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"
#include "caf/expected.hpp"

#include "actors/aggregate.hpp"
#include "actors/coordinator.hpp"
#include "actors/registry.hpp"
#include "actors/subscription_hub.hpp"
#include "journal/journal.hpp"

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
};

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
/// `stop()` (or the destructor) tells every actor of the runtime to exit;
/// call it before the actor system goes out of scope, or the system waits
/// for them forever.
class runtime {
public:
  ~runtime();

  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  /// Opens the journal and spawns the coordinator and the hub.
  ///
  /// Errors: those of `journal::journal::open`.
  static caf::expected<std::unique_ptr<runtime>> start(caf::actor_system& sys,
                                                       runtime_options opts);

  /// Returns the registry of aggregate type `A`, spawned on first use.
  /// Thread-safe.
  template <class A>
  caf::actor registry() {
    return find_or_spawn(std::type_index{typeid(A)}, [this] {
      return spawn_registry<A>(sys_, env_, opts_.registry);
    });
  }

  /// Returns the actor stored under `key`, spawned by `f` on first use; the
  /// runtime tells it to exit on `stop()`. Thread-safe.
  caf::actor find_or_spawn(std::type_index key,
                           const std::function<caf::actor()>& f);

  /// Routes aggregate type `A` to `registry`, a registry of another runtime
  /// (another journal): process steps in this runtime command it through
  /// the outbox (actors/outbox.hpp) instead of the atomic step. Starts the
  /// outbox dispatcher, which delivers commands left undelivered by an
  /// earlier run. Routing a type again replaces its registry.
  template <class A>
  void route(caf::actor registry) {
    route(A::category, std::move(registry));
  }

  /// Routes aggregate category `category` to `registry` (see `route<A>`).
  void route(const std::string& category, caf::actor registry);

  /// Returns the registry aggregate category `category` is routed to, or an
  /// invalid handle when it is local. Thread-safe.
  caf::actor remote_registry(const std::string& category);

  /// Returns the outbox dispatcher, spawned on first use.
  caf::actor outbox();

  /// Makes `stop()` tell `hdl` to exit too.
  void adopt(caf::actor hdl);

  /// Adopts `hdl`, the input router of a process-manager type, and lists it
  /// in `routers()`.
  void adopt_router(caf::actor hdl);

  /// Returns the routers adopted with `adopt_router`. Thread-safe.
  std::vector<caf::actor> routers();

  /// Tells every actor of the runtime to exit. Idempotent.
  void stop();

  caf::actor_system& system() noexcept {
    return sys_;
  }

  const std::shared_ptr<journal::journal>& journal() const noexcept {
    return env_->journal;
  }

  const coordinator_actor& coordinator() const noexcept {
    return env_->coordinator;
  }

  const subscription_hub_actor& hub() const noexcept {
    return hub_;
  }

  const std::shared_ptr<const aggregate_env>& env() const noexcept {
    return env_;
  }

  const runtime_options& options() const noexcept {
    return opts_;
  }

private:
  runtime(caf::actor_system& sys, runtime_options opts);

  caf::actor_system& sys_;
  runtime_options opts_;
  std::shared_ptr<const aggregate_env> env_;
  subscription_hub_actor hub_;
  std::mutex mtx_;
  std::unordered_map<std::type_index, caf::actor> registries_;
  std::vector<caf::actor> adopted_;
  std::vector<caf::actor> routers_;
  /// Routed categories; shared with the outbox dispatcher, which may
  /// outlive this object by a message.
  struct routes {
    std::mutex mtx;
    std::unordered_map<std::string, caf::actor> registries;
    /// Whether `registries` is not empty: spares steps the lock while
    /// nothing is routed.
    std::atomic<bool> any{false};

    caf::actor find(const std::string& category);
  };
  std::shared_ptr<routes> routes_ = std::make_shared<routes>();
  caf::actor outbox_;
  bool stopped_ = false;
};

} // namespace cairn
