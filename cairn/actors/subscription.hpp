#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"
#include "caf/error.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/message_handler.hpp"
#include "caf/meta/type_name.hpp"
#include "caf/timespan.hpp"

#include "cairn/actors/coordinator.hpp"
#include "cairn/actors/subscription_hub.hpp"
#include "cairn/journal/journal.hpp"

/// Subscriptions: catch-up from LMDB, then the live feed, with bounded
/// in-flight events and acknowledgement.
///
/// A subscription is an actor that hands the committed events of the global
/// log (`$all`), or of one category, to a handler, in position order, each
/// exactly once per run:
///
/// 1. **Catch-up.** It reads the log out of LMDB, chunk by chunk, from after
///    its checkpoint (or from after `subscription_settings::start` when the
///    checkpoint does not exist).
/// 2. **Switch.** At the end of the log it subscribes to the hub, learns the
///    last position the hub published before the subscription took effect,
///    reads up to that position from LMDB and takes only later events from
///    the feed: no gap, no duplicate, even while commits go on.
/// 3. **Live.** Events arrive from the hub as they commit.
/// 4. **Fallback.** At most `max_in_flight` events wait for their
///    acknowledgement. A handler that falls that far behind makes the
///    subscription leave the live feed (counted in
///    `subscription_stats::fallbacks`); it reads LMDB again once half of them
///    are acknowledged, then switches back as in step 2. Neither the hub nor
///    the subscription buffers without bound.
///
/// **Corrupt records.** A record of the log that does not read back
/// (`errc::corrupt_record`: a failed checksum, bytes that do not decode) is
/// reported on standard error with the error (naming its stream and version)
/// and its position, counted in `subscription_stats::corrupt_records`, and
/// skipped: the events after it are delivered as usual. A handler with a
/// `skipped` function gets the position and the error instead and must
/// acknowledge the position (a router parks it as a dead letter first).
/// Other read errors stop the subscription.
///
/// The handler acknowledges each event it got with
/// `subscription_context::ack`, now or later, in any order. The
/// *acknowledged position* is the highest position below which every event
/// is acknowledged. With `store_checkpoint`, the subscription commits it as
/// its checkpoint through the coordinator (at most one such commit at a
/// time), and a restarted subscription resumes after it: delivery is
/// at-least-once across restarts. A handler that stores its effects and the
/// checkpoint in one write group (a projection) is exactly-once.
///
/// Protocol of the subscription's actor:
/// - `(caught_up_atom, uint64_t position)` -> the position a restart would
///   resume after (the stored checkpoint with `store_checkpoint`, else the
///   acknowledged position), once it is at least `position`. REQUIRES:
///   `position` is committed (from a receipt or `journal::last_position`).
/// - `(live_atom)` -> `true` once the subscription takes events from the
///   live feed (at once if it does).
/// - `(stats_atom)` -> `subscription_stats` (unless the handler answers it).
/// - `(events_atom, events)` from the hub; `(catch_up_atom)` internal.
///
/// The handler may add message handlers of its own (`subscription_handler::
/// extra`); they come first.
namespace cairn {

/// Settings of a subscription.
struct subscription_settings {
  /// Name of the checkpoint to resume after; empty: none (the subscription
  /// starts after `start` on every run).
  std::string checkpoint;
  /// Whether the subscription commits its acknowledged position under
  /// `checkpoint` itself. Off for handlers that store the checkpoint with
  /// their own writes.
  bool store_checkpoint = true;
  /// With `store_checkpoint`: commit the checkpoint at most once per this
  /// interval (at once when a `caught_up_atom` waits for it), so that a
  /// quiet stream of events does not cost a commit each. A restart delivers
  /// again what was acknowledged after the last stored checkpoint. 0: after
  /// every acknowledgement.
  caf::timespan checkpoint_interval = std::chrono::milliseconds{100};
  /// Only events of streams of this category; empty: all (`$all`).
  std::string category;
  /// The position to start after when the checkpoint does not exist (0: the
  /// start of the log).
  uint64_t start = 0;
  /// Events delivered and not yet acknowledged, at most (at least 1).
  size_t max_in_flight = 1024;
  /// Events read from LMDB per chunk (at least 1).
  size_t read_chunk = 256;
};

/// Counters of a subscription.
struct subscription_stats {
  /// The next position the subscription reads or takes from the feed.
  uint64_t next = 1;
  /// Every event up to this position is acknowledged.
  uint64_t acknowledged = 0;
  /// The checkpoint stored last (with `store_checkpoint`).
  uint64_t checkpoint = 0;
  /// Events delivered and not yet acknowledged.
  uint64_t in_flight = 0;
  /// Events delivered, read from LMDB and taken from the live feed.
  uint64_t delivered = 0;
  uint64_t from_journal = 0;
  uint64_t from_feed = 0;
  /// Times the subscription joined the live feed, and times it left it
  /// because its handler fell `max_in_flight` events behind.
  uint64_t switches = 0;
  uint64_t fallbacks = 0;
  /// Whether it takes events from the live feed now.
  bool live = false;
  /// Records of the log skipped because they are corrupt.
  uint64_t corrupt_records = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, subscription_stats& x) {
  return f(caf::meta::type_name("cairn.subscription_stats"), x.next,
           x.acknowledged, x.checkpoint, x.in_flight, x.delivered,
           x.from_journal, x.from_feed, x.switches, x.fallbacks, x.live,
           x.corrupt_records);
}

namespace detail {

struct subscription_state;

/// Where a remote subscription reads: the log of node `node`, through
/// `link`, this node's link to it (cairn/actors/cluster/link.hpp).
struct remote_source {
  std::string node;
  caf::actor link;
  /// Bound of a request for a feed to the node's gateway.
  caf::timespan timeout = std::chrono::seconds{10};
};

} // namespace detail

/// What a handler sees of its subscription. Valid as long as the
/// subscription's actor lives; use it only from the actor's own context
/// (its handlers and response handlers).
class subscription_context {
public:
  explicit subscription_context(detail::subscription_state* st) : st_(st) {
    // nop
  }

  /// The subscription's actor, for requests whose response handlers call
  /// `ack`.
  caf::event_based_actor* self() const noexcept;

  /// The journal the subscription reads.
  const std::shared_ptr<journal::journal>& journal() const noexcept;

  /// The coordinator that writes the journal.
  const coordinator_actor& coordinator() const noexcept;

  /// The settings the subscription runs with.
  const subscription_settings& settings() const noexcept;

  /// Acknowledges the delivered event at `position`. Acknowledging a
  /// position that is not in flight does nothing.
  void ack(uint64_t position);

  /// The subscription's counters.
  subscription_stats stats() const;

private:
  detail::subscription_state* st_;
};

/// The handler of a subscription.
struct subscription_handler {
  /// Receives the next events, in position order, never empty; each of them
  /// must be acknowledged through the context.
  std::function<void(std::vector<journal::stored_event>&)> deliver;
  /// More messages the subscription's actor handles, before its own.
  caf::message_handler extra;
  /// Optional: receives the position of a corrupt record of the log and the
  /// error reading it; must acknowledge the position. Without it, the
  /// subscription skips the record itself.
  std::function<void(uint64_t, const caf::error&)> skipped;
};

/// Makes the handler of a subscription, in its actor as it starts.
using subscription_factory
  = std::function<subscription_handler(subscription_context&)>;

/// Spawns a subscription reading `j`, switching to `hub`, storing its
/// checkpoint through `coordinator`. The actor quits with the error when a
/// read fails for another reason than a corrupt record. Bad settings (zero
/// `max_in_flight` or `read_chunk`, a checkpoint name over
/// `journal::max_checkpoint_name_size`) are refused with
/// `errc::invalid_argument`.
caf::expected<caf::actor>
spawn_subscription(caf::actor_system& sys, std::shared_ptr<journal::journal> j,
                   subscription_hub_actor hub, coordinator_actor coordinator,
                   subscription_settings settings,
                   subscription_factory make_handler);

namespace detail {

/// Spawns a remote subscription: the same actor as `spawn_subscription`,
/// reading node `source.node`'s log through its gateway instead of `j`,
/// storing its checkpoint in `j` through `coordinator`. Use
/// `cluster::subscribe_remote` (cairn/actors/cluster/remote_subscription.hpp).
caf::expected<caf::actor> spawn_remote_subscription(
  caf::actor_system& sys, std::shared_ptr<journal::journal> j,
  coordinator_actor coordinator, subscription_settings settings,
  remote_source source, subscription_factory make_handler);

} // namespace detail

class runtime;

/// Spawns a subscription on the journal of `rt`; `rt.stop()` stops it.
caf::expected<caf::actor> subscribe(runtime& rt, subscription_settings settings,
                                    subscription_factory make_handler);

/// A handler that sends each batch to `dst` as a request
/// `(events_atom, std::vector<journal::stored_event>)` and acknowledges the
/// batch when `dst` replies with an empty message (a handler that returns
/// `void`, or a response promise delivered with `caf::unit`). An error reply,
/// or `dst` terminating, makes the subscription quit with that error. At most
/// `max_in_flight` events wait for replies: a slow `dst` makes the
/// subscription fall back to LMDB, not buffer.
subscription_factory deliver_to(caf::actor dst);

namespace detail {

/// Makes the request a batch of events is sent in.
using batch_wrapper
  = std::function<caf::message(std::vector<journal::stored_event>)>;

/// `deliver_to` with the request of each batch made by `wrap`, e.g.
/// `(remote_events_atom, epoch, events)`: the handler behind `deliver_to`,
/// the feeds of cluster gateways and the sources of cluster projections.
subscription_factory deliver_to(caf::actor dst, batch_wrapper wrap);

} // namespace detail

/// Waits until subscription `sub` has handled every event up to `position`
/// (see `caught_up_atom`); returns the position it reached, or an error
/// (`errc::timeout` after `timeout`, or why `sub` is gone). Blocks the
/// calling thread: for programs and tests, not for actors.
caf::expected<uint64_t> await_caught_up(caf::actor_system& sys,
                                        const caf::actor& sub,
                                        uint64_t position,
                                        caf::timespan timeout);

} // namespace cairn
