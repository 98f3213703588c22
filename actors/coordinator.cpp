#include "actors/coordinator.hpp"

#include <chrono>
#include <vector>

#include "caf/all.hpp"

#include "journal/errc.hpp"

namespace cairn {

namespace {

using receipt_promise = caf::typed_response_promise<journal::group_receipt>;

struct coordinator_state {
  std::shared_ptr<journal::journal> j;
  coordinator_settings settings;
  subscription_hub_actor hub;
  /// The groups of the next commit and whom to answer.
  std::vector<journal::write_group> groups;
  std::vector<receipt_promise> promises;
  uint64_t buffered_events = 0;
  uint64_t buffered_bytes = 0;
  /// Whether a flush_atom is in our mailbox.
  bool flush_pending = false;
  bool fail_next_persist = false;
  coordinator_stats stats;
  static inline const char* name = "cairn.coordinator";
};

using pointer = coordinator_actor::stateful_pointer<coordinator_state>;

/// Hands the committed events of `groups` to the hub, in position order.
void publish(pointer self, std::vector<journal::write_group>& groups,
             std::vector<journal::journal::group_outcome>& outcomes) {
  std::vector<journal::stored_event> events;
  for (size_t i = 0; i < groups.size(); ++i) {
    if (!outcomes[i])
      continue;
    auto& receipt = *outcomes[i];
    auto& g = groups[i];
    for (size_t k = 0; k < g.appends.size(); ++k) {
      auto& a = g.appends[k];
      auto& r = receipt.appends[k];
      for (size_t n = 0; n < a.events.size(); ++n) {
        journal::stored_event ev;
        ev.stream = a.stream;
        ev.version = r.first_version + n;
        ev.position = r.first_position + n;
        ev.record = std::move(a.events[n]);
        events.push_back(std::move(ev));
      }
    }
  }
  if (!events.empty())
    self->send(self->state.hub, publish_atom::value, std::move(events));
}

/// Commits every buffered group in one transaction and answers each writer.
void flush(pointer self) {
  auto& st = self->state;
  if (st.groups.empty())
    return;
  auto groups = std::move(st.groups);
  auto promises = std::move(st.promises);
  st.groups.clear();
  st.promises.clear();
  auto events = st.buffered_events;
  auto bytes = st.buffered_bytes;
  st.buffered_events = 0;
  st.buffered_bytes = 0;
  auto t0 = std::chrono::steady_clock::now();
  auto res = st.j->commit(groups);
  auto ns = static_cast<uint64_t>(
    std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::steady_clock::now() - t0)
      .count());
  auto& s = st.stats;
  ++s.commits;
  s.commit_ns_total += ns;
  s.commit_ns_max = std::max(s.commit_ns_max, ns);
  if (!res) {
    s.failed_groups += groups.size();
    for (auto& rp : promises)
      rp.deliver(res.error());
    return;
  }
  uint64_t committed_events = 0;
  for (size_t i = 0; i < groups.size(); ++i) {
    auto& outcome = (*res)[i];
    if (outcome) {
      ++s.groups;
      committed_events += groups[i].event_count();
      promises[i].deliver(*outcome);
    } else {
      ++s.rejected_groups;
      promises[i].deliver(outcome.error());
    }
  }
  s.events += committed_events;
  s.bytes += bytes;
  s.max_events_per_commit = std::max(s.max_events_per_commit, events);
  if (st.hub)
    publish(self, groups, *res);
}

} // namespace

coordinator_actor::behavior_type
coordinator_impl(pointer self, std::shared_ptr<journal::journal> j,
                 coordinator_settings settings, subscription_hub_actor hub) {
  self->state.j = std::move(j);
  self->state.settings = settings;
  self->state.hub = std::move(hub);
  return {
    [self](commit_atom,
           journal::write_group& g) -> caf::result<journal::group_receipt> {
      auto& st = self->state;
      if (st.fail_next_persist) {
        st.fail_next_persist = false;
        return make_error(errc::storage_error, "injected persist failure");
      }
      auto n = g.event_count();
      auto b = g.byte_size();
      if (!st.groups.empty()
          && (st.buffered_events + n > st.settings.max_batch_events
              || st.buffered_bytes + b > st.settings.max_batch_bytes))
        flush(self);
      st.buffered_events += n;
      st.buffered_bytes += b;
      st.groups.push_back(std::move(g));
      auto rp = self->make_response_promise<journal::group_receipt>();
      st.promises.push_back(rp);
      // Everything already in the mailbox joins this commit: the flush
      // message queues up behind it.
      if (!st.flush_pending) {
        st.flush_pending = true;
        self->send(self, flush_atom::value);
      }
      return rp;
    },
    [self](flush_atom) {
      self->state.flush_pending = false;
      flush(self);
    },
    [self](stats_atom) { return self->state.stats; },
    [self](inject_atom, injected_failure what) {
      if (what == injected_failure::next_persist)
        self->state.fail_next_persist = true;
      else
        self->state.j->inject_commit_failure();
      return true;
    },
  };
}

coordinator_actor spawn_coordinator(caf::actor_system& sys,
                                    std::shared_ptr<journal::journal> j,
                                    coordinator_settings settings,
                                    subscription_hub_actor hub) {
  return sys.spawn<caf::detached>(coordinator_impl, std::move(j), settings,
                                  std::move(hub));
}

} // namespace cairn
