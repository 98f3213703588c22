#include "cairn/actors/runtime.hpp"

#include <iostream>
#include <optional>

#include "caf/all.hpp"

#include "cairn/actors/cluster/announce.hpp"
#include "cairn/actors/cluster/identity.hpp"
#include "cairn/actors/cluster/node.hpp"
#include "cairn/actors/outbox.hpp"
#include "cairn/journal/log.hpp"

namespace cairn {

namespace detail {

caf::actor runtime_state::find_or_spawn(std::type_index key,
                                        const std::function<caf::actor()>& f) {
  std::lock_guard<std::mutex> guard{mtx};
  if (stopped)
    return {};
  auto& hdl = registries[key];
  if (!hdl)
    hdl = f();
  return hdl;
}

caf::actor runtime_state::routes::find(const std::string& category) {
  if (!any.load(std::memory_order_acquire))
    return {};
  std::lock_guard<std::mutex> guard{mtx};
  auto i = registries.find(category);
  return i == registries.end() ? caf::actor{} : i->second;
}

caf::actor runtime_state::remote_registry(const std::string& category) {
  return routing->find(category);
}

caf::actor runtime_state::remote_registry(const std::string& category,
                                          const std::string& id) {
  if (auto hdl = routing->find(category))
    return hdl;
  if (!cluster)
    return {};
  auto m = cluster->members();
  if (!m || m->owns(category, id))
    return {};
  return cluster_router_of(category);
}

bool runtime_state::serves(const std::string& category,
                           const std::string& id) {
  if (!cluster)
    return true;
  auto m = cluster->members();
  return m && m->owns(category, id);
}

caf::actor runtime_state::cluster_router_of(const std::string& category) {
  if (!cluster)
    return {};
  auto fn = detail::registered_category(category);
  if (!fn)
    return {};
  auto local = fn(*this);
  return cluster_router(category, std::move(local));
}

caf::actor runtime_state::outbox() {
  std::lock_guard<std::mutex> guard{mtx};
  if (!outbox_hdl && !stopped)
    outbox_hdl = spawn_outbox_dispatcher(
      sys, env->journal, env->coordinator,
      [r = routing, weak = self_ref](const std::string& category) {
        if (auto hdl = r->find(category))
          return hdl;
        // On a cluster: the category's router, which delivers to the
        // entity's owner.
        auto st = weak.lock();
        return st ? st->cluster_router_of(category) : caf::actor{};
      });
  return outbox_hdl;
}

caf::actor runtime_state::cluster_router(const std::string& category,
                                         caf::actor local) {
  if (!cluster || !local)
    return local;
  return cluster->router(category, std::move(local));
}

} // namespace detail

namespace {

/// Tells `hdls` to exit and waits until they have all terminated, at most
/// until `deadline`. Returns how many did not terminate in time.
size_t stop_and_wait(caf::actor_system& sys, std::vector<caf::actor> hdls,
                     std::chrono::steady_clock::time_point deadline) {
  caf::scoped_actor self{sys};
  size_t running = 0;
  for (auto& hdl : hdls) {
    if (!hdl)
      continue;
    self->monitor(hdl);
    self->send_exit(hdl, caf::exit_reason::user_shutdown);
    ++running;
  }
  while (running > 0) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline)
      break;
    bool timed_out = false;
    self->receive([&](caf::down_msg&) { --running; },
                  caf::after(deadline - now) >> [&] { timed_out = true; });
    if (timed_out)
      break;
  }
  return running;
}

} // namespace

runtime::runtime(std::shared_ptr<detail::runtime_state> st)
  : st_(std::move(st)) {
  // nop
}

runtime::~runtime() {
  stop();
}

caf::expected<std::unique_ptr<runtime>> runtime::start(caf::actor_system& sys,
                                                       runtime_options opts) {
  if (auto err = validate(opts.aggregates))
    return err;
  log::set_level(opts.log_level);
  std::optional<cluster::membership> members;
  if (opts.cluster.enabled() && !opts.cluster.nodes.empty()) {
    auto m = cluster::membership::make(opts.cluster);
    if (!m)
      return std::move(m.error());
    members = std::move(*m);
  }
  auto j = journal::journal::open(opts.journal_path, opts.journal);
  if (!j)
    return std::move(j.error());
  if (members)
    if (auto err
        = cluster::claim_identity(**j, members->self().id, members->digest()))
      return err;
  auto last = (*j)->last_position();
  if (!last)
    return std::move(last.error());
  std::shared_ptr<journal::journal> shared{std::move(*j)};
  auto st = std::make_shared<detail::runtime_state>(sys, std::move(opts));
  st->hub = spawn_subscription_hub(sys, *last);
  auto env = std::make_shared<aggregate_env>();
  env->journal = shared;
  env->coordinator = spawn_coordinator(sys, shared, st->opts.coordinator,
                                       st->hub, env->capability);
  env->settings = st->opts.aggregates;
  st->env = std::move(env);
  st->self_ref = st;
  std::unique_ptr<runtime> rt{new runtime(st)};
  if (st->opts.cluster.enabled()) {
    std::weak_ptr<detail::runtime_state> weak = st;
    auto local = [weak](const std::string& category) -> caf::actor {
      auto fn = detail::registered_category(category);
      auto st = weak.lock();
      if (!fn || !st)
        return {};
      return fn(*st);
    };
    auto node = cluster::node::start(sys, st->opts.cluster, std::move(local));
    if (!node)
      return std::move(node.error());
    st->cluster = std::move(*node);
    // Peers' remote subscriptions read this node's log through its gateway.
    st->cluster->serve_log(
      [weak](subscription_settings s,
             subscription_factory f) -> caf::expected<caf::actor> {
        auto st = weak.lock();
        if (!st)
          return make_error(errc::entity_unavailable, "the node is stopping");
        return spawn_subscription(st->sys, st->env->journal, st->hub,
                                  st->env->coordinator, std::move(s),
                                  std::move(f));
      });
    if (members) {
      if (auto err = st->cluster->join(
            std::make_shared<const cluster::membership>(std::move(*members))))
        return err;
      st->joined = true; // no other thread knows the runtime yet
      // Delivers the cross-node commands an earlier run left undelivered.
      st->outbox();
    }
  }
  if (st->opts.metrics.enabled) {
    auto ep = metrics_endpoint::start(st, st->opts.metrics);
    if (!ep)
      return std::move(ep.error());
    rt->metrics_ = std::move(*ep);
  }
  return rt;
}

void runtime::route(const std::string& category, caf::actor registry) {
  {
    auto& r = *st_->routing;
    std::lock_guard<std::mutex> guard{r.mtx};
    r.registries[category] = std::move(registry);
    r.any.store(true, std::memory_order_release);
  }
  outbox();
}

void runtime::adopt(caf::actor hdl) {
  std::lock_guard<std::mutex> guard{st_->mtx};
  if (st_->stopped)
    caf::anon_send_exit(hdl, caf::exit_reason::user_shutdown);
  else
    st_->adopted.push_back(std::move(hdl));
}

void runtime::adopt_router(caf::actor hdl) {
  {
    std::lock_guard<std::mutex> guard{st_->mtx};
    if (!st_->stopped)
      st_->routers.push_back(hdl);
  }
  adopt(std::move(hdl));
}

void runtime::watch(std::string kind, std::string name, caf::actor hdl) {
  std::lock_guard<std::mutex> guard{st_->mtx};
  if (!st_->stopped)
    st_->watched.push_back({std::move(kind), std::move(name), std::move(hdl)});
}

std::vector<caf::actor> runtime::routers() {
  std::lock_guard<std::mutex> guard{st_->mtx};
  return st_->routers;
}

caf::error runtime::join(std::vector<std::string> nodes) {
  if (!st_->cluster)
    return make_error(errc::invalid_argument,
                      "runtime::join: the runtime is not clustered (no "
                      "cluster.node-id)");
  auto s = st_->opts.cluster;
  s.nodes = std::move(nodes);
  auto m = cluster::membership::make(s);
  if (!m)
    return std::move(m.error());
  auto& j = *st_->env->journal;
  caf::scoped_actor self{st_->sys};
  auto coordinator = st_->env->coordinator;
  auto commit = [&](const journal::write_group& g) {
    caf::error result;
    self->request(coordinator, stop_timeout, commit_atom::value, g)
      .receive([](journal::group_receipt&) {},
               [&](caf::error& err) { result = std::move(err); });
    return result;
  };
  if (auto err = cluster::claim_identity(j, m->self().id, m->digest(), commit))
    return err;
  if (auto err = st_->cluster->join(
        std::make_shared<const cluster::membership>(std::move(*m))))
    return err;
  // Delivers the cross-node commands an earlier run left undelivered.
  outbox();
  std::vector<std::function<void(runtime&)>> hooks;
  {
    std::lock_guard<std::mutex> guard{st_->mtx};
    st_->joined = true;
    hooks.swap(st_->join_hooks);
  }
  for (auto& f : hooks)
    f(*this);
  return caf::none;
}

void runtime::when_joined(std::function<void(runtime&)> f) {
  {
    std::lock_guard<std::mutex> guard{st_->mtx};
    if (st_->cluster && !st_->joined) {
      st_->join_hooks.push_back(std::move(f));
      return;
    }
  }
  f(*this);
}

uint16_t runtime::cluster_port() const noexcept {
  return st_->cluster ? st_->cluster->port() : 0;
}

std::map<std::string, std::string> runtime::peers() {
  return st_->cluster ? st_->cluster->peers()
                      : std::map<std::string, std::string>{};
}

std::map<std::string, std::string> runtime::stop() {
  // No scrape runs once this returns, and none asks stopped actors.
  metrics_.reset();
  std::map<std::string, std::string> peer_states;
  std::vector<caf::actor> first;
  std::vector<caf::actor> last;
  {
    std::lock_guard<std::mutex> guard{st_->mtx};
    if (st_->stopped)
      return peer_states;
    st_->stopped = true;
    // The cluster first: unpublished, its links and routers stopped with
    // the registries.
    if (st_->cluster)
      first = st_->cluster->shutdown(peer_states);
    // Subscriptions, routers and registries (with their entities and
    // process instances) first, then the outbox, then what they all use.
    for (auto& hdl : st_->adopted)
      first.push_back(std::move(hdl));
    st_->adopted.clear();
    st_->routers.clear();
    st_->watched.clear();
    for (auto& [type, hdl] : st_->registries)
      first.push_back(hdl);
    st_->registries.clear();
    {
      std::lock_guard<std::mutex> rguard{st_->routing->mtx};
      st_->routing->registries.clear();
      st_->routing->any.store(false, std::memory_order_release);
    }
    if (st_->outbox_hdl)
      first.push_back(std::move(st_->outbox_hdl));
    if (st_->env && st_->env->coordinator)
      last.push_back(caf::actor_cast<caf::actor>(st_->env->coordinator));
    if (st_->hub)
      last.push_back(caf::actor_cast<caf::actor>(st_->hub));
  }
  auto deadline = std::chrono::steady_clock::now() + stop_timeout;
  auto left = stop_and_wait(st_->sys, std::move(first), deadline);
  left += stop_and_wait(st_->sys, std::move(last), deadline);
  if (left > 0)
    log::warning("runtime",
                 std::to_string(left) + " actors did not stop within "
                   + std::to_string(stop_timeout.count() / 1000000) + " ms");
  return peer_states;
}

} // namespace cairn
