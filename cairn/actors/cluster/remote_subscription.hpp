#pragma once

#include <map>
#include <string>

#include "caf/actor.hpp"
#include "caf/expected.hpp"

#include "cairn/actors/subscription.hpp"

/// Remote subscriptions: a subscription on this node reading the log of
/// another node of the cluster, through that node's gateway.
///
/// A remote subscription is the actor of a local one
/// (cairn/actors/subscription.hpp), with the same handler, settings,
/// acknowledgements and protocol, whose events come from node `source`:
///
/// 1. **Feed.** Once this node's link to `source` is up, it asks the
///    source's gateway for a feed of its log after the last position it
///    delivered (its checkpoint when it starts). The feed is a
///    subscription on the source node: it **catches up** from the source's
///    LMDB in chunks of `subscription_settings::read_chunk` events, with
///    back-pressure: one chunk in flight, the next read once this node's
///    handler acknowledged every event of the previous one; then it
///    **switches to the source's live feed** (its subscription hub) with
///    the local switch's guarantee: no gap, no duplicate.
/// 2. **Checkpoint per source.** Positions are those of the source's log.
///    With `subscription_settings::checkpoint` set to `name`, the
///    acknowledged position is stored in **this** node's journal under
///    `remote_checkpoint(name, source)` (`name@source`), through this
///    node's coordinator, and a restarted subscription resumes after it.
/// 3. **Source down.** When the source is unreachable (its connection
///    closed, or its heartbeats stopped for `cluster.connection-timeout`),
///    the feed is gone; the subscription waits for the link to be up again
///    and asks for a new feed after the last position it delivered: nothing
///    is lost or delivered twice. Subscriptions of other sources are other
///    actors and flow on meanwhile. A feed that fails on a source that is
///    up (the source stopping) is asked again after a delay doubling from
///    50 ms to a second.
///
/// Differences from a local subscription: `(live_atom)` answers `true`
/// once the feed is open (the source catches up, then follows its live
/// feed); `(caught_up_atom, position)` takes a position of the source's
/// log (with a category, of any category: the subscription asks its feed
/// whether every event of its category up to there is acknowledged).
/// `max_in_flight` bounds the chunk.
namespace cairn::cluster {

/// Name of the checkpoint of subscription `name` reading node `source`:
/// `name@source`, in the reading node's journal.
std::string remote_checkpoint(const std::string& name,
                              const std::string& source);

/// Spawns a subscription on the node of `rt` reading the log of node
/// `source` (`$all`, or `settings.category`); `rt.stop()` stops it.
/// `settings.checkpoint`, when set, names the subscription: its
/// checkpoint is `remote_checkpoint(settings.checkpoint, source)`.
///
/// Errors: `errc::invalid_argument` when `rt` is not clustered or has not
/// joined, when `source` is empty, is not a member of the cluster (naming
/// it and the members) or is this node (read it with `cairn::subscribe`),
/// for zero `max_in_flight` or `read_chunk`, and for a checkpoint name over
/// `journal::max_checkpoint_name_size` with its `@source`;
/// `errc::entity_unavailable` when the runtime is stopping.
caf::expected<caf::actor> subscribe_remote(runtime& rt,
                                           const std::string& source,
                                           subscription_settings settings,
                                           subscription_factory make_handler);

/// Subscribes to the log of every member of `rt`'s cluster, this node
/// included: node id -> its subscription. Every subscription gets its own
/// handler from `make_handler` and, with `settings.checkpoint` set to
/// `name`, stores its checkpoint under `remote_checkpoint(name, node id)`
/// (the own node's too). Errors: those of `subscribe_remote`; nothing is
/// left running after an error.
caf::expected<std::map<std::string, caf::actor>>
subscribe_cluster(runtime& rt, subscription_settings settings,
                  subscription_factory make_handler);

} // namespace cairn::cluster
