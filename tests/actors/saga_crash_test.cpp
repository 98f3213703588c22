// Crash safety of process managers: a driver process
// (cairn-saga-crash-driver, see saga_crash_driver.cpp) runs orders through
// the order saga and group checkouts, and is killed with SIGKILL at random
// moments and started again until its work is done. After each run the test
// opens the journal read-only and checks:
//
// - atomicity of steps, in the global log: the events of a manager's step
//   end with its step record, and right after it come the events of the
//   commands the record names as accepted, one per command, on the streams
//   it names; no event a command produces stands anywhere else;
// - exactly once: each stream holds a prefix of the events its process
//   leads to (all of them once the process is complete), so no terminal
//   event and no command's event occurs twice; each manager stream has one
//   step on an input, the first input of its cart or group;
// - every completion the driver reported is in the journal;
// - `cairn-journal verify` finds no problem.
//
// At the end of each work every process must be complete. The test goes on
// with another work (another seed, another journal) until it has killed the
// driver 60 times while work was in flight.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "cairn/actors/process_manager.hpp"
#include "cairn/actors/step_messages.hpp"
#include "cairn/journal/codec.hpp"
#include "cairn/journal/errc.hpp"
#include "cairn/journal/journal.hpp"
#include "tests/actors/saga_work.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cairn;
using namespace cairn::test::saga_work;
using cairn::test::bin_path;
using cairn::test::child_process;
using cairn::test::temp_dir;

namespace {

using stored_event = journal::stored_event;

std::string join(const std::vector<std::string>& xs, const char* sep) {
  std::string result;
  for (auto& x : xs) {
    if (!result.empty())
      result += sep;
    result += x;
  }
  return result;
}

// -- events as labels ---------------------------------------------------------

const journal::codec& all_events() {
  static const journal::codec instance = [] {
    journal::codec c;
    detail::register_events(c, shop::order::events{});
    detail::register_events(c, shop::payment::events{});
    detail::register_events(c, shop::warehouse::events{});
    detail::register_events(c, shop::shipment::events{});
    detail::register_events(c, shop::order_saga::events{});
    detail::register_events(c, shop::order_saga::inputs{});
    detail::register_events(c, hotel::guest_account::events{});
    detail::register_events(c, hotel::group_checkout::events{});
    detail::register_events(c, hotel::group_checkout::inputs{});
    c.add<step_record>(step_record::event_name);
    c.add<process_completed>(process_completed::event_name);
    c.add<outcome_reacted>(outcome_reacted::event_name);
    c.add<deadline_scheduled>(deadline_scheduled::event_name);
    c.add<deadline_cleared>(deadline_cleared::event_name);
    return c;
  }();
  return instance;
}

std::string stage_name(shop::order_stage x) {
  const char* names[] = {"none",
                         "initialising",
                         "requesting_payment",
                         "finalising_payment",
                         "recording_payment",
                         "reserving",
                         "shipping",
                         "completing",
                         "cancelling",
                         "discarding_payment",
                         "completed",
                         "cancelled",
                         "failed"};
  auto i = static_cast<size_t>(x);
  return i < std::size(names) ? names[i] : std::to_string(i);
}

std::string step_label(bool on_input,
                       const std::vector<std::pair<std::string, bool>>& xs) {
  std::vector<std::string> parts;
  for (auto& [stream, accepted] : xs)
    parts.push_back(stream + (accepted ? "+" : "-"));
  return std::string{"step"} + (on_input ? "@in" : "") + "[" + join(parts, " ")
         + "]";
}

/// Decodes `ev` into `out`, or records a problem.
template <class T>
bool decode(const stored_event& ev, T& out,
            std::vector<std::string>& problems) {
  auto x = all_events().decode<T>(ev);
  if (!x) {
    problems.push_back(journal::codec::where(ev) + ": " + describe(x.error()));
    return false;
  }
  out = std::move(*x);
  return true;
}

/// The event as the checks compare it: its type name, with the fields that
/// tell one occurrence from another.
std::string label(const stored_event& ev, std::vector<std::string>& problems) {
  auto& type = ev.record.type;
  if (!all_events().knows(type)) {
    problems.push_back(journal::codec::where(ev) + ": unknown type " + type);
    return type;
  }
  if (type == step_record::event_name) {
    step_record x;
    if (!decode(ev, x, problems))
      return type;
    std::vector<std::pair<std::string, bool>> outcomes;
    for (auto& o : x.outcomes)
      outcomes.emplace_back(o.stream, o.accepted);
    return step_label(x.input_position > 0, outcomes);
  }
  if (type == shop::order_stage_entered::event_name) {
    shop::order_stage_entered x;
    return decode(ev, x, problems) ? "stage:" + stage_name(x.stage) : type;
  }
  if (type == shop::products_reserved::event_name) {
    shop::products_reserved x;
    return decode(ev, x, problems) ? type + ":" + x.order : type;
  }
  if (type == hotel::group_checkout_started::event_name) {
    hotel::group_checkout_started x;
    return decode(ev, x, problems) ? type + ":" + join(x.accounts, ",") : type;
  }
  if (type == hotel::guest_checkout_completed::event_name) {
    hotel::guest_checkout_completed x;
    return decode(ev, x, problems) ? type + ":" + x.account : type;
  }
  if (type == hotel::guest_checkout_failed::event_name) {
    hotel::guest_checkout_failed x;
    return decode(ev, x, problems) ? type + ":" + x.account : type;
  }
  if (type == hotel::group_checkout_failed::event_name) {
    hotel::group_checkout_failed x;
    return decode(ev, x, problems) ? type + ":" + join(x.failures, ",") : type;
  }
  return type;
}

// -- what each process leads to -----------------------------------------------

/// The events a process leads to, per stream, as labels.
struct expectation {
  std::string manager;
  std::string input;
  uint64_t inputs = 1;
  /// The manager's stream, then the streams of the aggregates it commands
  /// alone (the shared warehouse is checked on its own).
  std::map<std::string, std::vector<std::string>> streams;
};

/// A step of the order saga: the stage it enters and its command's outcome.
void order_step(std::vector<std::string>& m, shop::order_stage x,
                const std::string& target, bool accepted) {
  m.push_back("stage:" + stage_name(x));
  m.push_back(outcome_reacted::event_name);
  m.push_back(step_label(false, {{target, accepted}}));
}

expectation expect_order(const order_item& o) {
  using namespace shop;
  using st = order_stage;
  expectation result;
  result.manager = stream_of<order_saga>(o.id);
  result.input = cart_stream(o.id);
  result.inputs = o.confirmed_twice ? 2 : 1;
  auto order = stream_of<shop::order>(o.id);
  auto pay = stream_of<payment>(o.id);
  auto ship = stream_of<shipment>(o.id);
  auto store = stream_of<warehouse>(warehouse_id);
  auto& m = result.streams[result.manager];
  auto& os = result.streams[order];
  auto& ps = result.streams[pay];
  auto& ss = result.streams[ship];
  auto ends = [&m](st x) {
    m.push_back("stage:" + stage_name(x));
    m.push_back(outcome_reacted::event_name);
    m.push_back(process_completed::event_name);
    m.push_back(step_label(false, {}));
  };
  m.push_back(order_process_started::event_name);
  auto initialised = o.kind != order_kind::empty;
  m.push_back(step_label(true, {{order, initialised}}));
  if (!initialised) {
    ends(st::cancelled);
    return result;
  }
  os.push_back(order_initialised::event_name);
  auto free = o.kind == order_kind::free;
  order_step(m, st::requesting_payment, pay, !free);
  if (free) {
    order_step(m, st::cancelling, order, true);
    os.push_back(order_cancelled::event_name);
    ends(st::cancelled);
    return result;
  }
  ps.push_back(payment_requested::event_name);
  order_step(m, st::finalising_payment, pay, true);
  ps.push_back(payment_finalised::event_name);
  order_step(m, st::recording_payment, order, true);
  os.push_back(order_paid::event_name);
  auto happy = o.kind == order_kind::happy;
  order_step(m, st::reserving, store, happy);
  if (!happy) {
    order_step(m, st::cancelling, order, true);
    os.push_back(order_cancelled::event_name);
    order_step(m, st::discarding_payment, pay, true);
    ps.push_back(payment_discarded::event_name);
    ends(st::cancelled);
    return result;
  }
  order_step(m, st::shipping, ship, true);
  ss.push_back(package_sent::event_name);
  order_step(m, st::completing, order, true);
  os.push_back(order_completed::event_name);
  ends(st::completed);
  return result;
}

expectation expect_group(const group_item& g,
                         const std::map<std::string, account_item>& accounts) {
  using namespace hotel;
  expectation result;
  result.manager = stream_of<group_checkout>(g.id);
  result.input = frontdesk_stream(g.id);
  result.inputs = g.requested_twice ? 2 : 1;
  std::set<std::string> ids{g.listed.begin(), g.listed.end()};
  auto& m = result.streams[result.manager];
  m.push_back(std::string{group_checkout_started::event_name} + ":"
              + join({ids.begin(), ids.end()}, ","));
  std::vector<std::pair<std::string, bool>> outcomes;
  for (auto& id : ids) {
    auto& a = accounts.at(id);
    auto stream = stream_of<guest_account>(id);
    outcomes.emplace_back(stream, a.settled());
    auto& s = result.streams[stream];
    s.push_back(guest_checked_in::event_name);
    s.push_back(guest_charged::event_name);
    if (a.paid > 0)
      s.push_back(guest_paid::event_name);
    if (a.settled())
      s.push_back(guest_checked_out::event_name);
  }
  m.push_back(step_label(true, outcomes));
  std::vector<std::string> failures;
  size_t n = 0;
  for (auto& id : ids) {
    auto ok = accounts.at(id).settled();
    m.push_back(std::string{ok ? guest_checkout_completed::event_name
                               : guest_checkout_failed::event_name}
                + ":" + id);
    if (!ok)
      failures.push_back(id);
    auto last = ++n == ids.size();
    if (last) {
      if (failures.empty())
        m.push_back(group_checkout_completed::event_name);
      else
        m.push_back(std::string{group_checkout_failed::event_name} + ":"
                    + join(failures, ","));
    }
    m.push_back(outcome_reacted::event_name);
    if (last)
      m.push_back(process_completed::event_name);
    m.push_back(step_label(false, {}));
  }
  return result;
}

// -- reading and checking the journal -----------------------------------------

/// Event types that only a command of a step produces.
const std::set<std::string>& command_event_types() {
  static const std::set<std::string> instance{
    shop::order_initialised::event_name, shop::order_paid::event_name,
    shop::order_completed::event_name,   shop::order_cancelled::event_name,
    shop::payment_requested::event_name, shop::payment_finalised::event_name,
    shop::payment_discarded::event_name, shop::products_reserved::event_name,
    shop::package_sent::event_name,      hotel::guest_checked_out::event_name};
  return instance;
}

bool is_manager(const std::string& stream) {
  auto cat = journal::category_of(stream);
  return cat == shop::order_saga::category
         || cat == hotel::group_checkout::category;
}

/// What one look at the journal found.
struct journal_view {
  /// Every stream's events in version order.
  std::map<std::string, std::vector<stored_event>> streams;
  uint64_t events = 0;
  uint64_t steps = 0;
};

/// Walks the global log and checks that every step is whole: the manager's
/// events of the step, its step record, then one event per accepted command
/// on the stream the record names, at consecutive positions; and that no
/// event of a command stands outside such a step.
void check_log(const journal::journal& j, journal_view& view,
               std::vector<std::string>& problems) {
  // The open step: the manager stream whose events came last and have not
  // met their step record yet.
  std::string run;
  uint64_t run_from = 0;
  // After a step record: the streams of its accepted commands, in order.
  std::deque<std::string> followers;
  uint64_t record_at = 0;
  std::string record_of;
  uint64_t last = 0;
  auto close_run = [&](const std::string& why) {
    if (!run.empty())
      problems.push_back("events of " + run + " from position "
                         + std::to_string(run_from)
                         + " have no step record: " + why);
    run.clear();
  };
  for (uint64_t next = 1;;) {
    auto slice = j.read_all(next, 4096);
    if (!slice) {
      problems.push_back("read_all: " + describe(slice.error()));
      return;
    }
    if (slice->events.empty())
      break;
    next = slice->next_position;
    for (auto& ev : slice->events) {
      ++view.events;
      auto where = journal::codec::where(ev) + " (position "
                   + std::to_string(ev.position) + ")";
      if (ev.position != last + 1)
        problems.push_back(where + " follows position " + std::to_string(last));
      last = ev.position;
      view.streams[ev.stream].push_back(ev);
      auto& type = ev.record.type;
      if (!followers.empty()) {
        auto want = followers.front();
        followers.pop_front();
        if (ev.stream != want || command_event_types().count(type) == 0) {
          problems.push_back("the step record of " + record_of + " at position "
                             + std::to_string(record_at)
                             + " names an accepted command for " + want
                             + ", but " + where + " is a " + type);
          followers.clear();
        } else {
          if (type == shop::products_reserved::event_name) {
            shop::products_reserved x;
            if (decode(ev, x, problems)
                && stream_of<shop::order_saga>(x.order) != record_of)
              problems.push_back(where + " reserves for order " + x.order
                                 + ", but follows the step of " + record_of);
          }
          continue;
        }
      }
      if (is_manager(ev.stream)) {
        if (!run.empty() && run != ev.stream)
          close_run(where + " comes in between");
        if (type == step_record::event_name) {
          ++view.steps;
          step_record x;
          if (decode(ev, x, problems))
            for (auto& o : x.outcomes)
              if (o.accepted)
                followers.push_back(o.stream);
          record_at = ev.position;
          record_of = ev.stream;
          run.clear();
        } else if (run.empty()) {
          run = ev.stream;
          run_from = ev.position;
        }
        continue;
      }
      close_run(where + " comes in between");
      if (command_event_types().count(type) > 0)
        problems.push_back(where + " is a " + type
                           + " that no step record names before it");
    }
  }
  close_run("the log ends");
  if (!followers.empty())
    problems.push_back("the step record of " + record_of + " at position "
                       + std::to_string(record_at) + " names accepted commands "
                       + "for "
                       + join({followers.begin(), followers.end()}, ", ")
                       + ", but the log ends");
}

std::vector<std::string> labels_of(const journal_view& view,
                                   const std::string& stream,
                                   std::vector<std::string>& problems) {
  std::vector<std::string> result;
  auto i = view.streams.find(stream);
  if (i == view.streams.end())
    return result;
  uint64_t version = 0;
  for (auto& ev : i->second) {
    if (ev.version != ++version)
      problems.push_back(journal::codec::where(ev) + " in place of version "
                         + std::to_string(version));
    result.push_back(label(ev, problems));
  }
  return result;
}

/// Compares `got` with `want`: equal when `whole`, else a prefix.
void compare(const std::string& stream, const std::vector<std::string>& got,
             const std::vector<std::string>& want, bool whole,
             std::vector<std::string>& problems) {
  size_t n = std::min(got.size(), want.size());
  for (size_t k = 0; k < n; ++k)
    if (got[k] != want[k]) {
      problems.push_back(stream + " version " + std::to_string(k + 1) + " is "
                         + got[k] + ", expected " + want[k]);
      return;
    }
  if (got.size() > want.size())
    problems.push_back(stream + " has " + std::to_string(got.size())
                       + " events, its process leads to "
                       + std::to_string(want.size()) + "; version "
                       + std::to_string(want.size() + 1) + " is "
                       + got[want.size()]);
  else if (whole && got.size() < want.size())
    problems.push_back(stream + " has " + std::to_string(got.size())
                       + " events of " + std::to_string(want.size())
                       + "; the next should be " + want[got.size()]);
}

/// Checks one process's streams; returns whether it is complete.
bool check_process(const journal_view& view, const expectation& e, bool final,
                   std::vector<std::string>& problems) {
  auto mgr = labels_of(view, e.manager, problems);
  auto complete
    = std::count(mgr.begin(), mgr.end(), process_completed::event_name) > 0;
  if (final && !complete)
    problems.push_back(e.manager + " is not complete: "
                       + std::to_string(mgr.size()) + " events");
  for (auto& [stream, want] : e.streams)
    compare(stream, labels_of(view, stream, problems), want, complete || final,
            problems);
  // The inputs: the driver publishes each once, at its version.
  auto in = view.streams.find(e.input);
  auto inputs = in == view.streams.end() ? 0 : in->second.size();
  if (inputs > e.inputs || (final && inputs != e.inputs))
    problems.push_back(e.input + " has " + std::to_string(inputs)
                       + " inputs, the work publishes "
                       + std::to_string(e.inputs));
  if (mgr.empty())
    return complete;
  // The step on an input reacted to the first input of its stream.
  auto& evs = view.streams.at(e.manager);
  for (auto& ev : evs) {
    if (ev.record.type != step_record::event_name)
      continue;
    step_record x;
    if (!decode(ev, x, problems) || x.input_position == 0)
      continue;
    if (inputs == 0 || in->second.front().position != x.input_position)
      problems.push_back(journal::codec::where(ev) + " reacted to position "
                         + std::to_string(x.input_position)
                         + ", not to the first input on " + e.input);
  }
  return complete;
}

/// Checks the shared warehouse: the stock, then one reservation per happy
/// order (exactly one once the order's process is complete).
void check_warehouse(const journal_view& view, const work& w,
                     const std::set<std::string>& complete, bool final,
                     std::vector<std::string>& problems) {
  auto stream = stream_of<shop::warehouse>(shop::warehouse_id);
  auto got = labels_of(view, stream, problems);
  auto has_setup = !got.empty();
  // The setup group writes the warehouse and the accounts together.
  for (auto& a : w.accounts) {
    auto s = stream_of<hotel::guest_account>(a.id);
    if ((view.streams.count(s) > 0) != has_setup)
      problems.push_back(s + (has_setup ? " is missing" : " exists") + " while "
                         + stream + (has_setup ? " exists" : " is missing"));
  }
  if (!has_setup) {
    if (final)
      problems.push_back(stream + " is missing");
    return;
  }
  std::vector<std::string> stock(w.stock.size(), shop::stock_added::event_name);
  std::vector<std::string> head(
    got.begin(), got.begin() + std::min(got.size(), stock.size()));
  compare(stream, head, stock, true, problems);
  std::map<std::string, size_t> reserved;
  for (size_t k = stock.size(); k < got.size(); ++k) {
    auto prefix = std::string{shop::products_reserved::event_name} + ":";
    if (got[k].compare(0, prefix.size(), prefix) != 0)
      problems.push_back(stream + " version " + std::to_string(k + 1) + " is "
                         + got[k]);
    else
      ++reserved[got[k].substr(prefix.size())];
  }
  for (auto& o : w.orders) {
    auto n = reserved.count(o.id) > 0 ? reserved[o.id] : 0;
    auto happy = o.kind == order_kind::happy;
    auto whole = final || complete.count(stream_of<shop::order_saga>(o.id)) > 0;
    if (n > (happy ? 1u : 0u) || (whole && n != (happy ? 1u : 0u)))
      problems.push_back(stream + " reserves " + std::to_string(n)
                         + " times for " + to_string(o.kind) + " order "
                         + o.id);
  }
}

/// Everything the test expects of the work.
struct plan {
  work w;
  std::vector<expectation> processes;
  std::set<std::string> known_streams;

  explicit plan(uint64_t seed) : w(make_work(seed)) {
    std::map<std::string, account_item> accounts;
    for (auto& a : w.accounts)
      accounts.emplace(a.id, a);
    for (auto& o : w.orders)
      processes.push_back(expect_order(o));
    for (auto& g : w.groups)
      processes.push_back(expect_group(g, accounts));
    known_streams.insert(stream_of<shop::warehouse>(shop::warehouse_id));
    for (auto& e : processes) {
      known_streams.insert(e.input);
      for (auto& [stream, labels] : e.streams)
        known_streams.insert(stream);
    }
  }
};

/// Opens the journal read-only and checks it; `done` lists the completions
/// the driver reported. Returns the problems; sets `complete_count`.
std::vector<std::string> check_journal(const std::string& dir, const plan& p,
                                       const std::set<std::string>& done,
                                       bool final, size_t& complete_count,
                                       journal_view& view) {
  std::vector<std::string> problems;
  journal::options opts;
  opts.read_only = true;
  opts.create = false;
  auto j = journal::journal::open(dir, opts);
  if (!j) {
    problems.push_back("open: " + describe(j.error()));
    return problems;
  }
  check_log(**j, view, problems);
  for (auto& [stream, evs] : view.streams)
    if (p.known_streams.count(stream) == 0)
      problems.push_back("unexpected stream " + stream + " with "
                         + std::to_string(evs.size()) + " events");
  std::set<std::string> complete;
  for (auto& e : p.processes)
    if (check_process(view, e, final, problems))
      complete.insert(e.manager);
  check_warehouse(view, p.w, complete, final, problems);
  for (auto& stream : done)
    if (complete.count(stream) == 0)
      problems.push_back("the driver reported " + stream
                         + " done, the journal does not hold its completion");
  complete_count = complete.size();
  return problems;
}

/// Names the processes whose input is in the journal but which are not
/// complete, with their input's position and each router's checkpoint.
std::string describe_unfinished(const std::string& dir, const plan& p,
                                const journal_view& view) {
  std::string result;
  journal::options opts;
  opts.read_only = true;
  opts.create = false;
  if (auto j = journal::journal::open(dir, opts)) {
    for (auto cat :
         {shop::order_saga::category, hotel::group_checkout::category}) {
      auto cp = (*j)->checkpoint(router_checkpoint_of(cat));
      result += std::string{"router checkpoint of "} + cat + ": "
                + (cp && *cp ? std::to_string(**cp) : "none") + "\n";
    }
  }
  for (auto& e : p.processes) {
    auto in = view.streams.find(e.input);
    if (in == view.streams.end())
      continue;
    auto m = view.streams.find(e.manager);
    auto n = m == view.streams.end() ? 0 : m->second.size();
    if (n >= 2 && m->second[n - 2].record.type == process_completed::event_name)
      continue;
    result += e.manager + ": " + std::to_string(n)
              + " events, its input at position "
              + std::to_string(in->second.front().position) + "\n";
  }
  return result;
}

std::string head_of(const std::vector<std::string>& xs, size_t max = 20) {
  std::string result;
  for (size_t i = 0; i < xs.size() && i < max; ++i)
    result += xs[i] + "\n";
  if (xs.size() > max)
    result += "... and " + std::to_string(xs.size() - max) + " more\n";
  return result;
}

// -- the driver's output ------------------------------------------------------

std::vector<std::string> words(const std::string& line) {
  std::istringstream in{line};
  std::vector<std::string> result;
  for (std::string w; in >> w;)
    result.push_back(std::move(w));
  return result;
}

/// What one run of the driver printed.
struct run_report {
  bool ready = false;
  /// Committed steps the driver reported.
  size_t steps = 0;
  bool finished = false;
  std::set<std::string> done;
};

run_report read_report(const std::vector<std::string>& lines,
                       std::vector<std::string>& problems) {
  run_report result;
  for (auto& line : lines) {
    auto w = words(line);
    if (w.size() == 4 && w[0] == "ready" && w[3] == ".")
      result.ready = true;
    else if (w.size() == 4 && w[0] == "step" && w[3] == ".")
      ++result.steps;
    else if (w.size() == 3 && w[0] == "done" && w[2] == ".")
      result.done.insert(w[1]);
    else if (w.size() == 2 && w[0] == "finished" && w[1] == ".")
      result.finished = true;
    else
      problems.push_back("the driver reports: " + line);
  }
  return result;
}

/// The seed of this run: `CAIRN_SEED` if set, else a fresh one, so that
/// every run kills the driver at other moments of other work.
uint64_t pick_seed() {
  if (auto str = std::getenv("CAIRN_SEED"))
    return std::strtoull(str, nullptr, 10);
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) | rd();
}

} // namespace

TEST_CASE("process managers killed at random moments commit every step "
          "whole and bring each process to its end exactly once") {
  using clock = std::chrono::steady_clock;
  auto seed = pick_seed();
  std::cout << "saga crash test: seed " << seed << " (set CAIRN_SEED to repeat)"
            << std::endl;
  INFO("seed " << seed << " (set CAIRN_SEED to repeat)");
  std::mt19937_64 rng{seed};
  temp_dir tmp;
  auto driver = bin_path("cairn-saga-crash-driver");
  auto cli = bin_path("cairn-journal");
  REQUIRE(::access(driver.c_str(), X_OK) == 0);
  REQUIRE(::access(cli.c_str(), X_OK) == 0);
  // Killed while work is in flight at least this many times: a kill counts
  // only if the driver reported a committed step or a completion since its
  // start and the work was not done yet. Kills go on until then, or until
  // the cap of rounds or the time budget is reached. Each episode is one
  // work (seed + episode) in its own journal, run to its end; a fast
  // machine may finish a work before the kills are made, and then the next
  // episode goes on.
  constexpr size_t kills_wanted = 60;
  constexpr size_t max_kill_rounds = 200;
  // Instrumented builds (sanitizers) start and run the driver slower.
  constexpr auto kill_budget = std::chrono::seconds{40 * CAIRN_TEST_SLOWDOWN};
  auto start = clock::now();
  size_t kills = 0;
  size_t kills_in_flight = 0;
  size_t kills_before_ready = 0;
  size_t processes = 0;
  size_t steps = 0;
  size_t events = 0;
  auto counts = [](const std::string& line) {
    return line.compare(0, 5, "step ") == 0
           || line.compare(0, 6, "ready ") == 0;
  };
  auto kills_wanted_left = [&] { return kills_in_flight < kills_wanted; };
  size_t round = 1;
  size_t episode = 0;
  for (bool more = true; more; ++episode) {
    auto work_seed = seed + episode;
    INFO("episode " << episode << ", work seed " << work_seed);
    plan p{work_seed};
    auto dir = tmp.sub("journal-" + std::to_string(episode));
    size_t complete = 0;
    journal_view view;
    for (bool finished = false; !finished; ++round) {
      bool killing = kills_wanted_left() && round <= max_kill_rounds
                     && clock::now() - start < kill_budget;
      // The round after the kills runs to the end (or fails the checks).
      REQUIRE(round <= max_kill_rounds + 1);
      cairn::test::kill_moment when;
      if (killing) {
        // Most rounds die right after the driver reported its first
        // committed step, some after a few; every fourth dies a random
        // time after its start, often while recovering, and counts only if
        // it got a step done before.
        if (round % 4 == 2)
          when.ms = std::uniform_int_distribution<int>{0, 100}(rng);
        else if (round % 4 == 0)
          when.lines = std::uniform_int_distribution<size_t>{3, 8}(rng);
        else
          when.lines = 2;
      }
      std::vector<std::string> argv{driver, dir, std::to_string(work_seed)};
      if (round % 4 == 0)
        argv.emplace_back("max-active=6");
      if (round % 5 == 0)
        argv.emplace_back("window=24");
      cairn::test::killed_run res;
      {
        child_process child{argv};
        res = cairn::test::kill_at(child, when, counts, 30000);
      }
      INFO("round " << round << ", killed " << when.to_string() << ", "
                    << res.lines.size() << " lines, " << kills << " kills ("
                    << kills_in_flight << " in flight) so far");
      INFO("last line: " << (res.lines.empty() ? "(none)" : res.lines.back()));
      std::vector<std::string> problems;
      auto report = read_report(res.lines, problems);
      bool killed = WIFSIGNALED(res.status);
      if (killed) {
        REQUIRE(WTERMSIG(res.status) == SIGKILL);
        ++kills;
        if (!report.ready)
          ++kills_before_ready;
      } else {
        REQUIRE(WIFEXITED(res.status));
        REQUIRE(WEXITSTATUS(res.status) == 0);
        REQUIRE(report.finished);
        finished = true;
      }
      view = journal_view{};
      auto more_problems
        = check_journal(dir, p, report.done, finished, complete, view);
      problems.insert(problems.end(), more_problems.begin(),
                      more_problems.end());
      if (res.stalled)
        problems.push_back("the driver printed nothing for 30 s with "
                           + std::to_string(complete) + " of "
                           + std::to_string(p.processes.size())
                           + " processes complete; unfinished:\n"
                           + describe_unfinished(dir, p, view));
      auto verify = cairn::test::run({cli, "verify", dir});
      if (verify.exit_code != 0)
        problems.push_back("cairn-journal verify: " + verify.output);
      INFO(head_of(problems));
      REQUIRE(problems.empty());
      // In flight: the driver reported a committed step or completion since
      // this start, and work was left when it died.
      if (killed && (report.steps > 0 || !report.done.empty())
          && !report.finished && complete < p.processes.size())
        ++kills_in_flight;
    }
    CHECK(complete == p.processes.size());
    processes += p.processes.size();
    steps += view.steps;
    events += view.events;
    more = kills_wanted_left() && round <= max_kill_rounds
           && clock::now() - start < kill_budget;
  }
  auto secs = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now()
                                                                    - start)
                .count()
              / 1000.0;
  std::cout << "saga crash test: seed " << seed << ", " << kills_in_flight
            << " kills in flight of " << kills << " (" << kills_before_ready
            << " before the driver was ready) in " << round - 1 << " rounds, "
            << episode << " works, " << secs << " s; " << processes
            << " processes, " << steps << " steps, " << events << " events"
            << std::endl;
  INFO(kills_in_flight << " kills in flight of " << kills << " in " << round - 1
                       << " rounds and " << secs
                       << " s (the cap: " << max_kill_rounds << " rounds, "
                       << kill_budget.count() << " s)");
  CHECK(kills_in_flight >= kills_wanted);
}
