#pragma once

#include <algorithm>
#include <chrono>
#include <iostream>
#include <limits>

#include "caf/send.hpp"

#include "cairn/actors/atoms.hpp"
#include "cairn/actors/process/state.hpp"

/// Phase `recovering` of a process-manager instance: replays its stream in
/// chunks, folding the user's events with `P::apply` and the built-in ones
/// into the runtime's bookkeeping (the last input position, outcomes not
/// yet reacted to, deadlines, completion); a snapshot that does not read
/// back (`errc::corrupt_record`) is reported and the stream replays from its
/// start. Then it arms the deadlines (one
/// that came due while the process was down fires at once). Previous phase:
/// none, or `stepping` after a failed step. Next: `running` (running.hpp).
namespace cairn::detail {

template <class P>
void process_enter_running(process_pointer<P> self);

/// Arms a timer for deadline `name` due at `due_ns`.
template <class P>
void arm_deadline(process_pointer<P> self, const std::string& name,
                  int64_t due_ns) {
  using namespace std::chrono;
  auto now = duration_cast<nanoseconds>(system_clock::now().time_since_epoch())
               .count();
  auto delay = nanoseconds{std::max<int64_t>(0, due_ns - now)};
  self->delayed_send(self, delay, deadline_atom::value, name, due_ns);
}

/// Folds one of the manager's own events into the user's state.
template <class P>
void fold_own(process_state<P>& st, const typename P::events::variant_type& e) {
  st.value = std::visit(
    [&st](auto& x) { return P::apply(std::move(st.value), x); }, e);
}

/// Folds the runtime's events into an instance's bookkeeping, typed: the
/// stored events of a replay decode into these, and a committed step folds
/// the values it wrote without reading them back.
template <class P>
void fold_builtin(process_state<P>& st, const step_record& rec) {
  if (rec.input_position > st.last_input)
    st.last_input = rec.input_position;
  for (auto& o : rec.outcomes) {
    auto dash = o.stream.find('-');
    command_result r;
    r.category = o.stream.substr(0, dash);
    r.entity = dash == std::string::npos ? "" : o.stream.substr(dash + 1);
    r.accepted = o.accepted;
    r.why = o.why;
    st.outcomes.push_back(std::move(r));
  }
}

template <class P>
void fold_builtin(process_state<P>& st, const remote_input& x) {
  auto& last = st.remote_inputs[x.source];
  if (x.position > last)
    last = x.position;
}

template <class P>
void fold_builtin(process_state<P>& st, const outcome_reacted&) {
  if (!st.outcomes.empty())
    st.outcomes.pop_front();
}

template <class P>
void fold_builtin(process_state<P>& st, const deadline_scheduled& d) {
  st.deadlines[d.name] = d.due_ns;
}

template <class P>
void fold_builtin(process_state<P>& st, const deadline_cleared& d) {
  st.deadlines.erase(d.name);
  if (!st.due.empty() && st.due.front() == d.name)
    st.due.pop_front();
}

template <class P>
void fold_builtin(process_state<P>& st, const process_completed&) {
  st.completed = true;
  // A completed process reacts to nothing more: its deadlines go with it
  // (the completing step erased their rows of the deadline table).
  st.deadlines.clear();
  st.due.clear();
}

/// Decodes the stored event `ev` as a `T` and folds it.
template <class P, class T>
caf::error fold_decoded(process_state<P>& st, const journal::stored_event& ev) {
  auto x = process_codec_of<P>().template decode<T>(ev);
  if (!x)
    return std::move(x.error());
  fold_builtin<P>(st, *x);
  return caf::none;
}

/// Folds one stored event of the instance's stream into its state.
template <class P>
caf::error fold_process_event(process_state<P>& st,
                              const journal::stored_event& ev) {
  auto& c = process_codec_of<P>();
  const auto& type = ev.record.type;
  caf::error err;
  if (type == step_record::event_name) {
    err = fold_decoded<P, step_record>(st, ev);
  } else if (type == remote_input::event_name) {
    err = fold_decoded<P, remote_input>(st, ev);
  } else if (type == outcome_reacted::event_name) {
    fold_builtin<P>(st, outcome_reacted{});
  } else if (type == deadline_scheduled::event_name) {
    err = fold_decoded<P, deadline_scheduled>(st, ev);
  } else if (type == deadline_cleared::event_name) {
    err = fold_decoded<P, deadline_cleared>(st, ev);
  } else if (type == process_completed::event_name) {
    fold_builtin<P>(st, process_completed{});
  } else {
    auto e = decode_event(c, ev, typename P::events{});
    if (!e)
      return std::move(e.error());
    fold_own<P>(st, *e);
  }
  if (err)
    return err;
  st.version = ev.version;
  return caf::none;
}

template <class P>
void process_recovery_failed(process_pointer<P> self, caf::error err) {
  for (auto& in : self->state.inputs)
    in.rp.deliver(err);
  self->state.inputs.clear();
  self->quit(std::move(err));
}

template <class P>
void process_start_recovery(process_pointer<P> self) {
  auto& st = self->state;
  st.phase = process_phase::recovering;
  st.value = typename P::state{};
  st.version = 0;
  st.last_input = 0;
  st.remote_inputs.clear();
  st.outcomes.clear();
  st.deadlines.clear();
  st.due.clear();
  st.completed = false;
  auto snap = st.env->journal->latest_snapshot(st.stream);
  if (!snap && code_of(snap.error()) == errc::corrupt_record) {
    // A snapshot only saves replay: without it, the stream replays from
    // its start.
    std::cerr << "cairn.process." << P::category
              << ": warning: " << describe(snap.error()) << "; replaying "
              << st.stream << " from its start\n";
    snap = std::optional<journal::snapshot>{};
  }
  if (!snap)
    return process_recovery_failed<P>(self, std::move(snap.error()));
  if (*snap && (*snap)->type == process_snapshot_type<P>()) {
    auto& s = **snap;
    auto what = "snapshot of stream " + st.stream + " at version "
                + std::to_string(s.version);
    auto x = journal::from_bytes<process_snapshot>(s.payload, what);
    auto value = x ? journal::from_bytes<typename P::state>(x->state, what)
                   : caf::expected<typename P::state>{x.error()};
    // One that does not decode (the state type changed) is skipped: the
    // stream replays from its start.
    if (x && value) {
      st.value = std::move(*value);
      st.version = s.version;
      st.last_input = x->last_input;
      st.remote_inputs = std::move(x->remote_inputs);
      st.outcomes.assign(x->outcomes.begin(), x->outcomes.end());
      st.deadlines = std::move(x->deadlines);
      st.completed = x->completed;
    }
  }
  self->send(self, recover_atom::value);
}

/// Stores a snapshot of the instance when its last step crossed a multiple
/// of `snapshot_every` (from `before`). A snapshot only saves replay: it is
/// committed after the step, in a group of its own.
template <class P>
void process_maybe_snapshot(process_pointer<P> self, uint64_t before) {
  auto& st = self->state;
  auto every = st.env->snapshot_every;
  if (every == 0 || st.version / every == before / every)
    return;
  process_snapshot x;
  x.state = journal::to_bytes(st.value);
  x.last_input = st.last_input;
  x.remote_inputs = st.remote_inputs;
  x.outcomes.assign(st.outcomes.begin(), st.outcomes.end());
  x.deadlines = st.deadlines;
  x.completed = st.completed;
  journal::write_group g;
  g.snapshots.push_back(journal::snapshot{
    st.stream, st.version, process_snapshot_type<P>(), journal::to_bytes(x)});
  caf::anon_send(st.env->coordinator, commit_atom::value, std::move(g));
}

/// Stops the instance (the registry passivates it). If a deadline is
/// armed, the registry wakes the instance again when it comes due; after a
/// crash, the router wakes it from the deadline table instead.
template <class P>
void process_passivate(process_pointer<P> self) {
  auto& st = self->state;
  if (!st.completed && !st.deadlines.empty() && st.env->registry) {
    int64_t first = std::numeric_limits<int64_t>::max();
    for (auto& [name, due] : st.deadlines)
      first = std::min(first, due);
    using namespace std::chrono;
    auto now
      = duration_cast<nanoseconds>(system_clock::now().time_since_epoch())
          .count();
    auto delay = nanoseconds{std::max<int64_t>(0, first - now)};
    caf::delayed_anon_send(st.env->registry, delay, entity_id{st.id},
                           wake_atom::value);
  }
  self->quit();
}

/// Passivates the instance now if it is idle, else once it is.
template <class P>
void process_request_passivation(process_pointer<P> self) {
  auto& st = self->state;
  if (st.phase == process_phase::running && st.inputs.empty())
    process_passivate<P>(self);
  else
    st.passivate_requested = true;
}

template <class P>
void process_recover_chunk(process_pointer<P> self) {
  auto& st = self->state;
  if (st.phase != process_phase::recovering)
    return;
  // At least one: a chunk of none would never reach the end.
  auto n = std::max<size_t>(st.env->recovery_chunk, 1);
  auto chunk = st.env->journal->read_stream(st.stream, st.version + 1, n);
  if (!chunk)
    return process_recovery_failed<P>(self, std::move(chunk.error()));
  for (auto& ev : *chunk)
    if (auto err = fold_process_event<P>(st, ev))
      return process_recovery_failed<P>(self, std::move(err));
  if (chunk->size() == n) {
    self->send(self, recover_atom::value);
    return;
  }
  for (auto& [name, due] : st.deadlines)
    arm_deadline<P>(self, name, due);
  process_enter_running<P>(self);
}

} // namespace cairn::detail
