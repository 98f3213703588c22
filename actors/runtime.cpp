#include "actors/runtime.hpp"

#include "caf/all.hpp"

#include "actors/outbox.hpp"

namespace cairn {

runtime::runtime(caf::actor_system& sys, runtime_options opts)
  : sys_(sys), opts_(std::move(opts)) {
  // nop
}

runtime::~runtime() {
  stop();
}

caf::expected<std::unique_ptr<runtime>> runtime::start(caf::actor_system& sys,
                                                       runtime_options opts) {
  auto j = journal::journal::open(opts.journal_path, opts.journal);
  if (!j)
    return std::move(j.error());
  auto last = (*j)->last_position();
  if (!last)
    return std::move(last.error());
  std::shared_ptr<journal::journal> shared{std::move(*j)};
  std::unique_ptr<runtime> rt{new runtime(sys, std::move(opts))};
  rt->hub_ = spawn_subscription_hub(sys, *last);
  auto env = std::make_shared<aggregate_env>();
  env->journal = shared;
  env->coordinator
    = spawn_coordinator(sys, shared, rt->opts_.coordinator, rt->hub_);
  env->settings = rt->opts_.aggregates;
  rt->env_ = std::move(env);
  return rt;
}

caf::actor runtime::find_or_spawn(std::type_index key,
                                  const std::function<caf::actor()>& f) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& hdl = registries_[key];
  if (!hdl && !stopped_)
    hdl = f();
  return hdl;
}

caf::actor runtime::routes::find(const std::string& category) {
  if (!any.load(std::memory_order_acquire))
    return {};
  std::lock_guard<std::mutex> guard{mtx};
  auto i = registries.find(category);
  return i == registries.end() ? caf::actor{} : i->second;
}

void runtime::route(const std::string& category, caf::actor registry) {
  {
    std::lock_guard<std::mutex> guard{routes_->mtx};
    routes_->registries[category] = std::move(registry);
    routes_->any.store(true, std::memory_order_release);
  }
  outbox();
}

caf::actor runtime::remote_registry(const std::string& category) {
  return routes_->find(category);
}

caf::actor runtime::outbox() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!outbox_ && !stopped_)
    outbox_ = spawn_outbox_dispatcher(
      sys_, env_->journal, env_->coordinator,
      [r = routes_](const std::string& category) { return r->find(category); });
  return outbox_;
}

void runtime::adopt(caf::actor hdl) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (stopped_)
    caf::anon_send_exit(hdl, caf::exit_reason::user_shutdown);
  else
    adopted_.push_back(std::move(hdl));
}

void runtime::adopt_router(caf::actor hdl) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!stopped_)
      routers_.push_back(hdl);
  }
  adopt(std::move(hdl));
}

std::vector<caf::actor> runtime::routers() {
  std::lock_guard<std::mutex> guard{mtx_};
  return routers_;
}

void runtime::stop() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (stopped_)
    return;
  stopped_ = true;
  for (auto& hdl : adopted_)
    caf::anon_send_exit(hdl, caf::exit_reason::user_shutdown);
  adopted_.clear();
  routers_.clear();
  for (auto& [type, hdl] : registries_)
    caf::anon_send_exit(hdl, caf::exit_reason::user_shutdown);
  registries_.clear();
  {
    std::lock_guard<std::mutex> rguard{routes_->mtx};
    routes_->registries.clear();
    routes_->any.store(false, std::memory_order_release);
  }
  if (outbox_)
    caf::anon_send_exit(outbox_, caf::exit_reason::user_shutdown);
  if (env_ && env_->coordinator)
    caf::anon_send_exit(env_->coordinator, caf::exit_reason::user_shutdown);
  if (hub_)
    caf::anon_send_exit(hub_, caf::exit_reason::user_shutdown);
}

} // namespace cairn
