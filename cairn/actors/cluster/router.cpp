#include "cairn/actors/cluster/router.hpp"

#include <cxxabi.h>

#include <cstdlib>

#include "caf/all.hpp"

#include "cairn/actors/aggregate.hpp"
#include "cairn/actors/cluster/messages.hpp"
#include "cairn/journal/errc.hpp"

namespace cairn::cluster {

namespace {

std::string demangle(const char* name) {
  int status = 0;
  char* out = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  if (status != 0 || out == nullptr)
    return name;
  std::string result{out};
  std::free(out);
  return result;
}

struct router_state {
  std::string category;
  caf::actor local;
  std::shared_ptr<view> v;
  static inline const char* name = "cairn.cluster.router";
};

using pointer = caf::stateful_actor<router_state>*;

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
      if (auto name = unannounced_type(self->system(), msg, 1); !name.empty())
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
      auto eid = msg.get_as<entity_id>(0);
      return rp.delegate(link, forward_atom::value, st.category, std::move(eid),
                         msg.drop(1));
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
  auto& types = sys.types();
  for (size_t i = first; i < msg.size(); ++i) {
    auto rtti = msg.type(i);
    if (rtti.first != 0)
      continue; // one of CAF's builtin types
    if (types.portable_name(rtti) == types.default_type_name())
      return rtti.second != nullptr ? demangle(rtti.second->name())
                                    : "<unknown type>";
  }
  return {};
}

} // namespace cairn::cluster
