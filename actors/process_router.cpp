#include "actors/process_router.hpp"

#include <set>

#include "caf/all.hpp"

#include "actors/aggregate.hpp"
#include "actors/atoms.hpp"
#include "actors/process_manager.hpp"
#include "journal/errc.hpp"

namespace cairn {

namespace {

struct router_state {
  std::string category;
  std::shared_ptr<journal::journal> j;
  subscription_hub_actor hub;
  coordinator_actor coordinator;
  caf::actor registry;
  input_dispatch dispatch;
  router_settings settings;
  /// The next position to read.
  uint64_t next = 1;
  uint64_t last_dispatched = 0;
  std::set<uint64_t> in_flight;
  uint64_t checkpoint_stored = 0;
  bool checkpoint_writing = false;
  bool live = false;
  bool paused = false;
  bool subscribing = false;
  uint64_t failed_inputs = 0;
  static inline const char* name = "cairn.process_router";
};

using pointer = caf::stateful_actor<router_state>*;

void store_checkpoint(pointer self) {
  auto& st = self->state;
  auto low = st.in_flight.empty() ? st.last_dispatched
                                  : *st.in_flight.begin() - 1;
  if (low <= st.checkpoint_stored || st.checkpoint_writing)
    return;
  st.checkpoint_writing = true;
  journal::write_group g;
  g.checkpoints.emplace_back(router_checkpoint_of(st.category), low);
  self->request(st.coordinator, caf::infinite, commit_atom::value, g)
    .then(
      [self, low](journal::group_receipt&) {
        self->state.checkpoint_writing = false;
        self->state.checkpoint_stored = low;
        store_checkpoint(self);
      },
      [self](caf::error&) {
        // The journal failed; the checkpoint stays behind, which only means
        // re-reading inputs the instances will ignore.
        self->state.checkpoint_writing = false;
      });
}

void ack(pointer self, uint64_t pos) {
  auto& st = self->state;
  st.in_flight.erase(pos);
  store_checkpoint(self);
  if (st.paused && st.in_flight.size() <= st.settings.max_in_flight / 2) {
    st.paused = false;
    self->send(self, catch_up_atom::value);
  }
}

void dispatch(pointer self, const journal::stored_event& ev) {
  auto& st = self->state;
  st.last_dispatched = ev.position;
  auto d = st.dispatch(ev);
  if (!d) {
    store_checkpoint(self);
    return;
  }
  auto pos = ev.position;
  st.in_flight.insert(pos);
  self->request(st.registry, caf::infinite,
                caf::make_message(entity_id{d->first}) + d->second)
    .then([self, pos]() { ack(self, pos); },
          [self, pos](caf::error&) {
            ++self->state.failed_inputs;
            ack(self, pos);
          });
}

/// Reads and dispatches the log from `next` up to `until` (inclusive).
caf::error read_until(pointer self, uint64_t until) {
  auto& st = self->state;
  while (st.next <= until) {
    auto slice = st.j->read_all(st.next, st.settings.read_chunk);
    if (!slice)
      return std::move(slice.error());
    for (auto& ev : slice->events)
      if (ev.position <= until)
        dispatch(self, ev);
    if (slice->events.empty())
      break;
    st.next = std::min(slice->next_position, until + 1);
  }
  return caf::none;
}

void go_live(pointer self) {
  auto& st = self->state;
  if (st.subscribing)
    return;
  st.subscribing = true;
  self
    ->request(st.hub, caf::infinite, subscribe_atom::value,
              caf::actor_cast<caf::actor>(self), std::string{})
    .then(
      [self](uint64_t published) {
        auto& st = self->state;
        st.subscribing = false;
        st.live = true;
        if (auto err = read_until(self, published))
          self->quit(std::move(err));
      },
      [self](caf::error& err) { self->quit(std::move(err)); });
}

void catch_up(pointer self) {
  auto& st = self->state;
  if (st.live || st.subscribing)
    return;
  if (st.in_flight.size() >= st.settings.max_in_flight) {
    st.paused = true;
    return;
  }
  auto slice = st.j->read_all(st.next, st.settings.read_chunk);
  if (!slice) {
    self->quit(std::move(slice.error()));
    return;
  }
  for (auto& ev : slice->events)
    dispatch(self, ev);
  st.next = slice->next_position;
  if (slice->events.size() == st.settings.read_chunk)
    self->send(self, catch_up_atom::value);
  else
    go_live(self);
}

void on_live(pointer self, std::vector<journal::stored_event>& events) {
  auto& st = self->state;
  if (!st.live || events.empty())
    return;
  if (events.front().position > st.next)
    if (auto err = read_until(self, events.front().position - 1))
      return self->quit(std::move(err));
  for (auto& ev : events) {
    if (ev.position < st.next)
      continue; // read from LMDB already
    dispatch(self, ev);
    st.next = ev.position + 1;
  }
  if (st.in_flight.size() >= st.settings.max_in_flight) {
    // Too slow for the live feed: leave it and read LMDB when there is room.
    self->send(st.hub, unsubscribe_atom::value,
               caf::actor_cast<caf::actor>(self));
    st.live = false;
    st.paused = true;
  }
}

/// Wakes every instance with a scheduled deadline, so it arms its timer.
void wake_sleepers(pointer self) {
  auto& st = self->state;
  auto rows = st.j->table_scan(deadline_table);
  if (!rows)
    return;
  auto prefix = st.category + "-";
  std::set<std::string> ids;
  for (auto& [key, due] : *rows)
    if (key.compare(0, prefix.size(), prefix) == 0)
      ids.insert(key.substr(prefix.size(), key.find('\n') - prefix.size()));
  for (auto& id : ids)
    self->send(st.registry, entity_id{id}, wake_atom::value);
}

caf::behavior router_impl(pointer self, std::string category,
                          std::shared_ptr<journal::journal> j,
                          subscription_hub_actor hub,
                          coordinator_actor coordinator, caf::actor registry,
                          input_dispatch fn, router_settings settings) {
  auto& st = self->state;
  st.category = std::move(category);
  st.j = std::move(j);
  st.hub = std::move(hub);
  st.coordinator = std::move(coordinator);
  st.registry = std::move(registry);
  st.dispatch = std::move(fn);
  st.settings = settings;
  if (auto cp = st.j->checkpoint(router_checkpoint_of(st.category));
      cp && *cp) {
    st.checkpoint_stored = **cp;
    st.last_dispatched = **cp;
    st.next = **cp + 1;
  }
  wake_sleepers(self);
  self->send(self, catch_up_atom::value);
  return {
    [self](catch_up_atom) { catch_up(self); },
    [self](events_atom, std::vector<journal::stored_event>& events) {
      on_live(self, events);
    },
    [self](stats_atom) {
      auto& st = self->state;
      return caf::make_message(st.next, st.checkpoint_stored,
                               static_cast<uint64_t>(st.in_flight.size()),
                               st.failed_inputs);
    },
  };
}

} // namespace

caf::actor spawn_process_router(caf::actor_system& sys, std::string category,
                                std::shared_ptr<journal::journal> j,
                                subscription_hub_actor hub,
                                coordinator_actor coordinator,
                                caf::actor registry, input_dispatch dispatch,
                                router_settings settings) {
  return sys.spawn(router_impl, std::move(category), std::move(j),
                   std::move(hub), std::move(coordinator),
                   std::move(registry), std::move(dispatch), settings);
}

} // namespace cairn
