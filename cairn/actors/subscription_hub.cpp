#include "cairn/actors/subscription_hub.hpp"

#include <unordered_map>

#include "caf/all.hpp"

#include "cairn/journal/journal.hpp"

namespace cairn {

namespace {

struct hub_state {
  uint64_t last_position = 0;
  /// Subscriber -> category ("" for all).
  std::unordered_map<caf::actor, std::string> subscribers;
  static inline const char* name = "cairn.subscription_hub";
};

subscription_hub_actor::behavior_type
hub_impl(subscription_hub_actor::stateful_pointer<hub_state> self,
         uint64_t last_position) {
  self->state.last_position = last_position;
  self->set_down_handler([self](caf::down_msg& msg) {
    auto hdl = caf::actor_cast<caf::actor>(msg.source);
    self->state.subscribers.erase(hdl);
  });
  return {
    [self](subscribe_atom, caf::actor& sub, std::string& category) {
      auto& subs = self->state.subscribers;
      if (subs.count(sub) == 0)
        self->monitor(sub);
      subs[std::move(sub)] = std::move(category);
      return self->state.last_position;
    },
    [self](unsubscribe_atom, caf::actor& sub) {
      if (self->state.subscribers.erase(sub) > 0)
        self->demonitor(sub);
    },
    [self](publish_atom, std::vector<journal::stored_event>& events) {
      if (events.empty())
        return;
      self->state.last_position = events.back().position;
      // Each subscriber gets its own copy, except the last, which gets the
      // batch itself: a single subscriber costs no copy.
      auto left = self->state.subscribers.size();
      for (auto& [sub, category] : self->state.subscribers) {
        auto last = --left == 0;
        if (category.empty()) {
          if (last)
            self->anon_send(sub, events_atom::value, std::move(events));
          else
            self->anon_send(sub, events_atom::value, events);
          continue;
        }
        std::vector<journal::stored_event> mine;
        for (auto& ev : events)
          if (journal::category_of(ev.stream) == category) {
            if (last)
              mine.push_back(std::move(ev));
            else
              mine.push_back(ev);
          }
        if (!mine.empty())
          self->anon_send(sub, events_atom::value, std::move(mine));
      }
    },
    [self](stats_atom) { return self->state.last_position; },
  };
}

} // namespace

subscription_hub_actor spawn_subscription_hub(caf::actor_system& sys,
                                              uint64_t last_position) {
  return sys.spawn(hub_impl, last_position);
}

} // namespace cairn
