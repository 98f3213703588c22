#include "actors/coordinator.hpp"

#include <chrono>
#include <functional>
#include <vector>

#include "caf/all.hpp"

#include "actors/aggregate.hpp"
#include "journal/codec.hpp"
#include "journal/errc.hpp"

namespace cairn {

namespace {

/// Called with a group's outcome once its commit is over.
using completion = std::function<void(caf::expected<journal::group_receipt>)>;

struct coordinator_state {
  std::shared_ptr<journal::journal> j;
  coordinator_settings settings;
  subscription_hub_actor hub;
  /// The groups of the next commit and whom to tell.
  std::vector<journal::write_group> groups;
  std::vector<completion> completions;
  uint64_t buffered_events = 0;
  uint64_t buffered_bytes = 0;
  /// Whether a flush_atom is in our mailbox.
  bool flush_pending = false;
  bool fail_next_persist = false;
  uint64_t next_step_id = 1;
  coordinator_stats stats;
  static inline const char* name = "cairn.coordinator";
};

using pointer = coordinator_actor::stateful_pointer<coordinator_state>;

/// Hands the committed events of `groups` to the hub, in position order.
void publish(pointer self, std::vector<journal::write_group>& groups,
             std::vector<journal::journal::group_outcome>& outcomes) {
  std::vector<journal::stored_event> events;
  for (size_t i = 0; i < groups.size(); ++i) {
    if (!outcomes[i])
      continue;
    auto& receipt = *outcomes[i];
    auto& g = groups[i];
    for (size_t k = 0; k < g.appends.size(); ++k) {
      auto& a = g.appends[k];
      auto& r = receipt.appends[k];
      for (size_t n = 0; n < a.events.size(); ++n) {
        journal::stored_event ev;
        ev.stream = a.stream;
        ev.version = r.first_version + n;
        ev.position = r.first_position + n;
        ev.record = std::move(a.events[n]);
        events.push_back(std::move(ev));
      }
    }
  }
  if (!events.empty())
    self->send(self->state.hub, publish_atom::value, std::move(events));
}

/// Commits every buffered group in one transaction and tells each writer.
void flush(pointer self) {
  auto& st = self->state;
  if (st.groups.empty())
    return;
  auto groups = std::move(st.groups);
  auto completions = std::move(st.completions);
  st.groups.clear();
  st.completions.clear();
  auto events = st.buffered_events;
  auto bytes = st.buffered_bytes;
  st.buffered_events = 0;
  st.buffered_bytes = 0;
  auto t0 = std::chrono::steady_clock::now();
  auto res = st.j->commit(groups);
  auto ns = static_cast<uint64_t>(
    std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::steady_clock::now() - t0)
      .count());
  auto& s = st.stats;
  ++s.commits;
  s.commit_ns_total += ns;
  s.commit_ns_max = std::max(s.commit_ns_max, ns);
  if (!res) {
    s.failed_groups += groups.size();
    for (auto& f : completions)
      f(res.error());
    return;
  }
  for (size_t i = 0; i < groups.size(); ++i) {
    if ((*res)[i]) {
      ++s.groups;
      s.events += groups[i].event_count();
    } else {
      ++s.rejected_groups;
    }
  }
  s.bytes += bytes;
  s.max_events_per_commit = std::max(s.max_events_per_commit, events);
  // Publish first: a writer holding its receipt can count on the hub having
  // its events queued (subscriptions rely on it to know they caught up).
  if (st.hub)
    publish(self, groups, *res);
  for (size_t i = 0; i < groups.size(); ++i)
    completions[i]((*res)[i]);
}

/// Adds `g` to the next commit; `f` learns its outcome.
void enqueue(pointer self, journal::write_group g, completion f) {
  auto& st = self->state;
  auto n = g.event_count();
  auto b = g.byte_size();
  if (!st.groups.empty()
      && (st.buffered_events + n > st.settings.max_batch_events
          || st.buffered_bytes + b > st.settings.max_batch_bytes))
    flush(self);
  st.buffered_events += n;
  st.buffered_bytes += b;
  st.groups.push_back(std::move(g));
  st.completions.push_back(std::move(f));
  // Everything already in the mailbox joins this commit: the flush message
  // queues up behind it.
  if (!st.flush_pending) {
    st.flush_pending = true;
    self->send(self, flush_atom::value);
  }
}

// -- atomic steps -------------------------------------------------------------

/// A step waiting for its targets' decisions.
struct pending_step {
  uint64_t id = 0;
  step_request req;
  std::vector<step_decision> decisions;
  /// Whether target i may hold commands for this step and must be told.
  std::vector<bool> tell;
  size_t missing = 0;
  caf::typed_response_promise<step_result> rp;
};

/// Tells every target that accepted whether the step committed.
void tell_targets(pointer self, pending_step& ps, bool committed) {
  for (size_t i = 0; i < ps.req.commands.size(); ++i) {
    if (!ps.tell[i])
      continue;
    auto& cmd = ps.req.commands[i];
    // Only a decision the step used (accepted in time) and whose group
    // committed is applied; a late one is discarded.
    self->anon_send(cmd.target, entity_id{cmd.entity}, outcome_atom::value,
                    ps.id, committed && ps.decisions[i].accepted);
  }
}

/// Builds the step's one write group and hands it to the next commit.
void commit_step(pointer self, std::shared_ptr<pending_step> ps) {
  auto& st = self->state;
  auto& g = ps->req.group;
  if (g.appends.empty()) {
    tell_targets(self, *ps, false);
    ps->rp.deliver(make_error(errc::invalid_argument,
                              "a step needs the manager's append first"));
    return;
  }
  step_record record;
  record.input_position = ps->req.input_position;
  for (size_t i = 0; i < ps->decisions.size(); ++i) {
    auto& d = ps->decisions[i];
    record.outcomes.push_back(
      command_outcome{ps->req.commands[i].stream, d.accepted, d.why});
    if (!d.accepted) {
      ++st.stats.rejected_commands;
      continue;
    }
    for (auto& a : d.group.appends)
      g.appends.push_back(std::move(a));
    for (auto& s : d.group.snapshots)
      g.snapshots.push_back(std::move(s));
    for (auto& k : d.group.dedup_keys)
      g.dedup_keys.push_back(std::move(k));
  }
  journal::event_record rec;
  rec.type = step_record::event_name;
  rec.payload = journal::to_bytes(record);
  g.appends.front().events.push_back(std::move(rec));
  auto outcomes = record.outcomes;
  enqueue(self, std::move(g),
          [self, ps, outcomes](caf::expected<journal::group_receipt> res) {
            tell_targets(self, *ps, static_cast<bool>(res));
            if (!res) {
              ps->rp.deliver(res.error());
              return;
            }
            ++self->state.stats.steps;
            ps->rp.deliver(step_result{std::move(*res), outcomes});
          });
}

caf::typed_response_promise<step_result> start_step(pointer self,
                                                     step_request& req) {
  auto ps = std::make_shared<pending_step>();
  ps->id = self->state.next_step_id++;
  ps->req = std::move(req);
  ps->decisions.resize(ps->req.commands.size());
  ps->tell.resize(ps->req.commands.size());
  ps->missing = ps->req.commands.size();
  ps->rp = self->make_response_promise<step_result>();
  if (ps->missing == 0) {
    commit_step(self, ps);
    return ps->rp;
  }
  for (size_t i = 0; i < ps->req.commands.size(); ++i) {
    auto& cmd = ps->req.commands[i];
    auto done = [self, ps, i](step_decision d, bool tell) {
      ps->tell[i] = tell;
      ps->decisions[i] = std::move(d);
      if (--ps->missing == 0)
        commit_step(self, ps);
    };
    // An entity decides one command per step: a second one would wait for
    // the first decision to be committed, which waits for the step.
    auto repeated = [&] {
      for (size_t k = 0; k < i; ++k)
        if (ps->req.commands[k].stream == cmd.stream)
          return true;
      return false;
    };
    if (repeated()) {
      done(step_decision{false,
                         describe(make_error(
                           errc::invalid_argument,
                           "a step commands " + cmd.stream
                             + " more than once; send one command per entity"
                               " per step")),
                         {}},
           false);
      continue;
    }
    auto msg = caf::make_message(entity_id{cmd.entity}, decide_atom::value,
                                 ps->id)
               + cmd.command;
    self->request(cmd.target, self->state.settings.decide_timeout, msg)
      .then(
        [done](step_decision& d) {
          auto holds = d.accepted && !d.group.appends.empty();
          done(std::move(d), holds);
        },
        [done](caf::error& err) {
          // A target that answers too late may hold for this step: it is
          // told to discard.
          done(step_decision{false, describe(err), {}}, true);
        });
  }
  return ps->rp;
}

} // namespace

coordinator_actor::behavior_type
coordinator_impl(pointer self, std::shared_ptr<journal::journal> j,
                 coordinator_settings settings, subscription_hub_actor hub) {
  self->state.j = std::move(j);
  self->state.settings = settings;
  self->state.hub = std::move(hub);
  // Told to exit (runtime::stop), commit what is buffered first: its writers
  // get their real outcome instead of silence.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    flush(self);
    self->quit(std::move(msg.reason));
  });
  return {
    [self](commit_atom,
           journal::write_group& g) -> caf::result<journal::group_receipt> {
      auto& st = self->state;
      if (st.fail_next_persist) {
        st.fail_next_persist = false;
        return make_error(errc::storage_error, "injected persist failure");
      }
      auto rp = self->make_response_promise<journal::group_receipt>();
      enqueue(self, std::move(g),
              [rp](caf::expected<journal::group_receipt> res) mutable {
                if (res)
                  rp.deliver(std::move(*res));
                else
                  rp.deliver(std::move(res.error()));
              });
      return rp;
    },
    [self](step_atom, step_request& req) { return start_step(self, req); },
    [self](flush_atom) {
      self->state.flush_pending = false;
      flush(self);
    },
    [self](stats_atom) { return self->state.stats; },
    [self](inject_atom, injected_failure what) {
      if (what == injected_failure::next_persist)
        self->state.fail_next_persist = true;
      else
        self->state.j->inject_commit_failure();
      return true;
    },
  };
}

coordinator_actor spawn_coordinator(caf::actor_system& sys,
                                    std::shared_ptr<journal::journal> j,
                                    coordinator_settings settings,
                                    subscription_hub_actor hub) {
  return sys.spawn<caf::detached>(coordinator_impl, std::move(j), settings,
                                  std::move(hub));
}

} // namespace cairn
