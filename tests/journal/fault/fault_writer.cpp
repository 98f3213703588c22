// cairn-fault-writer: commits write groups to a journal, for the fault tests
// (tests/journal/fault/fault_test.cpp), which run it with the fault shim
// preloaded (fault_shim.cpp) so that LMDB's writes and syncs fail or block.
//
// Usage: cairn-fault-writer MODE DIR [KEY=VALUE...]
//
// Modes:
// - `journal`: one thread commits `groups` groups through `journal::commit`,
//   `batch` groups per commit;
// - `actors`: a coordinator (spawn_coordinator) and `writers` event-based
//   writer actors, each sending its `groups` groups one after the other, so
//   that the coordinator batches the groups of concurrent writers.
//
// Keys: `sync=full|no-meta-sync|none` (default full), `groups=N` (default
// 10), `batch=N` (default 1), `writers=N` (default 4), `first-gid=N` (default
// 1000), `map-kib=N` (the initial map size, default 1 GiB), `pad=N` (bytes of
// padding per payload, default 16), `reopen=N` (after a failed commit, close
// the journal, open it again and commit N more groups; default 3),
// `phases=N` (journal mode: commit `groups` groups N times, and after each
// phase wait for one line on stdin; default 1), `max-batch-events=N` (actors
// mode: the coordinator's cap; 1 makes every commit hold one group).
//
// Output, one write(2) per line (a line ends with " ."):
//
// ```
// open ok .                      the journal is open
// open err <errc> .              it is not (the process exits with 0)
// sub <gid> .                    group gid is about to be submitted
// ack <gid> <first> <last> .     gid committed at positions first..last
// err <gid> <errc> .             gid's commit failed (or was refused)
// probe <gid> <errc|ok> .        one more group after a failure
// failed <0|1> .                 journal::failed() after a failure
// read <ok|errc> .               a read of the journal after a failure
// reopen <ok|errc> .             the journal opened again after a failure
// phase <n> <last position> <map growths> .   (journal mode, phases)
// stats <commits> <failed groups> .            (actors mode)
// done [<map growths>] .         the end (journal mode: the map growths of
//                                a run without failure)
// ```
//
// Group `gid` appends `1 + gid % 3` events to stream `f-<gid % 7>`, and when
// `gid % 3 == 0` as many again to `f-<(gid + 3) % 7>`; every payload reads
// `g=<gid> i=<index> n=<events of the group> ` plus padding, so that the test
// can tell from the journal alone whether a group is whole.

#include <unistd.h>

#include <atomic>
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

#include "cairn/actors/coordinator.hpp"
#include "cairn/journal/errc.hpp"
#include "cairn/journal/journal.hpp"
#include "cairn/journal/options.hpp"
#include "cairn/journal/write_group.hpp"

using namespace std::chrono_literals;

namespace cairn {
namespace {

/// Writes `str` to stdout in one write(2) (lines are far below PIPE_BUF).
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

struct settings {
  std::string mode;
  std::string dir;
  journal::sync_mode sync = journal::sync_mode::full;
  uint64_t groups = 10;
  uint64_t batch = 1;
  uint64_t writers = 4;
  uint64_t first_gid = 1000;
  uint64_t map_kib = 0;
  uint64_t pad = 16;
  uint64_t reopen = 3;
  uint64_t phases = 1;
  uint64_t max_batch_events = 0;
};

/// Builds group `gid` (see the header comment).
journal::write_group make_group(uint64_t gid, uint64_t pad) {
  auto per_append = 1 + gid % 3;
  uint64_t appends = gid % 3 == 0 ? 2 : 1;
  auto total = per_append * appends;
  journal::write_group g;
  uint64_t index = 0;
  for (uint64_t a = 0; a < appends; ++a) {
    journal::append ap;
    ap.stream = "f-" + std::to_string((gid + 3 * a) % 7);
    for (uint64_t e = 0; e < per_append; ++e) {
      journal::event_record rec;
      rec.type = "fault_event";
      rec.payload = "g=" + std::to_string(gid) + " i=" + std::to_string(index++)
                    + " n=" + std::to_string(total) + " ";
      rec.payload.append(pad, static_cast<char>('a' + gid % 26));
      ap.events.push_back(std::move(rec));
    }
    g.appends.push_back(std::move(ap));
  }
  return g;
}

std::string name_of(const caf::error& err) {
  auto code = code_of(err);
  return code == errc::none ? std::string{"other"} : to_string(code);
}

/// The line for one group's outcome.
std::string outcome_line(uint64_t gid,
                         const caf::expected<journal::group_receipt>& res) {
  auto id = std::to_string(gid);
  if (!res)
    return "err " + id + " " + name_of(res.error()) + " .\n";
  uint64_t first = UINT64_MAX;
  uint64_t last = 0;
  for (auto& a : res->appends) {
    auto n = a.last_version - a.first_version + 1;
    first = std::min(first, a.first_position);
    last = std::max(last, a.first_position + n - 1);
  }
  return "ack " + id + " " + std::to_string(first) + " " + std::to_string(last)
         + " .\n";
}

journal::options journal_options(const settings& s) {
  journal::options opts;
  opts.sync = s.sync;
  if (s.map_kib > 0)
    opts.map_size = s.map_kib * 1024;
  return opts;
}

caf::expected<std::unique_ptr<journal::journal>> open(const settings& s) {
  return journal::journal::open(s.dir, journal_options(s));
}

/// Commits `count` groups from `gid` on, one per commit, after a reopen.
void commit_after_reopen(journal::journal& j, uint64_t gid, uint64_t count,
                         uint64_t pad) {
  for (uint64_t n = 0; n < count; ++n, ++gid) {
    write_out("sub " + std::to_string(gid) + " .\n");
    write_out(outcome_line(gid, j.commit(make_group(gid, pad))));
  }
}

/// Reports what a failed journal does: refuses a probe, says it failed,
/// still reads. Then reopens it and commits `s.reopen` groups.
void after_failure(std::unique_ptr<journal::journal>& j, const settings& s,
                   uint64_t& gid) {
  auto probe = gid++;
  write_out("sub " + std::to_string(probe) + " .\n");
  auto res = j->commit(make_group(probe, s.pad));
  write_out("probe " + std::to_string(probe) + " "
            + (res ? std::string{"ok"} : name_of(res.error())) + " .\n");
  write_out(std::string{"failed "} + (j->failed() ? "1" : "0") + " .\n");
  auto pos = j->last_position();
  write_out("read " + (pos ? std::string{"ok"} : name_of(pos.error()))
            + " .\n");
  j.reset();
  auto again = open(s);
  if (!again) {
    write_out("reopen " + name_of(again.error()) + " .\n");
    return;
  }
  write_out("reopen ok .\n");
  j = std::move(*again);
  commit_after_reopen(*j, gid, s.reopen, s.pad);
  gid += s.reopen;
}

// -- journal mode -------------------------------------------------------------

int run_journal(const settings& s) {
  auto opened = open(s);
  if (!opened) {
    write_out("open " + name_of(opened.error()) + " .\n");
    return 0;
  }
  write_out("open ok .\n");
  auto j = std::move(*opened);
  auto gid = s.first_gid;
  for (uint64_t phase = 0; phase < s.phases; ++phase) {
    for (uint64_t done = 0; done < s.groups;) {
      std::vector<journal::write_group> groups;
      std::string subs;
      auto first = gid;
      for (uint64_t b = 0; b < s.batch && done < s.groups; ++b, ++done) {
        subs += "sub " + std::to_string(gid) + " .\n";
        groups.push_back(make_group(gid++, s.pad));
      }
      write_out(subs);
      auto res = j->commit(groups);
      std::string out;
      for (size_t i = 0; i < groups.size(); ++i)
        out += outcome_line(
          first + i,
          res ? (*res)[i] : caf::expected<journal::group_receipt>{res.error()});
      write_out(out);
      if (!res) {
        after_failure(j, s, gid);
        write_out("done .\n");
        return 0;
      }
    }
    if (s.phases > 1) {
      auto last = j->last_position();
      auto st = j->stats();
      write_out("phase " + std::to_string(phase) + " "
                + std::to_string(last ? *last : 0) + " "
                + std::to_string(st ? st->map_growths : 0) + " .\n");
      // Wait for the test's go (or its end).
      char c = 0;
      while (::read(STDIN_FILENO, &c, 1) == 1 && c != '\n') {
        // next byte
      }
    }
  }
  auto st = j->stats();
  write_out("done " + std::to_string(st ? st->map_growths : 0) + " .\n");
  return 0;
}

// -- actors mode --------------------------------------------------------------

/// A writer actor: sends `count` groups from `gid` on, one after the other,
/// each as soon as the previous one has its answer.
caf::behavior group_writer(caf::event_based_actor* self, coordinator_actor c,
                           uint64_t gid, uint64_t count, uint64_t pad) {
  self->send(self, gid, count);
  return {
    [self, c, pad](uint64_t id, uint64_t left) {
      if (left == 0) {
        self->quit();
        return;
      }
      write_out("sub " + std::to_string(id) + " .\n");
      self->request(c, 60s, commit_atom::value, make_group(id, pad))
        .then(
          [self, id, left](journal::group_receipt& r) {
            write_out(outcome_line(id, r));
            self->send(self, id + 1, left - 1);
          },
          [self, id, left](caf::error& err) {
            write_out(outcome_line(id, err));
            self->send(self, id + 1, left - 1);
          });
    },
  };
}

int run_actors(const settings& s) {
  std::shared_ptr<journal::journal> j;
  {
    auto opened = open(s);
    if (!opened) {
      write_out("open " + name_of(opened.error()) + " .\n");
      return 0;
    }
    j = std::move(*opened);
  }
  write_out("open ok .\n");
  auto gid = s.first_gid;
  bool failed = false;
  {
    caf::actor_system_config cfg;
    caf::actor_system sys{cfg};
    coordinator_settings cs;
    if (s.max_batch_events > 0)
      cs.max_batch_events = s.max_batch_events;
    auto coord = spawn_coordinator(sys, j, cs, {});
    caf::scoped_actor self{sys};
    for (uint64_t w = 0; w < s.writers; ++w) {
      auto hdl = sys.spawn(group_writer, coord, gid, s.groups, s.pad);
      gid += s.groups;
      self->monitor(hdl);
    }
    bool timed_out = false;
    for (uint64_t down = 0; down < s.writers && !timed_out;)
      self->receive([&](caf::down_msg&) { ++down; },
                    caf::after(120s) >> [&] { timed_out = true; });
    if (timed_out) {
      write_out("err writers-timed-out .\n");
      std::_Exit(3);
    }
    self->request(coord, 60s, stats_atom::value)
      .receive(
        [&](coordinator_stats& st) {
          write_out("stats " + std::to_string(st.commits) + " "
                    + std::to_string(st.failed_groups) + " .\n");
          failed = st.failed_groups > 0;
        },
        [&](caf::error& err) {
          write_out("err stats-" + name_of(err) + " .\n");
        });
    if (failed || j->failed()) {
      failed = true;
      // The coordinator, too, refuses a group once its journal failed.
      auto probe = gid++;
      write_out("sub " + std::to_string(probe) + " .\n");
      self->request(coord, 60s, commit_atom::value, make_group(probe, s.pad))
        .receive(
          [&](journal::group_receipt&) {
            write_out("probe " + std::to_string(probe) + " ok .\n");
          },
          [&](caf::error& err) {
            write_out("probe " + std::to_string(probe) + " " + name_of(err)
                      + " .\n");
          });
    }
    self->send_exit(coord, caf::exit_reason::user_shutdown);
    self->wait_for(coord);
  }
  if (failed) {
    write_out(std::string{"failed "} + (j->failed() ? "1" : "0") + " .\n");
    auto pos = j->last_position();
    write_out("read " + (pos ? std::string{"ok"} : name_of(pos.error()))
              + " .\n");
    if (j.use_count() != 1) {
      write_out("err journal-still-shared .\n");
      std::_Exit(3);
    }
    j.reset();
    auto again = open(s);
    if (!again) {
      write_out("reopen " + name_of(again.error()) + " .\n");
    } else {
      write_out("reopen ok .\n");
      commit_after_reopen(**again, gid, s.reopen, s.pad);
    }
  }
  write_out("done .\n");
  return 0;
}

bool parse_u64(const std::string& str, uint64_t& out) {
  if (str.empty() || str.find_first_not_of("0123456789") != std::string::npos)
    return false;
  out = std::stoull(str);
  return true;
}

bool parse(int argc, char** argv, settings& s) {
  if (argc < 3)
    return false;
  s.mode = argv[1];
  s.dir = argv[2];
  if (s.mode != "journal" && s.mode != "actors")
    return false;
  std::map<std::string, uint64_t*> numbers{
    {"groups", &s.groups},
    {"batch", &s.batch},
    {"writers", &s.writers},
    {"first-gid", &s.first_gid},
    {"map-kib", &s.map_kib},
    {"pad", &s.pad},
    {"reopen", &s.reopen},
    {"phases", &s.phases},
    {"max-batch-events", &s.max_batch_events}};
  for (int i = 3; i < argc; ++i) {
    std::string arg = argv[i];
    auto eq = arg.find('=');
    if (eq == std::string::npos)
      return false;
    auto key = arg.substr(0, eq);
    auto value = arg.substr(eq + 1);
    if (key == "sync") {
      auto m = journal::parse_sync_mode(value);
      if (!m)
        return false;
      s.sync = *m;
    } else if (auto k = numbers.find(key);
               k == numbers.end() || !parse_u64(value, *k->second)) {
      return false;
    }
  }
  return s.batch > 0;
}

} // namespace
} // namespace cairn

int main(int argc, char** argv) {
  cairn::settings s;
  if (!cairn::parse(argc, argv, s)) {
    std::fprintf(stderr, "usage: cairn-fault-writer journal|actors DIR "
                         "[KEY=VALUE...] (see fault_writer.cpp)\n");
    return 2;
  }
  return s.mode == "journal" ? cairn::run_journal(s) : cairn::run_actors(s);
}
