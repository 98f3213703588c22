#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "caf/response_promise.hpp"
#include "caf/stateful_actor.hpp"

#include "cairn/actors/aggregate.hpp"
#include "cairn/actors/step_messages.hpp"

namespace cairn::detail {

/// The phases of an aggregate entity. Each has its own file under
/// cairn/actors/aggregate/.
enum class aggregate_phase : uint8_t {
  /// Loading the latest snapshot, then replaying the tail of the stream in
  /// chunks; commands are stashed. Next: `running`.
  recovering,
  /// Handling commands one by one. Next: `persisting` when a command's
  /// effect stores events.
  running,
  /// A write group is with the coordinator; commands are stashed. Next:
  /// `running` when the coordinator answers (or `recovering` after a
  /// version conflict).
  persisting,
  /// The entity decided a command of an atomic step for the coordinator
  /// and holds further commands until it hears whether the step committed.
  /// Next: `running` when it did, `recovering` when it did not (the step
  /// may have failed on a conflict on the entity's stream: its view may be
  /// stale).
  deciding,
  /// Recovery failed (a corrupt record, events deleted without a usable
  /// snapshot, a read error). Every command, decide and state request is
  /// answered with the recovery error, which names the stream, until the
  /// entity is passivated; the next command then spawns a successor that
  /// tries to recover again. Next: none.
  failed,
};

/// The state of one entity actor of aggregate type `A`.
template <class A>
struct aggregate_state {
  using state_type = typename A::state;
  using command_type = typename A::commands::variant_type;

  /// A command that waits for the entity to be running.
  struct stashed {
    command_type cmd;
    caf::response_promise rp;
    /// The atomic step this command belongs to; 0 for a plain command.
    uint64_t step = 0;
    /// The dedup key of a command delivered through an outbox, else empty.
    std::string dedup;
  };

  /// What the entity awaits from the coordinator while persisting.
  struct pending {
    state_type next;
    uint64_t next_version = 0;
    typename effect<A>::reply_fn reply;
    caf::response_promise rp;
    /// The atomic step being decided (phase `deciding`), else 0.
    uint64_t step = 0;
    /// The ticket of the group with the coordinator (phase `persisting`).
    uint64_t ticket = 0;
  };

  std::shared_ptr<const aggregate_env> env;
  std::string stream;
  state_type value{};
  /// The stream version `value` reflects.
  uint64_t version = 0;
  aggregate_phase phase = aggregate_phase::recovering;
  /// Set when the registry asked the entity to stop once it is idle.
  bool passivate_requested = false;
  /// When the entity took its last command: the registry does not see the
  /// commands of an `entity_ref`, so it asks the entity before an idle
  /// passivation.
  std::chrono::steady_clock::time_point last_command;
  /// Commands held while recovering or persisting, oldest first from
  /// `stash_head`.
  std::vector<stashed> stash;
  size_t stash_head = 0;
  std::unique_ptr<pending> in_flight;
  /// The ticket of the last group handed to the coordinator.
  uint64_t last_ticket = 0;
  /// State requests that arrived while recovering.
  std::vector<caf::response_promise> state_waiters;
  /// Why recovery failed (phase `failed`).
  caf::error failure;
  /// When recovery started, and the version of the snapshot it started
  /// from (0: none), for the log line of a finished recovery.
  std::chrono::steady_clock::time_point recovery_started;
  uint64_t recovery_snapshot = 0;
  /// When the last progress line of a long recovery was logged.
  std::chrono::steady_clock::time_point recovery_reported;

  static inline const char* name = "cairn.aggregate";

  size_t stash_size() const noexcept {
    return stash.size() - stash_head;
  }
};

template <class A>
using aggregate_pointer = caf::stateful_actor<aggregate_state<A>>*;

/// Answers every stashed command and state request with `err` and empties
/// the stash.
template <class A>
void fail_stash(aggregate_pointer<A> self, const caf::error& err) {
  auto& st = self->state;
  for (auto i = st.stash_head; i < st.stash.size(); ++i)
    st.stash[i].rp.deliver(err);
  st.stash.clear();
  st.stash_head = 0;
  for (auto& rp : st.state_waiters)
    rp.deliver(err);
  st.state_waiters.clear();
}

/// Refuses an internal message that does not carry the runtime's
/// capability (or comes from a foreign sender) and counts it.
template <class A>
caf::error refuse_forged(aggregate_pointer<A> self, const char* what) {
  auto& st = self->state;
  ++st.env->forged_messages;
  return make_error(errc::invalid_argument,
                    std::string{"forged internal message refused: "} + what
                      + " for " + st.stream
                      + " without the runtime's capability");
}

} // namespace cairn::detail
