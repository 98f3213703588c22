#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"
#include "caf/meta/type_name.hpp"
#include "caf/timespan.hpp"

#include "cairn/actors/aggregate.hpp"
#include "cairn/actors/aggregate_actor.hpp"

/// The entity registry: addresses the entities of one aggregate type by id.
///
/// Send it a command as `(entity_id{"42"}, command)`: it spawns entity 42 on
/// demand (which recovers from the journal), forwards the command, and the
/// entity's reply reaches the sender directly. It passivates (stops) an
/// entity that has been idle for `passivate_after`, and the least recently
/// used ones while more than `max_active` run; the next command for a
/// passivated id recovers it transparently. Commands for an entity that is
/// stopping wait in the registry and go to its successor.
///
/// An empty entity id, or one longer than `journal::max_stream_name_size -
/// category.size() - 1` bytes, is refused with `errc::invalid_argument`
/// naming its size and the limit, before anything is spawned.
///
/// The registry also carries the coordinator's `decide` and abandoning
/// `outcome` messages to its entities (`(entity_id, decide_atom, ...)`);
/// they hold the runtime's `step_capability`, which the entity checks.
///
/// Other messages:
/// - `(resolve_atom, entity_id)` -> `caf::actor`: the entity's actor,
///   spawned on demand (an `entity_ref` sends its commands to it directly).
///   Refused like a command with a bad id.
/// - `(stats_atom)` -> `registry_stats`.
///
/// Idle passivation asks the entity first (`(passivate_atom,
/// idle_check_atom, passivate_after)`): an entity that took a command
/// within that time, through an `entity_ref` that the registry does not
/// see, declines and runs on. Passivation for `max_active` does not ask.
namespace cairn {

/// Settings of a registry.
struct registry_settings {
  /// Idle time after which an entity stops (0: never).
  caf::timespan passivate_after = std::chrono::minutes{2};
  /// Entities running at most at once (0: unbounded).
  size_t max_active = 100000;
};

/// Counters of a registry.
struct registry_stats {
  uint64_t active = 0;
  uint64_t spawned = 0;
  uint64_t passivated = 0;
  /// Commands and resolves routed.
  uint64_t routed = 0;
  /// Idle passivations that entities declined, used through an entity_ref.
  uint64_t declined = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, registry_stats& x) {
  return f(caf::meta::type_name("cairn.registry_stats"), x.active, x.spawned,
           x.passivated, x.routed, x.declined);
}

/// Spawns the entity with the given id.
using entity_factory = std::function<caf::actor(const std::string& id)>;

/// Spawns a registry for entities of `category` made by `factory`.
caf::actor spawn_registry(caf::actor_system& sys, std::string category,
                          entity_factory factory, registry_settings settings);

/// Spawns a registry for aggregate type `A`.
template <class A>
caf::actor spawn_registry(caf::actor_system& sys,
                          std::shared_ptr<const aggregate_env> env,
                          registry_settings settings) {
  auto factory = [&sys, env](const std::string& id) {
    return spawn_aggregate<A>(sys, env, id);
  };
  return spawn_registry(sys, A::category, std::move(factory), settings);
}

} // namespace cairn
