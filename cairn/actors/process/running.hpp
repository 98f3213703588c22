#pragma once

#include "cairn/actors/process/recovering.hpp"
#include "cairn/actors/process/state.hpp"

/// Phase `running` of a process-manager instance: takes the next thing to
/// react to — first outcomes of its last step's commands, then deadlines
/// that came due, then inputs in position order — and calls the user's pure
/// `react`. An input at or below the last input position recorded in the
/// stream for its log (this node's, or on a cluster another node's) has had
/// its effect already and is only acknowledged: so each
/// input has its effect exactly once, across crashes and redeliveries (a
/// replayed dead letter is the exception: its own dedup key guards it). A
/// non-empty step goes to the coordinator. Previous phase: `recovering` or
/// `stepping`. Next: `stepping` (stepping.hpp).
namespace cairn::detail {

/// What a step reacts to, for the step record and for retries.
enum class cause : uint8_t { input, outcome, deadline };

template <class P>
void run_step(process_pointer<P> self, step<P> s, cause why,
              uint64_t input_position);

template <class P, class T, class = void>
struct reacts_to : std::false_type {};

template <class P, class T>
struct reacts_to<
  P, T,
  std::void_t<decltype(P::react(std::declval<const typename P::state&>(),
                                std::declval<const T&>()))>> : std::true_type {
};

/// Calls `P::react(state, x)`, or returns an empty step when `P` does not
/// react to `T` (outcomes and deadlines are optional).
template <class P, class T>
step<P> react_to(const typename P::state& st, const T& x) {
  if constexpr (reacts_to<P, T>::value)
    return P::react(st, x);
  else
    return {};
}

/// The position of the last input from `source`'s log (empty: this node's)
/// whose step committed.
template <class P>
uint64_t last_input_of(const process_state<P>& st, const std::string& source) {
  if (source.empty())
    return st.last_input;
  auto i = st.remote_inputs.find(source);
  return i == st.remote_inputs.end() ? 0 : i->second;
}

/// Reacts to the next pending thing, if any; stops when a step is sent.
template <class P>
void process_next(process_pointer<P> self) {
  auto& st = self->state;
  while (st.phase == process_phase::running) {
    if (st.completed) {
      // A completed process reacts to nothing more, not even to the
      // outcomes of the commands its last step sent.
      st.outcomes.clear();
      st.due.clear();
    }
    if (!st.outcomes.empty()) {
      auto s = react_to<P>(st.value, st.outcomes.front());
      return run_step<P>(self, std::move(s), cause::outcome, 0);
    }
    if (!st.due.empty()) {
      deadline d{st.due.front(), st.id};
      auto s = react_to<P>(st.value, d);
      return run_step<P>(self, std::move(s), cause::deadline, 0);
    }
    if (st.inputs.empty()) {
      if (st.passivate_requested)
        process_passivate<P>(self);
      return;
    }
    auto& in = st.inputs.front();
    if (st.completed || in.stepped
        || (!in.replay && in.position <= last_input_of(st, in.source))) {
      in.rp.deliver(caf::unit);
      st.inputs.pop_front();
      continue;
    }
    st.reacting_to_input = true; // left set if `react` throws
    auto s = in.outcome
               ? react_to<P>(st.value, *in.outcome)
               : std::visit(
                 [&](const auto& x) {
                   return P::react(
                     static_cast<const typename P::state&>(st.value), x);
                 },
                 in.input);
    st.reacting_to_input = false;
    if (s.empty()) {
      // Nothing to record: a replay reacts the same way.
      in.rp.deliver(caf::unit);
      st.inputs.pop_front();
      continue;
    }
    return run_step<P>(self, std::move(s), cause::input, in.position);
  }
}

template <class P>
void process_enter_running(process_pointer<P> self) {
  self->state.phase = process_phase::running;
  process_next<P>(self);
}

} // namespace cairn::detail
