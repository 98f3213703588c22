#include "bench/raw_actors.hpp"

#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "caf/all.hpp"

#include "bench/bench.hpp"
#include "bench/bench_aggregate.hpp"
#include "cairn/actors/scheduler.hpp"

namespace cairn::bench {

namespace {

/// An entity's event for the store.
using raw_append_atom = caf::atom_constant<caf::atom("b_rappend")>;
/// The store's message to itself: commit what is buffered.
using raw_flush_atom = caf::atom_constant<caf::atom("b_rflush")>;
/// Asks the store for its commits and events so far.
using raw_stats_atom = caf::atom_constant<caf::atom("b_rstats")>;

// -- the store ----------------------------------------------------------------

struct store_state {
  std::shared_ptr<raw_lmdb> db;
  bool syncs = true;
  std::vector<std::string> events;
  std::vector<caf::typed_response_promise<bool>> waiting;
  bool flush_pending = false;
  uint64_t commits = 0;
  uint64_t committed = 0;
  static inline const char* name = "cairn.bench.raw_store";
};

using store_pointer = caf::stateful_actor<store_state>*;

/// Commits every buffered event in one transaction, then answers each
/// writer: `true`, or the error of the commit.
void flush(store_pointer self) {
  auto& st = self->state;
  if (st.events.empty())
    return;
  auto events = std::move(st.events);
  auto waiting = std::move(st.waiting);
  st.events.clear();
  st.waiting.clear();
  caf::error err;
  {
    std::optional<disk_wait> wait;
    if (st.syncs)
      wait.emplace();
    try {
      st.db->append(events);
    } catch (const std::exception& e) {
      err = caf::make_error(caf::sec::runtime_error,
                            std::string{"raw store: "} + e.what());
    }
  }
  if (!err) {
    ++st.commits;
    st.committed += events.size();
  }
  for (auto& rp : waiting)
    if (err)
      rp.deliver(err);
    else
      rp.deliver(true);
}

caf::behavior store_impl(store_pointer self, std::shared_ptr<raw_lmdb> db,
                         bool syncs) {
  self->state.db = std::move(db);
  self->state.syncs = syncs;
  return {
    [self](raw_append_atom, std::string& event) -> caf::result<bool> {
      auto& st = self->state;
      // As many events per commit as the coordinator takes at most.
      if (st.events.size() >= coordinator_settings{}.max_batch_events)
        flush(self);
      st.events.push_back(std::move(event));
      st.waiting.push_back(self->make_response_promise<bool>());
      // Everything already in the mailbox joins this commit.
      if (!st.flush_pending) {
        st.flush_pending = true;
        self->send(self, raw_flush_atom::value);
      }
      return st.waiting.back();
    },
    [self](raw_flush_atom) {
      self->state.flush_pending = false;
      flush(self);
    },
    [self](raw_stats_atom) {
      return caf::make_message(self->state.commits, self->state.committed);
    },
  };
}

// -- an entity ----------------------------------------------------------------

struct entity_state {
  int64_t value = 0;
  caf::actor store;
  std::shared_ptr<const std::string> event;
  static inline const char* name = "cairn.bench.raw_entity";
};

using entity_pointer = caf::stateful_actor<entity_state>*;

caf::behavior entity_impl(entity_pointer self, caf::actor store,
                          std::shared_ptr<const std::string> event) {
  self->state.store = std::move(store);
  self->state.event = std::move(event);
  return {
    [self](bench_add_atom, int64_t x) -> caf::result<int64_t> {
      auto& st = self->state;
      auto rp = self->make_response_promise<int64_t>();
      auto value = st.value + x;
      // The event is made per command, as an aggregate encodes its own.
      self
        ->request(st.store, caf::infinite, raw_append_atom::value,
                  std::string{*st.event})
        .then(
          [self, rp, value](bool) mutable {
            self->state.value = value;
            rp.deliver(value);
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
  };
}

} // namespace

std::string event_payload() {
  recorded e;
  e.seq = 1;
  e.kind = 1;
  e.text.fill('x');
  auto rec = codec_of<counter>().encode(e);
  if (rec.payload.size() != recorded_bytes)
    throw std::logic_error("the bench event encodes to "
                           + std::to_string(rec.payload.size()) + " bytes, not "
                           + std::to_string(recorded_bytes));
  return rec.payload;
}

caf::actor spawn_raw_store(caf::actor_system& sys, std::shared_ptr<raw_lmdb> db,
                           bool own_thread, bool syncs) {
  if (own_thread)
    return sys.spawn<caf::detached>(store_impl, std::move(db), syncs);
  return sys.spawn(store_impl, std::move(db), syncs);
}

caf::actor spawn_raw_entity(caf::actor_system& sys, const caf::actor& store,
                            std::shared_ptr<const std::string> event) {
  return sys.spawn(entity_impl, store, std::move(event));
}

std::pair<uint64_t, uint64_t> fetch_raw_store_stats(caf::scoped_actor& self,
                                                    const caf::actor& store) {
  std::pair<uint64_t, uint64_t> result;
  caf::error err;
  self->request(store, std::chrono::seconds{60}, raw_stats_atom::value)
    .receive(
      [&](uint64_t commits, uint64_t events) {
        result = {commits, events};
      },
      [&](caf::error& e) { err = std::move(e); });
  if (err)
    throw std::runtime_error("raw store stats: " + caf::to_string(err));
  return result;
}

raw_actors_result run_raw_actors(const std::string& dir, uint64_t entities,
                                 const persist_loop_options& opts,
                                 const std::string& event) {
  raw_actors_result r;
  r.entities = entities;
  {
    caf::actor_system_config cfg;
    set_scheduler_policy(cfg, opts.scheduler);
    caf::actor_system sys{cfg};
    // Full sync: LMDB's default, without MDB_NOSYNC or MDB_NOMETASYNC.
    auto db = std::make_shared<raw_lmdb>(dir, opts.map_size, 0);
    auto store = spawn_raw_store(sys, std::move(db),
                                 opts.commit_thread == "own", true);
    exit_guard guard;
    guard.add(store);
    auto shared_event = std::make_shared<const std::string>(event);
    std::vector<caf::actor> actors;
    for (uint64_t i = 0; i < entities; ++i)
      actors.push_back(spawn_raw_entity(sys, store, shared_event));
    guard.add(actors);
    std::vector<std::shared_ptr<load_result>> results;
    auto clients
      = spawn_target_clients(sys, actors, opts.max_clients, results);
    guard.add(clients);
    {
      caf::scoped_actor self{sys};
      for (int i = 0; i < 2; ++i)
        sweep(self, clients, entities);
      auto rounds = std::max<uint64_t>(opts.rounds, 1);
      auto before = fetch_raw_store_stats(self, store);
      for (uint64_t i = 0; i < rounds; ++i) {
        auto cpu = process_cpu_seconds();
        r.seconds += timed_run(self, clients, opts.seconds / rounds);
        r.cpu_seconds += process_cpu_seconds() - cpu;
      }
      auto after = fetch_raw_store_stats(self, store);
      r.commits = after.first - before.first;
      r.events = after.second - before.second;
      auto sum = merge_results(results);
      r.commands = sum.completed;
      r.p50_us = percentile(sum.latency_us, 50);
      r.p99_us = percentile(sum.latency_us, 99);
      if (r.events != r.commands)
        throw std::runtime_error(
          "raw actors, N = " + std::to_string(entities) + ": "
          + std::to_string(r.commands) + " commands answered but "
          + std::to_string(r.events) + " events committed");
    }
  }
  remove_tree(dir);
  return r;
}

} // namespace cairn::bench
