/// `cairn-bench persist`: durable persist through aggregates against raw
/// LMDB, in one run.
///
/// - **Closed loop.** For each N of 1, 10, 100, 1,000 and 10,000 entities
///   of the bench aggregate `counter` (bench/bench_aggregate.hpp), a fresh
///   journal with sync mode `full` and a fresh actor system. Event-based
///   clients (at most `--clients`, entity i with client i mod clients) keep
///   one command in flight per entity; every command persists one 200-byte
///   event through the registry, the entity and the coordinator, and is
///   answered after its commit. Two untimed sweeps (one command per entity)
///   spawn and recover the entities first. Then the clients run for
///   `--seconds`; each command's latency is taken from send to reply. The
///   coordinator's counters before and after the timed run give the events
///   per commit.
/// - **Raw LMDB, batched** (the limit): a plain LMDB environment with full
///   sync, 200-byte values put with `MDB_APPEND` under 16-byte big-endian
///   keys, in write transactions of the batch size the coordinator achieved
///   for the same N in its first round (its mean events per commit,
///   rounded). The closed loop and raw LMDB alternate in `--rounds`, so that
///   both see the same drift of the shared disk. For information also raw
///   LMDB in batches of 1,000.
/// - **One transaction per event** (the naive way): the same environment,
///   one write transaction and fsync per 200-byte value, alternated with the
///   closed loop of each N in the same way (at N = 1 the batched case above
///   is this one), so that `speedup_vs_txn_per_event` compares two rates of
///   the same minutes: fsync on a shared disk drifts by several times within
///   a run.
/// - **Raw actors** (the architecture's floor): the same closed loop right
///   after it, at the same N, with plain CAF actors and a plain CAF store
///   group-committing to raw LMDB instead of the runtime
///   (bench/raw_actors.hpp). `ratio_vs_raw_actors` is the share of that
///   floor the runtime reaches: what Cairn's own code costs.
/// - **Memory.** A runtime (sync `none`: memory does not depend on it; no
///   passivation) warmed up with `--rss-warmup` entities, then `--rss-entities`
///   more entities each get one command (at most 256 in flight per client),
///   so that all are active. Resident memory is read from /proc/self/statm
///   before and after, both times after `malloc_trim(0)` (and jemalloc's
///   purge); the anonymous part (resident minus file-backed: the LMDB map is
///   file-backed page cache) divided by the entities, minus the user state
///   (`sizeof(counter_state)`, no heap), is the figure. The heap in use
///   (`mallinfo2`, or jemalloc's `stats.allocated`) is shown too.

#include <algorithm>
#include <cmath>
#include <fstream>
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
#include "cairn/actors/registry.hpp"
#include "cairn/actors/runtime.hpp"
#include "cairn/journal/errc.hpp"

namespace cairn::bench {

namespace {

namespace jr = cairn::journal;

// -- parameters ---------------------------------------------------------------

constexpr uint64_t map_size = uint64_t{4} << 30;
constexpr uint64_t headline_entities = 1000;
constexpr double ratio_target = 0.35;
constexpr double speedup_target = 50;
constexpr double p99_target_ms = 10;
constexpr double rss_target_bytes = 2048;
/// Commands in flight per client while the memory test spawns entities.
constexpr uint64_t rss_window = 256;

struct params {
  std::vector<uint64_t> entity_counts{1, 10, 100, 1000, 10000};
  /// Timed seconds per N.
  double seconds = 2;
  /// Seconds of each raw LMDB case.
  double raw_seconds = 1.5;
  /// Most clients per case.
  uint64_t clients = 4;
  /// Alternations of closed loop and raw LMDB per N.
  uint64_t rounds = 3;
  /// Entities of the memory test, and those spawned before it measures.
  uint64_t rss_entities = 100000;
  uint64_t rss_warmup = 2000;
  /// CAF's `scheduler.policy`.
  std::string scheduler = "cairn";
  /// `journal.commit-thread`: `"worker"` or `"own"`.
  std::string commit_thread = "worker";
  /// How clients address entities: "ref" (entity_ref) or "registry".
  std::string via = "ref";
  bool quick = false;
};

/// Prints progress to stderr when the output is a table.
void progress(const settings& cfg, const std::string& what) {
  if (!cfg.json)
    std::cerr << "  " << what << "...\n";
}

// -- raw LMDB -----------------------------------------------------------------

/// The figures of one raw LMDB case.
struct raw_result {
  uint64_t batch = 0;
  uint64_t commits = 0;
  double seconds = 0;
  std::vector<double> commit_us;
  /// Bytes the commits passed to write(2) and its kin.
  double written = 0;

  double events_per_s() const {
    return seconds > 0 ? commits * batch / seconds : 0;
  }

  double written_per_event() const {
    return commits > 0 ? written / (commits * batch) : 0;
  }
};

/// Raw LMDB in a fresh environment with full sync: `batch` 200-byte values
/// per write transaction. Two untimed commits warm it up.
class raw_writer {
public:
  raw_writer(const std::string& dir, uint64_t batch)
    : db_(dir, map_size, 0), value_(event_payload()) {
    result_.batch = batch;
    for (int i = 0; i < 2; ++i)
      db_.append(batch, value_);
  }

  /// Commits for `seconds` (at least once), adding to the figures.
  void run(double seconds) {
    auto written = bytes_written();
    stopwatch total;
    do {
      stopwatch one;
      db_.append(result_.batch, value_);
      result_.commit_us.push_back(one.micros());
      ++result_.commits;
    } while (total.seconds() < seconds);
    result_.seconds += total.seconds();
    result_.written += bytes_written() - written;
  }

  const raw_result& result() const noexcept {
    return result_;
  }

private:
  raw_lmdb db_;
  std::string value_;
  raw_result result_;
};

/// Runs a `raw_writer` of `batch` for `seconds` in a directory of its own.
raw_result raw_case(const temp_dir& tmp, uint64_t batch, double seconds) {
  auto dir = tmp.sub("raw-" + std::to_string(batch));
  raw_result r;
  {
    raw_writer w{dir, batch};
    w.run(seconds);
    r = w.result();
  }
  remove_tree(dir);
  return r;
}

// -- closed loop --------------------------------------------------------------

/// The figures of one N: the closed loop and raw LMDB in the batches it
/// achieved.
struct loop_result : persist_loop_result {
  /// Raw LMDB in batches of the events per commit achieved here.
  raw_result raw;
  /// Raw LMDB, one transaction per event, alternated with the same rounds
  /// (`raw` itself when its batch is 1).
  raw_result txn;
  /// The same closed loop with raw actors and raw LMDB.
  raw_actors_result actors;

  double ratio_vs_raw() const {
    return events_per_s() / raw.events_per_s();
  }

  double speedup_vs_txn_per_event() const {
    return events_per_s() / txn.events_per_s();
  }

  double ratio_vs_raw_actors() const {
    return events_per_s() / actors.events_per_s();
  }
};

/// Runs the closed loop for `n` entities in `p.rounds` rounds; after each,
/// raw LMDB runs in batches of the events per commit achieved in the first
/// round, then in one transaction per event, so that all sides see the same
/// drift of the shared disk.
loop_result loop_case(const temp_dir& tmp, uint64_t n, const params& p) {
  loop_result r;
  auto raw_dir = tmp.sub("raw-for-" + std::to_string(n));
  auto txn_dir = tmp.sub("txn-for-" + std::to_string(n));
  persist_loop_options opts;
  opts.seconds = p.seconds;
  opts.rounds = p.rounds;
  opts.max_clients = p.clients;
  opts.scheduler = p.scheduler;
  opts.commit_thread = p.commit_thread;
  opts.via_ref = p.via == "ref";
  opts.map_size = map_size;
  auto rounds = std::max<uint64_t>(p.rounds, 1);
  std::unique_ptr<raw_writer> raw;
  std::unique_ptr<raw_writer> txn;
  auto after_round = [&](const persist_loop_result& so_far) {
    if (!raw) {
      auto batch = std::max<uint64_t>(
        1, static_cast<uint64_t>(std::llround(so_far.events_per_commit())));
      raw = std::make_unique<raw_writer>(raw_dir, batch);
      if (batch > 1)
        txn = std::make_unique<raw_writer>(txn_dir, 1);
    }
    raw->run(p.raw_seconds / rounds);
    if (txn)
      txn->run(p.raw_seconds / rounds);
  };
  static_cast<persist_loop_result&>(r) = run_persist_loop(
    tmp.sub("persist-" + std::to_string(n)), n, opts, after_round);
  r.raw = raw->result();
  r.txn = txn ? txn->result() : r.raw;
  raw.reset();
  txn.reset();
  remove_tree(raw_dir);
  remove_tree(txn_dir);
  r.actors = run_raw_actors(tmp.sub("raw-actors-" + std::to_string(n)), n,
                            opts, event_payload());
  return r;
}

// -- memory -------------------------------------------------------------------

struct rss_result {
  uint64_t entities = 0;
  uint64_t active = 0;
  memory_reading before;
  memory_reading after;

  /// Anonymous resident bytes per entity beyond the user state.
  double bytes_per_entity() const {
    return growth_per(before.anon(), after.anon(), entities)
           - counter_state_bytes;
  }

  double heap_bytes_per_entity() const {
    return growth_per(before.heap, after.heap, entities) - counter_state_bytes;
  }

  double file_bytes_per_entity() const {
    return growth_per(before.file, after.file, entities);
  }
};

rss_result rss_case(const temp_dir& tmp, const params& p) {
  rss_result r;
  r.entities = p.rss_entities;
  auto dir = tmp.sub("rss");
  {
    caf::actor_system_config cfg;
    set_scheduler_policy(cfg, p.scheduler);
    caf::actor_system sys{cfg};
    auto rt = start_bench_runtime(sys, dir, jr::sync_mode::none, map_size,
                                  p.commit_thread);
    {
      caf::scoped_actor self{sys};
      auto reg = rt->registry<counter>();
      std::vector<std::shared_ptr<load_result>> results;
      auto warm = spawn_entity_clients(sys, reg, command_kind::persist, "w",
                                       p.rss_warmup, p.clients, results);
      exit_guard guard;
      guard.add(warm);
      sweep(self, warm, rss_window);
      auto clients = spawn_entity_clients(sys, reg, command_kind::persist, "",
                                          p.rss_entities, p.clients, results);
      guard.add(clients);
      // Let the system settle: every reply of the warm-up delivered.
      fetch_registry_stats(self, reg);
      r.before = read_memory();
      sweep(self, clients, rss_window);
      fetch_registry_stats(self, reg);
      r.after = read_memory();
      r.active = fetch_registry_stats(self, reg).active - p.rss_warmup;
      merge_results(results);
      if (r.active != p.rss_entities)
        throw std::runtime_error("memory test: " + std::to_string(r.active)
                                 + " of " + std::to_string(p.rss_entities)
                                 + " entities active");
    }
    rt->stop();
  }
  remove_tree(dir);
  return r;
}

// -- output -------------------------------------------------------------------

/// All figures of one run.
struct figures {
  std::vector<loop_result> loops;
  raw_result raw_1000;
  rss_result rss;

  /// The case the targets are checked on: N = 1000, else the largest N.
  const loop_result& headline() const {
    for (auto& x : loops)
      if (x.entities == headline_entities)
        return x;
    return loops.back();
  }

  double speedup() const {
    return headline().speedup_vs_txn_per_event();
  }
};

struct verdicts {
  bool ratio;
  bool speedup;
  bool p99;
  bool rss;
};

verdicts check(const figures& f) {
  auto& h = f.headline();
  return {h.ratio_vs_raw() >= ratio_target, f.speedup() >= speedup_target,
          h.p99_us / 1000 <= p99_target_ms,
          f.rss.bytes_per_entity() <= rss_target_bytes};
}

void print_json(const params& p, const figures& f) {
  auto& h = f.headline();
  auto v = check(f);
  json_object per_n;
  for (auto& x : f.loops) {
    json_object o;
    o.set("clients", x.clients)
      .set("commands", x.commands)
      .set("seconds", x.seconds)
      .set("events_per_s", x.events_per_s())
      .set("p50_ms", x.p50_us / 1000)
      .set("p99_ms", x.p99_us / 1000)
      .set("max_ms", x.max_us / 1000)
      .set("commits", x.stats.commits)
      .set("events_per_commit", x.events_per_commit())
      .set("max_events_per_commit_since_start", x.stats.max_events_per_commit)
      .set("commits_per_s", x.commits_per_s())
      .set("ms_per_commit", x.ms_per_commit())
      .set("cpu_us_per_event", x.cpu_us_per_event())
      .set("commit_cpu_us_per_event", x.commit_cpu_us_per_event())
      .set("commit_busy_fraction", x.stats.commit_ns_total / 1e9 / x.seconds)
      .set("raw_batch", x.raw.batch)
      .set("raw_batched_events_per_s", x.raw.events_per_s())
      .set("raw_ms_per_commit",
           x.raw.commits > 0 ? x.raw.seconds * 1e3 / x.raw.commits : 0.0)
      .set("ratio_vs_raw", x.ratio_vs_raw())
      .set("speedup_vs_txn_per_event", x.speedup_vs_txn_per_event())
      .set("txn_per_event_events_per_s", x.txn.events_per_s())
      .set("write_bytes_per_event", x.written_per_event())
      .set("raw_write_bytes_per_event", x.raw.written_per_event())
      .set("raw_actors_events_per_s", x.actors.events_per_s())
      .set("ratio_vs_raw_actors", x.ratio_vs_raw_actors())
      .set("raw_actors_cpu_us_per_event", x.actors.cpu_us_per_event())
      .set("raw_actors_events_per_commit", x.actors.events_per_commit())
      .set("raw_actors_p99_ms", x.actors.p99_us / 1000);
    per_n.set(std::to_string(x.entities), o);
  }
  json_object conditions;
  conditions.set("event_bytes", recorded_bytes)
    .set("sync", "full")
    .set("headline_entities", h.entities)
    .set("seconds_per_case", p.seconds)
    .set("raw_seconds", p.raw_seconds)
    .set("warmup_sweeps", 2)
    .set("rounds", p.rounds)
    .set("max_clients", p.clients)
    .set("in_flight", "one command per entity (closed loop)")
    .set("latency", "client send to reply, per command")
    .set("raw_batch_source",
         "coordinator's mean events per commit at the same N, rounded")
    .set("raw_keys", "16-byte big-endian, MDB_APPEND, one environment")
    .set("txn_per_event", "raw LMDB, one write txn + fsync per event, "
                          "alternated with the closed loop of each N")
    .set("max_batch_events", coordinator_settings{}.max_batch_events)
    .set("raw_actors",
         "the same closed loop right after, plain CAF actors: each command "
         "copies a 200-byte event and requests a plain CAF store, which "
         "commits everything in its mailbox to raw LMDB (full sync, "
         "MDB_APPEND) and answers after the commit")
    .set("scheduler", p.scheduler)
    .set("commit_thread", p.commit_thread)
    .set("via", p.via)
    .set("allocator", CAIRN_ALLOCATOR)
    .set("hardware_threads",
         static_cast<uint64_t>(std::thread::hardware_concurrency()))
    .set("rss_entities", f.rss.entities)
    .set("rss_warmup_entities", p.rss_warmup)
    .set("rss_sync", "none")
    .set("rss_method", "(resident - file-backed) from /proc/self/statm after "
                       "malloc_trim(0), delta / entities - sizeof(state)")
    .set("state_bytes", counter_state_bytes);
  json_object out;
  out.set("subcommand", "persist")
    .set("quick", p.quick)
    .set("entities", h.entities)
    .set("events_per_s", h.events_per_s())
    .set("raw_batched_events_per_s", h.raw.events_per_s())
    .set("raw_batch", h.raw.batch)
    .set("raw_batch_1000_events_per_s", f.raw_1000.events_per_s())
    .set("txn_per_event_events_per_s", h.txn.events_per_s())
    .set("ratio_vs_raw", h.ratio_vs_raw())
    .set("ratio_vs_raw_batch_1000",
         h.events_per_s() / f.raw_1000.events_per_s())
    .set("raw_actors_events_per_s", h.actors.events_per_s())
    .set("ratio_vs_raw_actors", h.ratio_vs_raw_actors())
    .set("speedup_vs_txn_per_event", f.speedup())
    .set("events_per_commit", h.events_per_commit())
    .set("ms_per_commit", h.ms_per_commit())
    .set("p50_ms", h.p50_us / 1000)
    .set("p99_ms", h.p99_us / 1000)
    .set("rss_bytes_per_entity", f.rss.bytes_per_entity())
    .set("heap_bytes_per_entity", f.rss.heap_bytes_per_entity())
    .set("file_rss_bytes_per_entity", f.rss.file_bytes_per_entity())
    .set("ratio_target", ratio_target)
    .set("ratio_target_met", v.ratio)
    .set("speedup_target", speedup_target)
    .set("speedup_target_met", v.speedup)
    .set("p99_target_ms", p99_target_ms)
    .set("p99_target_met", v.p99)
    .set("rss_target_bytes", rss_target_bytes)
    .set("rss_target_met", v.rss)
    .set("per_entities", per_n)
    .set("conditions", conditions);
  std::cout << out.str() << std::endl;
}

void print_tables(const params& p, const figures& f) {
  auto& out = std::cout;
  out << "\ndurable persist: closed loop, one command in flight per entity, "
      << recorded_bytes << "-byte events, sync full, " << p.seconds
      << " s per N\nraw: LMDB MDB_APPEND, full sync, batches of the "
         "coordinator's events/commit at the same N\n\n";
  table t{{"entities", "events/s", "events/commit", "ms/commit", "busy",
           "cpu us/event", "commit cpu", "p50 ms", "p99 ms", "max ms",
           "raw batch",
           "raw events/s", "ratio"}};
  for (auto& x : f.loops)
    t.add_row(
      {std::to_string(x.entities), fmt_count(x.events_per_s()),
       fmt_fixed(x.events_per_commit(), 1), fmt_fixed(x.ms_per_commit(), 2),
       fmt_fixed(x.busy_fraction(), 2), fmt_fixed(x.cpu_us_per_event(), 1),
       fmt_fixed(x.commit_cpu_us_per_event(), 2),
       fmt_fixed(x.p50_us / 1000, 2), fmt_fixed(x.p99_us / 1000, 2),
       fmt_fixed(x.max_us / 1000, 2), std::to_string(x.raw.batch),
       fmt_count(x.raw.events_per_s()), fmt_fixed(x.ratio_vs_raw(), 2)});
  t.print(out);
  out << "\nbusy: share of the time the coordinator spent in commits; cpu: "
         "process CPU (all threads) per event; commit cpu: CPU of the "
         "coordinator's thread in commits per event, us; "
      << f.loops.front().clients << " to " << f.loops.back().clients
      << " client actors\n";
  out << "\nthe floor: the same closed loop with plain CAF actors and a "
         "plain CAF store committing to raw LMDB (full sync), right after\n\n";
  table a{{"entities", "events/s", "events/commit", "cpu us/event", "p99 ms",
           "Cairn's share"}};
  for (auto& x : f.loops)
    a.add_row({std::to_string(x.entities), fmt_count(x.actors.events_per_s()),
               fmt_fixed(x.actors.events_per_commit(), 1),
               fmt_fixed(x.actors.cpu_us_per_event(), 1),
               fmt_fixed(x.actors.p99_us / 1000, 2),
               fmt_fixed(x.ratio_vs_raw_actors(), 2)});
  a.print(out);
  auto& h = f.headline();
  out << "\nbaselines (raw LMDB, full sync, " << p.raw_seconds
      << " s each)\n\n";
  table b{{"case", "events/txn", "events/s", "ms/txn"}};
  auto add = [&](const std::string& name, const raw_result& r) {
    b.add_row({name, std::to_string(r.batch), fmt_count(r.events_per_s()),
               fmt_fixed(r.commits > 0 ? r.seconds * 1e3 / r.commits : 0, 2)});
  };
  add("batched, as achieved at N=" + std::to_string(h.entities), h.raw);
  add("batched, 1000", f.raw_1000);
  add("one txn per event, alternated with N=" + std::to_string(h.entities),
      h.txn);
  b.print(out);
  out << "\nresident memory per active entity at N = " << f.rss.entities
      << " (sync none, no passivation): " << fmt_count(f.rss.bytes_per_entity())
      << " bytes\n  (anonymous RSS "
      << fmt_count(f.rss.bytes_per_entity() + counter_state_bytes)
      << " bytes/entity minus " << counter_state_bytes
      << " bytes of user state; heap in use "
      << fmt_count(f.rss.heap_bytes_per_entity())
      << " bytes/entity; LMDB map pages "
      << fmt_count(f.rss.file_bytes_per_entity()) << " bytes/entity)\n";
  auto v = check(f);
  auto verdict = [&](const std::string& what, const std::string& value,
                     const std::string& target, bool met) {
    out << "  " << what << value << " (target " << target
        << "): " << (met ? "met" : "MISSED") << '\n';
  };
  out << "\ntargets at N = " << h.entities << ":\n";
  verdict("ratio vs raw batched:     ", fmt_fixed(h.ratio_vs_raw(), 2),
          ">= " + fmt_fixed(ratio_target, 2), v.ratio);
  verdict("speedup vs txn per event: ", fmt_fixed(f.speedup(), 1),
          ">= " + fmt_fixed(speedup_target, 0), v.speedup);
  verdict("p99 latency:              ", fmt_fixed(h.p99_us / 1000, 2) + " ms",
          "<= " + fmt_fixed(p99_target_ms, 0) + " ms", v.p99);
  verdict("memory per entity:        ",
          fmt_count(f.rss.bytes_per_entity()) + " bytes",
          "<= " + fmt_count(rss_target_bytes), v.rss);
}

// -- the subcommand -----------------------------------------------------------

params make_params(const settings& cfg) {
  params p;
  p.quick = cfg.quick;
  if (cfg.quick) {
    p.entity_counts = {1, 10, 100};
    p.seconds = 0.2;
    p.raw_seconds = 0.2;
    p.rounds = 1;
    p.rss_entities = 2000;
    p.rss_warmup = 200;
  }
  p.seconds = cfg.get_number("--seconds", p.seconds);
  if (cfg.has("--scheduler")) {
    p.scheduler = cfg.values.at("--scheduler");
    caf::actor_system_config probe;
    set_scheduler_policy(probe, p.scheduler); // throws for a bad name
  }
  p.commit_thread = parse_commit_thread(cfg, p.commit_thread);
  p.via = parse_via(cfg, p.via);
  p.raw_seconds = cfg.get_number("--raw-seconds", p.raw_seconds);
  p.clients = cfg.get_count("--clients", p.clients);
  p.rounds = cfg.get_count("--rounds", p.rounds);
  p.rss_entities = cfg.get_count("--rss-entities", p.rss_entities);
  p.rss_warmup = cfg.get_count("--rss-warmup", p.rss_warmup);
  p.entity_counts = cfg.get_counts("--entities", p.entity_counts);
  return p;
}

/// Draws `persist-throughput.svg` and `persist-p99.svg` into `dir`.
void plot(const settings& cfg, const figures& f) {
  auto dir = cfg.values.at("--plot");
  plot_series cairn{"Cairn, durable persist", {}};
  plot_series raw{"raw LMDB, same events per commit", {}};
  plot_series floor{"raw actors + raw LMDB, same closed loop", {}};
  plot_series p99{"Cairn, p99", {}};
  plot_series p50{"Cairn, p50", {}};
  for (auto& x : f.loops) {
    auto n = static_cast<double>(x.entities);
    cairn.points.emplace_back(n, x.events_per_s());
    raw.points.emplace_back(n, x.raw.events_per_s());
    floor.points.emplace_back(n, x.actors.events_per_s());
    p99.points.emplace_back(n, x.p99_us / 1000);
    p50.points.emplace_back(n, x.p50_us / 1000);
  }
  for (auto& spec :
       {plot_spec{"persist-throughput",
                  "cairn-bench persist: events/s, full sync, 200-byte events",
                  "entities (one command in flight each)",
                  "events/s",
                  true,
                  false,
                  {cairn, floor, raw}},
        plot_spec{"persist-latency",
                  "cairn-bench persist: latency per command, full sync",
                  "entities (one command in flight each)",
                  "ms",
                  true,
                  true,
                  {p50, p99}}}) {
    auto svg = write_plot(dir, spec);
    if (!cfg.json) // JSON mode prints one object and nothing else
      std::cerr << "plot: " << svg << '\n';
  }
}

int run_persist(const settings& cfg) {
  auto p = make_params(cfg);
  temp_dir tmp{cfg.dir};
  if (!cfg.json)
    std::cerr << "cairn-bench persist in " << tmp.path() << '\n';
  figures f;
  for (auto n : p.entity_counts) {
    progress(cfg,
             "closed loop, " + std::to_string(n)
               + " entities, raw lmdb in the batches it achieved, one txn"
                 " per event, raw actors");
    f.loops.push_back(loop_case(tmp, n, p));
  }
  progress(cfg, "raw lmdb, 1000 events/txn");
  f.raw_1000 = raw_case(tmp, 1000, p.raw_seconds);
  progress(cfg, "memory, " + std::to_string(p.rss_entities) + " entities");
  f.rss = rss_case(tmp, p);
  if (cfg.json)
    print_json(p, f);
  else
    print_tables(p, f);
  if (cfg.has("--plot"))
    plot(cfg, f);
  return 0;
}

} // namespace

subcommand persist_subcommand() {
  return {
    "persist",
    "durable persist through aggregates vs raw LMDB, latency, memory "
    "(targets 0.35x, 50x, 10 ms, 2 KiB)",
    {{"--scheduler", "POLICY",
      "scheduler: cairn (default), stealing or sharing (CAF's)"},
     {"--commit-thread", "WHERE", commit_thread_help},
     {"--via", "HOW", via_help},
     {"--seconds", "S", "timed seconds per entity count (default 2)"},
     {"--raw-seconds", "S", "seconds per raw LMDB case (default 1.5)"},
     {"--rounds", "N", "closed loop/raw alternations per N (default 3)"},
     {"--clients", "N", "most client actors per case (default 4)"},
     {"--entities", "LIST", "entity counts (default 1,10,100,1000,10000)"},
     {"--rss-entities", "N", "entities of the memory test (100000)"},
     {"--rss-warmup", "N", "entities spawned before it measures (2000)"},
     {"--plot", "DIR", "also draw SVG charts into DIR (gnuplot)"}},
    run_persist};
}

} // namespace cairn::bench
