// cairn-aggregate-crash-driver: drives tally aggregates through a runtime
// until killed.
//
// Usage: cairn-aggregate-crash-driver DIR SEED ROUND [KEY=VALUE...]
//
// Keys (all optional):
// - `max-active=N`: the registry passivates entities while more than N run
//   (default 0: unbounded);
// - `passivate-ms=N`: ... and after N ms of idleness (default 0: never);
// - `recovery-chunk=N`: events replayed per step of recovery (default 512);
// - `map-kib=N`: the journal's initial map size in KiB (default 1 GiB), so
//   that the map grows while entities read;
// - `max-acks=N`: stop after N acknowledgements (default 0: until killed).
//
// The aggregate crash test (tests/actors/crash_test.cpp) starts this program,
// kills it with SIGKILL at a random moment and checks the journal it leaves.
// The driver opens a runtime on DIR (sync mode full, a snapshot every 7
// events) and spawns `client_count` event-based clients. Each keeps one `add`
// command in flight to a random entity among `entity_count`, with a command
// id unique over all runs: `<ROUND>-<client>-<n>`. The clients share the
// registry, so several of them often hit one entity at once, and with
// `max-active` or `passivate-ms` entities stop and recover while commands
// arrive.
//
// As soon as a reply arrives, the client prints one line in one write(2):
//
// ```
// ack <entity> <cmd id> <count> <sum> .
// err <entity> <cmd id> <what> .
// ```
//
// `count` and `sum` are the entity's state after the command: the command's
// event is at version `count` of stream `tally-<entity>`. An `ack` means the
// event is durable. The test expects no `err` line. With `max-acks`, the
// clients stop after that many acknowledgements, the driver prints
//
// ```
// stats <entities spawned> <entities passivated> <commits> <groups> .
// ```
//
// and shuts down cleanly with exit status 0.

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>

#include "caf/all.hpp"

#include "cairn/actors/runtime.hpp"
#include "cairn/actors/scheduler.hpp"
#include "cairn/journal/errc.hpp"
#include "tests/actors/tally.hpp"

namespace {

using namespace std::chrono_literals;
using cairn::test::add;
using cairn::test::tally;

/// Number of entities the clients address: ids `0` to `39`.
constexpr uint64_t entity_count = 40;

/// Number of clients, each with one command in flight.
constexpr uint64_t client_count = 8;

/// Tells a client to send its next command.
using next_atom = caf::atom_constant<caf::atom("drv_next")>;

/// Writes all of `str` to stdout; one write(2) for a line, which is atomic on
/// a pipe up to PIPE_BUF bytes.
void write_out(const std::string& str) {
  const char* data = str.data();
  size_t left = str.size();
  while (left > 0) {
    auto n = ::write(STDOUT_FILENO, data, left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      std::_Exit(4); // the reader is gone
    data += n;
    left -= static_cast<size_t>(n);
  }
}

/// What the clients share.
struct shared_budget {
  /// Acknowledgements still wanted; unlimited when `limited` is false.
  std::atomic<int64_t> left{0};
  bool limited = false;

  bool exhausted() const {
    return limited && left.load() <= 0;
  }
};

struct client_state {
  caf::actor registry;
  std::string prefix;
  uint64_t next_n = 0;
  std::mt19937_64 rng;
  std::shared_ptr<shared_budget> budget;
  static inline const char* name = "crash-driver.client";
};

using client_pointer = caf::stateful_actor<client_state>*;

void send_next(client_pointer self) {
  auto& st = self->state;
  if (st.budget->exhausted()) {
    self->quit();
    return;
  }
  auto entity = std::to_string(
    std::uniform_int_distribution<uint64_t>{0, entity_count - 1}(st.rng));
  auto amount = std::uniform_int_distribution<int64_t>{-500, 1000}(st.rng);
  auto cmd_id = st.prefix + std::to_string(st.next_n++);
  self->request(st.registry, 30s, cairn::entity_id{entity}, add{cmd_id, amount})
    .then(
      [self, entity, cmd_id](uint64_t count, int64_t sum) {
        write_out("ack " + entity + " " + cmd_id + " " + std::to_string(count)
                  + " " + std::to_string(sum) + " .\n");
        if (self->state.budget->limited)
          --self->state.budget->left;
        self->send(self, next_atom::value);
      },
      [self, entity, cmd_id](caf::error& err) {
        write_out("err " + entity + " " + cmd_id + " " + cairn::describe(err)
                  + " .\n");
        self->send(self, next_atom::value);
      });
}

caf::behavior client(client_pointer self, caf::actor registry,
                     std::string prefix, uint64_t seed,
                     std::shared_ptr<shared_budget> budget) {
  auto& st = self->state;
  st.registry = std::move(registry);
  st.prefix = std::move(prefix);
  st.rng.seed(seed);
  st.budget = std::move(budget);
  self->send(self, next_atom::value);
  return {
    [self](next_atom) { send_next(self); },
  };
}

bool parse_u64(const std::string& str, uint64_t& out) {
  char* end = nullptr;
  errno = 0;
  auto x = std::strtoull(str.c_str(), &end, 10);
  if (errno != 0 || str.empty() || str[0] == '-' || *end != '\0')
    return false;
  out = x;
  return true;
}

/// What the command line sets.
struct settings {
  std::string dir;
  uint64_t seed = 0;
  uint64_t round = 0;
  uint64_t max_active = 0;
  uint64_t passivate_ms = 0;
  uint64_t recovery_chunk = 512;
  uint64_t map_kib = 0;
  uint64_t max_acks = 0;
};

bool parse_args(int argc, char** argv, settings& out) {
  if (argc < 4 || !parse_u64(argv[2], out.seed)
      || !parse_u64(argv[3], out.round))
    return false;
  out.dir = argv[1];
  for (int i = 4; i < argc; ++i) {
    std::string arg = argv[i];
    auto eq = arg.find('=');
    if (eq == std::string::npos)
      return false;
    auto key = arg.substr(0, eq);
    uint64_t* field = key == "max-active"       ? &out.max_active
                      : key == "passivate-ms"   ? &out.passivate_ms
                      : key == "recovery-chunk" ? &out.recovery_chunk
                      : key == "map-kib"        ? &out.map_kib
                      : key == "max-acks"       ? &out.max_acks
                                                : nullptr;
    if (field == nullptr || !parse_u64(arg.substr(eq + 1), *field))
      return false;
  }
  return out.recovery_chunk > 0;
}

/// Prints the `stats` line.
void print_stats(caf::actor_system& sys, cairn::runtime& rt,
                 const caf::actor& registry) {
  caf::scoped_actor self{sys};
  std::string line = "stats";
  self->request(registry, 10s, cairn::stats_atom::value)
    .receive(
      [&](cairn::registry_stats& s) {
        line += " " + std::to_string(s.spawned) + " "
                + std::to_string(s.passivated);
      },
      [&](caf::error& err) { line += " error " + cairn::describe(err); });
  self->request(rt.coordinator(), 10s, cairn::stats_atom::value)
    .receive(
      [&](cairn::coordinator_stats& s) {
        line
          += " " + std::to_string(s.commits) + " " + std::to_string(s.groups);
      },
      [&](caf::error& err) { line += " error " + cairn::describe(err); });
  write_out(line + " .\n");
}

int run(const settings& args) {
  caf::actor_system_config cfg;
  cairn::use_cairn_scheduler(cfg);
  caf::actor_system sys{cfg};
  cairn::runtime_options opts;
  opts.journal_path = args.dir;
  opts.journal.sync = cairn::journal::sync_mode::full;
  if (args.map_kib > 0)
    opts.journal.map_size = args.map_kib * 1024;
  opts.aggregates.snapshot_every = 7;
  opts.aggregates.recovery_chunk = args.recovery_chunk;
  opts.registry.max_active = args.max_active;
  opts.registry.passivate_after = std::chrono::milliseconds{args.passivate_ms};
  auto rt = cairn::runtime::start(sys, opts);
  if (!rt) {
    std::fprintf(stderr, "cairn-aggregate-crash-driver: cannot start: %s\n",
                 cairn::describe(rt.error()).c_str());
    return 2;
  }
  auto registry = (*rt)->registry<tally>();
  auto budget = std::make_shared<shared_budget>();
  budget->limited = args.max_acks > 0;
  budget->left = static_cast<int64_t>(args.max_acks);
  {
    caf::scoped_actor self{sys};
    for (uint64_t c = 0; c < client_count; ++c) {
      auto prefix = std::to_string(args.round) + "-" + std::to_string(c) + "-";
      auto hdl = sys.spawn(client, registry, std::move(prefix),
                           args.seed * client_count + c, budget);
      self->monitor(hdl);
    }
    // Without max-acks the clients run until the process is killed; with
    // it, clients that make no progress for two minutes fail the run.
    bool stalled = false;
    for (uint64_t down = 0; down < client_count && !stalled;)
      self->receive([&](caf::down_msg&) { ++down; },
                    caf::after(std::chrono::minutes{2}) >>
                      [&] { stalled = budget->limited; });
    if (stalled) {
      std::fprintf(stderr, "cairn-aggregate-crash-driver: the clients made "
                           "no progress for two minutes\n");
      (*rt)->stop();
      return 3;
    }
  }
  print_stats(sys, **rt, registry);
  (*rt)->stop();
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  settings args;
  if (!parse_args(argc, argv, args)) {
    std::fprintf(stderr, "usage: cairn-aggregate-crash-driver DIR SEED ROUND "
                         "[max-active=N] [passivate-ms=N] [recovery-chunk=N] "
                         "[map-kib=N] [max-acks=N]\n");
    return 2;
  }
  return run(args);
}
