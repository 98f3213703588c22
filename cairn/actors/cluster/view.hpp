#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "caf/actor.hpp"
#include "caf/expected.hpp"

#include "cairn/actors/cluster/membership.hpp"
#include "cairn/actors/subscription.hpp"
#include "cairn/journal/errc.hpp"

namespace cairn::cluster {

/// What a node's gateway, routers and links share: the membership (set
/// when the node joins), the link of each peer, and how to find the local
/// registry of a category. Thread-safe.
class view {
public:
  /// Finds (or spawns) the local registry of a category; an invalid handle
  /// when the category is not announced or the runtime stopped.
  using local_fn = std::function<caf::actor(const std::string& category)>;

  /// Spawns a subscription on the node's own journal (the feed of a remote
  /// subscription, see `remote_subscribe_atom`).
  using feed_fn = std::function<caf::expected<caf::actor>(
    subscription_settings, subscription_factory)>;

  explicit view(local_fn local) : local_(std::move(local)) {
    // nop
  }

  /// The membership, or null before the node joined.
  std::shared_ptr<const membership> members() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return members_;
  }

  /// The link to peer `id`, or an invalid handle.
  caf::actor link(const std::string& id) const {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = links_.find(id);
    return i == links_.end() ? caf::actor{} : i->second;
  }

  /// Sets the membership and the links (once, when the node joins).
  void join(std::shared_ptr<const membership> members,
            std::unordered_map<std::string, caf::actor> links) {
    std::lock_guard<std::mutex> guard{mtx_};
    members_ = std::move(members);
    links_ = std::move(links);
  }

  /// Forgets the links (when the node stops).
  std::unordered_map<std::string, caf::actor> take_links() {
    std::lock_guard<std::mutex> guard{mtx_};
    return std::move(links_);
  }

  /// The local registry of `category` (see `local_fn`).
  caf::actor local(const std::string& category) const {
    return local_(category);
  }

  /// Sets how the gateway spawns feeds of the node's log (once, when the
  /// runtime starts).
  void serve_log(feed_fn f) {
    std::lock_guard<std::mutex> guard{mtx_};
    feed_ = std::move(f);
  }

  /// Spawns a feed of the node's log (see `feed_fn`). Errors:
  /// `errc::entity_unavailable` when the node serves no log (yet).
  caf::expected<caf::actor> spawn_feed(subscription_settings settings,
                                       subscription_factory f) const {
    feed_fn fn;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      fn = feed_;
    }
    if (!fn)
      return make_error(errc::entity_unavailable,
                        "this node serves no log to other nodes");
    return fn(std::move(settings), std::move(f));
  }

private:
  mutable std::mutex mtx_;
  std::shared_ptr<const membership> members_;
  std::unordered_map<std::string, caf::actor> links_;
  local_fn local_;
  feed_fn feed_;
};

} // namespace cairn::cluster
