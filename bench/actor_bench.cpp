/// `cairn-bench actor`: request/response round trips of a persistent
/// aggregate against plain CAF actors, in one run.
///
/// For each number of clients K (1 and 16), each client an event-based actor
/// with one request in flight (closed loop, `request(...).then(...)`):
///
/// - **raw CAF**: each client has its own plain event-based actor that
///   keeps an `int64_t` counter; a request adds 1 and gets the sum back;
/// - **persistent**: each client has its own entity of the bench aggregate
///   `counter` (bench/bench_aggregate.hpp) addressed through the registry;
///   a command persists one 200-byte event (journal sync mode `none`) and
///   is answered after its commit;
/// - **read-only**: the same entities get a command that persists nothing,
///   which shows what the registry and the entity cost without the journal;
/// - **raw store** (the floor): each client has its own plain CAF actor
///   that copies a 200-byte event per request and requests a plain CAF
///   store to append it, which commits everything in its mailbox to raw
///   LMDB (`MDB_NOSYNC`, as sync `none`) and answers after the commit
///   (bench/raw_actors.hpp): the same four messages and a group commit,
///   with nothing of Cairn on the path.
///
/// For each K, one actor system with a fresh journal holds all four; one
/// untimed request per client warms them up, then the four cases run in
/// turn, `--rounds` times, `--seconds` per case in all, so that each sees
/// the same drift of the shared machine. `ratio` is persistent / raw round
/// trips per second at the largest K.

#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "caf/all.hpp"

#include "bench/bench.hpp"
#include "bench/bench_aggregate.hpp"
#include "bench/closed_loop.hpp"
#include "bench/plot.hpp"
#include "bench/raw_actors.hpp"
#include "cairn/actors/runtime.hpp"

namespace cairn::bench {

namespace {

namespace jr = cairn::journal;

constexpr uint64_t map_size = uint64_t{4} << 30;
constexpr double ratio_target = 0.3;

struct params {
  std::vector<uint64_t> client_counts{1, 16};
  /// Timed seconds per case (all rounds together).
  double seconds = 1.5;
  /// Alternations of the three cases.
  uint64_t rounds = 3;
  /// CAF's `scheduler.policy`.
  std::string scheduler = "cairn";
  /// `journal.commit-thread`: `"worker"` or `"own"`.
  std::string commit_thread = "worker";
  /// How clients address entities: "ref" (entity_ref) or "registry".
  std::string via = "ref";
  bool quick = false;
};

void progress(const settings& cfg, const std::string& what) {
  if (!cfg.json)
    std::cerr << "  " << what << "...\n";
}

/// The figures of one case.
struct case_result {
  uint64_t round_trips = 0;
  double seconds = 0;
  double p50_us = 0;
  double p99_us = 0;
  /// CPU time of the process (all threads, user and system) meanwhile.
  double cpu_seconds = 0;
  /// Coordinator counters over the timed run (persistent case only).
  coordinator_stats stats;

  double per_s() const {
    return seconds > 0 ? round_trips / seconds : 0;
  }

  double cpu_us_per_round_trip() const {
    return round_trips > 0 ? cpu_seconds * 1e6 / round_trips : 0;
  }
};

/// The figures of one number of clients.
struct k_figures {
  uint64_t clients = 0;
  case_result raw;
  case_result persistent;
  case_result read_only;
  /// Raw actors and a raw store: the floor of a persisting round trip.
  case_result raw_store;
  uint64_t raw_store_commits = 0;

  double raw_store_events_per_commit() const {
    return raw_store_commits > 0
             ? static_cast<double>(raw_store.round_trips) / raw_store_commits
             : 0;
  }

  double ratio() const {
    return persistent.per_s() / raw.per_s();
  }

  double read_ratio() const {
    return read_only.per_s() / raw.per_s();
  }

  /// The floor's round trips over plain CAF's: the most `ratio` could be
  /// with a commit as cheap as raw LMDB's and nothing else of Cairn.
  double raw_store_ratio() const {
    return raw_store.per_s() / raw.per_s();
  }

  /// Cairn's round trips over the floor's.
  double ratio_vs_raw_store() const {
    return persistent.per_s() / raw_store.per_s();
  }
};

/// One of the three loads of a number of clients.
struct load {
  std::vector<caf::actor> clients;
  std::vector<std::shared_ptr<load_result>> results;
  case_result figures;

  /// Runs the clients for `seconds`, adding to the figures.
  void run(caf::scoped_actor& self, double seconds) {
    auto cpu = process_cpu_seconds();
    figures.seconds += timed_run(self, clients, seconds);
    figures.cpu_seconds += process_cpu_seconds() - cpu;
  }

  /// Fills in the round trips and latencies.
  void finish() {
    auto sum = merge_results(results);
    figures.round_trips = sum.completed;
    figures.p50_us = percentile(sum.latency_us, 50);
    figures.p99_us = percentile(sum.latency_us, 99);
  }
};

/// Runs raw, persistent and read-only with `k` clients each, alternating in
/// `p.rounds` rounds, in one actor system with one fresh journal.
k_figures k_case(const temp_dir& tmp, uint64_t k, const params& p) {
  k_figures f;
  f.clients = k;
  auto dir = tmp.sub("actor-" + std::to_string(k));
  auto raw_dir = tmp.sub("actor-raw-store-" + std::to_string(k));
  {
    caf::actor_system_config cfg;
    set_scheduler_policy(cfg, p.scheduler);
    caf::actor_system sys{cfg};
    // Without the commit's CPU time: two system calls more per round trip
    // of one client, where each round trip is a commit.
    auto rt = start_bench_runtime(sys, dir, jr::sync_mode::none, map_size,
                                  p.commit_thread, false);
    {
      caf::scoped_actor self{sys};
      exit_guard guard;
      load raw;
      std::vector<caf::actor> counters;
      for (uint64_t i = 0; i < k; ++i)
        counters.push_back(spawn_counter(sys));
      guard.add(counters);
      raw.clients = spawn_target_clients(sys, counters, k, raw.results);
      auto reg = rt->registry<counter>();
      load writers;
      auto via_ref = p.via == "ref";
      writers.clients = spawn_entity_clients(sys, reg, command_kind::persist,
                                             "", k, k, writers.results,
                                             via_ref);
      load readers;
      readers.clients = spawn_entity_clients(sys, reg, command_kind::read, "",
                                             k, k, readers.results, via_ref);
      load floor;
      auto store = spawn_raw_store(
        sys, std::make_shared<raw_lmdb>(raw_dir, map_size, MDB_NOSYNC),
        p.commit_thread == "own", false);
      guard.add(store);
      auto event = std::make_shared<const std::string>(event_payload());
      std::vector<caf::actor> raw_entities;
      for (uint64_t i = 0; i < k; ++i)
        raw_entities.push_back(spawn_raw_entity(sys, store, event));
      guard.add(raw_entities);
      floor.clients = spawn_target_clients(sys, raw_entities, k, floor.results);
      auto all = {&raw, &writers, &readers, &floor};
      for (auto* x : all)
        guard.add(x->clients);
      for (auto* x : all)
        sweep(self, x->clients, 1);
      auto rounds = std::max<uint64_t>(p.rounds, 1);
      auto before = fetch_stats(self, rt->coordinator());
      auto floor_before = fetch_raw_store_stats(self, store);
      for (uint64_t i = 0; i < rounds; ++i)
        for (auto* x : all)
          x->run(self, p.seconds / rounds);
      writers.figures.stats
        = stats_delta(before, fetch_stats(self, rt->coordinator()));
      f.raw_store_commits
        = fetch_raw_store_stats(self, store).first - floor_before.first;
      for (auto* x : all)
        x->finish();
      f.raw = raw.figures;
      f.persistent = writers.figures;
      f.read_only = readers.figures;
      f.raw_store = floor.figures;
    }
    rt->stop();
  }
  remove_tree(dir);
  remove_tree(raw_dir);
  return f;
}

json_object case_json(const case_result& r) {
  json_object o;
  o.set("round_trips_per_s", r.per_s())
    .set("round_trips", r.round_trips)
    .set("seconds", r.seconds)
    .set("p50_us", r.p50_us)
    .set("p99_us", r.p99_us)
    .set("cpu_us_per_round_trip", r.cpu_us_per_round_trip());
  return o;
}

void print_json(const params& p, const std::vector<k_figures>& fs) {
  auto& h = fs.back();
  json_object per_k;
  for (auto& f : fs) {
    json_object o;
    o.set("raw", case_json(f.raw))
      .set("persistent",
           case_json(f.persistent)
             .set("events_per_commit", f.persistent.stats.events_per_commit())
             .set("commit_us_mean", f.persistent.stats.commits > 0
                                      ? f.persistent.stats.commit_ns_total / 1e3
                                          / f.persistent.stats.commits
                                      : 0.0))
      .set("read_only", case_json(f.read_only))
      .set("raw_store",
           case_json(f.raw_store)
             .set("events_per_commit", f.raw_store_events_per_commit()))
      .set("raw_store_ratio", f.raw_store_ratio())
      .set("ratio_vs_raw_store", f.ratio_vs_raw_store())
      .set("ratio", f.ratio())
      .set("read_only_ratio", f.read_ratio())
      .set("ratio_target_met", f.ratio() >= ratio_target);
    per_k.set(std::to_string(f.clients), o);
  }
  json_object conditions;
  conditions.set("sync", "none")
    .set("event_bytes", recorded_bytes)
    .set("seconds_per_case", p.seconds)
    .set("rounds", p.rounds)
    .set("in_flight", "one request per client")
    .set("raw", "one plain event-based counter actor per client")
    .set("raw_store", "one plain actor per client copying a 200-byte event "
                      "per request to a plain store actor that commits its "
                      "mailbox's events to raw LMDB (MDB_NOSYNC) and "
                      "answers after the commit")
    .set("persistent", p.via == "ref"
                         ? "one entity per client, through an entity_ref"
                         : "one entity per client, through the registry")
    .set("via", p.via)
    .set("scheduler", p.scheduler)
    .set("commit_thread", p.commit_thread)
    .set("allocator", CAIRN_ALLOCATOR)
    .set("hardware_threads",
         static_cast<uint64_t>(std::thread::hardware_concurrency()));
  json_object out;
  out.set("subcommand", "actor")
    .set("quick", p.quick)
    .set("clients", h.clients)
    .set("raw_per_s", h.raw.per_s())
    .set("persistent_per_s", h.persistent.per_s())
    .set("read_only_per_s", h.read_only.per_s())
    .set("ratio", h.ratio())
    .set("read_only_ratio", h.read_ratio())
    .set("ratio_1_client", fs.front().ratio())
    .set("raw_store_per_s", h.raw_store.per_s())
    .set("raw_store_ratio", h.raw_store_ratio())
    .set("ratio_vs_raw_store", h.ratio_vs_raw_store())
    .set("ratio_target", ratio_target)
    .set("ratio_target_met", h.ratio() >= ratio_target)
    .set("per_clients", per_k)
    .set("conditions", conditions);
  std::cout << out.str() << std::endl;
}

void print_tables(const params& p, const std::vector<k_figures>& fs) {
  auto& out = std::cout;
  out << "\nround trips: closed loop, one request in flight per client, "
      << p.seconds
      << " s per case; persistent = one 200-byte event per "
         "command, sync none\n\n";
  table t{{"case", "clients", "round trips/s", "ratio", "p50 us", "p99 us",
           "cpu us/rt", "events/commit"}};
  for (auto& f : fs) {
    auto add = [&](const char* name, const case_result& r, double ratio,
                   std::string per_commit) {
      t.add_row({name, std::to_string(f.clients), fmt_count(r.per_s()),
                 fmt_fixed(ratio, 3), fmt_fixed(r.p50_us, 1),
                 fmt_fixed(r.p99_us, 1),
                 fmt_fixed(r.cpu_us_per_round_trip(), 1), per_commit});
    };
    add("raw CAF counter", f.raw, 1.0, "");
    add("persistent aggregate", f.persistent, f.ratio(),
        fmt_fixed(f.persistent.stats.events_per_commit(), 1));
    add("read-only command", f.read_only, f.read_ratio(), "");
    add("raw actors + raw LMDB", f.raw_store, f.raw_store_ratio(),
        fmt_fixed(f.raw_store_events_per_commit(), 1));
  }
  t.print(out);
  out << '\n';
  for (auto& f : fs)
    out << "ratio persistent/raw at " << f.clients
        << (f.clients == 1 ? " client:  " : " clients: ")
        << fmt_fixed(f.ratio(), 3)
        << " (target >= " << fmt_fixed(ratio_target, 2)
        << "): " << (f.ratio() >= ratio_target ? "met" : "MISSED") << '\n';
}

params make_params(const settings& cfg) {
  params p;
  p.quick = cfg.quick;
  if (cfg.quick) {
    p.client_counts = {1, 4};
    p.seconds = 0.2;
    p.rounds = 1;
  }
  p.seconds = cfg.get_number("--seconds", p.seconds);
  if (cfg.has("--scheduler")) {
    p.scheduler = cfg.values.at("--scheduler");
    caf::actor_system_config probe;
    set_scheduler_policy(probe, p.scheduler); // throws for a bad name
  }
  p.commit_thread = parse_commit_thread(cfg, p.commit_thread);
  p.via = parse_via(cfg, p.via);
  p.rounds = cfg.get_count("--rounds", p.rounds);
  if (cfg.has("--clients"))
    p.client_counts = {1, cfg.get_count("--clients", 16)};
  return p;
}

/// Draws `actor-throughput.svg` and `actor-latency.svg` into `dir`.
void plot(const settings& cfg, const std::vector<k_figures>& fs) {
  auto dir = cfg.values.at("--plot");
  plot_series raw{"raw CAF actor", {}};
  plot_series persistent{"Cairn, persisting entity", {}};
  plot_series read_only{"Cairn, entity, read only", {}};
  plot_series floor{"raw actors + raw LMDB, persisting", {}};
  plot_series raw_p99{"raw CAF actor, p99", {}};
  plot_series persistent_p99{"Cairn, persisting entity, p99", {}};
  for (auto& f : fs) {
    auto k = static_cast<double>(f.clients);
    raw.points.emplace_back(k, f.raw.per_s());
    persistent.points.emplace_back(k, f.persistent.per_s());
    read_only.points.emplace_back(k, f.read_only.per_s());
    floor.points.emplace_back(k, f.raw_store.per_s());
    raw_p99.points.emplace_back(k, f.raw.p99_us);
    persistent_p99.points.emplace_back(k, f.persistent.p99_us);
  }
  for (auto& spec :
       {plot_spec{"actor-throughput",
                  "cairn-bench actor: request/response round trips/s, "
                  "sync none",
                  "clients (one request in flight each)",
                  "round trips/s",
                  true,
                  true,
                  {raw, read_only, floor, persistent}},
        plot_spec{"actor-latency",
                  "cairn-bench actor: p99 per round trip",
                  "clients (one request in flight each)",
                  "microseconds",
                  true,
                  true,
                  {raw_p99, persistent_p99}}}) {
    auto svg = write_plot(dir, spec);
    if (!cfg.json) // JSON mode prints one object and nothing else
      std::cerr << "plot: " << svg << '\n';
  }
}

int run_actor(const settings& cfg) {
  auto p = make_params(cfg);
  temp_dir tmp{cfg.dir};
  if (!cfg.json)
    std::cerr << "cairn-bench actor in " << tmp.path() << '\n';
  std::vector<k_figures> fs;
  for (auto k : p.client_counts) {
    progress(cfg, "raw CAF, persistent and read-only, " + std::to_string(k)
                    + (k == 1 ? " client" : " clients"));
    fs.push_back(k_case(tmp, k, p));
  }
  if (cfg.json)
    print_json(p, fs);
  else
    print_tables(p, fs);
  if (cfg.has("--plot"))
    plot(cfg, fs);
  return 0;
}

} // namespace

subcommand actor_subcommand() {
  return {"actor",
          "round trips of a persistent aggregate vs plain CAF actors "
          "(target 0.3x)",
          {{"--scheduler", "POLICY",
            "scheduler: cairn (default), stealing or sharing (CAF's)"},
           {"--commit-thread", "WHERE", commit_thread_help},
           {"--via", "HOW", via_help},
           {"--seconds", "S", "timed seconds per case (default 1.5)"},
           {"--rounds", "N", "alternations of the three cases (default 3)"},
           {"--clients", "N",
            "concurrent clients of the second case "
            "(default 16)"},
           {"--plot", "DIR", "also draw SVG charts into DIR (gnuplot)"}},
          run_actor};
}

} // namespace cairn::bench
