#pragma once

#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"
#include "caf/behavior.hpp"
#include "caf/message_view.hpp"
#include "caf/stateful_actor.hpp"

#include "cairn/actors/outbox.hpp"
#include "cairn/actors/process/recovering.hpp"
#include "cairn/actors/process/running.hpp"
#include "cairn/actors/process/state.hpp"
#include "cairn/actors/process/stepping.hpp"
#include "cairn/actors/process_manager.hpp"
#include "cairn/actors/process_router.hpp"
#include "cairn/actors/registry.hpp"
#include "cairn/actors/runtime.hpp"

/// Process-manager instances and how a runtime starts a manager type.
///
/// Instance protocol:
/// - `(input_atom, stored_event)` -> empty reply once the input has had its
///   effect (its step committed and the outcomes of the commands it sent
///   have been reacted to), or at once if it had it before (its position is
///   at or below the last input position of the stream);
/// - `(input_atom, std::string node, stored_event)`: the same for an input
///   from the log of another node of the cluster (the position compares
///   with the last one taken from that node's log);
/// - `(replay_atom, input_atom, stored_event)`: the same for a dead letter
///   replayed (cairn/actors/dead_letter.hpp): taken even below the last input
///   position; its step stores `replay_dedup_key`, so a second replay of it
///   has no effect. Errors: why the input could not take effect; an input
///   that bounced off an instance stopping after another failure gets
///   `errc::entity_unavailable` (the router hands it to the successor). An
///   input whose `react` throws gets `errc::rejected` with the exception's
///   text (its router parks it as a dead letter); the instance stops, and
///   the inputs waiting in it bounce to its successor;
/// - `(wake_atom)`: nothing; spawning the instance arms its deadlines;
/// - `(passivate_atom, idle_check_atom, idle)` -> `bool`: the registry's
///   idle check. An instance that took an input within `idle` declines
///   (`false`) and runs on: its router sends it inputs directly, which the
///   registry does not see. Else it stops once its queued inputs are done
///   (`true`);
/// - `(get_state_atom)` -> `(uint64_t version, std::string state_bytes)`.
namespace cairn {

namespace detail {

/// Queues input `ev` (a replayed dead letter with `replay`); the response
/// promise answers once it has had its effect.
template <class P>
caf::result<void> process_enqueue(process_pointer<P> self,
                                  journal::stored_event& ev, bool replay,
                                  std::string source = {}) {
  auto& st = self->state;
  st.last_taken = std::chrono::steady_clock::now();
  auto rp = self->make_response_promise();
  typename process_state<P>::queued_input in;
  in.source = std::move(source);
  in.position = ev.position;
  in.rp = rp;
  in.replay = replay;
  if (ev.record.type == remote_outcome::event_name) {
    auto o = journal::from_bytes<remote_outcome>(
      ev.record.payload,
      "remote outcome at position " + std::to_string(ev.position));
    if (!o)
      return std::move(o.error());
    in.outcome = command_result{o->category, o->entity, o->accepted, o->why};
  } else {
    auto x = decode_event(input_codec_of<P>(), ev, typename P::inputs{});
    if (!x)
      return std::move(x.error());
    in.input = std::move(*x);
  }
  st.inputs.push_back(std::move(in));
  if (st.phase == process_phase::running)
    process_next<P>(self);
  return rp;
}

/// The instance's rare messages: recovery chunks, deadlines, wake-ups,
/// passivation and state requests. They go through CAF's default handler, a
/// plain function, so that the behavior each instance allocates holds only
/// its inputs (192 bytes, where one behavior with every case took 448).
/// Anything else is printed and dropped, as by CAF's own default handler.
template <class P>
caf::result<caf::message> process_rare(caf::scheduled_actor* ptr,
                                       caf::message_view& view) {
  auto self = static_cast<process_pointer<P>>(ptr);
  auto& st = self->state;
  auto& xs = view.content();
  if (xs.match_elements<recover_atom>()) {
    process_recover_chunk<P>(self);
    return caf::delegated<caf::message>{};
  }
  if (xs.match_elements<deadline_atom, std::string, int64_t>()) {
    auto& name = xs.get_as<std::string>(1);
    auto i = st.deadlines.find(name);
    if (i == st.deadlines.end() || i->second != xs.get_as<int64_t>(2))
      return caf::delegated<caf::message>{}; // cancelled or moved
    for (auto& d : st.due)
      if (d == name)
        return caf::delegated<caf::message>{};
    st.due.push_back(name);
    if (st.phase == process_phase::running)
      process_next<P>(self);
    return caf::delegated<caf::message>{};
  }
  if (xs.match_elements<wake_atom>()) {
    // nop: recovery arms the deadlines
    return caf::delegated<caf::message>{};
  }
  if (xs.match_elements<passivate_atom>()) {
    process_request_passivation<P>(self);
    return caf::delegated<caf::message>{};
  }
  if (xs.match_elements<passivate_atom, idle_check_atom, caf::timespan>()) {
    // The router sends inputs to an instance it knows directly, past the
    // registry: only the instance knows when it took the last one.
    auto idle = xs.get_as<caf::timespan>(2);
    if (std::chrono::steady_clock::now() - st.last_taken < idle)
      return caf::make_message(false);
    process_request_passivation<P>(self);
    return caf::make_message(true);
  }
  if (xs.match_elements<get_state_atom>()) {
    auto rp = self->make_response_promise();
    if (st.phase == process_phase::recovering)
      rp.delegate(caf::actor_cast<caf::actor>(self), get_state_atom::value);
    else
      rp.deliver(st.version, journal::to_bytes(st.value));
    return caf::delegated<caf::message>{};
  }
  return caf::print_and_drop(ptr, view);
}

/// The instance's exception handler: the user's code threw. The input whose
/// `react` threw is refused with the exception's text (`errc::rejected`:
/// its router parks it as a dead letter); the other inputs waiting bounce
/// (`errc::entity_unavailable`: the router hands them to the successor).
/// Returns the instance's exit reason.
template <class P>
caf::error process_threw(process_pointer<P> self, std::exception_ptr& x) {
  auto& st = self->state;
  std::string what = "an exception that is not a std::exception";
  try {
    std::rethrow_exception(x);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    // keep the generic text
  }
  auto front = st.reacting_to_input && !st.inputs.empty();
  auto err = make_error(
    errc::rejected,
    "process " + st.stream + ": "
      + (front ? "its reaction to the input at position "
                   + std::to_string(st.inputs.front().position) + " threw: "
               : "threw: ")
      + what);
  auto bounce = make_error(errc::entity_unavailable,
                           "process " + st.stream + " stopped: " + what);
  for (auto& in : st.inputs) {
    in.rp.deliver(front ? err : bounce);
    front = false;
  }
  st.inputs.clear();
  return err;
}

template <class P>
caf::behavior process_impl(process_pointer<P> self,
                           std::shared_ptr<const process_env> env,
                           std::string id) {
  auto& st = self->state;
  st.env = std::move(env);
  st.stream = std::string{P::category} + "-" + id;
  st.id = std::move(id);
  self->set_exception_handler(
    [](caf::scheduled_actor* ptr, std::exception_ptr& x) {
      return process_threw<P>(static_cast<process_pointer<P>>(ptr), x);
    });
  process_start_recovery<P>(self);
  self->set_default_handler(process_rare<P>);
  return {
    [self](input_atom, journal::stored_event& ev) -> caf::result<void> {
      return process_enqueue<P>(self, ev, false);
    },
    [self](input_atom, std::string& source,
           journal::stored_event& ev) -> caf::result<void> {
      return process_enqueue<P>(self, ev, false, std::move(source));
    },
    [self](replay_atom, input_atom, journal::stored_event& ev)
      -> caf::result<void> { return process_enqueue<P>(self, ev, true); },
  };
}

} // namespace detail

/// Starts process-manager type `P` in `rt`: a registry of its instances and
/// a router feeding them their inputs from the global log. Returns the
/// registry (idempotent: the second call returns the same one).
///
/// On a cluster, an instance lives on the node that owns it (placement of
/// `P::category` and the instance id), and takes its inputs from the logs
/// of every node (`start_process_routers`); its routers start once the
/// node joined its cluster. Its commands to entities of other nodes go
/// through the outbox, and their outcomes come back to its node.
///
/// Its instances replay their streams in chunks of
/// `aggregates.recovery_chunk` events and snapshot every
/// `aggregates.snapshot_every` events.
///
/// Throws `std::invalid_argument` for router settings with a zero
/// `max_in_flight` or `read_chunk`, a zero `recovery_chunk`, or a category
/// whose router checkpoint name is too long.
template <class P>
caf::actor start_process_manager(runtime& rt, router_settings rs = {}) {
  if (rs.max_in_flight == 0 || rs.read_chunk == 0)
    throw std::invalid_argument("process manager " + std::string{P::category}
                                + ": router max_in_flight and read_chunk "
                                  "must be at least 1");
  if (rt.options().aggregates.recovery_chunk == 0)
    throw std::invalid_argument("process manager " + std::string{P::category}
                                + ": aggregates recovery_chunk must be at "
                                  "least 1");
  input_dispatch dispatch;
  auto reg = rt.find_or_spawn(std::type_index{typeid(P)}, [&] {
    auto env = std::make_shared<process_env>();
    env->journal = rt.journal();
    env->coordinator = rt.coordinator();
    env->rt = rt.shared();
    env->snapshot_every = rt.options().aggregates.snapshot_every;
    env->recovery_chunk = rt.options().aggregates.recovery_chunk;
    auto& sys = rt.system();
    auto settings = rt.options().registry;
    std::shared_ptr<const process_env> cenv = env;
    auto reg = spawn_registry(
      sys, P::category,
      [&sys, cenv](const std::string& id) {
        return sys.spawn(detail::process_impl<P>, cenv, id);
      },
      settings);
    env->registry = reg; // before any instance exists
    input_dispatch fn = [](const journal::stored_event& ev)
      -> caf::expected<std::optional<std::pair<std::string, caf::message>>> {
      if (ev.record.type == remote_outcome::event_name) {
        auto o = journal::from_bytes<remote_outcome>(
          ev.record.payload,
          "remote outcome at position " + std::to_string(ev.position));
        if (!o)
          return std::move(o.error());
        if (o->manager != P::category)
          return std::nullopt;
        return std::optional<std::pair<std::string, caf::message>>{
          std::in_place, std::move(o->instance),
          caf::make_message(input_atom::value, ev)};
      }
      auto& c = detail::input_codec_of<P>();
      if (!c.knows(ev.record.type))
        return std::nullopt;
      auto x = detail::decode_event(c, ev, typename P::inputs{});
      if (!x)
        return std::move(x.error());
      auto id = std::visit([](const auto& e) { return P::correlate(e); }, *x);
      if (id.empty())
        return std::nullopt;
      return std::optional<std::pair<std::string, caf::message>>{
        std::in_place, std::move(id), caf::make_message(input_atom::value, ev)};
    };
    dispatch = std::move(fn);
    return reg;
  });
  // Outside of `find_or_spawn`'s lock; only when it spawned the registry.
  if (dispatch && reg)
    if (auto err
        = start_process_routers(rt, P::category, reg, std::move(dispatch), rs))
      throw std::invalid_argument("process manager " + std::string{P::category}
                                  + ": " + describe(err));
  return reg;
}

} // namespace cairn
