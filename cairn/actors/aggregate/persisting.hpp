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
void send_to_coordinator(aggregate_pointer<A> self, journal::write_group g,
                         std::unique_ptr<typename aggregate_state<A>::pending>
                           p) {
  auto& st = self->state;
  st.phase = aggregate_phase::persisting;
  st.in_flight = std::move(p);
  self->request(st.env->coordinator, caf::infinite, commit_atom::value,
                std::move(g))
    .then(
      [self](journal::group_receipt&) {
        auto& st = self->state;
        auto p = std::move(st.in_flight);
        st.value = std::move(p->next);
        st.version = p->next_version;
        p->rp.deliver(p->reply(st.value));
        enter_running<A>(self);
      },
      [self](caf::error& err) {
        auto& st = self->state;
        auto p = std::move(st.in_flight);
        p->rp.deliver(err);
        if (code_of(err) == errc::conflict) {
          // Our view of the stream is stale: catch up before going on.
          start_recovery<A>(self);
          return;
        }
        enter_running<A>(self);
      });
}

} // namespace cairn::detail
