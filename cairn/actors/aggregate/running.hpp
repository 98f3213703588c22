#pragma once

#include <chrono>
#include <string>

#include "caf/typed_event_based_actor.hpp"

#include "cairn/actors/aggregate/state.hpp"
#include "cairn/actors/atoms.hpp"
#include "cairn/journal/codec.hpp"

/// Phase `running`: commands are decided one by one by the user's pure
/// handler. An effect that stores events builds one write group (the
/// events, with the expected version, and a snapshot when one is due) and
/// hands it to the coordinator. Previous phase: `recovering` or
/// `persisting`. Next: `persisting` (persisting.hpp).
namespace cairn::detail {

template <class A>
void send_to_coordinator(
  aggregate_pointer<A> self, journal::write_group g,
  std::unique_ptr<typename aggregate_state<A>::pending> p);

/// The pure part of a command: the handler's effect, with the events
/// encoded, the state they lead to and the write group that stores them.
/// Nothing is written. Used by `running` and (later) by atomic steps.
template <class A>
struct decision {
  effect<A> eff;
  typename A::state next{};
  uint64_t next_version = 0;
  journal::write_group group;
};

/// Decides `cmd` against the entity's current state.
template <class A>
decision<A> decide(aggregate_state<A>& st,
                   const typename aggregate_state<A>::command_type& cmd) {
  auto eff = std::visit(
    [&](const auto& c) -> effect<A> {
      return A::handle(static_cast<const typename A::state&>(st.value), c);
    },
    cmd);
  decision<A> d{std::move(eff), {}, 0, {}};
  if (d.eff.what() != effect<A>::kind::persist)
    return d;
  auto& codec = codec_of<A>();
  journal::append app;
  app.stream = st.stream;
  app.expected = journal::expected_version::exact(st.version);
  app.events.reserve(d.eff.events().size());
  d.next = st.value;
  for (auto& ev : d.eff.events()) {
    std::visit(
      [&](auto& e) {
        app.events.push_back(codec.encode(e));
        d.next = A::apply(std::move(d.next), e);
      },
      ev);
  }
  d.next_version = st.version + app.events.size();
  auto every = st.env->settings.snapshot_every;
  if (every > 0 && d.next_version / every > st.version / every) {
    journal::snapshot snap;
    snap.stream = st.stream;
    snap.version = d.next_version;
    snap.type = snapshot_type_of<A>();
    snap.schema_version = snapshot_version_of<A>();
    snap.payload = journal::to_bytes(d.next);
    d.group.snapshots.push_back(std::move(snap));
  }
  d.group.appends.push_back(std::move(app));
  return d;
}

/// Decides `cmd` as `decide` does, with an exception thrown by the
/// user's `handle` or `apply` or by the codec turned into
/// `errc::rejected` naming it: `decide` changes nothing, so the entity
/// goes on with its next command as it was.
template <class A>
caf::expected<decision<A>>
try_decide(aggregate_state<A>& st,
           const typename aggregate_state<A>::command_type& cmd) {
  try {
    return decide<A>(st, cmd);
  } catch (const std::exception& e) {
    return make_error(errc::rejected, "deciding a command for " + st.stream
                                        + " threw: " + e.what());
  } catch (...) {
    return make_error(errc::rejected,
                      "deciding a command for " + st.stream
                        + " threw an exception that is not a std::exception");
  }
}

template <class A>
void run_decide(aggregate_pointer<A> self,
                const typename aggregate_state<A>::command_type& cmd,
                caf::response_promise& rp, uint64_t step);

/// Handles one command while running; a command of an atomic step (`step`
/// not 0) goes to the `deciding` phase instead.
///
/// A command with a dedup key (delivered through an outbox) is refused with
/// `errc::duplicate` when the key is in the journal already, and stores the
/// key with its events otherwise: a redelivery has no second effect.
template <class A>
void run_command(aggregate_pointer<A> self,
                 const typename aggregate_state<A>::command_type& cmd,
                 caf::response_promise& rp, uint64_t step = 0,
                 const std::string& dedup = {}) {
  if (step != 0)
    return run_decide<A>(self, cmd, rp, step);
  auto& st = self->state;
  if (!dedup.empty()) {
    auto seen = st.env->journal->has_dedup_key(dedup);
    if (!seen) {
      rp.deliver(std::move(seen.error()));
      return;
    }
    if (*seen) {
      rp.deliver(make_error(errc::duplicate, "command " + dedup + " for "
                                               + st.stream
                                               + " took effect already"));
      return;
    }
  }
  auto decided = try_decide<A>(st, cmd);
  if (!decided) {
    rp.deliver(std::move(decided.error()));
    return;
  }
  auto& d = *decided;
  switch (d.eff.what()) {
    case effect<A>::kind::reply:
      rp.deliver(std::move(d.eff.message()));
      return;
    case effect<A>::kind::reject:
      rp.deliver(std::move(d.eff.error()));
      return;
    case effect<A>::kind::none:
      rp.deliver(caf::unit);
      return;
    case effect<A>::kind::persist:
      break;
  }
  if (!dedup.empty())
    d.group.dedup_keys.push_back(dedup);
  auto p = std::make_unique<typename aggregate_state<A>::pending>();
  p->next = std::move(d.next);
  p->next_version = d.next_version;
  p->reply = d.eff.on_persisted();
  p->rp = std::move(rp);
  send_to_coordinator<A>(self, std::move(d.group), std::move(p));
}

/// Runs stashed commands until one persists or the stash is empty; then
/// honours a pending passivation request.
template <class A>
void drain_stash(aggregate_pointer<A> self) {
  auto& st = self->state;
  while (st.phase == aggregate_phase::running && st.stash_size() > 0) {
    auto item = std::move(st.stash[st.stash_head++]);
    if (st.stash_size() == 0) {
      st.stash.clear();
      st.stash_head = 0;
    }
    run_command<A>(self, item.cmd, item.rp, item.step, item.dedup);
  }
  if (st.phase == aggregate_phase::running && st.stash_size() == 0) {
    st.stash.shrink_to_fit();
    if (st.passivate_requested)
      self->quit();
  }
}

/// Enters `running`, answers the state requests that waited for recovery,
/// and works off the stash.
template <class A>
void enter_running(aggregate_pointer<A> self) {
  auto& st = self->state;
  st.phase = aggregate_phase::running;
  if (!st.state_waiters.empty()) {
    auto bytes = journal::to_bytes(st.value);
    for (auto& rp : st.state_waiters)
      rp.deliver(st.version, bytes);
    st.state_waiters.clear();
  }
  drain_stash<A>(self);
}

/// Accepts a command in any phase: runs it now, or stashes it, or refuses
/// it with `errc::overloaded` when the stash is full.
template <class A>
void accept_command(aggregate_pointer<A> self,
                    typename aggregate_state<A>::command_type cmd,
                    caf::response_promise rp, uint64_t step = 0,
                    std::string dedup = {}) {
  auto& st = self->state;
  st.last_command = std::chrono::steady_clock::now();
  if (st.phase == aggregate_phase::running && st.stash_size() == 0) {
    run_command<A>(self, cmd, rp, step, dedup);
    return;
  }
  if (st.phase == aggregate_phase::failed) {
    rp.deliver(st.failure);
    return;
  }
  if (st.stash_size() >= st.env->settings.stash_capacity) {
    // For a step command too an error, not a rejection: the step fails and
    // the manager retries it.
    rp.deliver(make_error(errc::overloaded,
                          "entity " + st.stream + " has "
                            + std::to_string(st.stash_size())
                            + " commands waiting (aggregates.stash-capacity)"));
    return;
  }
  st.stash.push_back({std::move(cmd), std::move(rp), step, std::move(dedup)});
}

} // namespace cairn::detail
