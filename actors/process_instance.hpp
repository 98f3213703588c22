#pragma once

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"
#include "caf/behavior.hpp"
#include "caf/stateful_actor.hpp"

#include "actors/process/recovering.hpp"
#include "actors/process/running.hpp"
#include "actors/process/state.hpp"
#include "actors/process/stepping.hpp"
#include "actors/outbox.hpp"
#include "actors/process_manager.hpp"
#include "actors/process_router.hpp"
#include "actors/registry.hpp"
#include "actors/runtime.hpp"

/// Process-manager instances and how a runtime starts a manager type.
///
/// Instance protocol:
/// - `(input_atom, stored_event)` -> empty reply once the input has had its
///   effect (its step committed and the outcomes of the commands it sent
///   have been reacted to), or at once if it had it before;
/// - `(wake_atom)`: nothing; spawning the instance arms its deadlines;
/// - `(get_state_atom)` -> `(uint64_t version, std::string state_bytes)`.
namespace cairn {

namespace detail {

template <class P>
caf::behavior process_impl(process_pointer<P> self,
                           std::shared_ptr<const process_env> env,
                           std::string id) {
  auto& st = self->state;
  st.env = std::move(env);
  st.stream = std::string{P::category} + "-" + id;
  st.id = std::move(id);
  process_start_recovery<P>(self);
  return {
    [self](input_atom, journal::stored_event& ev) -> caf::result<void> {
      auto& st = self->state;
      auto rp = self->make_response_promise();
      if (ev.record.type == remote_outcome::event_name) {
        auto o = journal::from_bytes<remote_outcome>(
          ev.record.payload, "remote outcome at position "
                               + std::to_string(ev.position));
        if (!o)
          return std::move(o.error());
        st.inputs.push_back(
          {ev.position,
           {},
           command_result{o->category, o->entity, o->accepted, o->why},
           rp,
           0});
      } else {
        auto x = decode_event(input_codec_of<P>(), ev, typename P::inputs{});
        if (!x)
          return std::move(x.error());
        st.inputs.push_back({ev.position, std::move(*x), std::nullopt, rp, 0});
      }
      if (st.phase == process_phase::running)
        process_next<P>(self);
      return rp;
    },
    [self](recover_atom) { process_recover_chunk<P>(self); },
    [self](deadline_atom, std::string& name, int64_t due) {
      auto& st = self->state;
      auto i = st.deadlines.find(name);
      if (i == st.deadlines.end() || i->second != due)
        return; // cancelled or moved
      for (auto& d : st.due)
        if (d == name)
          return;
      st.due.push_back(std::move(name));
      if (st.phase == process_phase::running)
        process_next<P>(self);
    },
    [](wake_atom) {
      // nop: recovery arms the deadlines
    },
    [self](passivate_atom) {
      auto& st = self->state;
      if (st.phase == process_phase::running && st.inputs.empty())
        process_passivate<P>(self);
      else
        st.passivate_requested = true;
    },
    [self](get_state_atom atm) {
      auto& st = self->state;
      auto rp = self->make_response_promise();
      if (st.phase == process_phase::recovering)
        rp.delegate(caf::actor_cast<caf::actor>(self), atm);
      else
        rp.deliver(st.version, journal::to_bytes(st.value));
      return rp;
    },
  };
}

} // namespace detail

/// Starts process-manager type `P` in `rt`: a registry of its instances and
/// a router feeding them their inputs from the global log. Returns the
/// registry (idempotent: the second call returns the same one).
///
/// Throws `std::invalid_argument` for router settings with a zero
/// `max_in_flight` or `read_chunk`.
template <class P>
caf::actor start_process_manager(runtime& rt, router_settings rs = {}) {
  if (rs.max_in_flight == 0 || rs.read_chunk == 0)
    throw std::invalid_argument("process manager " + std::string{P::category}
                                + ": router max_in_flight and read_chunk "
                                  "must be at least 1");
  caf::actor router;
  auto reg = rt.find_or_spawn(std::type_index{typeid(P)}, [&] {
    auto env = std::make_shared<process_env>();
    env->journal = rt.journal();
    env->coordinator = rt.coordinator();
    env->rt = &rt;
    env->snapshot_every = rt.options().aggregates.snapshot_every;
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
      -> caf::expected<
        std::optional<std::pair<std::string, caf::message>>> {
      if (ev.record.type == remote_outcome::event_name) {
        auto o = journal::from_bytes<remote_outcome>(
          ev.record.payload, "remote outcome at position "
                               + std::to_string(ev.position));
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
      auto id = std::visit([](const auto& e) { return P::correlate(e); },
                           *x);
      if (id.empty())
        return std::nullopt;
      return std::optional<std::pair<std::string, caf::message>>{
        std::in_place, std::move(id),
        caf::make_message(input_atom::value, ev)};
    };
    auto r = spawn_process_router(sys, P::category, rt.journal(), rt.hub(),
                                  rt.coordinator(), reg, std::move(fn), rs);
    if (r)
      router = std::move(*r);
    return reg;
  });
  if (router)
    rt.adopt(router);
  return reg;
}

} // namespace cairn
