#pragma once

#include <algorithm>
#include <string>

#include "cairn/actors/aggregate/recovering.hpp"
#include "cairn/actors/aggregate/running.hpp"
#include "cairn/actors/aggregate/state.hpp"
#include "cairn/actors/step_messages.hpp"

/// Phase `deciding`: the entity decided a command of an atomic step and gave
/// the coordinator its write group without writing anything. Until the
/// coordinator says whether the step committed, the entity holds further
/// commands (they are stashed), so no other write can slip in between. On
/// commit it takes the state the events lead to; otherwise it recovers
/// again from the journal (the step may have failed on a conflict on its
/// stream). The outcome comes from the coordinator directly, with the
/// runtime's capability. Previous phase: `running`. Next: `running` or
/// `recovering`.
namespace cairn::detail {

/// Decides a step command and answers the coordinator with a
/// `step_decision`. A rejection or an effect that stores nothing does not
/// hold the entity.
template <class A>
void run_decide(aggregate_pointer<A> self,
                const typename aggregate_state<A>::command_type& cmd,
                caf::response_promise& rp, uint64_t step) {
  auto& st = self->state;
  auto decided = try_decide<A>(st, cmd);
  if (!decided) {
    rp.deliver(step_decision{
      false, describe(decided.error()), {}, caf::actor_cast<caf::actor>(self)});
    return;
  }
  auto& d = *decided;
  switch (d.eff.what()) {
    case effect<A>::kind::reject:
      rp.deliver(step_decision{
        false, describe(d.eff.error()), {}, caf::actor_cast<caf::actor>(self)});
      return;
    case effect<A>::kind::reply:
    case effect<A>::kind::none:
      rp.deliver(
        step_decision{true, {}, {}, caf::actor_cast<caf::actor>(self)});
      return;
    case effect<A>::kind::persist:
      break;
  }
  auto p = std::make_unique<typename aggregate_state<A>::pending>();
  p->next = std::move(d.next);
  p->next_version = d.next_version;
  p->step = step;
  st.in_flight = std::move(p);
  st.phase = aggregate_phase::deciding;
  rp.deliver(step_decision{
    true, {}, std::move(d.group), caf::actor_cast<caf::actor>(self)});
}

/// Removes the stashed commands of step `step` (answered with
/// `errc::timeout`; the coordinator no longer waits for them).
template <class A>
void drop_stashed_step(aggregate_pointer<A> self, uint64_t step) {
  auto& st = self->state;
  auto first = st.stash.begin() + static_cast<ptrdiff_t>(st.stash_head);
  auto last
    = std::stable_partition(first, st.stash.end(), [step](const auto& item) {
        return item.step != step;
      });
  for (auto i = last; i != st.stash.end(); ++i)
    i->rp.deliver(make_error(errc::timeout, "step " + std::to_string(step)
                                              + " was abandoned before "
                                              + st.stream + " decided"));
  st.stash.erase(last, st.stash.end());
}

/// Applies or discards the decision of step `step`.
template <class A>
void on_step_outcome(aggregate_pointer<A> self, uint64_t step, bool committed) {
  auto& st = self->state;
  if (st.phase != aggregate_phase::deciding || !st.in_flight
      || st.in_flight->step != step) {
    // Not the decision we hold. If the coordinator gave up on this step
    // while its command still waits in the stash, drop that command: its
    // decision would hold the entity for a step that no longer exists.
    if (!committed)
      drop_stashed_step<A>(self, step);
    return;
  }
  auto p = std::move(st.in_flight);
  if (!committed) {
    // The step's group failed, perhaps on a conflict on our own stream
    // (another writer moved it): our view may be stale, so catch up as
    // `persisting` does after a conflict. Cheap: from the latest snapshot.
    start_recovery<A>(self);
    return;
  }
  st.value = std::move(p->next);
  st.version = p->next_version;
  enter_running<A>(self);
}

} // namespace cairn::detail
