#include "cairn/actors/cluster/gateway.hpp"

#include <vector>

#include "caf/all.hpp"

#include "cairn/actors/aggregate.hpp"
#include "cairn/actors/cluster/messages.hpp"
#include "cairn/journal/errc.hpp"

namespace cairn::cluster {

namespace {

struct gateway_state {
  std::shared_ptr<view> v;
  static inline const char* name = "cairn.cluster.gateway";
};

caf::behavior gateway_impl(caf::stateful_actor<gateway_state>* self,
                           std::shared_ptr<view> v) {
  self->state.v = std::move(v);
  return {
    [self](hello_atom, const std::string& from,
           const std::vector<std::string>& description)
      -> caf::result<hello_atom, std::string> {
      auto m = self->state.v->members();
      if (!m)
        return make_error(errc::entity_unavailable,
                          "the node has not joined its cluster yet");
      auto diff = difference(m->describe(), description);
      if (!diff.empty())
        return make_error(errc::bad_config,
                          "node '" + m->self().id + "' refuses node '" + from
                            + "': their cluster configurations differ "
                              "(here = "
                            + m->self().id + ", the peer = " + from
                            + "): " + diff);
      return {hello_atom::value, m->self().id};
    },
    [self](forward_atom, const std::string& category, entity_id& id,
           caf::message& cmd) {
      auto rp = self->make_response_promise();
      auto m = self->state.v->members();
      if (!m) {
        rp.deliver(make_error(errc::entity_unavailable,
                              "the node has not joined its cluster yet"));
        return;
      }
      // Checked on every command: a node never runs an entity it does not
      // own, whatever its peers believe.
      auto& owner = m->owner(category, id.value);
      if (owner.id != m->self().id) {
        rp.deliver(make_error(errc::entity_unavailable,
                              "node '" + m->self().id + "' does not own "
                                + category + "-" + id.value + ": node '"
                                + owner.id + "' does"));
        return;
      }
      auto reg = self->state.v->local(category);
      if (!reg) {
        rp.deliver(make_error(errc::invalid_argument,
                              "node '" + m->self().id
                                + "' has no aggregate of category '" + category
                                + "': announce it with cairn::announce<A>(cfg)"
                                  " and start it on every node"));
        return;
      }
      auto full = caf::message::concat(caf::make_message(std::move(id)), cmd);
      rp.delegate(reg, std::move(full));
    },
  };
}

} // namespace

caf::actor spawn_gateway(caf::actor_system& sys, std::shared_ptr<view> v) {
  return sys.spawn(gateway_impl, std::move(v));
}

} // namespace cairn::cluster
