// cairn-outbox-crash-driver: one side of the outbox crash test
// (outbox_crash_test.cpp), which runs both sides as two processes, kills
// either of them with SIGKILL at random moments and starts it again.
//
// Usage:
//   cairn-outbox-crash-driver target DIR PORT_FILE [max-active=N]
//   cairn-outbox-crash-driver source DIR PORT_FILE SEED [window=N]
//                             [max-active=N]
//
// Each side opens a runtime on its own journal DIR (sync mode full, a
// snapshot every 4 events; with `max-active`, its registries passivate
// entities and process instances while more than N run). The two talk over
// CAF's network layer (BASP on 127.0.0.1), the transport between runtimes of
// different processes:
//
// - the target keeps the `sink` aggregates of outbox_work.hpp. It publishes
//   its registry on a port the OS picks, writes the port to PORT_FILE
//   (written aside, then renamed) and prints, in one write(2) per line:
//
//   ```
//   ready <port> .              published; serving
//   effect <command id> .       the feed delivered an `effect_applied`
//   ```
//
//   It runs until it is killed.
//
// - the source runs the job manager, whose steps command the sinks: it
//   routes aggregate `sink` (`runtime::route<sink>`) to a link actor that
//   forwards each delivery to the target's registry, found at the port
//   PORT_FILE names. The link watches the connection: when the target's
//   process dies, it fails the deliveries under way with
//   `errc::entity_unavailable` (the outbox dispatcher then retries them)
//   and connects again to the port PORT_FILE names next. It publishes the
//   jobs of the work of SEED, at most `window` of them unfinished at once,
//   and prints:
//
//   ```
//   state routed <job> .        at start: the job's step was committed
//   state settled <job> <entity> <0|1> .   at start: an outcome reached it
//   state done <job> .          at start: every outcome reached the job
//   ready <done> <total> .      the start's report is over
//   routed <job> .              the feed delivered the job's first step,
//                               which stored its commands in the outbox
//   settled <job> <entity> <0|1> .   the feed delivered the instance's
//                               reaction to an outcome (1: accepted)
//   done <job> .                ... and the job's last one
//   outbox <delivered> <duplicates> <retries> .   the dispatcher's counters
//                               since the start, when they change (checked
//                               every 20 ms): outcomes recorded, deliveries
//                               the target answered as duplicates, retries
//   finished .                  every job is done; exit status 0
//   err <what> .                exit status 3
//   ```

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "caf/all.hpp"
#include "caf/io/all.hpp"

#include "cairn/actors/process_instance.hpp"
#include "cairn/actors/runtime.hpp"
#include "cairn/actors/scheduler.hpp"
#include "cairn/journal/codec.hpp"
#include "cairn/journal/errc.hpp"
#include "tests/actors/outbox_work.hpp"

namespace {

using namespace std::chrono_literals;
using namespace cairn::test::outbox_work;

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

bool parse_u64(const std::string& str, uint64_t& out) {
  char* end = nullptr;
  errno = 0;
  auto x = std::strtoull(str.c_str(), &end, 10);
  if (errno != 0 || str.empty() || str[0] == '-' || *end != '\0')
    return false;
  out = x;
  return true;
}

/// The configuration of both sides: the network layer, and the types that
/// cross it.
/// The BASP handshake's app identifier names the port file, so that a
/// stale port taken over by another program's CAF node is refused at
/// hello rather than served by the wrong node.
struct driver_config : caf::actor_system_config {
  explicit driver_config(const std::string& port_file) {
    load<caf::io::middleman>();
    cairn::use_cairn_scheduler(*this);
    add_message_type<cairn::entity_id>("cairn.entity_id");
    set("middleman.app-identifiers",
        std::vector<std::string>{"cairn-outbox-crash:" + port_file});
  }
};

caf::expected<std::unique_ptr<cairn::runtime>>
start_runtime(caf::actor_system& sys, const std::string& dir,
              uint64_t max_active) {
  cairn::runtime_options opts;
  opts.registry.max_active = max_active;
  opts.journal_path = dir;
  opts.journal.sync = cairn::journal::sync_mode::full;
  opts.aggregates.snapshot_every = 4;
  return cairn::runtime::start(sys, opts);
}

// -- the target ---------------------------------------------------------------

/// Prints the effects the target's feed delivers.
caf::behavior effect_reporter(caf::event_based_actor*) {
  return {
    [](cairn::events_atom, std::vector<cairn::journal::stored_event>& evs) {
      std::string out;
      for (auto& ev : evs) {
        if (ev.record.type != effect_applied::event_name)
          continue;
        auto x = cairn::journal::from_bytes<effect_applied>(ev.record.payload,
                                                            "effect");
        out += x ? "effect " + x->command + " .\n"
                 : "err " + cairn::describe(x.error()) + " .\n";
      }
      if (!out.empty())
        write_out(out);
    },
  };
}

int run_target(const std::string& dir, const std::string& port_file,
               uint64_t max_active) {
  driver_config cfg{port_file};
  caf::actor_system sys{cfg};
  auto rt = start_runtime(sys, dir, max_active);
  if (!rt) {
    std::fprintf(stderr, "outbox crash driver: cannot start: %s\n",
                 cairn::describe(rt.error()).c_str());
    return 2;
  }
  caf::scoped_actor self{sys};
  auto reporter = sys.spawn(effect_reporter);
  (*rt)->adopt(reporter);
  auto subscribed = false;
  self
    ->request((*rt)->hub(), 10s, cairn::subscribe_atom::value, reporter,
              std::string{sink::category})
    .receive([&](uint64_t) { subscribed = true; },
             [&](caf::error& err) {
               write_out("err subscribing: " + cairn::describe(err) + " .\n");
             });
  if (!subscribed)
    return 3;
  auto registry = (*rt)->registry<sink>();
  auto port = sys.middleman().publish(registry, 0, "127.0.0.1", true);
  if (!port) {
    write_out("err publishing: " + sys.render(port.error()) + " .\n");
    return 3;
  }
  {
    auto tmp = port_file + ".tmp";
    std::ofstream out{tmp, std::ios::trunc};
    out << *port << '\n';
    out.close();
    if (!out || std::rename(tmp.c_str(), port_file.c_str()) != 0) {
      write_out("err writing " + port_file + " .\n");
      return 3;
    }
  }
  write_out("ready " + std::to_string(*port) + " .\n");
  // Serves until killed; bounded, so that a lost test leaves no process.
  self->receive(caf::after(std::chrono::minutes{10}) >> [] {});
  sys.middleman().unpublish(registry, *port);
  (*rt)->stop();
  return 4;
}

// -- the source: the link to the target ---------------------------------------

struct link_state {
  std::string port_file;
  /// The target's registry, while connected.
  caf::actor target;
  /// Whether a connection to the target is under way.
  bool connecting = false;
  /// Deliveries under way, by the link's own request number.
  std::map<uint64_t, caf::response_promise> pending;
  uint64_t next = 0;
  static inline const char* name = "outbox-crash-driver.link";
};

using link_pointer = caf::stateful_actor<link_state>*;

/// Reads the port the target published last, or 0.
uint16_t read_port(const std::string& port_file) {
  std::ifstream in{port_file};
  uint64_t port = 0;
  std::string str;
  if (!(in >> str) || !parse_u64(str, port) || port > 65535)
    return 0;
  return static_cast<uint16_t>(port);
}

void finish(link_pointer self, uint64_t id, caf::message msg) {
  auto i = self->state.pending.find(id);
  if (i == self->state.pending.end())
    return; // failed when the target went down
  i->second.deliver(std::move(msg));
  self->state.pending.erase(i);
}

void finish(link_pointer self, uint64_t id, caf::error err) {
  auto i = self->state.pending.find(id);
  if (i == self->state.pending.end())
    return;
  i->second.deliver(std::move(err));
  self->state.pending.erase(i);
}

/// Runs detached: connecting blocks its thread for a moment.
caf::behavior link_impl(link_pointer self, std::string port_file) {
  self->state.port_file = std::move(port_file);
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    if (msg.source != st.target.address())
      return;
    st.target = nullptr;
    auto err = cairn::make_error(cairn::errc::entity_unavailable,
                                 "the target process went down");
    for (auto& [id, rp] : st.pending)
      rp.deliver(err);
    st.pending.clear();
    self->send(self, cairn::tick_atom::value);
  });
  self->send(self, cairn::tick_atom::value);
  return {
    [self](cairn::tick_atom) {
      auto& st = self->state;
      if (st.target || st.connecting)
        return;
      auto port = read_port(st.port_file);
      if (port == 0) {
        self->delayed_send(self, 20ms, cairn::tick_atom::value);
        return;
      }
      // Asks the middleman with a deadline rather than through
      // `remote_actor`, which blocks without one: a connection whose
      // handshake never ends (the port of a killed target, taken by another
      // program) would keep the link from ever seeing its exit message.
      st.connecting = true;
      auto retry = [self] {
        self->state.connecting = false;
        self->delayed_send(self, 20ms, cairn::tick_atom::value);
      };
      self
        ->request(self->home_system().middleman().actor_handle(), 5s,
                  caf::connect_atom::value, std::string{"127.0.0.1"}, port)
        .then(
          [self, retry](caf::node_id&, caf::strong_actor_ptr& ptr,
                        std::set<std::string>&) {
            if (!ptr)
              return retry();
            auto& st = self->state;
            st.connecting = false;
            st.target = caf::actor_cast<caf::actor>(std::move(ptr));
            self->monitor(st.target);
          },
          [retry](caf::error&) { retry(); });
    },
    [self](cairn::entity_id& entity, cairn::deliver_atom atm, std::string& key,
           uint32_t index, std::string& bytes) -> caf::result<caf::message> {
      auto& st = self->state;
      if (!st.target)
        return cairn::make_error(cairn::errc::entity_unavailable,
                                 "the target process is not connected");
      auto id = st.next++;
      auto rp = self->make_response_promise();
      st.pending.emplace(id, rp);
      self
        ->request(st.target, 8s, std::move(entity), atm, std::move(key), index,
                  std::move(bytes))
        .then([self, id](caf::message& msg) { finish(self, id, msg); },
              [self, id](caf::error& err) {
                // CAF 0.17 has no catch-all response handler: a reply the
                // handler above does not take (the sink's `uint64_t`)
                // arrives as `unexpected_response`, holding the reply.
                if (err == caf::sec::unexpected_response)
                  finish(self, id, std::move(err.context()));
                else
                  finish(self, id, std::move(err));
              });
      return rp;
    },
  };
}

// -- the source: the feeder ---------------------------------------------------

/// One job, as the feeder tracks it.
struct job {
  job_item item;
  bool publishing = false;
  bool published = false;
  bool finished = false;
};

struct feeder_state {
  cairn::runtime* rt = nullptr;
  std::vector<job> jobs;
  std::map<std::string, size_t> by_stream;
  size_t window = 0;
  bool scanned = false;
  static inline const char* name = "outbox-crash-driver.feeder";
};

using feeder_pointer = caf::stateful_actor<feeder_state>*;

const cairn::journal::codec& job_codec() {
  static const cairn::journal::codec instance = [] {
    cairn::journal::codec c;
    cairn::detail::register_events(c, job_manager::events{});
    cairn::detail::register_events(c, job_manager::inputs{});
    return c;
  }();
  return instance;
}

void fail(feeder_pointer self, const std::string& what) {
  write_out("err " + what + " .\n");
  self->quit(cairn::make_error(cairn::errc::invalid_argument, what));
}

void pump(feeder_pointer self);

void publish(feeder_pointer self, size_t i) {
  auto& j = self->state.jobs[i];
  j.publishing = true;
  cairn::journal::append a;
  a.stream = desk_stream(j.item.id);
  a.expected = cairn::journal::expected_version::no_stream();
  a.events.push_back(
    job_codec().encode(job_requested{j.item.id, j.item.targets}));
  cairn::journal::write_group g;
  g.appends.push_back(std::move(a));
  self
    ->request(self->state.rt->coordinator(), caf::infinite,
              cairn::commit_atom::value, std::move(g))
    .then(
      [self, i](cairn::journal::group_receipt&) {
        auto& j = self->state.jobs[i];
        j.publishing = false;
        j.published = true;
        pump(self);
      },
      [self, i](caf::error& err) {
        fail(self, "publishing job " + self->state.jobs[i].item.id + ": "
                     + cairn::describe(err));
      });
}

void pump(feeder_pointer self) {
  auto& st = self->state;
  if (!st.scanned)
    return;
  size_t active = 0;
  bool all_done = true;
  for (auto& j : st.jobs) {
    if ((j.published || j.publishing) && !j.finished)
      ++active;
    if (!j.finished)
      all_done = false;
  }
  for (size_t i = 0; i < st.jobs.size() && active < st.window; ++i) {
    auto& j = st.jobs[i];
    if (!j.published && !j.publishing) {
      ++active;
      publish(self, i);
    }
  }
  if (all_done) {
    write_out("finished .\n");
    self->send(st.rt->hub(), cairn::unsubscribe_atom::value,
               caf::actor_cast<caf::actor>(self));
    self->quit();
  }
}

/// Reports one event of a job's manager stream; returns whether it
/// finished the job.
std::string report(const cairn::journal::stored_event& ev,
                   const std::string& job, bool& finished) {
  auto& type = ev.record.type;
  if (type == job_started::event_name)
    return "routed " + job + " .\n";
  if (type == command_settled::event_name) {
    auto x = job_codec().decode<command_settled>(ev);
    if (!x)
      return "err " + cairn::describe(x.error()) + " .\n";
    return "settled " + job + " " + x->entity + " " + (x->accepted ? "1" : "0")
           + " .\n";
  }
  if (type == job_finished::event_name) {
    finished = true;
    return "done " + job + " .\n";
  }
  return {};
}

caf::error scan(feeder_pointer self) {
  auto& st = self->state;
  auto& jnl = *st.rt->journal();
  size_t done = 0;
  std::string out;
  for (auto& j : st.jobs) {
    auto v = jnl.stream_version(desk_stream(j.item.id));
    if (!v)
      return std::move(v.error());
    j.published = *v > 0;
    auto evs = jnl.read_stream(cairn::stream_of<job_manager>(j.item.id));
    if (!evs)
      return std::move(evs.error());
    for (auto& ev : *evs) {
      auto line = report(ev, j.item.id, j.finished);
      if (!line.empty())
        out += "state " + line;
    }
    if (j.finished)
      ++done;
  }
  st.scanned = true;
  out += "ready " + std::to_string(done) + " " + std::to_string(st.jobs.size())
         + " .\n";
  write_out(out);
  return caf::none;
}

caf::behavior feeder(feeder_pointer self, cairn::runtime* rt,
                     std::vector<job_item> items, size_t window) {
  auto& st = self->state;
  st.rt = rt;
  st.window = window;
  for (auto& item : items) {
    st.by_stream.emplace(cairn::stream_of<job_manager>(item.id),
                         st.jobs.size());
    st.jobs.push_back(job{std::move(item)});
  }
  // Subscribe first, then read the journal: nothing goes unseen.
  self
    ->request(rt->hub(), caf::infinite, cairn::subscribe_atom::value,
              caf::actor_cast<caf::actor>(self),
              std::string{job_manager::category})
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
      if (!st.scanned)
        return; // the scan reads these from the journal
      std::string out;
      for (auto& ev : evs) {
        auto i = st.by_stream.find(ev.stream);
        if (i == st.by_stream.end())
          continue;
        auto& j = st.jobs[i->second];
        out += report(ev, j.item.id, j.finished);
      }
      if (!out.empty())
        write_out(out);
      pump(self);
    },
  };
}

/// Prints the outbox dispatcher's counters when they change.
caf::behavior stats_reporter(caf::event_based_actor* self, caf::actor outbox) {
  auto last = std::make_shared<std::string>();
  self->send(self, cairn::tick_atom::value);
  return {
    [self, outbox, last](cairn::tick_atom) {
      self->request(outbox, 10s, cairn::stats_atom::value)
        .then(
          [self, last](uint64_t delivered, uint64_t duplicates,
                       uint64_t retries, uint64_t, uint64_t) {
            auto line = "outbox " + std::to_string(delivered) + " "
                        + std::to_string(duplicates) + " "
                        + std::to_string(retries) + " .\n";
            if (line != *last)
              write_out(line);
            *last = std::move(line);
            self->delayed_send(self, 20ms, cairn::tick_atom::value);
          },
          [self](caf::error&) { self->quit(); });
    },
  };
}

int run_source(const std::string& dir, const std::string& port_file,
               uint64_t seed, uint64_t window, uint64_t max_active) {
  driver_config cfg{port_file};
  caf::actor_system sys{cfg};
  auto rt = start_runtime(sys, dir, max_active);
  if (!rt) {
    std::fprintf(stderr, "outbox crash driver: cannot start: %s\n",
                 cairn::describe(rt.error()).c_str());
    return 2;
  }
  auto link = sys.spawn<caf::detached>(link_impl, port_file);
  (*rt)->adopt(link);
  // Routed before the manager starts: no step commands a sink locally.
  (*rt)->route<sink>(link);
  cairn::start_process_manager<job_manager>(**rt);
  (*rt)->adopt(sys.spawn(stats_reporter, (*rt)->outbox()));
  auto rc = 0;
  {
    caf::scoped_actor self{sys};
    auto hdl = sys.spawn(feeder, rt->get(), make_work(seed),
                         static_cast<size_t>(window));
    self->monitor(hdl);
    // Bounded: the test kills the driver long before.
    self->receive(
      [&](caf::down_msg& msg) {
        if (msg.reason)
          rc = 3;
      },
      caf::after(std::chrono::minutes{10}) >>
        [&] {
          std::fprintf(stderr, "outbox crash driver: the feeder did not "
                               "finish\n");
          rc = 4;
        });
  }
  (*rt)->stop();
  return rc;
}

/// The command line.
struct settings {
  std::string role;
  std::string dir;
  std::string port_file;
  uint64_t seed = 0;
  uint64_t window = 12;
  uint64_t max_active = 0;
};

bool parse_args(int argc, char** argv, settings& out) {
  if (argc < 4)
    return false;
  out.role = argv[1];
  out.dir = argv[2];
  out.port_file = argv[3];
  auto source = out.role == "source";
  if (!source && out.role != "target")
    return false;
  int i = 4;
  if (source && (argc < 5 || !parse_u64(argv[i++], out.seed)))
    return false;
  for (; i < argc; ++i) {
    std::string arg = argv[i];
    auto eq = arg.find('=');
    if (eq == std::string::npos)
      return false;
    auto key = arg.substr(0, eq);
    uint64_t* field = key == "max-active"         ? &out.max_active
                      : key == "window" && source ? &out.window
                                                  : nullptr;
    if (field == nullptr || !parse_u64(arg.substr(eq + 1), *field))
      return false;
  }
  return out.window > 0;
}

} // namespace

int main(int argc, char** argv) {
  settings args;
  if (!parse_args(argc, argv, args)) {
    std::fprintf(stderr,
                 "usage: cairn-outbox-crash-driver target DIR PORT_FILE "
                 "[max-active=N]\n"
                 "       cairn-outbox-crash-driver source DIR PORT_FILE SEED "
                 "[window=N] [max-active=N]\n");
    return 2;
  }
  if (args.role == "target")
    return run_target(args.dir, args.port_file, args.max_active);
  return run_source(args.dir, args.port_file, args.seed, args.window,
                    args.max_active);
}
