#include "cairn/actors/cluster/remote_subscription.hpp"

#include "caf/all.hpp"

#include "cairn/actors/cluster/node.hpp"
#include "cairn/actors/runtime.hpp"
#include "cairn/journal/errc.hpp"

namespace cairn::cluster {

namespace {

/// Checks that `source` is a peer of `rt`'s node; returns the link to it.
caf::expected<caf::actor> link_to(runtime& rt, const std::string& source) {
  auto& node = rt.shared()->cluster;
  if (!node)
    return make_error(errc::invalid_argument,
                      "subscribe_remote: the runtime is not clustered (no "
                      "cluster.node-id)");
  auto m = node->members();
  if (!m)
    return make_error(errc::invalid_argument,
                      "subscribe_remote: this node has not joined its "
                      "cluster yet (runtime::join)");
  if (source.empty())
    return make_error(errc::invalid_argument,
                      "subscribe_remote: the source node id is empty");
  if (!m->find(source)) {
    std::string ids;
    for (auto& id : m->ids())
      ids += (ids.empty() ? "" : ", ") + id;
    return make_error(errc::invalid_argument,
                      "subscribe_remote: node '" + source
                        + "' is not a member of cluster '" + m->name()
                        + "' (members: " + ids + ")");
  }
  if (source == m->self().id)
    return make_error(errc::invalid_argument,
                      "subscribe_remote: node '" + source
                        + "' is this node: read its own log with "
                          "cairn::subscribe");
  auto link = node->link(source);
  if (!link)
    return make_error(errc::entity_unavailable, "subscribe_remote: node '"
                                                  + m->self().id
                                                  + "' is stopping");
  return link;
}

} // namespace

std::string remote_checkpoint(const std::string& name,
                              const std::string& source) {
  return name + "@" + source;
}

caf::expected<caf::actor> subscribe_remote(runtime& rt,
                                           const std::string& source,
                                           subscription_settings settings,
                                           subscription_factory make_handler) {
  auto link = link_to(rt, source);
  if (!link)
    return std::move(link.error());
  if (!settings.checkpoint.empty())
    settings.checkpoint = remote_checkpoint(settings.checkpoint, source);
  auto name = settings.checkpoint;
  detail::remote_source src;
  src.node = source;
  src.link = std::move(*link);
  auto sub = detail::spawn_remote_subscription(
    rt.system(), rt.journal(), rt.coordinator(), std::move(settings),
    std::move(src), std::move(make_handler));
  if (sub) {
    rt.adopt(*sub);
    rt.watch("remote_subscription", name.empty() ? "@" + source : name, *sub);
  }
  return sub;
}

caf::expected<std::map<std::string, caf::actor>>
subscribe_cluster(runtime& rt, subscription_settings settings,
                  subscription_factory make_handler) {
  auto& node = rt.shared()->cluster;
  auto m = node ? node->members() : nullptr;
  if (!m)
    return make_error(errc::invalid_argument,
                      node ? "subscribe_cluster: this node has not joined its "
                             "cluster yet (runtime::join)"
                           : "subscribe_cluster: the runtime is not clustered "
                             "(no cluster.node-id)");
  std::map<std::string, caf::actor> result;
  auto fail = [&](caf::error err) -> caf::error {
    for (auto& [id, hdl] : result)
      caf::anon_send_exit(hdl, caf::exit_reason::user_shutdown);
    return err;
  };
  for (auto& id : m->ids()) {
    if (id == m->self().id) {
      auto s = settings;
      if (!s.checkpoint.empty())
        s.checkpoint = remote_checkpoint(s.checkpoint, id);
      auto sub = subscribe(rt, std::move(s), make_handler);
      if (!sub)
        return fail(std::move(sub.error()));
      result.emplace(id, std::move(*sub));
      continue;
    }
    auto sub = subscribe_remote(rt, id, settings, make_handler);
    if (!sub)
      return fail(std::move(sub.error()));
    result.emplace(id, std::move(*sub));
  }
  return result;
}

} // namespace cairn::cluster
