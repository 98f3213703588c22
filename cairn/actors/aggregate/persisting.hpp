#pragma once

#include "caf/event_based_actor.hpp"

#include "cairn/actors/aggregate/recovering.hpp"
#include "cairn/actors/aggregate/running.hpp"
#include "cairn/actors/aggregate/state.hpp"

/// Phase `persisting`: the entity's write group is with the coordinator.
/// New commands are stashed. When the group has committed, the entity takes
/// the state its events lead to and replies; when it failed, the state stays
/// as it was and the command gets the error. Previous phase: `running`.
/// Next: `running`, or `recovering` after a version conflict (another
/// writer moved the stream).
namespace cairn::detail {

template <class A>
void send_to_coordinator(
  aggregate_pointer<A> self, journal::write_group g,
  std::unique_ptr<typename aggregate_state<A>::pending> p) {
  auto& st = self->state;
  st.phase = aggregate_phase::persisting;
  p->ticket = ++st.last_ticket;
  auto ticket = p->ticket;
  st.in_flight = std::move(p);
  // Answered by `(committed_atom, ticket, error)` (on_committed).
  self->send(st.env->coordinator, commit_atom::value, std::move(g), ticket);
}

/// Answers the command of `p`, whose events have committed, with its
/// reply to the state they led to. A reply function that throws gets the
/// command an error that says the events are stored.
template <class A>
void deliver_reply(aggregate_state<A>& st,
                   typename aggregate_state<A>::pending& p) {
  caf::message reply;
  try {
    reply = p.reply(st.value);
  } catch (const std::exception& e) {
    p.rp.deliver(
      caf::make_error(caf::sec::runtime_error,
                      "the events of a command for " + st.stream
                        + " are stored, but its reply threw: " + e.what()));
    return;
  } catch (...) {
    p.rp.deliver(caf::make_error(caf::sec::runtime_error,
                                 "the events of a command for " + st.stream
                                   + " are stored, but its reply threw"));
    return;
  }
  p.rp.deliver(std::move(reply));
}

/// The coordinator's answer to the group in flight: on success the entity
/// takes the state the events lead to and replies; on failure the state
/// stays as it was and the command gets the error. Only the coordinator's
/// answer to the group in flight counts: a message from another sender is
/// refused as forged, and an answer to an earlier ticket is ignored.
template <class A>
void on_committed(aggregate_pointer<A> self, uint64_t ticket, caf::error& err) {
  auto& st = self->state;
  if (self->current_sender().get()
      != caf::actor_cast<caf::actor_control_block*>(st.env->coordinator)) {
    refuse_forged<A>(self, "committed");
    return;
  }
  if (st.phase != aggregate_phase::persisting || !st.in_flight
      || st.in_flight->ticket != ticket)
    return;
  auto p = std::move(st.in_flight);
  if (!err) {
    st.value = std::move(p->next);
    st.version = p->next_version;
    deliver_reply<A>(st, *p);
    enter_running<A>(self);
    return;
  }
  p->rp.deliver(err);
  if (code_of(err) == errc::conflict) {
    // Our view of the stream is stale: catch up before going on.
    start_recovery<A>(self);
    return;
  }
  enter_running<A>(self);
}

} // namespace cairn::detail
