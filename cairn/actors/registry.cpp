#include "cairn/actors/registry.hpp"

#include <chrono>
#include <memory>
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

using waiting_list = std::vector<std::pair<caf::response_promise, caf::message>>;

/// One entity the registry knows, running or stopping. It lives in the node
/// of `registry_state::entities` (unordered_map nodes do not move), which
/// the other indexes point to: an entity costs the registry one allocation.
struct entry {
  caf::actor hdl;
  /// The entity's id: the key of this entry's node.
  const std::string* id = nullptr;
  /// Neighbours in the LRU list of running entities; `newer` is null for
  /// the most recently used one.
  entry* newer = nullptr;
  entry* older = nullptr;
  clock_type::time_point last_used;
  /// Passivation was requested; the entity has not terminated yet.
  bool stopping = false;
  /// Commands that arrived while stopping, for the successor; an empty
  /// message is a `resolve`, answered with the successor's handle.
  std::unique_ptr<waiting_list> waiting;
};

/// The running (not stopping) entities, most recently used first: an
/// intrusive list through the entries.
class lru_list {
public:
  size_t size() const noexcept {
    return size_;
  }

  bool empty() const noexcept {
    return size_ == 0;
  }

  /// The least recently used entity.
  entry& back() const noexcept {
    return *tail_;
  }

  void push_front(entry& e) noexcept {
    e.newer = nullptr;
    e.older = head_;
    if (head_)
      head_->newer = &e;
    else
      tail_ = &e;
    head_ = &e;
    ++size_;
  }

  void erase(entry& e) noexcept {
    (e.newer ? e.newer->older : head_) = e.older;
    (e.older ? e.older->newer : tail_) = e.newer;
    e.newer = e.older = nullptr;
    --size_;
  }

  void move_to_front(entry& e) noexcept {
    if (head_ == &e)
      return;
    erase(e);
    push_front(e);
  }

private:
  entry* head_ = nullptr;
  entry* tail_ = nullptr;
  size_t size_ = 0;
};

struct registry_state {
  std::string category;
  entity_factory factory;
  registry_settings settings;
  std::unordered_map<std::string, entry> entities;
  /// The entries by the address of their running actor, for down messages.
  std::unordered_map<caf::actor_addr, entry*> ids;
  lru_list lru;
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

/// Spawns the actor of entity `e`, whose id is the key `id` of its node.
entry& start_entity(pointer self, const std::string& id, entry& e) {
  auto& st = self->state;
  e.id = &id;
  e.hdl = st.factory(id);
  e.stopping = false;
  self->monitor(e.hdl);
  st.ids[e.hdl.address()] = &e;
  st.lru.push_front(e);
  e.last_used = clock_type::now();
  ++st.stats.spawned;
  return e;
}

void passivate(pointer self, entry& e) {
  auto& st = self->state;
  e.stopping = true;
  st.lru.erase(e);
  self->send(e.hdl, passivate_atom::value);
  ++st.stats.passivated;
}

/// Hands what waited for the entity to its running actor `e.hdl`.
void release_waiting(entry& e) {
  auto waiting = std::move(e.waiting);
  if (!waiting)
    return;
  for (auto& [rp, cmd] : *waiting) {
    if (cmd.empty())
      rp.deliver(e.hdl);
    else
      rp.delegate(e.hdl, std::move(cmd));
  }
}

void enforce_max_active(pointer self);

/// An entity declined its idle passivation: it runs on, as most recently
/// used.
void revive(pointer self, entry& e) {
  auto& st = self->state;
  e.stopping = false;
  st.lru.push_front(e);
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
  st.lru.erase(e);
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
        revive(self, i->second);
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
    auto& e = st.lru.back();
    if (log::enabled(log::level::debug))
      log::debug("registry." + st.category,
                 "passivating " + *e.id
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
    start_entity(self, i->first, e);
    enforce_max_active(self);
  } else if (e.stopping) {
    if (!e.waiting)
      e.waiting = std::make_unique<waiting_list>();
    e.waiting->emplace_back(rp, std::move(cmd));
    return rp;
  } else {
    st.lru.move_to_front(e);
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
  auto& e = *i->second;
  st.ids.erase(i);
  if (!e.stopping)
    st.lru.erase(e); // ended on its own (it crashed)
  if (st.exiting) {
    if (e.waiting)
      for (auto& [rp, cmd] : *e.waiting)
        rp.deliver(make_error(errc::entity_unavailable,
                              "registry " + st.category + " is stopping"));
    st.entities.erase(st.entities.find(*e.id));
    if (st.entities.empty())
      self->quit(*st.exiting);
    return;
  }
  if (!e.waiting || e.waiting->empty()) {
    st.entities.erase(st.entities.find(*e.id));
    return;
  }
  // Commands arrived while it stopped: start its successor.
  start_entity(self, *e.id, e);
  release_waiting(e);
  enforce_max_active(self);
}

void on_tick(pointer self) {
  auto& st = self->state;
  auto idle = st.settings.passivate_after;
  auto now = clock_type::now();
  // The LRU list's tail holds the longest idle entities.
  while (!st.lru.empty()) {
    auto& e = st.lru.back();
    if (now - e.last_used < idle)
      break;
    if (log::enabled(log::level::debug))
      log::debug("registry." + st.category,
                 "passivating " + *e.id + ": idle for "
                   + std::to_string(
                     std::chrono::duration_cast<std::chrono::milliseconds>(
                       now - e.last_used)
                       .count())
                   + " ms");
    passivate_idle(self, *e.id, e);
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
