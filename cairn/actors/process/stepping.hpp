#pragma once

#include "caf/event_based_actor.hpp"

#include "cairn/actors/coordinator.hpp"
#include "cairn/actors/dead_letter.hpp"
#include "cairn/actors/outbox.hpp"
#include "cairn/actors/process/recovering.hpp"
#include "cairn/actors/process/running.hpp"
#include "cairn/actors/process/state.hpp"
#include "cairn/actors/runtime.hpp"

/// Phase `stepping` of a process-manager instance: the step is with the
/// coordinator, which commits the manager's events, the step record and the
/// commanded aggregates' events in one write group. On commit the instance
/// folds the committed events: the records it sent and the step record the
/// coordinator added, built from the outcomes as the coordinator built it,
/// so that the live state is the recovered state without reading them
/// back from the journal. The input stays queued until the
/// reactions to the outcomes of its step (and of the steps after) have
/// committed too: `running` acknowledges it then, and only then may the
/// router's checkpoint pass it, so that after a crash the input reaches the
/// instance again and wakes it to finish its reactions. On failure
/// nothing of the step was written: the instance recovers and retries from
/// its last committed state. Previous phase: `running`. Next: `running` or
/// `recovering`.
namespace cairn::detail {

/// An event a step writes to its manager's stream, typed: the manager's
/// own, or one of the runtime's. The step folds these once committed.
template <class P>
using written_event
  = std::variant<typename step<P>::event_type, outcome_reacted,
                 deadline_cleared, deadline_scheduled, remote_input,
                 process_completed>;

/// Folds `x` into `st`, as the replay of its stored record would.
template <class P>
void fold_written(process_state<P>& st, written_event<P>& x) {
  std::visit(
    [&st](auto& y) {
      using type = std::decay_t<decltype(y)>;
      if constexpr (std::is_same_v<type, typename step<P>::event_type>)
        fold_own<P>(st, y);
      else
        fold_builtin<P>(st, y);
    },
    x);
}

/// The key of an instance's deadline in the deadline table.
inline std::string deadline_key(const std::string& stream,
                                const std::string& name) {
  return stream + '\n' + name;
}

template <class P>
void step_failed(process_pointer<P> self, cause why, caf::error err) {
  auto& st = self->state;
  if (why == cause::input && st.inputs.front().replay
      && code_of(err) == errc::duplicate) {
    // An earlier replay of this dead letter committed its step: the input
    // has had its effect. Recover, to see that step.
    st.inputs.front().rp.deliver(caf::unit);
    st.inputs.pop_front();
    process_start_recovery<P>(self);
    return;
  }
  int& attempts
    = why == cause::input ? st.inputs.front().attempts : st.attempts;
  if (++attempts < st.env->max_step_attempts) {
    process_start_recovery<P>(self); // retry from the committed state
    return;
  }
  if (why == cause::input) {
    st.inputs.front().rp.deliver(err);
    st.inputs.pop_front();
    process_start_recovery<P>(self);
    return;
  }
  // An outcome or deadline reaction cannot be skipped: stop, and let the
  // next input or restart try again. The inputs waiting did not fail: they
  // bounce, and the router hands them to the successor.
  auto bounce
    = make_error(errc::entity_unavailable,
                 "process " + st.stream + " stopped: " + describe(err));
  for (auto& in : st.inputs)
    in.rp.deliver(bounce);
  st.inputs.clear();
  self->quit(std::move(err));
}

template <class P>
void run_step(process_pointer<P> self, step<P> s, cause why,
              uint64_t input_position) {
  auto& st = self->state;
  auto& c = process_codec_of<P>();
  step_request req;
  journal::append a;
  a.stream = st.stream;
  a.expected = journal::expected_version::exact(st.version);
  // What the stream gets, encoded for the journal and typed for the fold.
  std::vector<written_event<P>> own;
  // At most three of the runtime's besides the deadlines (outcome taken or
  // deadline cleared, remote input, completion); the coordinator adds the
  // step record.
  auto n = s.events().size() + s.deadlines().size() + 3;
  a.events.reserve(n + 1);
  own.reserve(n);
  auto write = [&](auto x) {
    a.events.push_back(c.encode(x));
    own.emplace_back(std::in_place_type<decltype(x)>, std::move(x));
  };
  for (auto& ev : s.events()) {
    std::visit([&](auto& x) { a.events.push_back(c.encode(x)); }, ev);
    own.emplace_back(std::in_place_index<0>, std::move(ev));
  }
  if (why == cause::outcome)
    write(outcome_reacted{});
  if (why == cause::deadline) {
    auto& name = st.due.front();
    write(deadline_cleared{name, true});
    req.group.tables.push_back(journal::table_write{
      deadline_table, deadline_key(st.stream, name), {}, true});
  }
  std::vector<std::pair<std::string, int64_t>> to_arm;
  for (auto& d : s.deadlines()) {
    auto key = deadline_key(st.stream, d.name);
    if (!d.cancel)
      to_arm.emplace_back(d.name, d.due_ns);
    if (d.cancel) {
      write(deadline_cleared{d.name, false});
      req.group.tables.push_back(
        journal::table_write{deadline_table, key, {}, true});
    } else {
      write(deadline_scheduled{d.name, d.due_ns});
      req.group.tables.push_back(journal::table_write{
        deadline_table, key, std::to_string(d.due_ns), false});
    }
  }
  if (why == cause::input && !st.inputs.front().source.empty()) {
    // From another node's log: its position goes into this event, not into
    // the step record (which keeps the positions of this node's log).
    auto& in = st.inputs.front();
    write(remote_input{in.source, in.position});
    input_position = 0;
  }
  if (s.completes()) {
    write(process_completed{});
    for (auto& [name, due] : st.deadlines)
      req.group.tables.push_back(journal::table_write{
        deadline_table, deadline_key(st.stream, name), {}, true});
  }
  req.group.appends.reserve(1 + s.commands().size());
  req.group.appends.push_back(std::move(a));
  // Outbox rows (key, entry) of commands to aggregates of other journals.
  std::vector<std::pair<std::string, std::string>> to_send;
  for (size_t i = 0; i < s.commands().size(); ++i) {
    auto& cmd = s.commands()[i];
    // Local unless routed to another journal or owned by another node.
    if (!st.env->rt->remote_registry(cmd.category, cmd.entity)) {
      auto target = cmd.resolve(*st.env->rt);
      if (!target) {
        step_failed<P>(
          self, why,
          make_error(errc::entity_unavailable,
                     "the runtime of " + st.stream + " is stopping"));
        return;
      }
      req.commands.push_back(step_command{
        std::move(target), std::string{cmd.category} + "-" + cmd.entity,
        cmd.entity, std::move(cmd.command)});
      continue;
    }
    // Unique across journals: the same stream name at the same version
    // may command the same target from another journal.
    auto key = outbox_key(st.env->journal->id(), st.stream, st.version, i);
    auto enc = cmd.encode(cmd.command);
    if (!enc) {
      // Cannot travel: the refusal is the command's outcome.
      journal::append o;
      o.stream = std::string{outcome_category} + "-" + st.stream;
      journal::event_record rec;
      rec.type = remote_outcome::event_name;
      rec.payload = journal::to_bytes(remote_outcome{
        key, P::category, st.id, cmd.category, cmd.entity, false,
        describe(make_error(errc::invalid_argument,
                            "the command type has no serialize function, "
                            "so it cannot be sent to "
                              + std::string{cmd.category}
                              + " in another journal"))});
      o.events.push_back(std::move(rec));
      req.group.appends.push_back(std::move(o));
      continue;
    }
    auto bytes = journal::to_bytes(
      outbox_entry{P::category, st.id, cmd.category, cmd.entity, enc->first,
                   std::move(enc->second)});
    req.group.tables.push_back(
      journal::table_write{outbox_table, key, bytes, false});
    to_send.emplace_back(std::move(key), std::move(bytes));
  }
  req.input_position = input_position;
  if (why == cause::input && st.inputs.front().replay)
    req.group.dedup_keys.push_back(replay_dedup_key(st.stream, input_position));
  st.phase = process_phase::stepping;
  self
    ->request(st.env->coordinator, caf::infinite, step_atom::value,
              std::move(req))
    .then(
      [self, why, to_arm, to_send, own{std::move(own)},
       input_position](step_result& res) mutable {
        if (!to_send.empty()) {
          auto outbox = self->state.env->rt->outbox();
          if (outbox)
            for (auto& [key, bytes] : to_send)
              self->send(outbox, outbox_atom::value, key, bytes);
        }
        auto& st = self->state;
        auto before = st.version;
        auto& committed = res.receipt.appends.front();
        if (committed.first_version != st.version + 1
            || committed.last_version != st.version + own.size() + 1)
          return process_recovery_failed<P>(
            self, make_error(errc::storage_error,
                             "step of " + st.stream + " committed versions "
                               + std::to_string(committed.first_version)
                               + ".." + std::to_string(committed.last_version)
                               + ", expected "
                               + std::to_string(st.version + 1) + ".."
                               + std::to_string(st.version + own.size() + 1)));
        // The events the step wrote, then the step record the coordinator
        // added, folded as their replay would fold them.
        for (auto& x : own)
          fold_written<P>(st, x);
        fold_builtin<P>(st,
                        step_record{input_position, std::move(res.outcomes)});
        st.version = committed.last_version;
        for (auto& [name, due] : to_arm)
          arm_deadline<P>(self, name, due);
        process_maybe_snapshot<P>(self, before);
        if (why == cause::input)
          st.inputs.front().stepped = true;
        // An input is acknowledged by `process_next` once no outcome waits:
        // its position is at or below `last_input` now.
        if (why != cause::input)
          st.attempts = 0;
        process_enter_running<P>(self);
      },
      [self, why](caf::error& err) { step_failed<P>(self, why, err); });
}

} // namespace cairn::detail
