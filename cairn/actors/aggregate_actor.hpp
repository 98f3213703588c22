#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"
#include "caf/behavior.hpp"
#include "caf/message_view.hpp"
#include "caf/stateful_actor.hpp"

#include "cairn/actors/aggregate.hpp"
#include "cairn/actors/aggregate/deciding.hpp"
#include "cairn/actors/aggregate/persisting.hpp"
#include "cairn/actors/aggregate/recovering.hpp"
#include "cairn/actors/aggregate/running.hpp"
#include "cairn/actors/aggregate/state.hpp"
#include "cairn/actors/atoms.hpp"
#include "cairn/actors/outbox.hpp"

/// The entity actor of an aggregate type: composes the phases of
/// cairn/actors/aggregate/ into one CAF actor.
///
/// Protocol (dynamically typed, since commands are the user's types):
/// - each command type of `A::commands` -> the effect's reply, or an error;
/// - `(get_state_atom)` -> `(uint64_t version, std::string state_bytes)`,
///   the committed state serialized with cereal (see `journal::from_bytes`);
///   asked while recovering, it is answered once recovery is over; after a
///   failed recovery, with the recovery error;
/// - `(deliver_atom, key, command_index, command_bytes)` -> as the command:
///   a command delivered through an outbox with its dedup key (see
///   cairn/actors/outbox.hpp);
/// - `(passivate_atom)`: stop once idle (nothing persisting or deciding,
///   nothing stashed).
/// - `(passivate_atom, idle_check_atom, idle)` -> `bool`: the registry
///   found the entity idle for `idle`. Answers `false` and keeps running if
///   it took a command within `idle` (sent through an `entity_ref`, past
///   the registry); else passivates as above and answers `true`.
///
/// Internal, for the coordinator only: `(committed_atom, ticket, error)`, the
/// outcome of the entity's write group (persisting.hpp), accepted from the
/// coordinator only.
///
/// Internal, for the coordinator only (atomic steps, see
/// cairn/actors/aggregate/deciding.hpp), with the runtime's `step_capability`:
/// - `(decide_atom, capability, step, command)` -> `step_decision`: decide
///   without writing and hold until `(outcome_atom, capability, step,
///   committed)`. A decide with a wrong capability is refused with
///   `errc::invalid_argument` ("forged internal message refused"); an
///   outcome with a wrong capability is ignored. Both are counted in
///   `aggregate_env::forged_messages`.
/// - `(recover_atom)` is accepted from the entity itself only.
///
/// `deliver` carries no capability, on purpose: it is the public path of
/// commands between journals (the outbox of another runtime delivers
/// them), and it can do no more than a plain command, which anyone holding
/// the registry may send: the dedup key only makes a redelivery a no-op.
/// What the capability protects is the step protocol, whose messages could
/// otherwise make an entity's state diverge from its journal.
namespace cairn {

namespace detail {

/// Stops the entity now if it is idle, else once it is.
template <class A>
void passivate_entity(aggregate_pointer<A> self) {
  auto& st = self->state;
  if ((st.phase == aggregate_phase::running && st.stash_size() == 0)
      || st.phase == aggregate_phase::failed)
    self->quit();
  else
    st.passivate_requested = true;
}

template <class A>
bool genuine(aggregate_pointer<A> self, const step_capability& cap) {
  return cap == self->state.env->capability;
}

/// The entity's rare messages: recovery chunks, passivation, state
/// requests and outbox deliveries. They go through CAF's default handler, a
/// plain function, so that the behavior each entity allocates holds only
/// the cases of its hot path (commands, decides, outcomes, the
/// coordinator's answer): with the counter of `cairn-bench`, 320 bytes
/// where one behavior with every case took 512. Anything else is printed
/// and dropped, as by CAF's own default handler.
template <class A>
caf::result<caf::message> aggregate_rare(caf::scheduled_actor* ptr,
                                         caf::message_view& view) {
  auto self = static_cast<aggregate_pointer<A>>(ptr);
  auto& xs = view.content();
  if (xs.match_elements<recover_atom>()) {
    if (self->current_sender().get() != self->ctrl())
      refuse_forged<A>(self, "recover");
    else
      recover_chunk<A>(self);
    return caf::delegated<caf::message>{};
  }
  if (xs.match_elements<passivate_atom>()) {
    passivate_entity<A>(self);
    return caf::delegated<caf::message>{};
  }
  if (xs.match_elements<passivate_atom, idle_check_atom, caf::timespan>()) {
    // Commands through an entity_ref pass the registry by: only the entity
    // knows when it was used last.
    auto idle = xs.get_as<caf::timespan>(2);
    if (std::chrono::steady_clock::now() - self->state.last_command < idle)
      return caf::make_message(false);
    passivate_entity<A>(self);
    return caf::make_message(true);
  }
  if (xs.match_elements<get_state_atom>()) {
    auto& st = self->state;
    auto rp = self->make_response_promise();
    if (st.phase == aggregate_phase::recovering)
      st.state_waiters.push_back(rp);
    else if (st.phase == aggregate_phase::failed)
      rp.deliver(st.failure);
    else
      rp.deliver(st.version, journal::to_bytes(st.value));
    return caf::delegated<caf::message>{};
  }
  if (xs.match_elements<deliver_atom, std::string, uint32_t, std::string>()) {
    auto rp = self->make_response_promise();
    auto cmd = decode_remote_command<A>(xs.get_as<uint32_t>(2),
                                        xs.get_as<std::string>(3));
    if (!cmd)
      rp.deliver(std::move(cmd.error()));
    else
      accept_command<A>(self, std::move(*cmd), rp, 0,
                        xs.get_as<std::string>(1));
    return caf::delegated<caf::message>{};
  }
  return caf::print_and_drop(ptr, view);
}

template <class A, class... Cs>
caf::behavior aggregate_behavior(aggregate_pointer<A> self,
                                 command_list<Cs...>) {
  self->set_default_handler(aggregate_rare<A>);
  return {
    [self](committed_atom, uint64_t ticket, caf::error& err) {
      on_committed<A>(self, ticket, err);
    },
    [self](Cs& cmd) {
      auto rp = self->make_response_promise();
      accept_command<A>(self, std::move(cmd), rp);
      return rp;
    }...,
    [self](decide_atom, const step_capability& cap, uint64_t step, Cs& cmd) {
      auto rp = self->make_response_promise();
      if (!genuine<A>(self, cap) || step == 0)
        rp.deliver(refuse_forged<A>(self, "decide"));
      else
        accept_command<A>(self, std::move(cmd), rp, step);
      return rp;
    }...,
    [self](outcome_atom, const step_capability& cap, uint64_t step,
           bool committed) {
      if (!genuine<A>(self, cap)) {
        refuse_forged<A>(self, "outcome");
        return;
      }
      on_step_outcome<A>(self, step, committed);
    },
  };
}

template <class A>
caf::behavior aggregate_impl(aggregate_pointer<A> self,
                             std::shared_ptr<const aggregate_env> env,
                             std::string id) {
  self->state.env = std::move(env);
  self->state.stream = stream_of<A>(id);
  start_recovery<A>(self);
  return aggregate_behavior<A>(self, typename A::commands{});
}

} // namespace detail

/// Spawns the entity `id` of aggregate type `A`. It recovers from the
/// journal before it handles its first command.
template <class A>
caf::actor spawn_aggregate(caf::actor_system& sys,
                           std::shared_ptr<const aggregate_env> env,
                           std::string id) {
  return sys.spawn(detail::aggregate_impl<A>, std::move(env), std::move(id));
}

} // namespace cairn
