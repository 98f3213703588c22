#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/expected.hpp"

#include "cairn/actors/cluster/configure.hpp"
#include "cairn/actors/cluster/membership.hpp"
#include "cairn/actors/cluster/view.hpp"

/// A node of a cluster: its published gateway, its links and its routers.
/// Owned by the runtime (`runtime::start` with a `cluster.node-id`).
namespace cairn::cluster {

/// The cluster side of a runtime.
class node {
public:
  ~node();

  node(const node&) = delete;
  node& operator=(const node&) = delete;

  /// Spawns the gateway and publishes it on `s.port` (0: chosen by the OS)
  /// on all interfaces.
  ///
  /// Errors: `errc::bad_config` when the actor system has no middleman
  /// (see `configure`) or the port cannot be opened, naming it.
  static caf::expected<std::unique_ptr<node>>
  start(caf::actor_system& sys, const settings& s, view::local_fn local);

  /// The port the gateway is published on.
  uint16_t port() const noexcept {
    return port_;
  }

  /// Joins the cluster: sets the membership and spawns a link to every
  /// peer, which start connecting. Joining twice is an error.
  ///
  /// Errors: `errc::invalid_argument` when the node joined before.
  caf::error join(std::shared_ptr<const membership> m);

  /// The membership, or null before `join`.
  std::shared_ptr<const membership> members() const {
    return view_->members();
  }

  /// The link to peer `id`, or an invalid handle (not a peer, not joined,
  /// stopped).
  caf::actor link(const std::string& id) const {
    return view_->link(id);
  }

  /// Lets peers subscribe to this node's log through its gateway: `f`
  /// spawns a subscription on the node's journal (see `view::feed_fn`).
  void serve_log(view::feed_fn f) {
    view_->serve_log(std::move(f));
  }

  /// Returns the router of `category`, spawned on first use, delivering
  /// locally to `local`.
  caf::actor router(const std::string& category, caf::actor local);

  /// Asks every link for its state: peer id -> `connecting`, `up`, `down`
  /// (or `stopped`, after `shutdown`). Blocks up to `timeout`.
  std::map<std::string, std::string> peers(caf::timespan timeout
                                           = std::chrono::seconds{1});

  /// Unpublishes the gateway and returns the actors to stop (links,
  /// routers, gateway) and, in `states`, the peers' states just before.
  std::vector<caf::actor> shutdown(std::map<std::string, std::string>& states);

private:
  node(caf::actor_system& sys, settings s, std::shared_ptr<view> v);

  caf::actor_system& sys_;
  settings settings_;
  std::shared_ptr<view> view_;
  caf::actor gateway_;
  uint16_t port_ = 0;
  std::mutex mtx_;
  std::map<std::string, caf::actor> routers_;
  bool stopped_ = false;
};

} // namespace cairn::cluster
