#include "cairn/actors/cluster/node.hpp"

#include <unordered_map>

#include "caf/all.hpp"
#include "caf/io/middleman.hpp"

#include "cairn/actors/aggregate.hpp"
#include "cairn/actors/cluster/announce.hpp"
#include "cairn/actors/cluster/gateway.hpp"
#include "cairn/actors/cluster/link.hpp"
#include "cairn/actors/cluster/messages.hpp"
#include "cairn/actors/cluster/router.hpp"
#include "cairn/journal/errc.hpp"

namespace cairn {

namespace detail {

namespace {

struct category_table {
  std::mutex mtx;
  std::unordered_map<std::string, local_registry_fn> fns;
};

category_table& categories() {
  static category_table instance;
  return instance;
}

} // namespace

void register_category(const std::string& category, local_registry_fn f) {
  auto& t = categories();
  std::lock_guard<std::mutex> guard{t.mtx};
  t.fns[category] = f;
}

local_registry_fn registered_category(const std::string& category) {
  auto& t = categories();
  std::lock_guard<std::mutex> guard{t.mtx};
  auto i = t.fns.find(category);
  return i == t.fns.end() ? nullptr : i->second;
}

} // namespace detail

namespace cluster {

node::node(caf::actor_system& sys, settings s, std::shared_ptr<view> v)
  : sys_(sys), settings_(std::move(s)), view_(std::move(v)) {
  // nop
}

node::~node() {
  if (!stopped_) {
    std::map<std::string, std::string> states;
    for (auto& hdl : shutdown(states))
      caf::anon_send_exit(hdl, caf::exit_reason::user_shutdown);
  }
}

caf::expected<std::unique_ptr<node>>
node::start(caf::actor_system& sys, const settings& s, view::local_fn local) {
  if (!sys.has_middleman())
    return make_error(errc::bad_config,
                      "cluster.node-id: '" + s.node_id
                        + "' is set, but the actor system has no middleman: "
                          "call cairn::cluster::configure(cfg, settings) "
                          "before it starts (cairn::config::load does)");
  auto v = std::make_shared<view>(std::move(local));
  std::unique_ptr<node> result{new node(sys, s, v)};
  result->gateway_ = spawn_gateway(sys, v);
  auto in = s.listen_address.empty() ? nullptr : s.listen_address.c_str();
  // SO_REUSEADDR: a restarted node binds its port again at once, while the
  // connections of its previous run linger (they inherit the option from
  // the listening socket). Linux still refuses a second listener.
  auto port = sys.middleman().publish(result->gateway_, s.port, in, true);
  if (!port) {
    caf::anon_send_exit(result->gateway_, caf::exit_reason::user_shutdown);
    result->stopped_ = true;
    return make_error(errc::bad_config, "cluster.port: cannot listen on port "
                                          + std::to_string(s.port) + ": "
                                          + sys.render(port.error()));
  }
  result->port_ = *port;
  return result;
}

caf::error node::join(std::shared_ptr<const membership> m) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (view_->members())
    return make_error(errc::invalid_argument,
                      "node '" + m->self().id + "' joined its cluster before");
  if (stopped_)
    return make_error(errc::invalid_argument, "the node is stopping");
  std::unordered_map<std::string, caf::actor> links;
  link_settings cfg;
  cfg.self_id = m->self().id;
  cfg.description = m->describe();
  cfg.connection_timeout = settings_.connection_timeout;
  for (auto& peer : m->members())
    if (peer.id != m->self().id)
      links.emplace(peer.id, spawn_link(sys_, peer, cfg));
  view_->join(std::move(m), std::move(links));
  return caf::none;
}

caf::actor node::router(const std::string& category, caf::actor local) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (stopped_)
    return {};
  auto& hdl = routers_[category];
  if (!hdl)
    hdl = spawn_router(sys_, category, std::move(local), view_);
  return hdl;
}

std::map<std::string, std::string> node::peers(caf::timespan timeout) {
  std::map<std::string, std::string> result;
  auto m = view_->members();
  if (!m)
    return result;
  caf::scoped_actor self{sys_};
  for (auto& peer : m->members()) {
    if (peer.id == m->self().id)
      continue;
    auto link = view_->link(peer.id);
    if (!link) {
      result[peer.id] = "stopped";
      continue;
    }
    self->request(link, timeout, link_state_atom::value)
      .receive([&](std::string& st) { result[peer.id] = std::move(st); },
               [&](caf::error&) { result[peer.id] = "stopped"; });
  }
  return result;
}

std::vector<caf::actor>
node::shutdown(std::map<std::string, std::string>& states) {
  states = peers();
  std::vector<caf::actor> result;
  std::lock_guard<std::mutex> guard{mtx_};
  if (stopped_)
    return result;
  stopped_ = true;
  // Unpublished first: no new connection reaches a stopping node. A
  // published actor that is never told to exit would keep the actor
  // system from ending.
  if (gateway_)
    sys_.middleman().unpublish(gateway_, port_);
  for (auto& [category, hdl] : routers_)
    result.push_back(hdl);
  routers_.clear();
  for (auto& [id, hdl] : view_->take_links())
    result.push_back(hdl);
  if (gateway_)
    result.push_back(std::move(gateway_));
  return result;
}

} // namespace cluster

} // namespace cairn
