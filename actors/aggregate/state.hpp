#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "caf/response_promise.hpp"
#include "caf/stateful_actor.hpp"

#include "actors/aggregate.hpp"
#include "actors/step_messages.hpp"

namespace cairn::detail {

/// The phases of an aggregate entity. Each has its own file under
/// actors/aggregate/.
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
  /// Next: `running`.
  deciding,
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
  };

  std::shared_ptr<const aggregate_env> env;
  std::string stream;
  state_type value{};
  /// The stream version `value` reflects.
  uint64_t version = 0;
  aggregate_phase phase = aggregate_phase::recovering;
  /// Set when the registry asked the entity to stop once it is idle.
  bool passivate_requested = false;
  /// Commands held while recovering or persisting, oldest first from
  /// `stash_head`.
  std::vector<stashed> stash;
  size_t stash_head = 0;
  std::unique_ptr<pending> in_flight;

  static inline const char* name = "cairn.aggregate";

  size_t stash_size() const noexcept {
    return stash.size() - stash_head;
  }
};

template <class A>
using aggregate_pointer = caf::stateful_actor<aggregate_state<A>>*;

/// Answers every stashed command with `err` and empties the stash.
template <class A>
void fail_stash(aggregate_pointer<A> self, const caf::error& err) {
  auto& st = self->state;
  for (auto i = st.stash_head; i < st.stash.size(); ++i)
    st.stash[i].rp.deliver(err);
  st.stash.clear();
  st.stash_head = 0;
}

} // namespace cairn::detail
