#include "cairn/actors/coordinator.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <functional>
#include <numeric>
#include <optional>
#include <unordered_map>
#include <vector>

#include "caf/all.hpp"

#include "cairn/actors/aggregate.hpp"
#include "cairn/actors/scheduler.hpp"
#include "cairn/journal/codec.hpp"
#include "cairn/journal/errc.hpp"
#include "cairn/journal/log.hpp"

namespace cairn {

namespace {

/// The bucket of `x` in a histogram with upper bounds `bounds`: the first
/// bound not below `x`, or one past the last.
template <size_t N>
size_t bucket_of(const std::array<uint64_t, N>& bounds, uint64_t x) {
  return static_cast<size_t>(std::lower_bound(bounds.begin(), bounds.end(), x)
                             - bounds.begin());
}

/// Called with a group's outcome once its commit is over.
using completion = std::function<void(caf::expected<journal::group_receipt>)>;

struct pending_step;

/// Whom to tell a group's outcome: an entity by message
/// (`(committed_atom, ticket, error)`), an atomic step, or else a
/// completion.
struct waiter {
  caf::strong_actor_ptr entity;
  uint64_t ticket = 0;
  /// The step whose group this is.
  std::shared_ptr<pending_step> step;
  completion f;
};

/// A decide the coordinator waits for: target `index` of step `ps`, due
/// by `due`.
struct awaited_decide {
  std::shared_ptr<pending_step> ps;
  size_t index = 0;
  std::chrono::steady_clock::time_point due;
};

struct coordinator_state {
  std::shared_ptr<journal::journal> j;
  coordinator_settings settings;
  subscription_hub_actor hub;
  /// The groups of the next commit and whom to tell.
  std::vector<journal::write_group> groups;
  std::vector<waiter> waiters;
  uint64_t buffered_events = 0;
  uint64_t buffered_bytes = 0;
  /// Whether a flush_atom is in our mailbox.
  bool flush_pending = false;
  bool fail_next_persist = false;
  uint64_t next_step_id = 1;
  /// The token of the step protocol, shared with the entities.
  step_capability capability;
  coordinator_stats stats;
  /// Whether the fail-stop was logged (once).
  bool fail_stop_logged = false;
  /// The actors that decided for steps, by stream: the next decide goes to
  /// the entity directly, past its registry. The coordinator monitors each
  /// and forgets it when it stops (`forget_decider`), so that a passivated
  /// entity is freed; a decide sent before the down message arrived comes
  /// back unprocessed and goes through the registry.
  std::unordered_map<std::string, caf::actor> deciders;
  /// The stream of each actor in `deciders`, for its down message.
  std::unordered_map<caf::actor_addr, std::string> decider_streams;
  /// The decides awaiting an answer, by ticket (see `ask_decide`).
  std::unordered_map<uint64_t, awaited_decide> awaited;
  uint64_t last_decide = 0;
  /// Whether a `tick_atom` for the sweep of late decides is on its way.
  bool sweep_armed = false;
  static inline const char* name = "cairn.coordinator";
};

using pointer = coordinator_actor::stateful_pointer<coordinator_state>;

/// Hands the committed events of `groups` to the hub, in position order.
void publish(pointer self, std::vector<journal::write_group>& groups,
             std::vector<journal::journal::group_outcome>& outcomes) {
  std::vector<journal::stored_event> events;
  size_t total = 0;
  for (size_t i = 0; i < groups.size(); ++i)
    if (outcomes[i])
      total += groups[i].event_count();
  events.reserve(total);
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

/// Gives every event without a timestamp the time `now`. The journal keeps
/// given timestamps, so the records published live equal the stored ones.
void stamp(std::vector<journal::write_group>& groups, int64_t now) {
  for (auto& g : groups)
    for (auto& a : g.appends)
      for (auto& e : a.events)
        if (e.timestamp_ns == 0)
          e.timestamp_ns = now;
}

/// The CPU time of the calling thread, nanoseconds.
uint64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u
         + static_cast<uint64_t>(ts.tv_nsec);
}

int64_t now_ns() {
  using namespace std::chrono;
  return duration_cast<nanoseconds>(system_clock::now().time_since_epoch())
    .count();
}

void step_done(pointer self, waiter& w,
               caf::expected<journal::group_receipt>&& res);

/// Tells `w` the outcome of its group.
void finish(pointer self, waiter& w,
            caf::expected<journal::group_receipt>&& res) {
  if (w.step) {
    step_done(self, w, std::move(res));
    return;
  }
  if (!w.entity) {
    if (w.f)
      w.f(std::move(res));
    return;
  }
  caf::error err;
  if (!res)
    err = std::move(res.error());
  w.entity->enqueue(self->ctrl(), caf::make_message_id(),
                    caf::make_message(committed_atom::value, w.ticket,
                                      std::move(err)),
                    self->context());
}

/// Commits every buffered group in one transaction and tells each writer.
void flush(pointer self) {
  auto& st = self->state;
  if (st.groups.empty())
    return;
  auto groups = std::move(st.groups);
  auto waiters = std::move(st.waiters);
  st.groups.clear();
  st.waiters.clear();
  auto events = st.buffered_events;
  auto bytes = st.buffered_bytes;
  st.buffered_events = 0;
  st.buffered_bytes = 0;
  stamp(groups, now_ns());
  auto measure_cpu = st.settings.measure_commit_cpu;
  auto cpu0 = measure_cpu ? thread_cpu_ns() : 0;
  auto t0 = std::chrono::steady_clock::now();
  std::optional<disk_wait> wait;
  if (st.j->opts().sync != journal::sync_mode::none)
    wait.emplace();
  auto res = st.j->commit(groups);
  wait.reset();
  auto ns = static_cast<uint64_t>(
    std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::steady_clock::now() - t0)
      .count());
  auto& s = st.stats;
  if (measure_cpu)
    s.commit_cpu_ns_total += thread_cpu_ns() - cpu0;
  ++s.commits;
  s.commit_ns_total += ns;
  s.commit_ns_max = std::max(s.commit_ns_max, ns);
  ++s.latency_hist[bucket_of(coordinator_stats::latency_bounds_ns, ns)];
  if (!res) {
    ++s.failed_commits;
    s.failed_groups += groups.size();
    if (st.j->failed() && !st.fail_stop_logged) {
      st.fail_stop_logged = true;
      log::error("journal " + st.j->path(),
                 "commit failed; the journal refuses every write until it "
                 "is reopened (fail-stop): "
                   + describe(res.error()));
    } else if (!st.j->failed()) {
      log::warning("journal " + st.j->path(),
                   "commit failed: " + describe(res.error()));
    }
    for (auto& w : waiters)
      finish(self, w, res.error());
    return;
  }
  uint64_t committed = 0;
  for (size_t i = 0; i < groups.size(); ++i) {
    if ((*res)[i]) {
      ++s.groups;
      committed += groups[i].event_count();
    } else {
      ++s.rejected_groups;
    }
  }
  s.events += committed;
  if (committed > 0)
    ++s.events_hist[bucket_of(coordinator_stats::events_bounds, committed)];
  s.bytes += bytes;
  s.max_events_per_commit = std::max(s.max_events_per_commit, events);
  // Publish first: a writer holding its receipt can count on the hub having
  // its events queued (subscriptions rely on it to know they caught up).
  if (st.hub)
    publish(self, groups, *res);
  for (size_t i = 0; i < groups.size(); ++i)
    finish(self, waiters[i], std::move((*res)[i]));
}

/// Adds `g` to the next commit; `w` learns its outcome.
void enqueue(pointer self, journal::write_group g, waiter w) {
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
  st.waiters.push_back(std::move(w));
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
  /// Command indexes in the order their targets decide: by stream name.
  std::vector<size_t> order;
  /// Position in `order` of the next target to ask.
  size_t next = 0;
  /// The commands' outcomes, once the step's group is built.
  std::vector<command_outcome> outcomes;
  caf::typed_response_promise<step_result> rp;
};

/// Whether target `i` holds commands for the step and awaits its outcome.
bool holds(const pending_step& ps, size_t i) {
  auto& d = ps.decisions[i];
  return d.accepted && d.entity && !d.group.appends.empty();
}

/// Tells every target that holds for the step whether the step committed,
/// directly: the entity that decided is the one that holds.
void tell_targets(pointer self, pending_step& ps, bool committed) {
  for (size_t i = 0; i < ps.decisions.size(); ++i)
    if (holds(ps, i))
      caf::anon_send(ps.decisions[i].entity, outcome_atom::value,
                     self->state.capability, ps.id, committed);
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
  record.outcomes.reserve(ps->decisions.size());
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
  ps->outcomes = std::move(record.outcomes);
  waiter w;
  w.step = std::move(ps);
  enqueue(self, std::move(g), std::move(w));
}

/// Tells the targets and the manager of step `w.step` its outcome.
void step_done(pointer self, waiter& w,
               caf::expected<journal::group_receipt>&& res) {
  auto& ps = *w.step;
  tell_targets(self, ps, static_cast<bool>(res));
  if (!res) {
    ps.rp.deliver(res.error());
    return;
  }
  ++self->state.stats.steps;
  ps.rp.deliver(step_result{std::move(*res), std::move(ps.outcomes)});
}

/// Fails the whole step because target `i` could not decide: the targets
/// that hold discard, and the manager gets `err` and retries the step.
void fail_step(pointer self, std::shared_ptr<pending_step> ps, size_t i,
               const caf::error& err) {
  auto& cmd = ps->req.commands[i];
  // A target that answers too late may still decide and hold for this step,
  // or have the decide in its stash: tell it, on the path the decide took,
  // that the step is abandoned.
  caf::anon_send(cmd.target, entity_id{cmd.entity}, outcome_atom::value,
                 self->state.capability, ps->id, false);
  tell_targets(self, *ps, false);
  if (err == caf::sec::request_timeout)
    ps->rp.deliver(make_error(
      errc::timeout,
      "step " + std::to_string(ps->id) + ": " + cmd.stream
        + " did not decide its command within "
        + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                           self->state.settings.decide_timeout)
                           .count())
        + " ms; the step is abandoned, nothing was written"));
  else
    ps->rp.deliver(err);
}

void decide_next(pointer self, std::shared_ptr<pending_step> ps);

/// Remembers `hdl` as the actor that decides for `stream`, monitored.
void remember_decider(pointer self, const std::string& stream,
                      const caf::actor& hdl) {
  auto& st = self->state;
  auto hit = st.deciders.find(stream);
  if (hit != st.deciders.end()) {
    if (hit->second == hdl)
      return;
    self->demonitor(hit->second);
    st.decider_streams.erase(hit->second.address());
    hit->second = hdl;
  } else {
    // No bound needed: an entry lives only as long as its entity.
    st.deciders.emplace(stream, hdl);
  }
  self->monitor(hdl);
  st.decider_streams.emplace(hdl.address(), stream);
}

/// Forgets the actor of `addr` if it decides for a stream (it stopped, or a
/// decide came back from it unprocessed).
void forget_decider(pointer self, const caf::actor_addr& addr) {
  auto& st = self->state;
  auto rev = st.decider_streams.find(addr);
  if (rev == st.decider_streams.end())
    return;
  auto hit = st.deciders.find(rev->second);
  if (hit != st.deciders.end() && hit->second.address() == addr) {
    self->demonitor(hit->second);
    st.deciders.erase(hit);
  }
  st.decider_streams.erase(rev);
}

/// How often the coordinator looks for decides past their time while any
/// is awaited: an eighth of the decide timeout, between 1 ms and 1 s.
caf::timespan sweep_interval(const coordinator_settings& s) {
  auto x = s.decide_timeout / 8;
  return std::clamp<caf::timespan>(x, std::chrono::milliseconds{1},
                                   std::chrono::seconds{1});
}

void arm_sweep(pointer self) {
  auto& st = self->state;
  if (st.sweep_armed || st.awaited.empty())
    return;
  st.sweep_armed = true;
  self->delayed_send(self, sweep_interval(st.settings), tick_atom::value);
}

/// Fails the steps whose decide is past its time. Decides are sent without
/// CAF's request timeout: CAF 0.17 keeps a request's timeout in its clock
/// until it fires, even after the response came (one clock entry, under a
/// mutex, and one timeout message later, for every decide).
void sweep_decides(pointer self) {
  auto& st = self->state;
  st.sweep_armed = false;
  auto now = std::chrono::steady_clock::now();
  std::vector<awaited_decide> late;
  for (auto i = st.awaited.begin(); i != st.awaited.end();) {
    if (i->second.due <= now) {
      late.push_back(std::move(i->second));
      i = st.awaited.erase(i);
    } else {
      ++i;
    }
  }
  for (auto& x : late)
    fail_step(self, x.ps, x.index, caf::make_error(caf::sec::request_timeout));
  arm_sweep(self);
}

/// Asks target `i` of the step to decide: the entity that decided for its
/// stream last, directly, unless `via_registry`; else through its registry.
/// An answer after the decide timeout (`sweep_decides` failed the step) is
/// dropped.
void ask_decide(pointer self, std::shared_ptr<pending_step> ps, size_t i,
                bool via_registry) {
  auto& st = self->state;
  auto& cmd = ps->req.commands[i];
  auto ticket = ++st.last_decide;
  st.awaited.emplace(ticket,
                     awaited_decide{ps, i,
                                    std::chrono::steady_clock::now()
                                      + st.settings.decide_timeout});
  arm_sweep(self);
  auto on_decision = [self, ps, i, ticket](step_decision& d) {
    auto& st = self->state;
    if (st.awaited.erase(ticket) == 0)
      return; // too late: the step failed already
    if (d.entity)
      remember_decider(self, ps->req.commands[i].stream, d.entity);
    ps->decisions[i] = std::move(d);
    decide_next(self, ps);
  };
  auto hit = via_registry ? st.deciders.end() : st.deciders.find(cmd.stream);
  if (hit == st.deciders.end()) {
    auto msg = caf::make_message(entity_id{cmd.entity}, decide_atom::value,
                                 st.capability, ps->id)
               + cmd.command;
    self->request(cmd.target, caf::infinite, msg)
      .then(std::move(on_decision), [self, ps, i, ticket](caf::error& err) {
        if (self->state.awaited.erase(ticket) > 0)
          fail_step(self, ps, i, err);
      });
    return;
  }
  auto hdl = hit->second;
  auto msg = caf::make_message(decide_atom::value, st.capability, ps->id)
             + cmd.command;
  self->request(hdl, caf::infinite, msg)
    .then(std::move(on_decision), [self, ps, i, hdl, ticket](caf::error& err) {
      if (self->state.awaited.erase(ticket) == 0)
        return; // too late: the step failed already
      if (err != caf::sec::request_receiver_down) {
        fail_step(self, ps, i, err);
        return;
      }
      // Passivated since: the decide was not handled. Once more, through
      // the registry, which starts the entity's successor.
      forget_decider(self, hdl.address());
      ask_decide(self, ps, i, true);
    });
}

/// Asks the next target to decide; commits the step after the last one.
void decide_next(pointer self, std::shared_ptr<pending_step> ps) {
  while (ps->next < ps->order.size()) {
    auto pos = ps->next++;
    auto i = ps->order[pos];
    auto& cmd = ps->req.commands[i];
    // An entity decides one command per step: a second one would wait for
    // the first decision to be committed, which waits for the step. The
    // order is stable, so the repetition comes after the first command.
    if (pos > 0 && ps->req.commands[ps->order[pos - 1]].stream == cmd.stream) {
      ps->decisions[i] = step_decision{
        false,
        describe(make_error(errc::invalid_argument,
                            "a step commands " + cmd.stream
                              + " more than once; send one command per"
                                " entity per step")),
        {},
        {}};
      continue;
    }
    ask_decide(self, ps, i, false);
    return;
  }
  commit_step(self, ps);
}

caf::typed_response_promise<step_result> start_step(pointer self,
                                                    step_request& req) {
  auto ps = std::make_shared<pending_step>();
  ps->id = self->state.next_step_id++;
  ps->req = std::move(req);
  auto n = ps->req.commands.size();
  ps->decisions.resize(n);
  ps->order.resize(n);
  std::iota(ps->order.begin(), ps->order.end(), size_t{0});
  auto& cmds = ps->req.commands;
  if (n > 1) // (stable_sort allocates a buffer even for one element)
    std::stable_sort(
      ps->order.begin(), ps->order.end(),
      [&cmds](size_t x, size_t y) { return cmds[x].stream < cmds[y].stream; });
  ps->rp = self->make_response_promise<step_result>();
  decide_next(self, ps);
  return ps->rp;
}

} // namespace

coordinator_actor::behavior_type
coordinator_impl(pointer self, std::shared_ptr<journal::journal> j,
                 coordinator_settings settings, subscription_hub_actor hub,
                 step_capability capability) {
  self->state.j = std::move(j);
  self->state.settings = settings;
  self->state.capability = capability;
  self->state.hub = std::move(hub);
  // Told to exit (runtime::stop), commit what is buffered first: its writers
  // get their real outcome instead of silence.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    flush(self);
    self->quit(std::move(msg.reason));
  });
  // Only the actors of `deciders` are monitored.
  self->set_down_handler(
    [self](caf::down_msg& msg) { forget_decider(self, msg.source); });
  return {
    [self](commit_atom,
           journal::write_group& g) -> caf::result<journal::group_receipt> {
      auto& st = self->state;
      if (st.fail_next_persist) {
        st.fail_next_persist = false;
        return make_error(errc::storage_error, "injected persist failure");
      }
      auto rp = self->make_response_promise<journal::group_receipt>();
      waiter w;
      w.f = [rp](caf::expected<journal::group_receipt> res) mutable {
        if (res)
          rp.deliver(std::move(*res));
        else
          rp.deliver(std::move(res.error()));
      };
      enqueue(self, std::move(g), std::move(w));
      return rp;
    },
    [self](commit_atom, journal::write_group& g, uint64_t ticket) {
      auto& st = self->state;
      waiter w;
      w.entity = self->current_sender();
      w.ticket = ticket;
      if (st.fail_next_persist) {
        st.fail_next_persist = false;
        finish(self, w, make_error(errc::storage_error,
                                   "injected persist failure"));
        return;
      }
      // An anonymous sender is not told; its group commits all the same.
      enqueue(self, std::move(g), std::move(w));
    },
    [self](step_atom, step_request& req) { return start_step(self, req); },
    [self](truncate_atom, const std::string& stream,
           uint64_t version) -> caf::expected<uint64_t> {
      // Whatever arrived before goes first: truncation sees it committed.
      flush(self);
      return self->state.j->truncate_before(stream, version);
    },
    [self](flush_atom) {
      self->state.flush_pending = false;
      flush(self);
    },
    [self](stats_atom) { return self->state.stats; },
    [self](tick_atom) { sweep_decides(self); },
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
                                    subscription_hub_actor hub,
                                    step_capability capability) {
  if (settings.own_thread)
    return sys.spawn<caf::detached>(coordinator_impl, std::move(j), settings,
                                    std::move(hub), capability);
  return sys.spawn(coordinator_impl, std::move(j), settings, std::move(hub),
                   capability);
}

coordinator_actor spawn_coordinator(caf::actor_system& sys,
                                    std::shared_ptr<journal::journal> j,
                                    coordinator_settings settings,
                                    subscription_hub_actor hub) {
  return spawn_coordinator(sys, std::move(j), settings, std::move(hub),
                           step_capability::generate());
}

} // namespace cairn
