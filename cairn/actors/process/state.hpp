#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <cereal/types/map.hpp>
#include <cereal/types/vector.hpp>

#include "caf/actor.hpp"
#include "caf/response_promise.hpp"
#include "caf/stateful_actor.hpp"

#include "cairn/actors/aggregate.hpp"
#include "cairn/actors/process_manager.hpp"

namespace cairn {

/// What the instances of one process-manager type share.
struct process_env {
  std::shared_ptr<journal::journal> journal;
  coordinator_actor coordinator;
  /// For finding the registries of commanded aggregates, the routes and
  /// the outbox: shared with the runtime, so valid however long an instance
  /// lives (it gives invalid handles once the runtime stopped).
  std::shared_ptr<detail::runtime_state> rt;
  /// Events replayed per recovery step (`aggregates.recovery_chunk`; 0
  /// counts as 1).
  size_t recovery_chunk = 512;
  /// Attempts of a step that fails (not a rejection: a failed commit).
  int max_step_attempts = 3;
  /// A snapshot of an instance every this many events of its stream (0:
  /// none); `aggregates.snapshot-every`.
  uint64_t snapshot_every = 100;
  /// The instances' registry: a passivated instance with a deadline asks it
  /// to wake the instance when the deadline comes due.
  caf::actor registry;
};

/// What a snapshot of a process-manager instance holds: the user's state
/// and the runtime's bookkeeping at one version of the stream.
struct process_snapshot {
  std::string state;
  uint64_t last_input = 0;
  std::vector<command_result> outcomes;
  std::map<std::string, int64_t> deadlines;
  bool completed = false;
  /// The last input position taken from each other node's log.
  std::map<std::string, uint64_t> remote_inputs;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(state, last_input, outcomes, deadlines, completed, remote_inputs);
  }
};

} // namespace cairn

namespace cairn::detail {

/// The phases of a process-manager instance, one file each under
/// cairn/actors/process/.
enum class process_phase : uint8_t {
  /// Replaying the instance's stream; inputs wait. Next: `running`.
  recovering,
  /// Reacting to the next input, outcome or deadline. Next: `stepping`
  /// when the reaction is a non-empty step.
  running,
  /// The step is with the coordinator. Next: `running`, or `recovering`
  /// when it failed (the step is retried from the committed state).
  stepping,
};

/// The codec of a manager's stream: its events and the built-in ones.
template <class P>
const journal::codec& process_codec_of() {
  static const journal::codec instance = [] {
    journal::codec c;
    register_events(c, typename P::events{});
    c.add<step_record>(step_record::event_name);
    c.add<deadline_scheduled>(deadline_scheduled::event_name);
    c.add<deadline_cleared>(deadline_cleared::event_name);
    c.add<process_completed>(process_completed::event_name);
    c.add<outcome_reacted>(outcome_reacted::event_name);
    c.add<remote_input>(remote_input::event_name);
    return c;
  }();
  return instance;
}

/// The type name of the snapshots of manager `P`'s instances.
template <class P>
std::string process_snapshot_type() {
  return std::string{"cairn.process."} + P::category;
}

/// The codec of a manager's inputs.
template <class P>
const journal::codec& input_codec_of() {
  static const journal::codec instance = [] {
    journal::codec c;
    register_events(c, typename P::inputs{});
    return c;
  }();
  return instance;
}

template <class P>
struct process_state {
  using state_type = typename P::state;
  using input_type = typename P::inputs::variant_type;

  /// An input waiting for its reaction; `rp` answers the router.
  struct queued_input {
    /// The node whose log holds the input; empty: this node's.
    std::string source;
    /// Its position in that log.
    uint64_t position = 0;
    input_type input;
    /// Set instead of `input` for the outcome of a command sent through the
    /// outbox.
    std::optional<command_result> outcome;
    caf::response_promise rp;
    int attempts = 0;
    /// A replayed dead letter: taken whatever `last_input` says.
    bool replay = false;
    /// Its step committed; it waits for the outcomes' reactions.
    bool stepped = false;
  };

  std::shared_ptr<const process_env> env;
  std::string id;
  std::string stream;
  state_type value{};
  uint64_t version = 0;
  /// The position of the last input whose step committed.
  uint64_t last_input = 0;
  /// The same for the inputs from each other node's log, by node.
  std::map<std::string, uint64_t> remote_inputs;
  /// Outcomes of the last step's commands not yet reacted to.
  std::deque<command_result> outcomes;
  /// Scheduled deadlines: name -> due (ns since the epoch).
  std::map<std::string, int64_t> deadlines;
  /// Deadlines that came due, waiting for their reaction.
  std::deque<std::string> due;
  bool completed = false;
  process_phase phase = process_phase::recovering;
  std::deque<queued_input> inputs;
  /// Attempts of the current outcome or deadline reaction.
  int attempts = 0;
  bool passivate_requested = false;
  /// When the instance last took an input: its router sends them past the
  /// registry, which cannot tell how long the instance has been idle.
  std::chrono::steady_clock::time_point last_taken;
  /// Whether the user's `react` to the front input is running: if it
  /// throws, that input is refused with the exception's text.
  bool reacting_to_input = false;

  static inline const char* name = "cairn.process";
};

template <class P>
using process_pointer = caf::stateful_actor<process_state<P>>*;

} // namespace cairn::detail
