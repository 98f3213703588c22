#include "bench/closed_loop.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "caf/all.hpp"

#include "bench/bench.hpp"
#include "bench/bench_aggregate.hpp"
#include "cairn/actors/aggregate.hpp"
#include "cairn/actors/scheduler.hpp"
#include "cairn/journal/errc.hpp"

namespace cairn::bench {

namespace {

/// Starts a sweep of a client.
using sweep_atom = caf::atom_constant<caf::atom("b_sweep")>;
/// Starts a timed run of a client.
using go_atom = caf::atom_constant<caf::atom("b_go")>;
/// A client's report that its phase is over.
using done_atom = caf::atom_constant<caf::atom("b_done")>;

using clock_type = std::chrono::steady_clock;

// -- the counter actor --------------------------------------------------------

struct counter_actor_state {
  int64_t value = 0;
  static inline const char* name = "cairn.bench.counter";
};

caf::behavior counter_impl(caf::stateful_actor<counter_actor_state>* self) {
  return {
    [self](bench_add_atom, int64_t x) {
      self->state.value += x;
      return self->state.value;
    },
  };
}

// -- the client ---------------------------------------------------------------

struct client_state {
  load_spec spec;
  std::shared_ptr<load_result> out;
  std::vector<entity_id> ids;
  /// With `spec.via_ref`: one reference per entity.
  std::vector<entity_ref> refs;
  /// When the command in flight for each entity was sent.
  std::vector<clock_type::time_point> sent;
  /// Whom to tell that the current phase is over.
  caf::actor parent;
  uint64_t seq = 0;
  /// Sweep: the next entity to send to.
  size_t next = 0;
  size_t in_flight = 0;
  /// Whether a timed run (not a sweep) is on.
  bool timed = false;
  clock_type::time_point deadline;
  static inline const char* name = "cairn.bench.client";

  size_t entities() const noexcept {
    return spec.kind == command_kind::raw_counter ? spec.targets.size()
                                                  : ids.size();
  }
};

using pointer = caf::stateful_actor<client_state>*;

void on_answer(pointer self, size_t i, bool ok);

void note_error(pointer self, const caf::error& err) {
  auto& out = *self->state.out;
  if (out.failed++ == 0)
    out.first_error = describe(err);
}

/// Sends entity `i` its next command.
void issue(pointer self, size_t i) {
  auto& st = self->state;
  st.sent[i] = clock_type::now();
  auto ok = [self, i](int64_t) { on_answer(self, i, true); };
  auto fail = [self, i](caf::error& err) {
    note_error(self, err);
    on_answer(self, i, false);
  };
  switch (st.spec.kind) {
    case command_kind::raw_counter:
      self
        ->request(st.spec.targets[i], caf::infinite, bench_add_atom::value,
                  int64_t{1})
        .then(ok, fail);
      break;
    case command_kind::persist:
      if (st.spec.via_ref)
        st.refs[i].request(self, caf::infinite, record_event{++st.seq}, ok,
                           fail);
      else
        self
          ->request(st.spec.targets.front(), caf::infinite, st.ids[i],
                    record_event{++st.seq})
          .then(ok, fail);
      break;
    case command_kind::read:
      if (st.spec.via_ref)
        st.refs[i].request(self, caf::infinite, get_count{}, ok, fail);
      else
        self
          ->request(st.spec.targets.front(), caf::infinite, st.ids[i],
                    get_count{})
          .then(ok, fail);
      break;
  }
}

void on_answer(pointer self, size_t i, bool ok) {
  auto& st = self->state;
  if (!st.timed) {
    --st.in_flight;
    if (st.next < st.entities()) {
      ++st.in_flight;
      issue(self, st.next++);
    } else if (st.in_flight == 0) {
      self->send(st.parent, done_atom::value);
    }
    return;
  }
  auto now = clock_type::now();
  if (ok) {
    auto& out = *st.out;
    ++out.completed;
    if (st.spec.record_latency)
      out.latency_us.push_back(
        std::chrono::duration<double, std::micro>(now - st.sent[i]).count());
  }
  if (now < st.deadline) {
    issue(self, i);
    return;
  }
  if (--st.in_flight == 0) {
    st.timed = false;
    self->send(st.parent, done_atom::value);
  }
}

caf::behavior client_impl(pointer self, load_spec spec,
                          std::shared_ptr<load_result> out) {
  auto& st = self->state;
  st.spec = std::move(spec);
  st.out = std::move(out);
  for (auto& id : st.spec.ids) {
    st.ids.push_back(entity_id{id});
    if (st.spec.via_ref && st.spec.kind != command_kind::raw_counter)
      st.refs.emplace_back(st.spec.targets.front(), id);
  }
  st.sent.resize(st.entities());
  return {
    [self](sweep_atom, uint64_t window, caf::actor& parent) {
      auto& st = self->state;
      st.parent = std::move(parent);
      st.timed = false;
      st.next = 0;
      st.in_flight = 0;
      if (st.entities() == 0) {
        self->send(st.parent, done_atom::value);
        return;
      }
      while (st.next < st.entities() && st.in_flight < window) {
        ++st.in_flight;
        issue(self, st.next++);
      }
    },
    [self](go_atom, int64_t deadline_ns, caf::actor& parent) {
      auto& st = self->state;
      st.parent = std::move(parent);
      st.timed = true;
      st.deadline = clock_type::time_point{
        std::chrono::duration_cast<clock_type::duration>(
          std::chrono::nanoseconds{deadline_ns})};
      st.in_flight = st.entities();
      // A client that starts late (its worker ran others first) still stops
      // at the common deadline.
      if (st.in_flight == 0 || clock_type::now() >= st.deadline) {
        st.timed = false;
        self->send(st.parent, done_atom::value);
        return;
      }
      for (size_t i = 0; i < st.entities(); ++i)
        issue(self, i);
    },
  };
}

/// Waits for one `done_atom` from each client.
void await_done(caf::scoped_actor& self, size_t clients, double timeout_s,
                const char* what) {
  auto timeout
    = std::chrono::milliseconds{static_cast<int64_t>(timeout_s * 1000)};
  for (size_t i = 0; i < clients; ++i) {
    bool timed_out = false;
    self->receive([](done_atom) {},
                  caf::after(timeout) >> [&] { timed_out = true; });
    if (timed_out)
      throw std::runtime_error(std::string{what} + ": a client did not "
                               + "report within " + std::to_string(timeout_s)
                               + " s");
  }
}

} // namespace

caf::actor spawn_counter(caf::actor_system& sys) {
  return sys.spawn(counter_impl);
}

caf::actor spawn_client(caf::actor_system& sys, load_spec spec,
                        std::shared_ptr<load_result> out) {
  return sys.spawn(client_impl, std::move(spec), std::move(out));
}

void sweep(caf::scoped_actor& self, const std::vector<caf::actor>& clients,
           uint64_t window, double timeout_s) {
  for (auto& c : clients)
    self->send(c, sweep_atom::value, window, caf::actor{self});
  await_done(self, clients.size(), timeout_s, "sweep");
}

double timed_run(caf::scoped_actor& self,
                 const std::vector<caf::actor>& clients, double seconds,
                 double timeout_s) {
  stopwatch sw;
  // One deadline for all clients, on the steady clock.
  auto deadline = clock_type::now()
                  + std::chrono::duration_cast<clock_type::duration>(
                    std::chrono::duration<double>(seconds));
  auto deadline_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                       deadline.time_since_epoch())
                       .count();
  for (auto& c : clients)
    self->send(c, go_atom::value, static_cast<int64_t>(deadline_ns),
               caf::actor{self});
  await_done(self, clients.size(), seconds + timeout_s, "timed run");
  return sw.seconds();
}

exit_guard::~exit_guard() {
  for (auto& x : xs_)
    caf::anon_send_exit(x, caf::exit_reason::user_shutdown);
}

void exit_guard::add(const caf::actor& x) {
  xs_.push_back(x);
}

void exit_guard::add(const std::vector<caf::actor>& xs) {
  xs_.insert(xs_.end(), xs.begin(), xs.end());
}

// -- the runtime under test ---------------------------------------------------

void set_scheduler_policy(caf::actor_system_config& cfg,
                          const std::string& policy) {
  if (policy != "cairn" && policy != "stealing" && policy != "sharing")
    throw usage_error("--scheduler expects cairn, stealing or sharing, got '"
                      + policy + "'");
  if (policy == "cairn")
    use_cairn_scheduler(cfg);
  else
    cfg.set("scheduler.policy", caf::atom_from_string(policy));
}

std::unique_ptr<runtime> start_bench_runtime(caf::actor_system& sys,
                                             const std::string& dir,
                                             journal::sync_mode sync,
                                             uint64_t map_size,
                                             const std::string& commit_thread,
                                             bool measure_commit_cpu) {
  runtime_options opts;
  opts.coordinator.own_thread = commit_thread == "own";
  opts.coordinator.measure_commit_cpu = measure_commit_cpu;
  opts.journal_path = dir;
  opts.journal.sync = sync;
  opts.journal.map_size = map_size;
  opts.registry.passivate_after = caf::timespan{0};
  opts.registry.max_active = 0;
  auto rt = runtime::start(sys, opts);
  if (!rt)
    throw std::runtime_error("runtime::start(" + dir
                             + "): " + describe(rt.error()));
  return std::move(*rt);
}

coordinator_stats fetch_stats(caf::scoped_actor& self,
                              const coordinator_actor& c) {
  coordinator_stats result;
  caf::error err;
  self->request(c, std::chrono::seconds{60}, stats_atom::value)
    .receive([&](coordinator_stats& s) { result = s; },
             [&](caf::error& e) { err = std::move(e); });
  if (err)
    throw std::runtime_error("coordinator stats: " + describe(err));
  return result;
}

void add_stats(coordinator_stats& sum, const coordinator_stats& x) {
  sum.commits += x.commits;
  sum.groups += x.groups;
  sum.rejected_groups += x.rejected_groups;
  sum.failed_groups += x.failed_groups;
  sum.events += x.events;
  sum.bytes += x.bytes;
  sum.max_events_per_commit
    = std::max(sum.max_events_per_commit, x.max_events_per_commit);
  sum.commit_ns_total += x.commit_ns_total;
  sum.commit_cpu_ns_total += x.commit_cpu_ns_total;
  sum.commit_ns_max = std::max(sum.commit_ns_max, x.commit_ns_max);
  sum.steps += x.steps;
  sum.rejected_commands += x.rejected_commands;
  sum.failed_commits += x.failed_commits;
}

coordinator_stats stats_delta(const coordinator_stats& before,
                              const coordinator_stats& after) {
  coordinator_stats d = after;
  d.commits -= before.commits;
  d.groups -= before.groups;
  d.rejected_groups -= before.rejected_groups;
  d.failed_groups -= before.failed_groups;
  d.events -= before.events;
  d.bytes -= before.bytes;
  d.commit_ns_total -= before.commit_ns_total;
  d.commit_cpu_ns_total -= before.commit_cpu_ns_total;
  d.steps -= before.steps;
  d.rejected_commands -= before.rejected_commands;
  d.failed_commits -= before.failed_commits;
  return d;
}

std::vector<caf::actor> spawn_entity_clients(
  caf::actor_system& sys, const caf::actor& registry, command_kind kind,
  const std::string& prefix, uint64_t entities, uint64_t clients,
  std::vector<std::shared_ptr<load_result>>& results, bool via_ref) {
  clients = std::max<uint64_t>(1, std::min(clients, entities));
  std::vector<load_spec> specs(clients);
  for (auto& spec : specs) {
    spec.kind = kind;
    spec.via_ref = via_ref;
    spec.targets.push_back(registry);
    spec.ids.reserve(entities / clients + 1);
  }
  for (uint64_t i = 0; i < entities; ++i)
    specs[i % clients].ids.push_back(prefix + std::to_string(i));
  std::vector<caf::actor> result;
  for (auto& spec : specs) {
    results.push_back(std::make_shared<load_result>());
    result.push_back(spawn_client(sys, std::move(spec), results.back()));
  }
  return result;
}

std::vector<caf::actor>
spawn_target_clients(caf::actor_system& sys,
                     const std::vector<caf::actor>& targets, uint64_t clients,
                     std::vector<std::shared_ptr<load_result>>& results) {
  clients = std::max<uint64_t>(1, std::min<uint64_t>(clients, targets.size()));
  std::vector<load_spec> specs(clients);
  for (auto& spec : specs)
    spec.kind = command_kind::raw_counter;
  for (size_t i = 0; i < targets.size(); ++i)
    specs[i % clients].targets.push_back(targets[i]);
  std::vector<caf::actor> result;
  for (auto& spec : specs) {
    results.push_back(std::make_shared<load_result>());
    result.push_back(spawn_client(sys, std::move(spec), results.back()));
  }
  return result;
}

load_result
merge_results(const std::vector<std::shared_ptr<load_result>>& results) {
  load_result sum;
  for (auto& r : results) {
    sum.completed += r->completed;
    sum.failed += r->failed;
    if (sum.first_error.empty())
      sum.first_error = r->first_error;
    sum.latency_us.insert(sum.latency_us.end(), r->latency_us.begin(),
                          r->latency_us.end());
  }
  if (sum.failed > 0)
    throw std::runtime_error(std::to_string(sum.failed)
                             + " commands failed; the first: "
                             + sum.first_error);
  return sum;
}

std::string parse_via(const settings& cfg, const std::string& fallback) {
  if (!cfg.has("--via"))
    return fallback;
  auto& v = cfg.values.at("--via");
  if (v != "ref" && v != "registry")
    throw usage_error("--via expects ref or registry, got '" + v + "'");
  return v;
}

std::string parse_commit_thread(const settings& cfg,
                                const std::string& fallback) {
  if (!cfg.has("--commit-thread"))
    return fallback;
  auto& v = cfg.values.at("--commit-thread");
  if (v != "worker" && v != "own")
    throw usage_error("--commit-thread expects worker or own, got '" + v
                      + "'");
  return v;
}

registry_stats fetch_registry_stats(caf::scoped_actor& self,
                                    const caf::actor& reg) {
  registry_stats result;
  caf::error err;
  self->request(reg, std::chrono::seconds{60}, stats_atom::value)
    .receive([&](registry_stats& s) { result = s; },
             [&](caf::error& e) { err = std::move(e); });
  if (err)
    throw std::runtime_error("registry stats: " + describe(err));
  return result;
}

// -- the workload of `cairn-bench persist` ------------------------------------

persist_loop_result run_persist_loop(const std::string& dir, uint64_t entities,
                                     const persist_loop_options& opts,
                                     const between_rounds& after_round) {
  persist_loop_result r;
  r.entities = entities;
  {
    caf::actor_system_config cfg;
    set_scheduler_policy(cfg, opts.scheduler);
    caf::actor_system sys{cfg};
    auto rt
      = start_bench_runtime(sys, dir, journal::sync_mode::full, opts.map_size,
                            opts.commit_thread);
    {
      caf::scoped_actor self{sys};
      std::vector<std::shared_ptr<load_result>> results;
      auto clients = spawn_entity_clients(
        sys, rt->registry<counter>(), command_kind::persist, "", entities,
        opts.max_clients, results, opts.via_ref);
      exit_guard guard;
      guard.add(clients);
      r.clients = clients.size();
      for (int i = 0; i < 2; ++i)
        sweep(self, clients, entities);
      auto rounds = std::max<uint64_t>(opts.rounds, 1);
      auto before = fetch_stats(self, rt->coordinator());
      for (uint64_t i = 0; i < rounds; ++i) {
        auto cpu = process_cpu_seconds();
        auto written = bytes_written();
        r.seconds += timed_run(self, clients, opts.seconds / rounds);
        r.cpu_seconds += process_cpu_seconds() - cpu;
        r.written += bytes_written() - written;
        r.stats = stats_delta(before, fetch_stats(self, rt->coordinator()));
        if (after_round)
          after_round(r);
      }
      auto sum = merge_results(results);
      r.commands = sum.completed;
      r.p50_us = percentile(sum.latency_us, 50);
      r.p99_us = percentile(sum.latency_us, 99);
      r.max_us = percentile(sum.latency_us, 100);
      r.latency_us = std::move(sum.latency_us);
      if (r.stats.events != r.commands)
        throw std::runtime_error(
          "N = " + std::to_string(entities) + ": " + std::to_string(r.commands)
          + " commands answered but " + std::to_string(r.stats.events)
          + " events committed");
    }
    rt->stop();
  }
  remove_tree(dir);
  return r;
}

persist_loop_result merge(const persist_loop_result& a,
                          const persist_loop_result& b) {
  auto r = a;
  r.clients = std::max(a.clients, b.clients);
  r.commands += b.commands;
  r.seconds += b.seconds;
  r.cpu_seconds += b.cpu_seconds;
  r.written += b.written;
  add_stats(r.stats, b.stats);
  r.latency_us.insert(r.latency_us.end(), b.latency_us.begin(),
                      b.latency_us.end());
  r.p50_us = percentile(r.latency_us, 50);
  r.p99_us = percentile(r.latency_us, 99);
  r.max_us = percentile(r.latency_us, 100);
  return r;
}

} // namespace cairn::bench
