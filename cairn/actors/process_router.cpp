#include "cairn/actors/process_router.hpp"

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <list>
#include <map>
#include <set>
#include <unordered_map>

#include "caf/all.hpp"

#include "cairn/actors/aggregate.hpp"
#include "cairn/actors/atoms.hpp"
#include "cairn/actors/cluster/node.hpp"
#include "cairn/actors/process_manager.hpp"
#include "cairn/actors/runtime.hpp"
#include "cairn/journal/codec.hpp"
#include "cairn/journal/errc.hpp"
#include "cairn/journal/log.hpp"

namespace cairn {

namespace {

/// Where an input is in the log.
struct input_ref {
  std::string stream;
  uint64_t version = 0;
  uint64_t position = 0;
  std::string type;
};

input_ref ref_of(const journal::stored_event& ev) {
  return {ev.stream, ev.version, ev.position, ev.record.type};
}

/// The corrupt record at `position`: its stream and version as the error
/// (`stream S version V: ...`) names them.
input_ref corrupt_ref(uint64_t position, const caf::error& err) {
  input_ref in;
  in.position = position;
  in.type = "(corrupt record)";
  auto text = context_of(err);
  auto s = text.find("stream ");
  auto v = s == std::string::npos ? s : text.find(" version ", s);
  if (v != std::string::npos) {
    in.stream = text.substr(s + 7, v - s - 7);
    in.version = std::strtoull(text.c_str() + v + 9, nullptr, 10);
  }
  return in;
}

/// Called with none once the instance acknowledged an input, else with the
/// error that ended its delivery.
using delivery_done = std::function<void(const caf::error&)>;

/// An input waiting for the delivery before it to the same instance id.
struct waiting_input {
  caf::message msg;
  delivery_done done;
};

/// What the router keeps per instance id. An instance takes its inputs in
/// log order only if they reach it in that order, so one input per id is
/// under way at a time, whichever way it goes: to the instance directly,
/// through the registry, or again after bouncing off a stopping instance;
/// the next wait here. (An instance that took an input of a later position
/// takes an earlier one as already had.) The instance that took the last
/// input gets the next one directly, past the registry; it tells the router
/// when it stops (`forget_instance_atom`), which drops it, so that a
/// stopped instance is freed. An input sent to it before that message
/// arrived comes back unprocessed and goes through the registry; one it
/// held when it stopped (CAF 0.17 answers nothing for a dead actor's
/// promises) goes through the registry when that message arrives.
struct lane {
  caf::actor instance;
  bool busy = false;
  /// While busy: the input under way, the number of its current attempt
  /// (an answer to an attempt given up is dropped), and the instance the
  /// attempt went to directly (null: through the registry).
  waiting_input current;
  uint64_t attempt = 0;
  caf::actor_addr sent_to;
  std::list<waiting_input> waiting;
};

/// What the router adds to its subscription.
struct router_core {
  std::string category;
  /// The node whose log the router reads; empty: its own node's.
  std::string source;
  caf::actor registry;
  input_dispatch dispatch;
  router_settings settings;
  uint64_t failed_inputs = 0;
  uint64_t undecodable_inputs = 0;
  uint64_t dead_letters = 0;
  uint64_t bounces = 0;
  uint64_t replayed = 0;
  /// Keys of dead letters being replayed.
  std::set<std::string> replaying;
  /// Deliveries waiting for their delay after a bounce, by ticket.
  std::map<uint64_t, std::function<void()>> delayed;
  uint64_t next_ticket = 0;
  /// The instance ids with a delivery under way or known instances, by id.
  std::unordered_map<std::string, lane> lanes;
};

using core_ptr = std::shared_ptr<router_core>;

/// Tells a router that the instance of an id stopped: (atom, id, the
/// instance's address).
using forget_instance_atom = caf::atom_constant<caf::atom("c_rforget")>;

/// Remembers `hdl` as the instance of `id`, whose delivery is under way;
/// it tells the router (`self`) when it stops.
void remember_instance(caf::event_based_actor* self, const core_ptr& core,
                       const std::string& id, caf::actor hdl) {
  auto& slot = core->lanes[id].instance;
  if (slot == hdl)
    return;
  slot = hdl;
  // Runs when the instance stops, on its way out (at once if it already
  // did). The router may be gone by then: the weak handle says so.
  auto router = caf::actor_cast<caf::weak_actor_ptr>(self->ctrl());
  hdl->attach_functor([router, id, addr{hdl.address()}] {
    if (auto strong = router.lock())
      caf::anon_send(caf::actor_cast<caf::actor>(strong),
                     forget_instance_atom::value, id, addr);
  });
}

/// Drops the lane of `i` once it holds nothing: no delivery, no instance.
void release_lane(const core_ptr& core,
                  std::unordered_map<std::string, lane>::iterator i) {
  auto& l = i->second;
  if (!l.busy && !l.instance && l.waiting.empty())
    core->lanes.erase(i);
}

int64_t now_ns() {
  using namespace std::chrono;
  return duration_cast<nanoseconds>(system_clock::now().time_since_epoch())
    .count();
}

/// Whether `err` says that the input bounced off an instance that was
/// stopping, so that its successor should get it.
bool bounced(const caf::error& err) {
  return err == caf::sec::request_receiver_down
         || code_of(err) == errc::entity_unavailable;
}

/// Wakes every instance with a scheduled deadline, so it arms its timer.
void wake_sleepers(caf::event_based_actor* self, const journal::journal& j,
                   const router_core& core) {
  auto rows = j.table_scan(deadline_table);
  if (!rows)
    return;
  auto prefix = core.category + "-";
  std::set<std::string> ids;
  for (auto& [key, due] : *rows)
    if (key.compare(0, prefix.size(), prefix) == 0)
      ids.insert(key.substr(prefix.size(), key.find('\n') - prefix.size()));
  for (auto& id : ids)
    self->send(core.registry, entity_id{id}, wake_atom::value);
}

void send_input(subscription_context ctx, const core_ptr& core,
                const std::string& id, uint32_t bounces, bool resolved = false);

/// The lane of `id` if its attempt under way is still `attempt`, else null.
lane* live_lane(const core_ptr& core, const std::string& id, uint64_t attempt) {
  auto i = core->lanes.find(id);
  if (i == core->lanes.end() || !i->second.busy || i->second.attempt != attempt)
    return nullptr;
  return &i->second;
}

/// Ends the delivery under way to `id` with `err` (none: acknowledged),
/// then starts the next one waiting for it.
void finish_input(subscription_context ctx, const core_ptr& core,
                  const std::string& id, const caf::error& err) {
  auto i = core->lanes.find(id);
  if (i == core->lanes.end())
    return;
  auto done = std::move(i->second.current.done);
  i->second.current = waiting_input{};
  i->second.sent_to = caf::actor_addr{};
  done(err);
  i = core->lanes.find(id);
  if (i == core->lanes.end())
    return;
  auto& l = i->second;
  if (l.waiting.empty()) {
    l.busy = false;
    release_lane(core, i);
    return;
  }
  l.current = std::move(l.waiting.front());
  l.waiting.pop_front();
  send_input(ctx, core, id, 0);
}

/// The input under way on the lane of `id` bounced off a stopping instance
/// (`err`): routes it again after a delay that doubles with each bounce,
/// or, after `max_bounces`, ends it with `err`.
void bounce_later(subscription_context ctx, const core_ptr& core,
                  const std::string& id, uint64_t attempt, uint32_t bounces,
                  const caf::error& err) {
  if (bounces >= core->settings.max_bounces) {
    finish_input(ctx, core, id, err);
    return;
  }
  ++core->bounces;
  auto delay = core->settings.bounce_delay * (int64_t{1} << bounces);
  auto ticket = core->next_ticket++;
  core->delayed.emplace(ticket, [ctx, core, id, attempt, bounces] {
    if (live_lane(core, id, attempt))
      send_input(ctx, core, id, bounces + 1);
  });
  ctx.self()->delayed_send(ctx.self(), delay, tick_atom::value, ticket);
}

/// Sends the input under way on the lane of `id` (a new attempt) to the
/// instance that took the last input; with none known, asks the registry
/// for the instance first (`resolved`: the instance known was named by the
/// registry for this input). The router watches every instance it sends
/// to: one that stops holding the input has it sent again. An input that
/// bounces off a stopping instance goes to the registry again at once if
/// the instance was known from before, after a delay if the registry had
/// just named it.
void send_input(subscription_context ctx, const core_ptr& core,
                const std::string& id, uint32_t bounces, bool resolved) {
  auto self = ctx.self();
  auto& l = core->lanes[id];
  auto attempt = ++l.attempt;
  if (auto hdl = l.instance) {
    l.sent_to = hdl.address();
    self->request(hdl, caf::infinite, l.current.msg)
      .then(
        [ctx, core, id, attempt]() {
          if (live_lane(core, id, attempt))
            finish_input(ctx, core, id, caf::none);
        },
        [ctx, core, id, attempt, bounces, resolved, hdl](caf::error& err) {
          auto l = live_lane(core, id, attempt);
          if (!l)
            return;
          if (!bounced(err)) {
            finish_input(ctx, core, id, err);
            return;
          }
          // Stopped or stopping since: the registry names its successor.
          if (l->instance == hdl)
            l->instance = nullptr;
          if (resolved)
            bounce_later(ctx, core, id, attempt, bounces, err);
          else
            send_input(ctx, core, id, bounces);
        });
    return;
  }
  // An input delegated through the registry would be answered by an
  // instance the router does not know: if that instance stopped before it
  // answered, the router would wait forever. So the registry only names
  // the instance (starting it if need be).
  l.sent_to = caf::actor_addr{};
  self
    ->request(core->registry, caf::infinite, resolve_atom::value,
              entity_id{id})
    .then(
      [ctx, core, id, attempt, bounces](caf::actor& hdl) {
        if (!live_lane(core, id, attempt))
          return;
        if (!hdl) {
          bounce_later(ctx, core, id, attempt, bounces,
                       make_error(errc::entity_unavailable,
                                  "the registry named no instance for " + id));
          return;
        }
        remember_instance(ctx.self(), core, id, std::move(hdl));
        send_input(ctx, core, id, bounces, true);
      },
      [ctx, core, id, attempt, bounces](caf::error& err) {
        if (!live_lane(core, id, attempt))
          return;
        if (!bounced(err))
          finish_input(ctx, core, id, err);
        else
          bounce_later(ctx, core, id, attempt, bounces, err);
      });
}

/// The instance at `addr`, which took the last input of `id`, stopped: the
/// next input goes through the registry, and so does the input under way
/// if the instance held it (it will not answer).
void instance_stopped(subscription_context ctx, const core_ptr& core,
                      const std::string& id, const caf::actor_addr& addr) {
  auto i = core->lanes.find(id);
  if (i == core->lanes.end())
    return;
  auto& l = i->second;
  if (l.instance.address() == addr)
    l.instance = nullptr;
  if (l.busy && l.sent_to == addr) {
    send_input(ctx, core, id, 0);
    return;
  }
  release_lane(core, i);
}

/// Hands `msg` to instance `id` once the inputs routed to it before have
/// had their answer; calls `done` with the outcome.
void deliver(subscription_context ctx, const core_ptr& core,
             const std::string& id, caf::message msg, delivery_done done) {
  auto& l = core->lanes[id];
  if (l.busy) {
    l.waiting.push_back(waiting_input{std::move(msg), std::move(done)});
    return;
  }
  l.busy = true;
  l.current = waiting_input{std::move(msg), std::move(done)};
  send_input(ctx, core, id, 0);
}

/// Commits `row` under `key` (or erases the row when `row` is none), then
/// calls `then`. A failed commit stops the router: nothing after the input
/// is acknowledged, so the next start delivers it again.
void write_row(subscription_context ctx, const core_ptr& core,
               const std::string& key, std::optional<dead_letter> row,
               std::function<void()> then) {
  journal::write_group g;
  journal::table_write w;
  w.table = dead_letter_table;
  w.key = key;
  if (row)
    w.value = journal::to_bytes(*row);
  else
    w.erase = true;
  g.tables.push_back(std::move(w));
  auto self = ctx.self();
  self->request(ctx.coordinator(), caf::infinite, commit_atom::value, g)
    .then([then](journal::group_receipt&) { then(); },
          [self, core, key](caf::error& err) {
            log::error("process_router." + core->category,
                       "cannot write dead letter " + key + ": "
                         + describe(err));
            self->quit(std::move(err));
          });
}

/// Parks an input as a dead letter with `err`, then acknowledges it.
void park(subscription_context ctx, const core_ptr& core, const input_ref& in,
          const caf::error& err, uint32_t attempts) {
  // An input from another node's log is parked under `category@node`: its
  // position is one of that log.
  auto manager = core->source.empty() ? core->category
                                      : core->category + "@" + core->source;
  auto key = dead_letter_key(manager, in.position);
  log::warning("process_router." + core->category,
               "input " + in.stream + " version " + std::to_string(in.version)
                 + " (" + in.type + ") at position "
                 + std::to_string(in.position) + " parked as dead letter " + key
                 + ": " + describe(err));
  dead_letter row{manager,       in.stream, in.version, in.position, in.type,
                  describe(err), now_ns(),  attempts,   false};
  write_row(ctx, core, key, std::move(row), [ctx, core, pos = in.position] {
    ++core->dead_letters;
    subscription_context{ctx}.ack(pos);
  });
}

/// The instance and message of an input: none if no instance consumes it.
caf::expected<std::optional<std::pair<std::string, caf::message>>>
dispatch(const core_ptr& core, const journal::stored_event& ev) {
  auto d = core->dispatch(ev);
  if (!d) {
    ++core->undecodable_inputs;
    return d;
  }
  if (*d) {
    auto& id = (*d)->first;
    auto size = core->category.size() + 1 + id.size();
    if (size > journal::max_stream_name_size)
      return make_error(errc::invalid_argument,
                        "the instance id of the input makes the stream name "
                          + core->category + "-" + id.substr(0, 32) + "... "
                          + std::to_string(size)
                          + " bytes long, over the maximum of "
                          + std::to_string(journal::max_stream_name_size)
                          + " (max_stream_name_size)");
  }
  return d;
}

void route(subscription_context ctx, const core_ptr& core,
           const journal::stored_event& ev) {
  auto pos = ev.position;
  auto d = dispatch(core, ev);
  if (!d) {
    park(ctx, core, ref_of(ev), d.error(), 0);
    return;
  }
  if (!*d) {
    ctx.ack(pos);
    return;
  }
  auto& [id, msg] = **d;
  if (!core->source.empty()) // the instance keeps a position per log
    msg = caf::make_message(input_atom::value, core->source, ev);
  deliver(ctx, core, std::move(id), std::move(msg),
          [ctx, core, in = ref_of(ev)](const caf::error& err) {
            if (!err) {
              subscription_context{ctx}.ack(in.position);
              return;
            }
            ++core->failed_inputs;
            park(ctx, core, in, err, 1);
          });
}

/// Re-delivers the dead letter `key` of this router.
void replay_one(subscription_context ctx, const core_ptr& core,
                const std::string& key, dead_letter row) {
  auto failed = [ctx, core, key, row](const caf::error& err) mutable {
    log::warning("process_router." + core->category,
                 "replay of dead letter " + key + " failed: " + describe(err));
    row.error = describe(err);
    row.time_ns = now_ns();
    ++row.attempts;
    row.replay = false;
    write_row(ctx, core, key, std::move(row),
              [core, key] { core->replaying.erase(key); });
  };
  auto slice = ctx.journal()->read_all(row.position, 1);
  if (!slice)
    return failed(slice.error());
  if (slice->events.empty() || slice->events.front().position != row.position)
    return failed(make_error(errc::not_found, "the input at position "
                                                + std::to_string(row.position)
                                                + " is no longer in the log"));
  auto& ev = slice->events.front();
  auto d = dispatch(core, ev);
  if (!d)
    return failed(d.error());
  auto done = [ctx, core, key, failed](const caf::error& err) mutable {
    if (err)
      return failed(err);
    write_row(ctx, core, key, std::nullopt, [core, key] {
      core->replaying.erase(key);
      ++core->replayed;
    });
  };
  if (!*d) // nothing consumes it any more: nothing to replay
    return done(caf::none);
  auto& [id, msg] = **d;
  deliver(ctx, core, std::move(id), caf::make_message(replay_atom::value) + msg,
          std::move(done));
}

/// Re-delivers the dead letters of this router marked for replay.
void replay_marked(subscription_context ctx, const core_ptr& core) {
  auto rows = dead_letters(*ctx.journal());
  if (!rows) {
    log::warning("process_router." + core->category,
                 "cannot read the dead letters: " + describe(rows.error()));
    return;
  }
  for (auto& [key, row] : *rows)
    if (row.manager == core->category && row.replay
        && core->replaying.insert(key).second)
      replay_one(ctx, core, key, std::move(row));
}

/// The handler factory of a router: its own node's router also wakes the
/// instances with deadlines and replays dead letters when it starts.
subscription_factory router_factory(core_ptr core) {
  return [core](subscription_context& ctx) {
    // Deliveries waiting for their delay or for their turn hold the core:
    // drop them when the router ends, or the core and all they hold would
    // keep each other alive.
    ctx.self()->attach_functor([core] {
      core->delayed.clear();
      core->lanes.clear();
    });
    if (core->source.empty()) {
      wake_sleepers(ctx.self(), *ctx.journal(), *core);
      replay_marked(ctx, core);
    }
    subscription_handler h;
    h.deliver = [ctx, core](std::vector<journal::stored_event>& events) {
      for (auto& ev : events)
        route(ctx, core, ev);
    };
    h.skipped = [ctx, core](uint64_t pos, const caf::error& err) {
      park(ctx, core, corrupt_ref(pos, err), err, 0);
    };
    h.extra = caf::message_handler{
      [ctx, core](stats_atom) {
        return router_stats{
          ctx.stats(),        core->failed_inputs, core->undecodable_inputs,
          core->dead_letters, core->bounces,       core->replayed};
      },
      [ctx, core](replay_atom) {
        if (core->source.empty())
          replay_marked(ctx, core);
      },
      [ctx, core](forget_instance_atom, const std::string& id,
                  const caf::actor_addr& addr) {
        instance_stopped(ctx, core, id, addr);
      },
      [core](tick_atom, uint64_t ticket) {
        auto i = core->delayed.find(ticket);
        if (i == core->delayed.end())
          return;
        auto f = std::move(i->second);
        core->delayed.erase(i);
        f();
      },
    };
    return h;
  };
}

caf::error check_router_settings(const std::string& checkpoint,
                                 const std::string& category) {
  if (checkpoint.size() > journal::max_checkpoint_name_size)
    return make_error(errc::invalid_argument,
                      "process manager category " + category + " is "
                        + std::to_string(category.size())
                        + " bytes long: its router's checkpoint name "
                        + checkpoint.substr(0, 40) + "... would be over the "
                        + "maximum of "
                        + std::to_string(journal::max_checkpoint_name_size)
                        + " (max_checkpoint_name_size)");
  return caf::none;
}

core_ptr make_core(std::string category, std::string source,
                   caf::actor registry, input_dispatch dispatch,
                   router_settings settings) {
  auto core = std::make_shared<router_core>();
  core->category = std::move(category);
  core->source = std::move(source);
  core->registry = std::move(registry);
  core->dispatch = std::move(dispatch);
  core->settings = settings;
  return core;
}

} // namespace

caf::expected<caf::actor>
spawn_process_router(caf::actor_system& sys, std::string category,
                     std::shared_ptr<journal::journal> j,
                     subscription_hub_actor hub, coordinator_actor coordinator,
                     caf::actor registry, input_dispatch dispatch,
                     router_settings settings) {
  subscription_settings ss;
  ss.checkpoint = router_checkpoint_of(category);
  if (auto err = check_router_settings(ss.checkpoint, category))
    return err;
  ss.max_in_flight = settings.max_in_flight;
  ss.read_chunk = settings.read_chunk;
  auto core = make_core(std::move(category), {}, std::move(registry),
                        std::move(dispatch), settings);
  return spawn_subscription(sys, std::move(j), std::move(hub),
                            std::move(coordinator), std::move(ss),
                            router_factory(std::move(core)));
}

caf::expected<caf::actor>
spawn_remote_process_router(caf::actor_system& sys, std::string category,
                            std::shared_ptr<journal::journal> j,
                            coordinator_actor coordinator, caf::actor registry,
                            input_dispatch dispatch, router_settings settings,
                            detail::remote_source source) {
  subscription_settings ss;
  ss.checkpoint = router_checkpoint_of(category, source.node);
  if (auto err = check_router_settings(ss.checkpoint, category))
    return err;
  ss.max_in_flight = settings.max_in_flight;
  ss.read_chunk = settings.read_chunk;
  auto core = make_core(std::move(category), source.node, std::move(registry),
                        std::move(dispatch), settings);
  return detail::spawn_remote_subscription(
    sys, std::move(j), std::move(coordinator), std::move(ss), std::move(source),
    router_factory(std::move(core)));
}

namespace {

/// `dispatch` restricted to the instances node `m.self()` owns; on a
/// router of another node's log (`remote`), without that node's outcomes
/// (they are for its own instances).
input_dispatch owned_only(input_dispatch dispatch, std::string category,
                          std::shared_ptr<const cluster::membership> m,
                          bool remote) {
  return
    [dispatch = std::move(dispatch), category = std::move(category),
     m = std::move(m), remote](const journal::stored_event& ev)
      -> caf::expected<std::optional<std::pair<std::string, caf::message>>> {
      if (remote && ev.record.type == remote_outcome::event_name)
        return std::nullopt;
      auto d = dispatch(ev);
      if (d && *d && !m->owns(category, (*d)->first))
        return std::nullopt;
      return d;
    };
}

} // namespace

caf::error start_process_routers(runtime& rt, std::string category,
                                 caf::actor registry, input_dispatch dispatch,
                                 router_settings settings) {
  if (!rt.shared()->cluster) {
    auto r = spawn_process_router(rt.system(), category, rt.journal(), rt.hub(),
                                  rt.coordinator(), registry,
                                  std::move(dispatch), settings);
    if (!r)
      return std::move(r.error());
    rt.adopt_router(std::move(*r));
    return caf::none;
  }
  // The checkpoint names, checked before the node joins.
  if (auto err
      = check_router_settings(router_checkpoint_of(category), category))
    return err;
  rt.when_joined([category, registry, dispatch, settings](runtime& rt) {
    auto& node = rt.shared()->cluster;
    auto m = node->members();
    if (!m)
      return;
    auto failed = [&](const std::string& source, const caf::error& err) {
      log::error("process_router." + category, "cannot read the inputs of node "
                                                 + source + ": "
                                                 + describe(err));
    };
    auto local = spawn_process_router(
      rt.system(), category, rt.journal(), rt.hub(), rt.coordinator(), registry,
      owned_only(dispatch, category, m, false), settings);
    if (local)
      rt.adopt_router(std::move(*local));
    else
      failed(m->self().id, local.error());
    for (auto& id : m->ids()) {
      if (id == m->self().id)
        continue;
      detail::remote_source src;
      src.node = id;
      src.link = node->link(id);
      if (!src.link)
        return; // stopping
      auto r = spawn_remote_process_router(
        rt.system(), category, rt.journal(), rt.coordinator(), registry,
        owned_only(dispatch, category, m, true), settings, std::move(src));
      if (r)
        rt.adopt_router(std::move(*r));
      else
        failed(id, r.error());
    }
  });
  return caf::none;
}

caf::expected<std::vector<std::pair<std::string, dead_letter>>>
dead_letters(const journal::journal& j) {
  auto rows = j.table_scan(dead_letter_table);
  if (!rows)
    return std::move(rows.error());
  std::vector<std::pair<std::string, dead_letter>> result;
  result.reserve(rows->size());
  for (auto& [key, bytes] : *rows) {
    auto row = journal::from_bytes<dead_letter>(bytes, "dead letter " + key);
    if (!row)
      return std::move(row.error());
    result.emplace_back(key, std::move(*row));
  }
  return result;
}

caf::expected<size_t> replay_dead_letters(runtime& rt,
                                          const std::vector<std::string>& keys,
                                          caf::timespan timeout) {
  auto rows = dead_letters(*rt.journal());
  if (!rows)
    return std::move(rows.error());
  std::map<std::string, dead_letter> by_key(rows->begin(), rows->end());
  journal::write_group g;
  auto mark = [&g](const std::string& key, dead_letter row) {
    row.replay = true;
    g.tables.push_back(journal::table_write{dead_letter_table, key,
                                            journal::to_bytes(row), false});
  };
  if (keys.empty()) {
    for (auto& [key, row] : by_key)
      mark(key, row);
  } else {
    for (auto& key : keys) {
      auto i = by_key.find(key);
      if (i == by_key.end())
        return make_error(errc::not_found, "no dead letter " + key);
      mark(key, i->second);
    }
  }
  auto n = g.tables.size();
  if (n == 0)
    return size_t{0};
  caf::scoped_actor self{rt.system()};
  caf::error failure;
  self->request(rt.coordinator(), timeout, commit_atom::value, g)
    .receive([](journal::group_receipt&) {},
             [&failure](caf::error& err) { failure = std::move(err); });
  if (failure) {
    if (failure == caf::sec::request_timeout)
      return make_error(errc::timeout, "marking dead letters for replay");
    return failure;
  }
  for (auto& router : rt.routers())
    self->send(router, replay_atom::value);
  return n;
}

} // namespace cairn
