#include "cairn/actors/subscription.hpp"

#include <algorithm>
#include <iostream>
#include <set>
#include <utility>

#include "caf/all.hpp"

#include "cairn/actors/atoms.hpp"
#include "cairn/actors/cluster/messages.hpp"
#include "cairn/actors/journal_messages.hpp"
#include "cairn/actors/runtime.hpp"
#include "cairn/journal/errc.hpp"
#include "cairn/journal/log.hpp"

namespace cairn {

namespace detail {

/// Where a subscription is.
enum class subscription_phase : uint8_t {
  /// Reading LMDB chunk by chunk (`catch_up_atom` to itself).
  catching_up,
  /// Waiting for the hub to confirm the subscription.
  subscribing,
  /// Taking events from the live feed.
  live,
};

struct subscription_state {
  caf::event_based_actor* self = nullptr;
  std::shared_ptr<journal::journal> j;
  subscription_hub_actor hub;
  coordinator_actor coordinator;
  subscription_settings settings;
  subscription_handler handler;
  subscription_phase phase = subscription_phase::catching_up;
  /// Catching up, but waiting for room: `in_flight` is full.
  bool paused = false;
  /// The next position to read; every event before it was delivered.
  uint64_t next = 1;
  std::set<uint64_t> in_flight;
  uint64_t checkpoint_stored = 0;
  bool checkpoint_writing = false;
  /// A `tick_atom` is on its way (the interval had not passed).
  bool checkpoint_scheduled = false;
  std::chrono::steady_clock::time_point checkpoint_written;
  /// Counts subscriptions to the hub, so that a late answer to a question
  /// asked during an earlier one is recognized.
  uint64_t epoch = 0;
  subscription_stats stats;
  std::vector<std::pair<uint64_t, caf::response_promise>> waiters;
  std::vector<caf::response_promise> live_waiters;
  /// The position of the next corrupt record of the log, once located (0:
  /// none known), and the error reading it.
  uint64_t bad = 0;
  caf::error bad_error;
  /// A remote subscription's source (`remote.link` is valid), else none.
  remote_source remote;
  /// Remote: the gateway the last feed was asked of.
  caf::actor gateway;
  /// Remote: the feed, once open.
  caf::actor feed;
  /// Remote: the batches of the feed not yet answered, by last position.
  std::vector<std::pair<uint64_t, caf::response_promise>> batches;
  /// Remote: the delay before asking again after a failure.
  caf::timespan retry_delay = std::chrono::milliseconds{50};
  static inline const char* name = "cairn.subscription";

  bool is_remote() const {
    return static_cast<bool>(remote.link);
  }

  uint64_t acknowledged() const {
    return in_flight.empty() ? next - 1 : *in_flight.begin() - 1;
  }

  bool stores_checkpoint() const {
    return settings.store_checkpoint && !settings.checkpoint.empty();
  }

  /// The position a restart would resume after.
  uint64_t durable() const {
    return stores_checkpoint() ? checkpoint_stored : acknowledged();
  }
};

} // namespace detail

namespace {

using state_type = detail::subscription_state;
using phase = detail::subscription_phase;
using pointer = caf::stateful_actor<state_type>*;

void answer_waiters(pointer self);

void store_checkpoint(pointer self) {
  auto& st = self->state;
  auto low = st.acknowledged();
  if (!st.stores_checkpoint() || low <= st.checkpoint_stored
      || st.checkpoint_writing)
    return;
  auto now = std::chrono::steady_clock::now();
  auto interval = st.settings.checkpoint_interval;
  if (interval.count() > 0 && st.waiters.empty()
      && now - st.checkpoint_written < interval) {
    if (!st.checkpoint_scheduled) {
      st.checkpoint_scheduled = true;
      self->delayed_send(self, interval - (now - st.checkpoint_written),
                         tick_atom::value);
    }
    return;
  }
  st.checkpoint_written = now;
  st.checkpoint_writing = true;
  journal::write_group g;
  g.checkpoints.emplace_back(st.settings.checkpoint, low);
  self->request(st.coordinator, caf::infinite, commit_atom::value, g)
    .then(
      [self, low](journal::group_receipt&) {
        self->state.checkpoint_writing = false;
        self->state.checkpoint_stored = low;
        answer_waiters(self);
        store_checkpoint(self);
      },
      [self](caf::error&) {
        // The journal failed; the checkpoint stays behind, which only means
        // delivering again after a restart what was acknowledged.
        self->state.checkpoint_writing = false;
      });
}

void answer_waiters(pointer self) {
  auto& st = self->state;
  auto low = st.durable();
  auto i = std::partition(st.waiters.begin(), st.waiters.end(),
                          [low](auto& w) { return w.first > low; });
  for (auto k = i; k != st.waiters.end(); ++k)
    k->second.deliver(low);
  st.waiters.erase(i, st.waiters.end());
}

/// Reacts to a change of the acknowledged position or of `next`.
void progress(pointer self) {
  auto& st = self->state;
  store_checkpoint(self);
  answer_waiters(self);
  if (!st.batches.empty()) {
    // Remote: the feed reads its next chunk once a batch is answered.
    auto low = st.acknowledged();
    auto i = std::partition(st.batches.begin(), st.batches.end(),
                            [low](auto& b) { return b.first > low; });
    for (auto k = i; k != st.batches.end(); ++k)
      k->second.deliver(caf::unit);
    st.batches.erase(i, st.batches.end());
  }
  if (st.paused && st.in_flight.size() <= st.settings.max_in_flight / 2) {
    st.paused = false;
    self->send(self, catch_up_atom::value);
  }
}

/// Hands `events` (in position order, all at or after `next`) to the
/// handler.
void deliver(pointer self, std::vector<journal::stored_event>& events,
             bool from_feed) {
  auto& st = self->state;
  if (events.empty())
    return;
  for (auto& ev : events)
    st.in_flight.insert(st.in_flight.end(), ev.position);
  st.next = events.back().position + 1;
  st.stats.delivered += events.size();
  (from_feed ? st.stats.from_feed : st.stats.from_journal) += events.size();
  st.handler.deliver(events);
}

bool full(pointer self) {
  auto& st = self->state;
  return st.in_flight.size() >= st.settings.max_in_flight;
}

/// Events to read next: a chunk, no more than there is room for.
size_t chunk(pointer self) {
  auto& st = self->state;
  return std::min(st.settings.read_chunk,
                  st.settings.max_in_flight - st.in_flight.size());
}

/// Leaves the live feed (or gives up joining it) until there is room.
void fall_back(pointer self) {
  auto& st = self->state;
  self->send(st.hub, unsubscribe_atom::value,
             caf::actor_cast<caf::actor>(self));
  st.phase = phase::catching_up;
  st.paused = true;
  ++st.stats.fallbacks;
}

/// Returns the position of the corrupt record that a read of the log from
/// `from` met: reads the entries before it one by one (they read fine), then
/// narrows down the bad one, as positions may have gaps after retention.
caf::expected<uint64_t> locate_corrupt(const journal::journal& j,
                                       uint64_t from) {
  auto x = from;
  for (;;) {
    auto one = j.read_all(x, 1);
    if (one) {
      if (one->events.empty())
        return make_error(errc::corrupt_record,
                          "a corrupt record after position "
                            + std::to_string(from) + " reads fine one by one");
      x = one->next_position;
      continue;
    }
    if (code_of(one.error()) != errc::corrupt_record)
      return std::move(one.error());
    // Reads from x up to the bad position meet the same record.
    auto text = describe(one.error());
    auto same = [&](uint64_t y) {
      auto r = j.read_all(y, 1);
      return !r && describe(r.error()) == text;
    };
    uint64_t lo = x;
    uint64_t step = 1;
    while (same(lo + step)) {
      lo += step;
      step *= 2;
    }
    auto hi = lo + step;
    while (hi - lo > 1) {
      auto mid = lo + (hi - lo) / 2;
      if (same(mid))
        lo = mid;
      else
        hi = mid;
    }
    return lo;
  }
}

/// Skips the corrupt record at `st.bad`: reports it, or hands it to the
/// handler's `skipped`.
void skip_corrupt(pointer self, journal::log_slice& out) {
  auto& st = self->state;
  auto pos = st.bad;
  auto err = std::move(st.bad_error);
  st.bad = 0;
  st.bad_error = caf::error{};
  ++st.stats.corrupt_records;
  log::warning(st.settings.checkpoint.empty()
                 ? std::string{"subscription"}
                 : "subscription." + st.settings.checkpoint,
               "skipping the corrupt record at position "
                 + std::to_string(pos) + ": " + describe(err));
  out.next_position = pos + 1;
  if (st.handler.skipped) {
    st.in_flight.insert(pos);
    st.next = std::max(st.next, pos + 1);
    st.handler.skipped(pos, err);
  }
}

/// Reads up to `count` events from `next`, like `journal::read_all`, but
/// skips a corrupt record (`skip_corrupt`) instead of failing.
caf::expected<journal::log_slice> read_log(pointer self, size_t count) {
  auto& st = self->state;
  if (st.bad != 0 && st.next > st.bad)
    st.bad = 0; // passed it on the live feed
  if (st.bad == 0) {
    auto slice = st.j->read_all(st.next, count, st.settings.category);
    if (slice || code_of(slice.error()) != errc::corrupt_record)
      return slice;
    auto bad = locate_corrupt(*st.j, st.next);
    if (!bad)
      return std::move(bad.error());
    st.bad = *bad;
    st.bad_error = std::move(slice.error());
  }
  journal::log_slice result;
  result.next_position = st.next;
  if (st.next < st.bad) {
    // The entries before the corrupt record, one by one.
    auto one = st.j->read_all(st.next, 1);
    if (one && !one->events.empty() && one->events.front().position < st.bad) {
      result.next_position = one->next_position;
      auto& ev = one->events.front();
      if (st.settings.category.empty()
          || journal::category_of(ev.stream) == st.settings.category)
        result.events.push_back(std::move(ev));
      return result;
    }
    if (!one && code_of(one.error()) != errc::corrupt_record)
      return std::move(one.error());
    // Nothing stored between `next` and the corrupt record.
  }
  skip_corrupt(self, result);
  return result;
}

/// Reads the log from `next` up to `until` (inclusive) while there is room.
/// Returns false when it stopped for lack of room.
caf::expected<bool> read_until(pointer self, uint64_t until) {
  auto& st = self->state;
  while (st.next <= until) {
    if (full(self))
      return false;
    auto slice = read_log(self, chunk(self));
    if (!slice)
      return std::move(slice.error());
    auto& evs = slice->events;
    evs.erase(std::find_if(evs.begin(), evs.end(),
                           [until](auto& ev) { return ev.position > until; }),
              evs.end());
    auto from = st.next;
    deliver(self, evs, false);
    st.next = std::max(st.next, std::min(slice->next_position, until + 1));
    if (st.next == from)
      break; // nothing more stored
  }
  st.next = std::max(st.next, until + 1);
  return true;
}

/// Moves `next` past the positions the hub has published, once every event
/// of ours among them has arrived (for a category, the others never do).
void sync_with_hub(pointer self) {
  auto& st = self->state;
  if (st.phase != phase::live)
    return;
  auto epoch = st.epoch;
  self->request(st.hub, caf::infinite, stats_atom::value)
    .then(
      [self, epoch](uint64_t published) {
        auto& st = self->state;
        if (st.phase != phase::live || st.epoch != epoch)
          return;
        st.next = std::max(st.next, published + 1);
        progress(self);
      },
      [](caf::error&) {
        // nop: the hub is gone; the runtime is stopping
      });
}

void go_live(pointer self) {
  auto& st = self->state;
  st.phase = phase::subscribing;
  auto epoch = ++st.epoch;
  self
    ->request(st.hub, caf::infinite, subscribe_atom::value,
              caf::actor_cast<caf::actor>(self), st.settings.category)
    .then(
      [self, epoch](uint64_t published) {
        auto& st = self->state;
        if (st.phase != phase::subscribing || st.epoch != epoch)
          return;
        st.phase = phase::live;
        ++st.stats.switches;
        auto done = read_until(self, published);
        if (!done)
          return self->quit(std::move(done.error()));
        if (!*done) {
          fall_back(self);
        } else {
          for (auto& rp : st.live_waiters)
            rp.deliver(true);
          st.live_waiters.clear();
          // A waiter may wait for a position of another category that the
          // hub published after it took the subscription.
          if (!st.waiters.empty() && !st.settings.category.empty())
            sync_with_hub(self);
        }
        progress(self);
      },
      [self](caf::error& err) { self->quit(std::move(err)); });
}

void catch_up(pointer self) {
  auto& st = self->state;
  if (st.phase != phase::catching_up)
    return;
  if (full(self)) {
    st.paused = true;
    return;
  }
  st.paused = false;
  auto from = st.next;
  auto slice = read_log(self, chunk(self));
  if (!slice)
    return self->quit(std::move(slice.error()));
  deliver(self, slice->events, false);
  st.next = std::max(st.next, slice->next_position);
  if (st.next == from)
    go_live(self); // the end of the log
  else
    self->send(self, catch_up_atom::value);
  progress(self);
}

void on_feed(pointer self, std::vector<journal::stored_event>& events) {
  auto& st = self->state;
  if (st.phase != phase::live || events.empty())
    return; // sent before the subscription took effect or after leaving
  if (st.settings.category.empty() && events.front().position > st.next) {
    // A gap in the feed: fill it from LMDB.
    auto done = read_until(self, events.front().position - 1);
    if (!done)
      return self->quit(std::move(done.error()));
    if (!*done) {
      fall_back(self);
      return progress(self);
    }
  }
  auto first = std::find_if(events.begin(), events.end(),
                            [&](auto& ev) { return ev.position >= st.next; });
  events.erase(events.begin(), first);
  deliver(self, events, true);
  if (full(self))
    fall_back(self); // too slow for the live feed: read LMDB when there is room
  progress(self);
}

// -- remote subscriptions
// ------------------------------------------------------

std::string remote_log_name(pointer self) {
  auto& st = self->state;
  return st.settings.checkpoint.empty()
           ? "subscription.remote." + st.remote.node
           : "subscription." + st.settings.checkpoint;
}

void remote_open(pointer self, caf::actor gateway);

void sync_with_feed(pointer self);

/// Asks the link for the source's gateway: once it is up, and with a new
/// connection when `lost` (the last gateway's connection was lost).
void remote_watch(pointer self, bool lost) {
  auto& st = self->state;
  auto last = lost ? st.gateway : caf::actor{};
  auto epoch = st.epoch;
  self
    ->request(st.remote.link, caf::infinite, cluster::link_watch_atom::value,
              std::move(last))
    .then(
      [self, epoch](caf::actor& gateway) {
        if (self->state.epoch == epoch)
          remote_open(self, std::move(gateway));
      },
      [self](caf::error&) {
        // The link stopped: this node is stopping.
        self->quit(caf::exit_reason::user_shutdown);
      });
}

/// The feed is gone or could not be opened: waits for the source and asks
/// again from the last position delivered.
void remote_lost(pointer self, const caf::error& reason) {
  auto& st = self->state;
  ++st.epoch; // what the old feed still sends is refused
  st.phase = phase::catching_up;
  st.feed = nullptr;
  // Their events stay in flight; the old feed waits for no answer.
  st.batches.clear();
  auto lost = reason == caf::exit_reason::remote_link_unreachable
              || reason == caf::sec::request_timeout;
  log::warning(remote_log_name(self),
               "the feed of node '" + st.remote.node + "' stopped ("
                 + self->system().render(reason) + "); resuming after position "
                 + std::to_string(st.next - 1) + " once it is back");
  if (lost) {
    st.retry_delay = std::chrono::milliseconds{50};
    remote_watch(self, true);
  } else {
    // The source is up but its feed failed or it is stopping: ask again
    // after a delay, doubling up to a second.
    self->delayed_send(self, st.retry_delay, cluster::remote_retry_atom::value,
                       st.epoch);
    st.retry_delay
      = std::min(st.retry_delay * 2, caf::timespan{std::chrono::seconds{1}});
  }
}

void remote_open(pointer self, caf::actor gateway) {
  auto& st = self->state;
  st.gateway = std::move(gateway);
  st.phase = phase::subscribing;
  auto epoch = ++st.epoch;
  self
    ->request(st.gateway, st.remote.timeout,
              cluster::remote_subscribe_atom::value, st.settings.category,
              st.next - 1, static_cast<uint64_t>(st.settings.read_chunk), epoch)
    .then(
      [self, epoch](caf::actor& feed) {
        auto& st = self->state;
        if (st.epoch != epoch)
          return;
        if (!feed) {
          remote_lost(self, make_error(errc::invalid_argument,
                                       "node '" + st.remote.node
                                         + "' answered with no feed"));
          return;
        }
        st.phase = phase::live;
        st.feed = feed;
        st.retry_delay = std::chrono::milliseconds{50};
        ++st.stats.switches;
        log::info(remote_log_name(self), "reading node '" + st.remote.node
                                           + "' after position "
                                           + std::to_string(st.next - 1));
        for (auto& rp : st.live_waiters)
          rp.deliver(true);
        st.live_waiters.clear();
        // Told when the feed terminates, however: quits, or its node is
        // unreachable (CAF kills the proxies of a lost connection).
        caf::weak_actor_ptr me = self->ctrl();
        auto ptr = caf::actor_cast<caf::abstract_actor*>(feed);
        ptr->attach_functor([me, epoch](const caf::error& reason) {
          if (auto hdl = caf::actor_cast<caf::actor>(me))
            caf::anon_send(hdl, cluster::remote_down_atom::value, epoch,
                           reason);
        });
        if (!st.settings.category.empty())
          sync_with_feed(self);
      },
      [self, epoch](caf::error& err) {
        if (self->state.epoch == epoch)
          remote_lost(self, err);
      });
}

/// Moves `next` past the positions of other categories up to the highest
/// position a waiter waits for, once the feed says that every event of
/// ours up to there is acknowledged (its own `caught_up_atom`, which moves
/// past the source's other categories with the source's hub).
void sync_with_feed(pointer self) {
  auto& st = self->state;
  if (st.phase != phase::live || !st.feed || st.waiters.empty())
    return;
  uint64_t target = 0;
  for (auto& w : st.waiters)
    target = std::max(target, w.first);
  auto epoch = st.epoch;
  self->request(st.feed, st.remote.timeout, caught_up_atom::value, target)
    .then(
      [self, epoch](uint64_t reached) {
        auto& st = self->state;
        if (st.epoch != epoch)
          return;
        // The feed acknowledges an event once this subscription answered
        // its batch: every event of ours up to `reached` arrived.
        st.next = std::max(st.next, reached + 1);
        progress(self);
      },
      [](caf::error&) {
        // nop: the feed is gone (the subscription asks for a new one) or
        // slow; the next caught_up_atom asks again
      });
}

/// A batch of the feed: delivered, answered once acknowledged.
caf::result<void> on_remote_events(pointer self, uint64_t epoch,
                                   std::vector<journal::stored_event>& events) {
  auto& st = self->state;
  if (epoch != st.epoch)
    return make_error(errc::entity_unavailable,
                      "a feed this subscription no longer reads");
  auto first = std::find_if(events.begin(), events.end(),
                            [&](auto& ev) { return ev.position >= st.next; });
  events.erase(events.begin(), first);
  if (events.empty())
    return caf::unit;
  auto last = events.back().position;
  deliver(self, events, true);
  if (st.acknowledged() >= last) {
    progress(self);
    return caf::unit;
  }
  auto rp = self->make_response_promise();
  st.batches.emplace_back(last, rp);
  progress(self);
  return rp;
}

caf::behavior subscription_impl(
  pointer self, std::shared_ptr<journal::journal> j, subscription_hub_actor hub,
  coordinator_actor coordinator, subscription_settings settings,
  subscription_factory make_handler, detail::remote_source remote) {
  auto& st = self->state;
  st.self = self;
  st.remote = std::move(remote);
  st.j = std::move(j);
  st.hub = std::move(hub);
  st.coordinator = std::move(coordinator);
  st.settings = std::move(settings);
  st.next = st.settings.start + 1;
  if (!st.settings.checkpoint.empty()) {
    auto cp = st.j->checkpoint(st.settings.checkpoint);
    if (!cp) {
      self->quit(std::move(cp.error()));
      return {};
    }
    if (*cp) {
      st.checkpoint_stored = **cp;
      st.next = **cp + 1;
    }
  }
  subscription_context ctx{&st};
  st.handler = make_handler(ctx);
  if (st.is_remote())
    remote_watch(self, false);
  else
    self->send(self, catch_up_atom::value);
  return st.handler.extra.or_else(
    [self](catch_up_atom) {
      if (!self->state.is_remote())
        catch_up(self);
    },
    [self](cluster::remote_events_atom, uint64_t epoch,
           std::vector<journal::stored_event>& events) -> caf::result<void> {
      return on_remote_events(self, epoch, events);
    },
    [self](cluster::remote_down_atom, uint64_t epoch, caf::error& reason) {
      if (self->state.epoch == epoch)
        remote_lost(self, reason);
    },
    [self](cluster::remote_retry_atom, uint64_t epoch) {
      if (self->state.epoch == epoch)
        remote_watch(self, false);
    },
    [self](tick_atom) {
      self->state.checkpoint_scheduled = false;
      store_checkpoint(self);
    },
    [self](events_atom, std::vector<journal::stored_event>& events) {
      if (!self->state.is_remote())
        on_feed(self, events);
    },
    [self](caught_up_atom, uint64_t position) -> caf::result<uint64_t> {
      auto& st = self->state;
      if (st.durable() >= position)
        return st.durable();
      auto rp = self->make_response_promise();
      st.waiters.emplace_back(position, rp);
      store_checkpoint(self); // one held back by the interval
      if (!st.settings.category.empty())
        st.is_remote() ? sync_with_feed(self) : sync_with_hub(self);
      return rp;
    },
    [self](live_atom) -> caf::result<bool> {
      auto& st = self->state;
      if (st.phase == phase::live)
        return true;
      auto rp = self->make_response_promise();
      st.live_waiters.push_back(rp);
      return rp;
    },
    [self](stats_atom) { return subscription_context{&self->state}.stats(); });
}

} // namespace

// -- subscription_context -----------------------------------------------------

caf::event_based_actor* subscription_context::self() const noexcept {
  return st_->self;
}

const std::shared_ptr<journal::journal>&
subscription_context::journal() const noexcept {
  return st_->j;
}

const coordinator_actor& subscription_context::coordinator() const noexcept {
  return st_->coordinator;
}

const subscription_settings& subscription_context::settings() const noexcept {
  return st_->settings;
}

void subscription_context::ack(uint64_t position) {
  if (st_->in_flight.erase(position) > 0)
    progress(static_cast<pointer>(st_->self));
}

subscription_stats subscription_context::stats() const {
  auto result = st_->stats;
  result.next = st_->next;
  result.acknowledged = st_->acknowledged();
  result.checkpoint = st_->checkpoint_stored;
  result.in_flight = st_->in_flight.size();
  result.live = st_->phase == phase::live;
  return result;
}

// -- free functions -----------------------------------------------------------

caf::expected<caf::actor>
spawn_subscription(caf::actor_system& sys, std::shared_ptr<journal::journal> j,
                   subscription_hub_actor hub, coordinator_actor coordinator,
                   subscription_settings settings,
                   subscription_factory make_handler) {
  if (settings.max_in_flight == 0)
    return make_error(errc::invalid_argument,
                      "subscription max_in_flight must be at least 1");
  if (settings.read_chunk == 0)
    return make_error(errc::invalid_argument,
                      "subscription read_chunk must be at least 1");
  if (!j || !hub || !make_handler)
    return make_error(errc::invalid_argument,
                      "a subscription needs a journal, a hub and a handler");
  if (settings.checkpoint.size() > journal::max_checkpoint_name_size)
    return make_error(errc::invalid_argument,
                      "subscription checkpoint name " + settings.checkpoint
                        + " is " + std::to_string(settings.checkpoint.size())
                        + " bytes long, over the maximum of "
                        + std::to_string(journal::max_checkpoint_name_size)
                        + " (max_checkpoint_name_size)");
  return sys.spawn(subscription_impl, std::move(j), std::move(hub),
                   std::move(coordinator), std::move(settings),
                   std::move(make_handler), detail::remote_source{});
}

namespace detail {

caf::expected<caf::actor> spawn_remote_subscription(
  caf::actor_system& sys, std::shared_ptr<journal::journal> j,
  coordinator_actor coordinator, subscription_settings settings,
  remote_source source, subscription_factory make_handler) {
  if (!source.link)
    return make_error(errc::invalid_argument, "a remote subscription of node '"
                                                + source.node
                                                + "' needs the link to it");
  if (settings.max_in_flight == 0 || settings.read_chunk == 0)
    return make_error(errc::invalid_argument,
                      "subscription max_in_flight and read_chunk must be at "
                      "least 1");
  if (!j || !make_handler)
    return make_error(errc::invalid_argument,
                      "a subscription needs a journal and a handler");
  if (settings.checkpoint.size() > journal::max_checkpoint_name_size)
    return make_error(errc::invalid_argument,
                      "subscription checkpoint name " + settings.checkpoint
                        + " is " + std::to_string(settings.checkpoint.size())
                        + " bytes long, over the maximum of "
                        + std::to_string(journal::max_checkpoint_name_size)
                        + " (max_checkpoint_name_size)");
  // One chunk in flight: the feed reads the next one once this node's
  // handler acknowledged the previous.
  settings.read_chunk = std::min(settings.read_chunk, settings.max_in_flight);
  return sys.spawn(subscription_impl, std::move(j), subscription_hub_actor{},
                   std::move(coordinator), std::move(settings),
                   std::move(make_handler), std::move(source));
}

} // namespace detail

caf::expected<caf::actor> subscribe(runtime& rt, subscription_settings settings,
                                    subscription_factory make_handler) {
  auto name = settings.checkpoint;
  auto sub
    = spawn_subscription(rt.system(), rt.journal(), rt.hub(), rt.coordinator(),
                         std::move(settings), std::move(make_handler));
  if (sub) {
    rt.adopt(*sub);
    rt.watch("subscription", std::move(name), *sub);
  }
  return sub;
}

subscription_factory deliver_to(caf::actor dst) {
  return detail::deliver_to(
    std::move(dst), [](std::vector<journal::stored_event> events) {
      return caf::make_message(events_atom::value, std::move(events));
    });
}

subscription_factory detail::deliver_to(caf::actor dst, batch_wrapper wrap) {
  return [dst, wrap](subscription_context& ctx) {
    auto self = ctx.self();
    self->monitor(dst);
    self->set_down_handler(
      [self](caf::down_msg& msg) { self->quit(msg.reason); });
    subscription_handler h;
    h.deliver = [ctx, dst, wrap](std::vector<journal::stored_event>& events) {
      auto self = ctx.self();
      std::vector<uint64_t> positions;
      positions.reserve(events.size());
      for (auto& ev : events)
        positions.push_back(ev.position);
      self->request(dst, caf::infinite, wrap(std::move(events)))
        .then(
          [ctx, positions]() mutable {
            for (auto pos : positions)
              ctx.ack(pos);
          },
          [self](caf::error& err) { self->quit(std::move(err)); });
    };
    return h;
  };
}

caf::expected<uint64_t> await_caught_up(caf::actor_system& sys,
                                        const caf::actor& sub,
                                        uint64_t position,
                                        caf::timespan timeout) {
  caf::scoped_actor self{sys};
  caf::expected<uint64_t> result{caf::error{}};
  self->request(sub, timeout, caught_up_atom::value, position)
    .receive([&](uint64_t pos) { result = pos; },
             [&](caf::error& err) {
               if (err == caf::sec::request_timeout)
                 result
                   = make_error(errc::timeout, "subscription not caught up to "
                                                 + std::to_string(position));
               else
                 result = std::move(err);
             });
  return result;
}

} // namespace cairn
