// cairn-saga-crash-driver: runs the work of saga_work.hpp (orders through
// the order saga, group checkouts) on a journal, for saga_crash_test.cpp,
// which kills it with SIGKILL at random moments and starts it again.
//
// Usage: cairn-saga-crash-driver DIR SEED [window=N] [max-active=N]
//
// The driver opens a runtime on DIR (sync mode full, a snapshot every 4
// events of an aggregate) and does what is left of the work of SEED, so
// that a run after a kill goes on where the last one stopped:
//
// 1. if the warehouse stream does not exist, it commits in one group the
//    warehouse's stock and the guest accounts (checked in, charged, paid),
//    each append expecting a new stream;
// 2. it starts the order saga and the group checkout;
// 3. it publishes the inputs not in the journal yet, in the order of the
//    work's schedule, each append expecting the stream's exact version, and
//    keeps at most `window` processes started and not complete; a cart or
//    group the work confirms twice gets its second input once the first is
//    committed;
// 4. it waits until every process has completed, as the subscription hub's
//    feed tells (after a restart the managers resume the processes that
//    were under way).
//
// It prints one line per fact, in one write(2):
//
// ```
// ready <complete> <total> .      processes complete at the start
// step <manager stream> <version> .  a committed step the feed delivered
// done <manager stream> .         a completion the feed delivered
// finished .                      all complete; exit status 0
// err <what> .                    exit status 3
// ```

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "caf/all.hpp"

#include "cairn/actors/process_instance.hpp"
#include "cairn/actors/runtime.hpp"
#include "cairn/actors/scheduler.hpp"
#include "cairn/actors/step_messages.hpp"
#include "cairn/journal/codec.hpp"
#include "cairn/journal/errc.hpp"
#include "tests/actors/saga_work.hpp"

namespace {

using namespace std::chrono_literals;
using namespace cairn::test::saga_work;

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

// -- the work as journal writes -----------------------------------------------

template <class A, class E>
cairn::journal::event_record encode_for(const E& e) {
  return cairn::codec_of<A>().encode(e);
}

/// The warehouse's stock and the guest accounts, in one group.
cairn::journal::write_group setup_group(const work& w) {
  using cairn::journal::append;
  using cairn::journal::expected_version;
  cairn::journal::write_group g;
  append stock;
  stock.stream = cairn::stream_of<shop::warehouse>(shop::warehouse_id);
  stock.expected = expected_version::no_stream();
  for (auto& s : w.stock)
    stock.events.push_back(
      encode_for<shop::warehouse>(shop::stock_added{s.product, s.quantity}));
  g.appends.push_back(std::move(stock));
  for (auto& a : w.accounts) {
    append x;
    x.stream = cairn::stream_of<hotel::guest_account>(a.id);
    x.expected = expected_version::no_stream();
    x.events.push_back(
      encode_for<hotel::guest_account>(hotel::guest_checked_in{a.guest}));
    x.events.push_back(encode_for<hotel::guest_account>(
      hotel::guest_charged{"stay", a.charged}));
    if (a.paid > 0)
      x.events.push_back(
        encode_for<hotel::guest_account>(hotel::guest_paid{a.paid}));
    g.appends.push_back(std::move(x));
  }
  return g;
}

const cairn::journal::codec& input_codec() {
  static const cairn::journal::codec instance = [] {
    cairn::journal::codec c;
    c.add<shop::cart_confirmed>(shop::cart_confirmed::event_name);
    c.add<hotel::group_checkout_requested>(
      hotel::group_checkout_requested::event_name);
    return c;
  }();
  return instance;
}

/// One process of the work, as the driver tracks it.
struct process {
  std::string input_stream;
  std::string manager_stream;
  cairn::journal::event_record input;
  /// Inputs the work publishes: 1, or 2 with a duplicate.
  uint64_t inputs_wanted = 1;
  /// Inputs in the journal.
  uint64_t inputs_committed = 0;
  bool publishing = false;
  bool complete = false;
};

std::vector<process> processes_of(const work& w) {
  std::vector<process> result;
  for (auto& ref : w.schedule) {
    process p;
    if (ref.is_order) {
      auto& o = w.orders[ref.index];
      p.input_stream = cart_stream(o.id);
      p.manager_stream = cairn::stream_of<shop::order_saga>(o.id);
      p.input = input_codec().encode(
        shop::cart_confirmed{o.id, "client " + o.id, o.lines});
      p.inputs_wanted = o.confirmed_twice ? 2 : 1;
    } else {
      auto& g = w.groups[ref.index];
      p.input_stream = frontdesk_stream(g.id);
      p.manager_stream = cairn::stream_of<hotel::group_checkout>(g.id);
      p.input
        = input_codec().encode(hotel::group_checkout_requested{g.id, g.listed});
      p.inputs_wanted = g.requested_twice ? 2 : 1;
    }
    result.push_back(std::move(p));
  }
  return result;
}

/// Returns whether the manager stream `stream` holds its completion; a
/// completing step ends with `process_completed` and the step record.
caf::expected<bool> completed(const cairn::journal::journal& j,
                              const std::string& stream) {
  auto version = j.stream_version(stream);
  if (!version)
    return std::move(version.error());
  if (*version < 2)
    return false;
  auto evs = j.read_stream(stream, *version - 1, 2);
  if (!evs)
    return std::move(evs.error());
  for (auto& ev : *evs)
    if (ev.record.type == cairn::process_completed::event_name)
      return true;
  return false;
}

// -- the feeder ---------------------------------------------------------------

struct feeder_state {
  cairn::runtime* rt = nullptr;
  std::vector<process> processes;
  std::map<std::string, size_t> by_manager_stream;
  size_t window = 0;
  /// Whether `scan` has read the journal; nothing is published before.
  bool scanned = false;
  static inline const char* name = "saga-crash-driver.feeder";
};

using feeder_pointer = caf::stateful_actor<feeder_state>*;

void fail(feeder_pointer self, const std::string& what) {
  write_out("err " + what + " .\n");
  self->quit(cairn::make_error(cairn::errc::invalid_argument, what));
}

void pump(feeder_pointer self);

/// Commits input `k` (1 or 2) of process `i`.
void publish(feeder_pointer self, size_t i, uint64_t k) {
  auto& p = self->state.processes[i];
  p.publishing = true;
  cairn::journal::append a;
  a.stream = p.input_stream;
  a.expected = cairn::journal::expected_version::exact(k - 1);
  a.events.push_back(p.input);
  cairn::journal::write_group g;
  g.appends.push_back(std::move(a));
  self
    ->request(self->state.rt->coordinator(), caf::infinite,
              cairn::commit_atom::value, std::move(g))
    .then(
      [self, i, k](cairn::journal::group_receipt&) {
        auto& p = self->state.processes[i];
        p.publishing = false;
        p.inputs_committed = k;
        pump(self);
      },
      [self, i](caf::error& err) {
        fail(self, "publishing on " + self->state.processes[i].input_stream
                     + ": " + cairn::describe(err));
      });
}

/// Publishes what the window allows; ends the feeder when all is done.
void pump(feeder_pointer self) {
  auto& st = self->state;
  if (!st.scanned)
    return;
  size_t active = 0;
  for (auto& p : st.processes)
    if ((p.inputs_committed > 0 || p.publishing) && !p.complete)
      ++active;
  bool all_done = true;
  for (size_t i = 0; i < st.processes.size(); ++i) {
    auto& p = st.processes[i];
    if (!p.complete || p.inputs_committed < p.inputs_wanted)
      all_done = false;
    if (p.publishing)
      continue;
    if (p.inputs_committed == 0 && active < st.window) {
      ++active;
      publish(self, i, 1);
    } else if (p.inputs_committed > 0 && p.inputs_committed < p.inputs_wanted) {
      publish(self, i, p.inputs_committed + 1);
    }
  }
  if (all_done) {
    write_out("finished .\n");
    self->send(st.rt->hub(), cairn::unsubscribe_atom::value,
               caf::actor_cast<caf::actor>(self));
    self->quit();
  }
}

/// Reads which inputs and completions the journal holds.
caf::error scan(feeder_pointer self) {
  auto& st = self->state;
  auto& j = *st.rt->journal();
  size_t complete = 0;
  for (auto& p : st.processes) {
    auto v = j.stream_version(p.input_stream);
    if (!v)
      return std::move(v.error());
    p.inputs_committed = *v;
    auto c = completed(j, p.manager_stream);
    if (!c)
      return std::move(c.error());
    p.complete = p.complete || *c;
    if (p.complete)
      ++complete;
  }
  st.scanned = true;
  write_out("ready " + std::to_string(complete) + " "
            + std::to_string(st.processes.size()) + " .\n");
  return caf::none;
}

caf::behavior feeder(feeder_pointer self, cairn::runtime* rt,
                     std::vector<process> processes, size_t window) {
  auto& st = self->state;
  st.rt = rt;
  st.processes = std::move(processes);
  st.window = window;
  for (size_t i = 0; i < st.processes.size(); ++i)
    st.by_manager_stream.emplace(st.processes[i].manager_stream, i);
  // Subscribe first, then read the journal: no completion goes unseen.
  self
    ->request(rt->hub(), caf::infinite, cairn::subscribe_atom::value,
              caf::actor_cast<caf::actor>(self), std::string{})
    .then(
      [self](uint64_t) {
        if (auto err = scan(self))
          return fail(self, "reading the journal: " + cairn::describe(err));
        pump(self);
      },
      [self](caf::error& err) {
        fail(self, "subscribing: " + cairn::describe(err));
      });
  return {
    [self](cairn::events_atom, std::vector<cairn::journal::stored_event>& evs) {
      auto& st = self->state;
      for (auto& ev : evs) {
        if (ev.record.type == cairn::step_record::event_name
            && st.by_manager_stream.count(ev.stream) > 0) {
          write_out("step " + ev.stream + " " + std::to_string(ev.version)
                    + " .\n");
          continue;
        }
        if (ev.record.type != cairn::process_completed::event_name)
          continue;
        auto i = st.by_manager_stream.find(ev.stream);
        if (i == st.by_manager_stream.end())
          continue;
        auto& p = st.processes[i->second];
        if (p.complete)
          continue;
        p.complete = true;
        write_out("done " + ev.stream + " .\n");
      }
      pump(self);
    },
  };
}

// -- the program --------------------------------------------------------------

bool parse_u64(const std::string& str, uint64_t& out) {
  char* end = nullptr;
  errno = 0;
  auto x = std::strtoull(str.c_str(), &end, 10);
  if (errno != 0 || str.empty() || str[0] == '-' || *end != '\0')
    return false;
  out = x;
  return true;
}

struct settings {
  std::string dir;
  uint64_t seed = 0;
  uint64_t window = 8;
  uint64_t max_active = 0;
};

bool parse_args(int argc, char** argv, settings& out) {
  if (argc < 3 || !parse_u64(argv[2], out.seed))
    return false;
  out.dir = argv[1];
  for (int i = 3; i < argc; ++i) {
    std::string arg = argv[i];
    auto eq = arg.find('=');
    if (eq == std::string::npos)
      return false;
    auto key = arg.substr(0, eq);
    uint64_t* field = key == "window"       ? &out.window
                      : key == "max-active" ? &out.max_active
                                            : nullptr;
    if (field == nullptr || !parse_u64(arg.substr(eq + 1), *field))
      return false;
  }
  return out.window > 0;
}

/// Commits the warehouse's stock and the accounts unless they are there.
caf::error set_up(caf::actor_system& sys, cairn::runtime& rt, const work& w) {
  auto version = rt.journal()->stream_version(
    cairn::stream_of<shop::warehouse>(shop::warehouse_id));
  if (!version)
    return std::move(version.error());
  if (*version > 0)
    return caf::none; // one group: all of it is there
  caf::error result;
  caf::scoped_actor self{sys};
  self
    ->request(rt.coordinator(), 30s, cairn::commit_atom::value, setup_group(w))
    .receive([](cairn::journal::group_receipt&) {},
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

int run(const settings& args) {
  caf::actor_system_config cfg;
  cairn::use_cairn_scheduler(cfg);
  caf::actor_system sys{cfg};
  cairn::runtime_options opts;
  opts.journal_path = args.dir;
  opts.journal.sync = cairn::journal::sync_mode::full;
  opts.aggregates.snapshot_every = 4;
  opts.registry.max_active = args.max_active;
  auto rt = cairn::runtime::start(sys, opts);
  if (!rt) {
    std::fprintf(stderr, "cairn-saga-crash-driver: cannot start: %s\n",
                 cairn::describe(rt.error()).c_str());
    return 2;
  }
  auto w = make_work(args.seed);
  auto rc = 0;
  if (auto err = set_up(sys, **rt, w)) {
    write_out("err setting up: " + cairn::describe(err) + " .\n");
    rc = 3;
  } else {
    cairn::start_process_manager<shop::order_saga>(**rt);
    cairn::start_process_manager<hotel::group_checkout>(**rt);
    caf::scoped_actor self{sys};
    auto hdl = sys.spawn(feeder, rt->get(), processes_of(w),
                         static_cast<size_t>(args.window));
    self->monitor(hdl);
    // Bounded: the checker kills the driver long before; a stuck feeder
    // must not keep a driver run alive for ever.
    self->receive(
      [&](caf::down_msg& msg) {
        if (msg.reason)
          rc = 3;
      },
      caf::after(std::chrono::minutes{10}) >>
        [&] {
          std::fprintf(stderr, "saga driver: the feeder did not finish\n");
          rc = 4;
        });
  }
  (*rt)->stop();
  return rc;
}

} // namespace

int main(int argc, char** argv) {
  settings args;
  if (!parse_args(argc, argv, args)) {
    std::fprintf(stderr, "usage: cairn-saga-crash-driver DIR SEED [window=N] "
                         "[max-active=N]\n");
    return 2;
  }
  return run(args);
}
