#include "actors/process_router.hpp"

#include <iostream>
#include <set>

#include "caf/all.hpp"

#include "actors/aggregate.hpp"
#include "actors/atoms.hpp"
#include "actors/process_manager.hpp"
#include "journal/errc.hpp"

namespace cairn {

namespace {

/// What the router adds to its subscription.
struct router_core {
  std::string category;
  caf::actor registry;
  input_dispatch dispatch;
  uint64_t failed_inputs = 0;
  uint64_t undecodable_inputs = 0;
};

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

void route(subscription_context ctx, const std::shared_ptr<router_core>& core,
           const journal::stored_event& ev) {
  auto pos = ev.position;
  auto d = core->dispatch(ev);
  if (!d) {
    ++core->undecodable_inputs;
    std::cerr << "cairn.process_router." << core->category
              << ": warning: skipping input " << ev.stream << " version "
              << ev.version << " (" << ev.record.type
              << "): " << describe(d.error()) << '\n';
    ctx.ack(pos);
    return;
  }
  if (!*d) {
    ctx.ack(pos);
    return;
  }
  auto& [id, msg] = **d;
  ctx.self()
    ->request(core->registry, caf::infinite,
              caf::make_message(entity_id{id}) + msg)
    .then([ctx, pos]() mutable { ctx.ack(pos); },
          [ctx, core, pos](caf::error&) mutable {
            ++core->failed_inputs;
            ctx.ack(pos);
          });
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
  ss.max_in_flight = settings.max_in_flight;
  ss.read_chunk = settings.read_chunk;
  auto core = std::make_shared<router_core>();
  core->category = std::move(category);
  core->registry = std::move(registry);
  core->dispatch = std::move(dispatch);
  return spawn_subscription(
    sys, std::move(j), std::move(hub), std::move(coordinator), std::move(ss),
    [core](subscription_context& ctx) {
      wake_sleepers(ctx.self(), *ctx.journal(), *core);
      subscription_handler h;
      h.deliver = [ctx, core](std::vector<journal::stored_event>& events) {
        for (auto& ev : events)
          route(ctx, core, ev);
      };
      h.extra = caf::message_handler{[ctx, core](stats_atom) {
        return router_stats{ctx.stats(), core->failed_inputs,
                            core->undecodable_inputs};
      }};
      return h;
    });
}

} // namespace cairn
