/// `cairn-bench cluster`: commands through a node that does not own their
/// entities vs on the owner, three nodes on loopback: a and b are actor
/// systems with their own journals in this process, c is a `cairn-node`
/// child process (next to cairn-bench), stopped (SIGSTOP) and killed
/// (SIGKILL) to time how fast b sees it down.
///
/// The figures: `local_events_per_s`, commands sent on node a to the
/// entities it owns; `remote_events_per_s`, the same commands to the same
/// entities sent on node b, so that each crosses b's link and a's gateway
/// both ways; `remote_ratio`, the second over the first. Each is the mean of
/// two timed runs in the order local, remote, remote, local, so that a
/// drift of a shared machine weighs on both alike. `p50_ms`/`p99_ms` are
/// the latencies through node b; the `*_cpu_us_per_event` figures, the CPU
/// time of this process (nodes a and b) per event.
///
/// Then process steps (bench/cluster_steps.hpp): `local_steps_per_s`, steps
/// of process instances on node a commanding entities of node a, each one
/// atomic commit; `cross_steps_per_s`, steps of instances on node a
/// commanding entities of node b through the outbox, each done when its
/// outcome has been reacted to on a; `cross_step_ratio`, the second over
/// the first; `cross_step_p50_ms`/`cross_step_p99_ms` and
/// `local_step_p50_ms`/`local_step_p99_ms`, the step latencies; all over
/// the steady parts of waves, and `*_wave_steps_per_s`/`cross_wave_ratio`
/// over whole waves. `cross_to_peer_p50_ms`, `cross_back_p50_ms` and
/// `cross_reaction_p50_ms` split a cross step's latency at the commit of
/// the effect on b and of the outcome on a. Runs in the order local, cross,
/// cross, local too.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "caf/all.hpp"

#include "bench/bench.hpp"
#include "bench/bench_aggregate.hpp"
#include "bench/closed_loop.hpp"
#include "bench/cluster_steps.hpp"
#include "cairn/actors/cluster/announce.hpp"
#include "cairn/actors/cluster/node.hpp"
#include "cairn/actors/runtime.hpp"
#include "cairn/journal/log.hpp"

namespace cairn::bench {

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

struct params {
  uint64_t entities = 1000;
  double seconds = 2;
  uint64_t clients = 4;
  uint64_t probes = 200;
  /// The process steps: instances of each kind, timed seconds per run.
  cluster_step_params steps;
  /// CAF's `scheduler.policy` of the in-process nodes.
  std::string scheduler = "cairn";
  /// Further CAF settings of the in-process nodes (`--caf`).
  std::vector<std::pair<std::string, caf::config_value>> caf_settings;
};

/// Parses `--caf KEY=VALUE,...` (CAF's config syntax for each value).
std::vector<std::pair<std::string, caf::config_value>>
parse_caf_settings(const std::string& text) {
  std::vector<std::pair<std::string, caf::config_value>> result;
  std::istringstream in{text};
  for (std::string x; std::getline(in, x, ',');) {
    auto eq = x.find('=');
    if (eq == std::string::npos || eq == 0)
      throw usage_error("--caf expects KEY=VALUE,..., got '" + x + "'");
    auto value = caf::config_value::parse(x.substr(eq + 1));
    if (!value)
      throw usage_error("--caf: cannot parse the value of '" + x + "'");
    result.emplace_back(x.substr(0, eq), std::move(*value));
  }
  return result;
}

cluster::settings node_settings(const std::string& id) {
  cluster::settings s;
  s.name = "bench";
  s.node_id = id;
  s.listen_address = "127.0.0.1";
  s.heartbeat_interval = 200ms;
  s.connection_timeout = 1s;
  return s;
}

struct node_config : caf::actor_system_config {
  node_config(const cluster::settings& s, const params& p) {
    cluster::configure(*this, s);
    set_scheduler_policy(*this, p.scheduler);
    for (auto& [key, value] : p.caf_settings)
      set(key, value);
    announce<counter>(*this);
    add_error_category(cairn_error_category, render_error);
  }
};

/// One node of the benchmark's cluster.
struct bench_node {
  bench_node(const std::string& id, const std::string& dir, const params& p)
    : settings(node_settings(id)), cfg(settings, p), sys(cfg) {
    runtime_options opts;
    // The bench freezes and kills node c on purpose: the links' warnings
    // about it going down are expected, not news.
    opts.log_level = log::level::error;
    opts.journal_path = dir;
    opts.journal.sync = journal::sync_mode::full;
    opts.journal.map_size = uint64_t{1} << 30;
    opts.registry.passivate_after = caf::timespan{0};
    opts.registry.max_active = 0;
    opts.cluster = settings;
    auto r = runtime::start(sys, opts);
    if (!r)
      throw std::runtime_error("runtime::start: " + describe(r.error()));
    rt = std::move(*r);
  }

  ~bench_node() {
    if (rt)
      rt->stop();
  }

  cluster::settings settings;
  node_config cfg;
  caf::actor_system sys;
  std::unique_ptr<runtime> rt;
};

/// The directory of this executable, where `cairn-node` is built too.
std::string own_dir() {
  std::string buf(4096, '\0');
  auto n = ::readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  if (n <= 0)
    return ".";
  buf.resize(static_cast<size_t>(n));
  auto slash = buf.rfind('/');
  return slash == std::string::npos ? "." : buf.substr(0, slash);
}

/// A `cairn-node` child process, commanded on its standard input; its
/// standard output is read line by line, its standard error discarded.
class node_child {
public:
  explicit node_child(const std::vector<std::string>& args) {
    int in[2];
    int out[2];
    if (::pipe2(in, O_CLOEXEC) != 0)
      throw std::runtime_error("pipe failed");
    if (::pipe2(out, O_CLOEXEC) != 0) {
      ::close(in[0]);
      ::close(in[1]);
      throw std::runtime_error("pipe failed");
    }
    auto path = own_dir() + "/cairn-node";
    std::vector<std::string> argv{path};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    for (auto& x : argv)
      cargv.push_back(x.data());
    cargv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ < 0)
      throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::dup2(in[0], STDIN_FILENO);
      ::dup2(out[1], STDOUT_FILENO);
      auto null = ::open("/dev/null", O_WRONLY);
      if (null >= 0)
        ::dup2(null, STDERR_FILENO);
      ::execv(path.c_str(), cargv.data());
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    to_ = in[1];
    from_ = out[0];
  }

  ~node_child() {
    if (to_ >= 0)
      ::close(to_);
    if (from_ >= 0)
      ::close(from_);
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  node_child(const node_child&) = delete;
  node_child& operator=(const node_child&) = delete;

  void signal(int sig) {
    ::kill(pid_, sig);
  }

  void send(const std::string& line) {
    auto text = line + '\n';
    if (::write(to_, text.data(), text.size())
        != static_cast<ssize_t>(text.size()))
      throw std::runtime_error("cairn-node: cannot write its input");
  }

  /// Returns the next line that starts with `prefix`, waiting at most
  /// `timeout`.
  std::string expect(const std::string& prefix, caf::timespan timeout = 10s) {
    auto deadline = clock_type::now() + timeout;
    for (;;) {
      auto nl = buffer_.find('\n');
      while (nl != std::string::npos) {
        auto line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        if (line.compare(0, prefix.size(), prefix) == 0)
          return line;
        nl = buffer_.find('\n');
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - clock_type::now())
                    .count();
      pollfd p{from_, POLLIN, 0};
      if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0)
        throw std::runtime_error("cairn-node: no line '" + prefix
                                 + "' in time");
      char buf[4096];
      auto n = ::read(from_, buf, sizeof(buf));
      if (n <= 0)
        throw std::runtime_error("cairn-node ended before '" + prefix + "'");
      buffer_.append(buf, static_cast<size_t>(n));
    }
  }

private:
  pid_t pid_ = -1;
  int to_ = -1;
  int from_ = -1;
  std::string buffer_;
};

double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0)
    .count();
}

bool wait_peers(runtime& rt, const std::string& peer, const std::string& want,
                caf::timespan timeout = 10s) {
  auto deadline = clock_type::now() + timeout;
  while (rt.peers()[peer] != want) {
    if (clock_type::now() >= deadline)
      return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

/// A timed closed loop from `sys` to `registry` over `ids`; adds the CPU
/// time of this process during the timed part to `cpu_s`.
load_result run_loop(caf::actor_system& sys, const caf::actor& registry,
                     const std::vector<std::string>& ids, const params& p,
                     bool warm_up, double& cpu_s) {
  std::vector<std::shared_ptr<load_result>> results;
  std::vector<caf::actor> clients;
  exit_guard guard;
  auto n = std::min<uint64_t>(p.clients, ids.size());
  for (uint64_t c = 0; c < n; ++c) {
    load_spec spec;
    spec.kind = command_kind::persist;
    spec.targets = {registry};
    for (size_t i = c; i < ids.size(); i += n)
      spec.ids.push_back(ids[i]);
    results.push_back(std::make_shared<load_result>());
    clients.push_back(spawn_client(sys, std::move(spec), results.back()));
  }
  guard.add(clients);
  caf::scoped_actor self{sys};
  if (warm_up)
    sweep(self, clients, 64, 120);
  auto cpu0 = process_cpu_seconds();
  timed_run(self, clients, p.seconds, 120);
  cpu_s += process_cpu_seconds() - cpu0;
  return merge_results(results);
}

struct figures {
  double local_events_per_s = 0;
  double remote_events_per_s = 0;
  double local_p50_ms = 0;
  double local_p99_ms = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double local_cpu_us_per_event = 0;
  double remote_cpu_us_per_event = 0;
  double closed_detect_ms = 0;
  double killed_detect_ms = 0;
  double stopped_detect_ms = 0;
  double down_fail_p50_ms = 0;
  double down_fail_p99_ms = 0;
  cluster_step_figures steps;

  double remote_ratio() const {
    return local_events_per_s > 0 ? remote_events_per_s / local_events_per_s
                                  : 0;
  }
};

figures measure(const temp_dir& tmp, const params& p) {
  std::vector<std::unique_ptr<bench_node>> nodes;
  for (auto id : {"a", "b"})
    nodes.push_back(std::make_unique<bench_node>(id, tmp.sub(id), p));
  auto& a = *nodes[0];
  auto& b = *nodes[1];
  node_child c{{"--journal.path=" + tmp.sub("c"), "--journal.sync=none",
                "--cluster.name=" + a.settings.name, "--cluster.node-id=c",
                "--cluster.port=0",
                "--cluster.shards=" + std::to_string(a.settings.shards),
                "--cluster.heartbeat-interval=200ms",
                "--cluster.connection-timeout=1000ms",
                "--node.listen=127.0.0.1"}};
  auto c_port = c.expect("listening ").substr(10);
  std::vector<std::string> members;
  for (auto& n : nodes)
    members.push_back(n->settings.node_id
                      + "@127.0.0.1:" + std::to_string(n->rt->cluster_port()));
  members.push_back("c@127.0.0.1:" + c_port);
  for (auto& n : nodes)
    if (auto err = n->rt->join(members))
      throw std::runtime_error("join: " + describe(err));
  std::string list;
  for (auto& x : members)
    list += (list.empty() ? "" : ",") + x;
  c.send("join " + list);
  c.expect("joined ");
  for (auto& n : nodes)
    for (auto peer : {"a", "b", "c"})
      if (peer != n->settings.node_id && !wait_peers(*n->rt, peer, "up"))
        throw std::runtime_error("the links did not come up within 10 s");
  auto m = nodes[0]->rt->shared()->cluster->members();
  // The entities of node a, and some of node c for the fail-fast probes.
  std::vector<std::string> on_a;
  std::vector<std::string> on_c;
  for (uint64_t i = 0; on_a.size() < p.entities || on_c.size() < 16; ++i) {
    auto id = "e" + std::to_string(i);
    auto owner = m->owner(counter::category, id).id;
    if (owner == "a" && on_a.size() < p.entities)
      on_a.push_back(id);
    else if (owner == "c" && on_c.size() < 16)
      on_c.push_back(id);
  }
  figures f;
  // Local, remote, remote, local (ABBA): each figure is the mean of its
  // two runs, so that a drift of the shared machine (disk, other
  // processes) over the four runs weighs on both alike.
  // CPU time of both in-process nodes (c idles), per event.
  double local_cpu = 0;
  double remote_cpu = 0;
  auto local1
    = run_loop(a.sys, a.rt->registry<counter>(), on_a, p, true, local_cpu);
  auto remote1
    = run_loop(b.sys, b.rt->registry<counter>(), on_a, p, false, remote_cpu);
  auto remote2
    = run_loop(b.sys, b.rt->registry<counter>(), on_a, p, false, remote_cpu);
  auto local2
    = run_loop(a.sys, a.rt->registry<counter>(), on_a, p, false, local_cpu);
  auto local_n = local1.completed + local2.completed;
  auto remote_n = remote1.completed + remote2.completed;
  if (local_n > 0)
    f.local_cpu_us_per_event = local_cpu * 1e6 / static_cast<double>(local_n);
  if (remote_n > 0)
    f.remote_cpu_us_per_event
      = remote_cpu * 1e6 / static_cast<double>(remote_n);
  f.local_events_per_s = local_n / p.seconds / 2;
  f.remote_events_per_s = remote_n / p.seconds / 2;
  auto remote_lat = remote1.latency_us;
  remote_lat.insert(remote_lat.end(), remote2.latency_us.begin(),
                    remote2.latency_us.end());
  auto local_lat = local1.latency_us;
  local_lat.insert(local_lat.end(), local2.latency_us.begin(),
                   local2.latency_us.end());
  f.local_p50_ms = percentile(local_lat, 50) / 1000;
  f.local_p99_ms = percentile(local_lat, 99) / 1000;
  f.p50_ms = percentile(remote_lat, 50) / 1000;
  f.p99_ms = percentile(remote_lat, 99) / 1000;
  // Process steps on node a, local and to node b's entities.
  f.steps = measure_cluster_steps(*a.rt, *b.rt, p.steps);
  // Node c freezes (SIGSTOP): b sees it down when the heartbeats stop.
  auto t0 = clock_type::now();
  c.signal(SIGSTOP);
  if (!wait_peers(*b.rt, "c", "down"))
    throw std::runtime_error("node b did not see node c down within 10 s");
  f.stopped_detect_ms = ms_since(t0);
  std::vector<double> fail_us;
  caf::scoped_actor self{b.sys};
  auto router = b.rt->registry<counter>();
  for (uint64_t i = 0; i < p.probes; ++i) {
    auto t1 = clock_type::now();
    bool failed = false;
    self->request(router, 10s, entity_id{on_c[i % on_c.size()]}, get_count{})
      .receive([](int64_t) {}, [&](caf::error&) { failed = true; });
    if (!failed)
      throw std::runtime_error("a command to a stopped node succeeded");
    fail_us.push_back(
      std::chrono::duration<double, std::micro>(clock_type::now() - t1)
        .count());
  }
  f.down_fail_p50_ms = percentile(fail_us, 50) / 1000;
  f.down_fail_p99_ms = percentile(fail_us, 99) / 1000;
  // Node c thaws, b's link reconnects; then c is killed (SIGKILL): its
  // connections close.
  c.signal(SIGCONT);
  if (!wait_peers(*b.rt, "c", "up", 20s))
    throw std::runtime_error("node b did not see node c up again within 20 s");
  t0 = clock_type::now();
  c.signal(SIGKILL);
  if (!wait_peers(*b.rt, "c", "down"))
    throw std::runtime_error("node b did not see node c down within 10 s");
  f.killed_detect_ms = ms_since(t0);
  // Node a stops cleanly.
  t0 = clock_type::now();
  a.rt->stop();
  if (!wait_peers(*b.rt, "a", "down"))
    throw std::runtime_error("node b did not see node a down within 10 s");
  f.closed_detect_ms = ms_since(t0);
  return f;
}

/// Milliseconds per commit of a coordinator (0 without commits).
double ms_per_commit(const coordinator_stats& x) {
  return x.commits > 0 ? x.commit_ns_total / 1e6 / x.commits : 0;
}

/// Cross-node steps per second over local ones, at least.
constexpr double step_ratio_target = 0.3;

int run_cluster(const settings& cfg) {
  params p;
  if (cfg.quick) {
    p.entities = 100;
    p.seconds = 0.3;
    p.probes = 50;
    p.steps.instances = 20;
    p.steps.seconds = 0.3;
  }
  p.entities = cfg.get_count("--entities", p.entities);
  p.seconds = cfg.get_number("--seconds", p.seconds);
  p.clients = cfg.get_count("--clients", p.clients);
  p.steps.instances = cfg.get_count("--instances", p.steps.instances);
  p.steps.seconds = cfg.get_number("--step-seconds", p.steps.seconds);
  if (cfg.has("--scheduler")) {
    p.scheduler = cfg.values.at("--scheduler");
    caf::actor_system_config probe;
    set_scheduler_policy(probe, p.scheduler); // throws for a bad name
  }
  if (cfg.has("--caf"))
    p.caf_settings = parse_caf_settings(cfg.values.at("--caf"));
  temp_dir tmp{cfg.dir};
  if (!cfg.json)
    std::cerr << "cairn-bench cluster in " << tmp.path() << '\n';
  auto f = measure(tmp, p);
  bool ratio_ok = f.remote_ratio() >= 0.5;
  bool fail_ok = f.down_fail_p99_ms <= 50;
  bool step_ratio_ok = f.steps.ratio() >= step_ratio_target;
  auto& ls = f.steps.local;
  auto& xs = f.steps.cross;
  if (cfg.json) {
    json_object o;
    o.set("subcommand", "cluster")
      .set("entities", p.entities)
      .set("seconds", p.seconds)
      .set("scheduler", p.scheduler)
      .set("allocator", CAIRN_ALLOCATOR)
      .set("caf", cfg.has("--caf") ? cfg.values.at("--caf") : std::string{})
      .set("local_events_per_s", f.local_events_per_s)
      .set("remote_events_per_s", f.remote_events_per_s)
      .set("remote_ratio", f.remote_ratio())
      .set("local_p50_ms", f.local_p50_ms)
      .set("local_p99_ms", f.local_p99_ms)
      .set("p50_ms", f.p50_ms)
      .set("p99_ms", f.p99_ms)
      .set("local_cpu_us_per_event", f.local_cpu_us_per_event)
      .set("remote_cpu_us_per_event", f.remote_cpu_us_per_event)
      .set("closed_detect_ms", f.closed_detect_ms)
      .set("killed_detect_ms", f.killed_detect_ms)
      .set("stopped_detect_ms", f.stopped_detect_ms)
      .set("down_fail_p50_ms", f.down_fail_p50_ms)
      .set("down_fail_p99_ms", f.down_fail_p99_ms)
      .set("remote_ratio_ok", ratio_ok)
      .set("down_fail_ok", fail_ok)
      .set("step_instances", p.steps.instances)
      .set("step_seconds", p.steps.seconds)
      .set("local_steps_per_s", ls.steps_per_s())
      .set("cross_steps_per_s", xs.steps_per_s())
      .set("cross_step_ratio", f.steps.ratio())
      .set("local_wave_steps_per_s", ls.wave_steps_per_s())
      .set("cross_wave_steps_per_s", xs.wave_steps_per_s())
      .set("cross_wave_ratio", f.steps.wave_ratio())
      .set("local_step_p50_ms", percentile(ls.latency_us, 50) / 1000)
      .set("local_step_p99_ms", percentile(ls.latency_us, 99) / 1000)
      .set("cross_step_p50_ms", percentile(xs.latency_us, 50) / 1000)
      .set("cross_step_p99_ms", percentile(xs.latency_us, 99) / 1000)
      .set("cross_outcome_p50_ms", percentile(xs.outcome_us, 50) / 1000)
      .set("cross_to_peer_p50_ms", percentile(xs.to_peer_us, 50) / 1000)
      .set("cross_back_p50_ms", percentile(xs.back_us, 50) / 1000)
      .set("cross_reaction_p50_ms", percentile(xs.reaction_us, 50) / 1000)
      .set("local_steps_per_chain", ls.steps_per_chain)
      .set("cross_steps_per_chain", xs.steps_per_chain)
      .set("local_ms_per_commit", ms_per_commit(ls.node_stats))
      .set("local_events_per_commit", ls.node_stats.events_per_commit())
      .set("cross_ms_per_commit", ms_per_commit(xs.node_stats))
      .set("cross_events_per_commit", xs.node_stats.events_per_commit())
      .set("cross_peer_ms_per_commit", ms_per_commit(xs.peer_stats))
      .set("cross_peer_events_per_commit", xs.peer_stats.events_per_commit())
      .set("cross_outbox_retries", xs.outbox_retries)
      .set("cross_outbox_duplicates", xs.outbox_duplicates)
      .set("local_cpu_us_per_step", ls.cpu_us_per_step())
      .set("cross_cpu_us_per_step", xs.cpu_us_per_step())
      .set("cross_step_ratio_ok", step_ratio_ok);
    std::cout << o.str() << '\n';
    return 0;
  }
  std::cout << "\ncluster: " << fmt_count(p.entities)
            << " entities on node a, one command in flight each, 200-byte "
               "events, full sync;\nsent on node a (the owner), then on node "
               "b (each command crosses b's link and a's gateway);\neach "
               "figure the mean of two runs (local, remote, remote, local)\n\n";
  table t{{"path", "events/s", "p50 ms", "p99 ms"}};
  t.add_row({"on the owner (a)", fmt_count(f.local_events_per_s),
             fmt_fixed(f.local_p50_ms, 2), fmt_fixed(f.local_p99_ms, 2)});
  t.add_row({"through node b", fmt_count(f.remote_events_per_s),
             fmt_fixed(f.p50_ms, 2), fmt_fixed(f.p99_ms, 2)});
  t.print(std::cout);
  std::cout << "\nremote/local: " << fmt_fixed(f.remote_ratio(), 2)
            << (ratio_ok ? " (target >= 0.5: met)" : " (target >= 0.5: MISSED)")
            << "\nCPU time of this process per event: "
            << fmt_fixed(f.local_cpu_us_per_event, 1) << " us on the owner, "
            << fmt_fixed(f.remote_cpu_us_per_event, 1) << " us through node b"
            << "\nnode c frozen (SIGSTOP), seen down by b after "
            << fmt_fixed(f.stopped_detect_ms, 1) << " ms (target <= 1500 ms: "
            << (f.stopped_detect_ms <= 1500 ? "met" : "MISSED")
            << "); its commands then fail in "
            << fmt_fixed(f.down_fail_p50_ms, 3) << " ms (p50), "
            << fmt_fixed(f.down_fail_p99_ms, 3) << " ms (p99)"
            << (fail_ok ? " (target <= 50 ms: met)"
                        : " (target <= 50 ms: MISSED)")
            << "\nnode c killed (SIGKILL), seen down by b after "
            << fmt_fixed(f.killed_detect_ms, 1)
            << " ms\nnode a stopped cleanly, seen down by b after "
            << fmt_fixed(f.closed_detect_ms, 1) << " ms\n";
  std::cout << "\nprocess steps: " << fmt_count(p.steps.instances)
            << " instances on node a, one step in flight each, each step "
               "commanding one entity\n(200-byte event), full sync; local: "
               "the entity on a, one atomic commit; cross: the entity\non b, "
               "through a's outbox, done when a has reacted to its outcome; "
               "each figure over two\nruns (local, cross, cross, local), "
               "steady parts of waves\n\n";
  table st{{"steps", "steps/s", "whole waves", "p50 ms", "p99 ms",
            "cpu us/step", "steps/chain"}};
  for (auto* x : {&ls, &xs})
    st.add_row({x == &ls ? "local (entity on a)" : "cross (entity on b)",
                fmt_count(x->steps_per_s()), fmt_count(x->wave_steps_per_s()),
                fmt_fixed(percentile(x->latency_us, 50) / 1000, 2),
                fmt_fixed(percentile(x->latency_us, 99) / 1000, 2),
                fmt_fixed(x->cpu_us_per_step(), 1),
                std::to_string(x->steps_per_chain)});
  st.print(std::cout);
  std::cout << "\ncross/local: " << fmt_fixed(f.steps.ratio(), 2)
            << (step_ratio_ok ? " (target >= 0.3: met)"
                              : " (target >= 0.3: MISSED)")
            << "; whole waves: " << fmt_fixed(f.steps.wave_ratio(), 2)
            << "\ncross step latency (p50): "
            << fmt_fixed(percentile(xs.to_peer_us, 50) / 1000, 1)
            << " ms to the effect's commit on b, "
            << fmt_fixed(percentile(xs.back_us, 50) / 1000, 1)
            << " ms back to the outcome's commit on a, "
            << fmt_fixed(percentile(xs.reaction_us, 50) / 1000, 1)
            << " ms to the reaction's commit"
            << "\nstep latency: from the step's commit to the commit of the "
               "reaction to its outcome,\nboth as they reach a subscriber of "
               "a's live feed\n";
  return 0;
}

} // namespace

subcommand cluster_subcommand() {
  return {
    "cluster",
    "commands through a non-owner node vs on the owner, three nodes "
    "on loopback; a node frozen, killed, stopped; fail-fast to a down node; "
    "process steps to entities of another node vs of their own",
    {{"--entities", "N", "entities of the owner (default 1000)"},
     {"--seconds", "S", "timed seconds per run (default 2)"},
     {"--clients", "N", "client actors (default 4)"},
     {"--scheduler", "POLICY",
      "scheduler of nodes a and b: cairn (default), stealing or sharing"},
     {"--caf", "KEY=VALUE,...",
      "further CAF settings of nodes a and b, e.g. middleman.workers=0"},
     {"--instances", "N",
      "process instances of each kind of steps (default 1000)"},
     {"--step-seconds", "S", "timed seconds per run of steps (default 2)"}},
    run_cluster};
}

} // namespace cairn::bench
