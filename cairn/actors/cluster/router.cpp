#include "cairn/actors/cluster/router.hpp"

#include <typeinfo>
#include <unordered_set>

#include "caf/all.hpp"

#include "cairn/actors/aggregate.hpp"
#include "cairn/actors/cluster/detail/wire.hpp"
#include "cairn/actors/cluster/messages.hpp"
#include "cairn/journal/errc.hpp"

namespace cairn::cluster {

namespace {

struct router_state {
  std::string category;
  caf::actor local;
  std::shared_ptr<view> v;
  /// The command types found announced so far.
  std::unordered_set<const std::type_info*> announced;
  static inline const char* name = "cairn.cluster.router";
};

using pointer = caf::stateful_actor<router_state>*;

/// Returns the name of the first type of the command in `msg` that is not
/// announced, or an empty string.
std::string unannounced(pointer self, const caf::message& msg) {
  auto& known = self->state.announced;
  for (size_t i = 1; i < msg.size(); ++i) {
    auto rtti = msg.type(i);
    if (rtti.first != 0 || known.count(rtti.second) > 0)
      continue;
    auto name = detail::unannounced_type(self->system(), msg, i);
    if (!name.empty())
      return name;
    if (rtti.second != nullptr)
      known.insert(rtti.second);
  }
  return {};
}

caf::behavior router_impl(pointer self, std::string category, caf::actor local,
                          std::shared_ptr<view> v) {
  auto& st = self->state;
  st.category = std::move(category);
  st.local = std::move(local);
  st.v = std::move(v);
  self->set_default_handler(
    [](caf::scheduled_actor* ptr,
       caf::message_view& view) -> caf::result<caf::message> {
      auto self = static_cast<pointer>(ptr);
      auto& st = self->state;
      auto msg = view.move_content_to_message();
      if (msg.size() < 2 || !msg.match_element<entity_id>(0))
        return make_error(errc::invalid_argument,
                          "router " + st.category
                            + " expects (entity_id, command), got "
                            + to_string(msg));
      if (auto name = unannounced(self, msg); !name.empty())
        return make_error(errc::invalid_argument,
                          "router " + st.category + ": the command type " + name
                            + " is not announced, so it cannot travel to "
                              "other nodes: call cairn::announce<A>(cfg) on "
                              "every node before starting its actor system");
      auto m = st.v->members();
      if (!m)
        return make_error(errc::entity_unavailable,
                          "router " + st.category
                            + ": the node has not joined its cluster yet");
      auto& id = msg.get_as<entity_id>(0).value;
      auto& owner = m->owner(st.category, id);
      auto rp = self->make_response_promise();
      if (owner.id == m->self().id)
        return rp.delegate(st.local, std::move(msg));
      auto link = st.v->link(owner.id);
      if (!link)
        return make_error(errc::entity_unavailable,
                          "router " + st.category + ": no link to node '"
                            + owner.id + "' (this node is stopping)");
      return rp.delegate(link, forward_atom::value, st.category,
                         std::move(msg));
    });
  // Every command goes through the default handler.
  return {
    [self](caf::get_atom) { return self->state.category; },
  };
}

} // namespace

caf::actor spawn_router(caf::actor_system& sys, std::string category,
                        caf::actor local, std::shared_ptr<view> v) {
  return sys.spawn(router_impl, std::move(category), std::move(local),
                   std::move(v));
}

std::string unannounced_type(caf::actor_system& sys, const caf::message& msg,
                             size_t first) {
  return detail::unannounced_type(sys, msg, first);
}

} // namespace cairn::cluster
