#include "cairn/actors/registry.hpp"

#include <chrono>
#include <list>
#include <optional>
#include <unordered_map>
#include <vector>

#include "caf/all.hpp"

#include "cairn/journal/errc.hpp"
#include "cairn/journal/journal.hpp"
#include "cairn/journal/log.hpp"

namespace cairn {

namespace {

using clock_type = std::chrono::steady_clock;

struct entry {
  caf::actor hdl;
  std::list<std::string>::iterator lru;
  clock_type::time_point last_used;
  /// Passivation was requested; the entity has not terminated yet.
  bool stopping = false;
  /// Commands that arrived while stopping, for the successor; an empty
  /// message is a `resolve`, answered with the successor's handle.
  std::vector<std::pair<caf::response_promise, caf::message>> waiting;
};

struct registry_state {
  std::string category;
  entity_factory factory;
  registry_settings settings;
  std::unordered_map<std::string, entry> entities;
  std::unordered_map<caf::actor_addr, std::string> ids;
  /// Ids of running (not stopping) entities, most recently used first.
  std::list<std::string> lru;
  registry_stats stats;
  /// Told to exit: waits for its entities to terminate, then quits with
  /// this reason.
  std::optional<caf::error> exiting;
  static inline const char* name = "cairn.registry";
};

using pointer = caf::stateful_actor<registry_state>*;

size_t max_entity_id_size(const std::string& category) {
  auto used = category.size() + 1;
  return used >= journal::max_stream_name_size
           ? 0
           : journal::max_stream_name_size - used;
}

entry& start_entity(pointer self, const std::string& id, entry& e) {
  auto& st = self->state;
  e.hdl = st.factory(id);
  e.stopping = false;
  self->monitor(e.hdl);
  st.ids[e.hdl.address()] = id;
  st.lru.push_front(id);
  e.lru = st.lru.begin();
  e.last_used = clock_type::now();
  ++st.stats.spawned;
  return e;
}

void passivate(pointer self, entry& e) {
  auto& st = self->state;
  e.stopping = true;
  st.lru.erase(e.lru);
  self->send(e.hdl, passivate_atom::value);
  ++st.stats.passivated;
}

/// Hands what waited for the entity to its running actor `e.hdl`.
void release_waiting(entry& e) {
  auto waiting = std::move(e.waiting);
  e.waiting.clear();
  for (auto& [rp, cmd] : waiting) {
    if (cmd.empty())
      rp.deliver(e.hdl);
    else
      rp.delegate(e.hdl, std::move(cmd));
  }
}

void enforce_max_active(pointer self);

/// An entity declined its idle passivation: it runs on, as most recently
/// used.
void revive(pointer self, const std::string& id, entry& e) {
  auto& st = self->state;
  e.stopping = false;
  st.lru.push_front(id);
  e.lru = st.lru.begin();
  e.last_used = clock_type::now();
  release_waiting(e);
  enforce_max_active(self);
}

/// Passivates an entity that the registry has not routed to for the idle
/// time, unless the entity took commands past the registry (through an
/// entity_ref) since the last check: then it declines and runs on.
void passivate_idle(pointer self, std::string id, entry& e) {
  auto& st = self->state;
  e.stopping = true;
  st.lru.erase(e.lru);
  auto hdl = e.hdl;
  self
    ->request(hdl, caf::infinite, passivate_atom::value,
              idle_check_atom::value, st.settings.passivate_after)
    .then(
      [self, id, hdl](bool stops) {
        auto& st = self->state;
        if (stops) {
          ++st.stats.passivated;
          return;
        }
        ++st.stats.declined;
        auto i = st.entities.find(id);
        if (i == st.entities.end() || i->second.hdl != hdl
            || !i->second.stopping || st.exiting)
          return;
        revive(self, id, i->second);
      },
      [self, hdl](caf::error& err) {
        // Gone already: its down message follows. Anything else: an actor
        // without the idle check, told to stop unconditionally.
        if (err != caf::sec::request_receiver_down) {
          self->send(hdl, passivate_atom::value);
          ++self->state.stats.passivated;
        }
      });
}

/// Passivates least recently used entities while too many run; an
/// entity_ref to one of them resolves its successor.
void enforce_max_active(pointer self) {
  auto& st = self->state;
  if (st.settings.max_active == 0)
    return;
  while (st.lru.size() > st.settings.max_active) {
    auto& e = st.entities.at(st.lru.back());
    if (log::enabled(log::level::debug))
      log::debug("registry." + st.category,
                 "passivating " + st.lru.back()
                   + ": over aggregates.max-active ("
                   + std::to_string(st.settings.max_active) + ")");
    passivate(self, e);
  }
}

/// Routes `cmd` to entity `id`, or answers its handle when `cmd` is empty
/// (a resolve).
caf::result<caf::message> route(pointer self, const std::string& id,
                                caf::message cmd) {
  auto& st = self->state;
  ++st.stats.routed;
  auto rp = self->make_response_promise();
  auto [i, added] = st.entities.try_emplace(id);
  auto& e = i->second;
  if (added) {
    start_entity(self, id, e);
    enforce_max_active(self);
  } else if (e.stopping) {
    e.waiting.emplace_back(rp, std::move(cmd));
    return rp;
  } else {
    st.lru.splice(st.lru.begin(), st.lru, e.lru);
    e.last_used = clock_type::now();
  }
  if (cmd.empty()) {
    rp.deliver(e.hdl);
    return rp;
  }
  return rp.delegate(e.hdl, std::move(cmd));
}

/// Why entity id `id` is refused, or none.
caf::error check_id(pointer self, const std::string& id) {
  if (self->state.exiting)
    return make_error(errc::entity_unavailable,
                      "registry " + self->state.category + " is stopping");
  if (id.empty())
    return make_error(errc::invalid_argument,
                      "registry " + self->state.category + ": empty entity id");
  // Refused here, before anything is spawned: the journal would refuse
  // the entity's stream name, and nothing else must suffer from it.
  auto limit = max_entity_id_size(self->state.category);
  if (id.size() > limit)
    return make_error(errc::invalid_argument,
                      "registry " + self->state.category + ": an entity id of "
                        + std::to_string(id.size())
                        + " bytes is longer than the limit of "
                        + std::to_string(limit)
                        + " bytes (journal::max_stream_name_size minus "
                          "the category and its '-')");
  return caf::none;
}

void on_down(pointer self, caf::down_msg& msg) {
  auto& st = self->state;
  auto i = st.ids.find(msg.source);
  if (i == st.ids.end())
    return;
  auto id = std::move(i->second);
  st.ids.erase(i);
  auto j = st.entities.find(id);
  if (j == st.entities.end())
    return;
  auto& e = j->second;
  if (!e.stopping)
    st.lru.erase(e.lru); // ended on its own (it crashed)
  if (st.exiting) {
    for (auto& [rp, cmd] : e.waiting)
      rp.deliver(make_error(errc::entity_unavailable,
                            "registry " + st.category + " is stopping"));
    st.entities.erase(j);
    if (st.entities.empty())
      self->quit(*st.exiting);
    return;
  }
  if (e.waiting.empty()) {
    st.entities.erase(j);
    return;
  }
  // Commands arrived while it stopped: start its successor.
  start_entity(self, id, e);
  release_waiting(e);
  enforce_max_active(self);
}

void on_tick(pointer self) {
  auto& st = self->state;
  auto idle = st.settings.passivate_after;
  auto now = clock_type::now();
  // The LRU list's tail holds the longest idle entities.
  while (!st.lru.empty()) {
    auto& e = st.entities.at(st.lru.back());
    if (now - e.last_used < idle)
      break;
    if (log::enabled(log::level::debug))
      log::debug("registry." + st.category,
                 "passivating " + st.lru.back() + ": idle for "
                   + std::to_string(
                     std::chrono::duration_cast<std::chrono::milliseconds>(
                       now - e.last_used)
                       .count())
                   + " ms");
    passivate_idle(self, st.lru.back(), e); // copies the id: it leaves lru
  }
  self->delayed_send(self, idle / 2, tick_atom::value);
}

caf::behavior registry_impl(pointer self, std::string category,
                            entity_factory factory,
                            registry_settings settings) {
  auto& st = self->state;
  st.category = std::move(category);
  st.factory = std::move(factory);
  st.settings = settings;
  self->set_down_handler([self](caf::down_msg& msg) { on_down(self, msg); });
  // Entities are not linked (one that fails must not take the registry
  // along), so a registry told to exit tells its entities.
  // It quits once they have all terminated, so that whoever waits for the
  // registry waits for its entities too.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& st = self->state;
    if (st.exiting)
      return;
    for (auto& [id, e] : st.entities)
      self->send_exit(e.hdl, msg.reason);
    if (st.entities.empty())
      self->quit(std::move(msg.reason));
    else
      st.exiting = std::move(msg.reason);
  });
  self->set_default_handler(
    [](caf::scheduled_actor* ptr,
       caf::message_view& view) -> caf::result<caf::message> {
      auto self = static_cast<pointer>(ptr);
      auto msg = view.move_content_to_message();
      if (msg.size() < 2 || !msg.match_element<entity_id>(0))
        return make_error(errc::invalid_argument,
                          "registry " + self->state.category
                            + " expects (entity_id, command), got "
                            + to_string(msg));
      auto& id = msg.get_as<entity_id>(0).value;
      if (auto err = check_id(self, id))
        return err;
      return route(self, id, msg.drop(1));
    });
  if (settings.passivate_after.count() > 0)
    self->delayed_send(self, settings.passivate_after / 2, tick_atom::value);
  return {
    [self](tick_atom) { on_tick(self); },
    [self](resolve_atom, const entity_id& id) -> caf::result<caf::message> {
      if (auto err = check_id(self, id.value))
        return err;
      return route(self, id.value, caf::message{});
    },
    [self](stats_atom) {
      auto s = self->state.stats;
      s.active = self->state.lru.size();
      return s;
    },
  };
}

} // namespace

caf::actor spawn_registry(caf::actor_system& sys, std::string category,
                          entity_factory factory, registry_settings settings) {
  return sys.spawn(registry_impl, std::move(category), std::move(factory),
                   settings);
}

} // namespace cairn
