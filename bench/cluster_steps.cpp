#include "bench/cluster_steps.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "caf/all.hpp"

#include "bench/bench.hpp"
#include "bench/bench_aggregate.hpp"
#include "bench/bench_saga.hpp"
#include "bench/closed_loop.hpp"
#include "cairn/actors/cluster/node.hpp"
#include "cairn/actors/outbox.hpp"
#include "cairn/actors/process_instance.hpp"
#include "cairn/journal/codec.hpp"

namespace cairn::bench {

namespace {

namespace jr = cairn::journal;

using clock_type = std::chrono::steady_clock;

/// Steps per chain of the untimed waves.
constexpr uint64_t warmup_steps = 2;

/// How long a wave may take before the run counts as failed.
constexpr auto wave_timeout = std::chrono::seconds{120};

// -- the observer -------------------------------------------------------------

/// Tells the observer that a wave starts: `(xwave_atom, uint64_t instances,
/// bool record, caf::actor parent)` -> `true`.
using xwave_atom = caf::atom_constant<caf::atom("b_xwave")>;

/// The observer's report to `parent` that every instance closed its chain.
using xwave_done_atom = caf::atom_constant<caf::atom("b_xwdone")>;

/// A step done: when the reaction to its outcome committed, and its
/// latency (microseconds).
struct step_done {
  clock_type::time_point at;
  double latency_us = 0;
  /// Of cross steps (else negative): the part of the latency up to the
  /// commit of the outcome on the instance's node, and the rest (the
  /// reaction); the first part split at the commit of the command's effect
  /// on the peer: the way there, and the way back with the outcome's
  /// commit.
  double outcome_us = -1;
  double reaction_us = -1;
  double to_peer_us = -1;
  double back_us = -1;
};

/// What the observer measured in a recorded wave. Written by the observer
/// before it reports the wave done; read by the driver after that report.
struct step_observed {
  /// Steps that commanded, and each step done.
  uint64_t steps = 0;
  std::vector<step_done> done;
  /// When every instance had a step done, and when the first chain closed.
  clock_type::time_point all_started;
  clock_type::time_point first_closed;
  /// Closing steps.
  uint64_t closing_steps = 0;
  /// Remote outcomes committed, and those that were rejections.
  uint64_t remote_outcomes = 0;
  uint64_t rejected = 0;
  /// Inputs or outcomes that did not decode (none expected).
  uint64_t bad_events = 0;
};

/// When an instance's last step committed, and whether its next step is
/// the first of a chain (reacting to an input rather than to an outcome).
struct last_step {
  clock_type::time_point at;
  bool awaits_first = false;
  /// When the outcome of the step's command committed (cross steps).
  clock_type::time_point outcome_at;
  /// When the command's effect committed on the peer (cross steps).
  clock_type::time_point peer_at;
  /// Whether a step of the instance was done in the current wave.
  bool started = false;
};

/// When the peer's live feed brought the last event of each entity stream
/// to a subscriber there. Shared by that subscriber and the observer.
struct peer_commits {
  std::mutex mtx;
  std::unordered_map<std::string, clock_type::time_point> at;
};

/// A subscriber of the peer's live feed that takes the arrival time of the
/// commits of the entities' events.
caf::behavior peer_observer(caf::event_based_actor*,
                            std::shared_ptr<peer_commits> out) {
  return {
    [out](events_atom, const std::vector<jr::stored_event>& events) {
      auto now = clock_type::now();
      std::lock_guard<std::mutex> guard{out->mtx};
      for (auto& ev : events)
        if (ev.record.type == recorded::event_name)
          out->at[ev.stream] = now;
    },
  };
}

struct step_observer_state {
  std::shared_ptr<step_observed> out;
  std::shared_ptr<peer_commits> peer;
  /// Manager stream -> its last step.
  std::unordered_map<std::string, last_step> last;
  uint64_t expected = 0;
  uint64_t started = 0;
  uint64_t ended = 0;
  bool recording = false;
  caf::actor parent;
  static inline const char* name = "cairn.bench.cluster_step_observer";
};

const jr::codec& input_codec() {
  static const jr::codec instance = [] {
    jr::codec c;
    c.add<chain_requested>(chain_requested::event_name);
    return c;
  }();
  return instance;
}

/// A subscriber of the live feed of the instances' node that takes the
/// arrival time of every commit of their inputs and steps.
caf::behavior step_observer(caf::stateful_actor<step_observer_state>* self,
                            std::shared_ptr<step_observed> out,
                            std::shared_ptr<peer_commits> peer) {
  self->state.out = std::move(out);
  self->state.peer = std::move(peer);
  return {
    [self](xwave_atom, uint64_t instances, bool record, caf::actor& parent) {
      auto& st = self->state;
      st.expected = instances;
      st.started = 0;
      st.ended = 0;
      st.recording = record;
      st.parent = std::move(parent);
      return true;
    },
    [self](events_atom, std::vector<jr::stored_event>& events) {
      auto now = clock_type::now();
      auto& st = self->state;
      auto& out = *st.out;
      // The step whose outcome the step committed at `now` reacted to.
      auto us = [](clock_type::duration d) {
        return std::chrono::duration<double, std::micro>(d).count();
      };
      auto done = [&](last_step& x) {
        if (!st.recording || x.awaits_first || x.at == clock_type::time_point{})
          return;
        step_done d;
        d.at = now;
        d.latency_us = us(now - x.at);
        if (x.outcome_at != clock_type::time_point{}) {
          d.outcome_us = us(x.outcome_at - x.at);
          d.reaction_us = us(now - x.outcome_at);
          if (x.peer_at != clock_type::time_point{}) {
            d.to_peer_us = us(x.peer_at - x.at);
            d.back_us = us(x.outcome_at - x.peer_at);
          }
        }
        out.done.push_back(d);
        if (!x.started) {
          x.started = true;
          if (++st.started == st.expected)
            out.all_started = now;
        }
      };
      for (auto& ev : events) {
        const auto& type = ev.record.type;
        if (type == chain_requested::event_name) {
          auto e = input_codec().decode<chain_requested>(ev);
          if (!e) {
            ++out.bad_events;
            continue;
          }
          st.last[stream_of<chain_saga>(e->instance)]
            = {now, true, {}, {}, false};
        } else if (type == chain_stepped::event_name) {
          auto& x = st.last[ev.stream];
          done(x);
          if (st.recording)
            ++out.steps;
          x.at = now;
          x.awaits_first = false;
          x.outcome_at = {};
          x.peer_at = {};
        } else if (type == chain_ended::event_name) {
          done(st.last[ev.stream]);
          if (st.recording && ++out.closing_steps == 1)
            out.first_closed = now;
          ++st.ended;
        } else if (type == remote_outcome::event_name) {
          auto o = jr::from_bytes<remote_outcome>(ev.record.payload,
                                                  "remote outcome");
          if (!o) {
            ++out.bad_events;
            continue;
          }
          if (!o->accepted)
            ++out.rejected;
          auto& x = st.last[o->manager + "-" + o->instance];
          x.outcome_at = now;
          x.peer_at = {};
          std::lock_guard<std::mutex> guard{st.peer->mtx};
          auto i = st.peer->at.find(stream_of<counter>(o->entity));
          if (i != st.peer->at.end() && i->second > x.at)
            x.peer_at = i->second;
          if (st.recording)
            ++out.remote_outcomes;
        }
      }
      // Once the whole batch is counted: the driver reads `out` next.
      if (st.expected > 0 && st.ended == st.expected) {
        st.expected = 0;
        self->send(st.parent, xwave_done_atom::value);
      }
    },
  };
}

// -- the driver ---------------------------------------------------------------

/// One kind of steps: its instances and what their runs measured.
struct step_kind {
  std::string name;
  std::vector<std::string> ids;
  /// Commanding steps per second of the wave before.
  double rate = 0;
  uint64_t k_before = warmup_steps;
  cluster_step_result result;
};

class step_driver {
public:
  step_driver(runtime& rt, runtime& peer, const cluster_step_params& p)
    : rt_(rt), peer_(peer), p_(p), self_(rt.system()) {
    start_process_manager<chain_saga>(rt_);
    out_ = std::make_shared<step_observed>();
    auto peer_out = std::make_shared<peer_commits>();
    obs_ = rt_.system().spawn(step_observer, out_, peer_out);
    guard_.add(obs_);
    peer_obs_ = peer_.system().spawn(peer_observer, peer_out);
    guard_.add(peer_obs_);
    caf::error err;
    self_
      ->request(rt_.hub(), std::chrono::seconds{60}, subscribe_atom::value,
                obs_, std::string{})
      .receive([](uint64_t) {}, [&](caf::error& e) { err = std::move(e); });
    if (err)
      throw std::runtime_error("subscribing to the hub: " + describe(err));
    caf::scoped_actor peer_self{peer_.system()};
    peer_self
      ->request(peer_.hub(), std::chrono::seconds{60}, subscribe_atom::value,
                peer_obs_, std::string{counter::category})
      .receive([](uint64_t) {}, [&](caf::error& e) { err = std::move(e); });
    if (err)
      throw std::runtime_error("subscribing to the peer's hub: "
                               + describe(err));
  }

  /// Runs two untimed waves of short chains on `kind`'s instances.
  /// The second is longer, so that the rate it measures, which sets the
  /// length of the first timed wave, is closer to the timed one.
  void warm_up(step_kind& kind) {
    auto n = static_cast<double>(kind.ids.size());
    kind.rate = warmup_steps * n / run_wave(kind, warmup_steps, false);
    auto k = std::clamp<uint64_t>(
      static_cast<uint64_t>(std::llround(kind.rate * p_.seconds / 4 / n)),
      warmup_steps, 4 * warmup_steps);
    kind.rate = k * n / run_wave(kind, k, false);
    kind.k_before = k;
  }

  /// Runs timed waves on `kind`'s instances until their steady parts add
  /// up to `p.seconds`.
  void timed_run(step_kind& kind) {
    auto n = kind.ids.size();
    auto& r = kind.result;
    auto node0 = fetch_stats(self_, rt_.coordinator());
    auto peer0 = fetch_stats(self_, peer_.coordinator());
    auto outbox0 = outbox_stats();
    auto cpu = process_cpu_seconds();
    double measured = 0;
    uint64_t waves = 0;
    while (measured < p_.seconds && waves < 8) {
      auto aim = std::clamp(p_.seconds - measured, p_.seconds / 2, p_.seconds);
      // Chains that outlast the window by a quarter, at the rate of the
      // wave before; at most four times the chains of that wave, as a rate
      // measured on short chains may be far off.
      auto k = std::clamp<uint64_t>(
        static_cast<uint64_t>(std::llround(kind.rate * aim * 1.25 / n)) + 2, 4,
        4 * kind.k_before);
      *out_ = step_observed{};
      auto secs = run_wave(kind, k, true);
      check_wave(kind, k);
      r.wave_steps += k * n;
      r.wave_seconds += secs;
      // The steady part: from the moment every instance had a step done to
      // the moment the first chain closed, at most `aim`. Chains too short
      // to have one count whole, from the inputs' commit to the last close.
      auto& out = *out_;
      auto from = out.all_started;
      auto to = std::min(out.first_closed,
                         from
                           + std::chrono::duration_cast<clock_type::duration>(
                             std::chrono::duration<double>(aim)));
      auto whole = from == clock_type::time_point{} || to <= from;
      uint64_t count = 0;
      for (auto& d : out.done) {
        if (!whole && (d.at <= from || d.at > to))
          continue;
        ++count;
        r.latency_us.push_back(d.latency_us);
        if (d.outcome_us >= 0) {
          r.outcome_us.push_back(d.outcome_us);
          r.reaction_us.push_back(d.reaction_us);
        }
        if (d.to_peer_us >= 0) {
          r.to_peer_us.push_back(d.to_peer_us);
          r.back_us.push_back(d.back_us);
        }
      }
      auto window
        = whole ? secs : std::chrono::duration<double>(to - from).count();
      r.steps += count;
      r.seconds += window;
      measured += window;
      kind.rate = count > 0 ? count / window : k * n / secs;
      kind.k_before = k;
      ++waves;
      r.steps_per_chain = k;
      remote_outcomes_ += out.remote_outcomes;
    }
    r.cpu_seconds += process_cpu_seconds() - cpu;
    auto outbox1 = outbox_stats();
    r.outbox_retries += outbox1.first - outbox0.first;
    r.outbox_duplicates += outbox1.second - outbox0.second;
    add_stats(r.node_stats,
              stats_delta(node0, fetch_stats(self_, rt_.coordinator())));
    add_stats(r.peer_stats,
              stats_delta(peer0, fetch_stats(self_, peer_.coordinator())));
    r.waves += waves;
  }

  coordinator_stats stats() {
    return fetch_stats(self_, rt_.coordinator());
  }

  uint64_t remote_outcomes() const {
    return remote_outcomes_;
  }

private:
  /// The outbox dispatcher's retries and redelivered duplicates so far.
  std::pair<uint64_t, uint64_t> outbox_stats() {
    std::pair<uint64_t, uint64_t> result;
    caf::error err;
    self_->request(rt_.outbox(), std::chrono::seconds{60}, stats_atom::value)
      .receive(
        [&](uint64_t, uint64_t duplicates, uint64_t retries, uint64_t,
            uint64_t) {
          result = {retries, duplicates};
        },
        [&](caf::error& e) { err = std::move(e); });
    if (err)
      throw std::runtime_error("outbox stats: " + describe(err));
    return result;
  }

  /// Throws unless the wave just run had every step and closing step it
  /// should, every outcome accepted and every event decoded.
  void check_wave(const step_kind& kind, uint64_t k) {
    auto& out = *out_;
    auto where = kind.name + " steps, wave " + std::to_string(wave_) + ": ";
    if (out.bad_events > 0)
      throw std::runtime_error(where + std::to_string(out.bad_events)
                               + " inputs or outcomes did not decode");
    if (out.rejected > 0)
      throw std::runtime_error(where + std::to_string(out.rejected)
                               + " commands were rejected at their target");
    auto n = kind.ids.size();
    if (out.steps != k * n || out.closing_steps != n
        || out.done.size() != k * n)
      throw std::runtime_error(
        where + std::to_string(out.steps) + " steps, "
        + std::to_string(out.closing_steps) + " closing steps and "
        + std::to_string(out.done.size()) + " steps done seen, "
        + std::to_string(k * n) + ", " + std::to_string(n) + " and "
        + std::to_string(k * n) + " expected");
  }

  /// Runs one wave: a chain of `k` steps on each of `kind`'s instances.
  /// Returns the seconds from the commit of the inputs to the report that
  /// every chain closed.
  double run_wave(step_kind& kind, uint64_t k, bool record) {
    auto n = kind.ids.size();
    caf::error err;
    self_
      ->request(obs_, std::chrono::seconds{60}, xwave_atom::value,
                static_cast<uint64_t>(n), record, caf::actor{self_})
      .receive([](bool) {}, [&](caf::error& e) { err = std::move(e); });
    if (err)
      throw std::runtime_error("step observer: " + describe(err));
    ++wave_;
    jr::append a;
    a.stream = "benchgo-" + std::to_string(wave_);
    a.expected = jr::expected_version::no_stream();
    a.events.reserve(n);
    for (auto& id : kind.ids)
      a.events.push_back(input_codec().encode(chain_requested{id, wave_, k}));
    jr::write_group g;
    g.appends.push_back(std::move(a));
    stopwatch sw;
    self_
      ->request(rt_.coordinator(), std::chrono::seconds{60}, commit_atom::value,
                std::move(g))
      .receive([](jr::group_receipt&) {}, [&](caf::error& e) { err = e; });
    if (err)
      throw std::runtime_error("committing the inputs of wave "
                               + std::to_string(wave_) + ": " + describe(err));
    bool timed_out = false;
    self_->receive([](xwave_done_atom) {},
                   caf::after(wave_timeout) >> [&] { timed_out = true; });
    if (timed_out)
      throw std::runtime_error(
        kind.name + " wave " + std::to_string(wave_) + " of "
        + std::to_string(n) + " chains of " + std::to_string(k)
        + " steps did not end within "
        + std::to_string(
          std::chrono::duration_cast<std::chrono::seconds>(wave_timeout)
            .count())
        + " s");
    return sw.seconds();
  }

  runtime& rt_;
  runtime& peer_;
  cluster_step_params p_;
  caf::scoped_actor self_;
  std::shared_ptr<step_observed> out_;
  caf::actor obs_;
  caf::actor peer_obs_;
  exit_guard guard_;
  uint64_t wave_ = 0;
  uint64_t remote_outcomes_ = 0;
};

} // namespace

cluster_step_figures measure_cluster_steps(runtime& a, runtime& b,
                                           const cluster_step_params& p) {
  auto m = a.shared()->cluster->members();
  if (!m)
    throw std::runtime_error("cluster steps: the node has no members");
  auto self_id = m->self().id;
  auto peer = b.shared()->cluster->members()->self().id;
  // Instances owned by this node; their entities here (local) or on the
  // peer (cross).
  step_kind local{"local", {}, 0, warmup_steps, {}};
  step_kind cross{"cross", {}, 0, warmup_steps, {}};
  for (uint64_t i = 0;
       local.ids.size() < p.instances || cross.ids.size() < p.instances; ++i) {
    auto id = "s" + std::to_string(i);
    if (m->owner(chain_saga::category, id).id != self_id)
      continue;
    auto owner = m->owner(counter::category, id).id;
    auto& kind = owner == self_id ? local : cross;
    if (owner != self_id && owner != peer)
      continue;
    if (kind.ids.size() < p.instances)
      kind.ids.push_back(std::move(id));
  }
  step_driver d{a, b, p};
  d.warm_up(local);
  d.warm_up(cross);
  auto before = d.stats();
  // Local, cross, cross, local (ABBA).
  d.timed_run(local);
  d.timed_run(cross);
  d.timed_run(cross);
  d.timed_run(local);
  auto after = d.stats();
  if (after.rejected_commands > before.rejected_commands)
    throw std::runtime_error(
      "local steps: "
      + std::to_string(after.rejected_commands - before.rejected_commands)
      + " commands were rejected");
  cluster_step_figures f;
  f.local = std::move(local.result);
  f.cross = std::move(cross.result);
  f.remote_outcomes = d.remote_outcomes();
  if (f.remote_outcomes != f.cross.wave_steps)
    throw std::runtime_error("cross steps: " + std::to_string(f.remote_outcomes)
                             + " remote outcomes for "
                             + std::to_string(f.cross.wave_steps) + " steps");
  return f;
}

} // namespace cairn::bench
