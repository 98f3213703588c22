#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <cereal/types/string.hpp>

#include "caf/make_message.hpp"
#include "caf/message.hpp"

#include "cairn/actors/aggregate.hpp"
#include "cairn/actors/outbox.hpp"
#include "cairn/actors/runtime.hpp"
#include "cairn/actors/step_messages.hpp"

/// The user-facing side of process managers (sagas).
///
/// A process manager type is a struct with:
///
/// ```
/// struct group_checkout {
///   static constexpr const char* category = "checkout"; // its streams
///   using state = checkout_state;          // default-constructible, cereal
///   using events = cairn::event_list<checkout_started, guest_done>;
///   using inputs = cairn::event_list<checkout_requested>; // consumed
///   static std::string correlate(const checkout_requested& e); // instance
///   static state apply(state s, const checkout_started& e);  // per event
///   static cairn::step<group_checkout>
///   react(const state& s, const checkout_requested& e);       // per input
///   static cairn::step<group_checkout>
///   react(const state& s, const cairn::command_result& r);    // outcomes
///   static cairn::step<group_checkout>
///   react(const state& s, const cairn::deadline& d);          // timeouts
/// };
/// ```
///
/// Inputs are events committed to other streams (their types carry an
/// `event_name`, as for aggregates). `correlate` maps an input to the id of
/// the instance that handles it (empty: no instance). Each instance has its
/// own stream `<category>-<id>` and its state is a fold over its events, like
/// an aggregate's.
///
/// A reaction returns a step: the manager's own events, commands to
/// aggregates, deadlines to schedule or cancel, completion. The coordinator
/// commits the step atomically with the events of the aggregates it commands
/// (see cairn/actors/coordinator.hpp). Each command's outcome comes back as a
/// `command_result` input: a rejection is a normal outcome to compensate.
namespace cairn {

/// The outcome of a command a step issued, delivered to the manager's next
/// reaction.
struct command_result {
  /// The target's aggregate category and entity id.
  std::string category;
  std::string entity;
  bool accepted = false;
  /// Why the command was rejected (rendered error).
  std::string why;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(category, entity, accepted, why);
  }
};

/// A deadline that came due, delivered to the manager's reaction.
struct deadline {
  std::string name;
  /// The id of the instance whose deadline it is.
  std::string instance;
};

namespace detail {

/// A command of a step before the coordinator sees it: the registry is
/// found through the runtime when the step runs.
struct pending_command {
  caf::actor (*resolve)(runtime_state&);
  /// Serializes the command for the outbox when its aggregate is routed to
  /// another journal; none when the command type has no `serialize`.
  std::optional<std::pair<uint32_t, std::string>> (*encode)(
    const caf::message&);
  std::string category;
  std::string entity;
  caf::message command;
};

template <class A, class Cmd>
std::optional<std::pair<uint32_t, std::string>>
encode_command_message(const caf::message& msg) {
  return encode_remote_command<A, Cmd>(msg.get_as<Cmd>(0));
}

/// A deadline to arm (`due_ns` since the epoch) or, with `cancel`, disarm.
struct deadline_change {
  std::string name;
  int64_t due_ns = 0;
  bool cancel = false;
};

/// The registry of aggregate type `A` in `rt` (spawned on first use).
template <class A>
caf::actor resolve_registry(runtime_state& rt) {
  return rt.registry<A>();
}

} // namespace detail

/// What a reaction decides, as a value. Build it with the member functions,
/// chained on a temporary or called on a variable:
/// `return cairn::step<P>{}.emit(started{...}).send<account>("7", charge{5});`
/// or `cairn::step<P> s; for (...) s.send<account>(id, cmd); return s;`
template <class P>
class step {
public:
  using event_type = typename P::events::variant_type;

  /// Records the manager's own events.
  template <class... Es>
  step& emit(Es&&... es) & {
    (events_.emplace_back(std::forward<Es>(es)), ...);
    return *this;
  }

  /// Commands entity `id` of aggregate type `A`. When the runtime routes
  /// `A` to another journal (`runtime::route<A>`), the command goes through
  /// the outbox (cairn/actors/outbox.hpp): delivered at least once, without a
  /// second effect, its outcome a later input; `Cmd` then needs a cereal
  /// `serialize` function.
  template <class A, class Cmd>
  step& send(std::string id, Cmd cmd) & {
    commands_.push_back(detail::pending_command{
      &detail::resolve_registry<A>, &detail::encode_command_message<A, Cmd>,
      A::category, std::move(id), caf::make_message(std::move(cmd))});
    return *this;
  }

  /// Schedules deadline `name` to come due after `after`; scheduling a name
  /// again moves it. Deadlines survive restarts.
  step& schedule(std::string name, std::chrono::nanoseconds after) & {
    auto now = std::chrono::system_clock::now().time_since_epoch();
    auto due
      = std::chrono::duration_cast<std::chrono::nanoseconds>(now) + after;
    deadlines_.push_back(
      detail::deadline_change{std::move(name), due.count(), false});
    return *this;
  }

  /// Cancels deadline `name`.
  step& cancel(std::string name) & {
    deadlines_.push_back(detail::deadline_change{std::move(name), 0, true});
    return *this;
  }

  /// Ends the process: later inputs, deadlines and the outcomes of this
  /// step's own commands are ignored (the commands still take effect).
  step& complete() & {
    complete_ = true;
    return *this;
  }

  // -- the same on temporaries, for chaining: step<P>{}.emit(e).send<A>(..)

  template <class... Es>
  step&& emit(Es&&... es) && {
    return std::move(this->emit(std::forward<Es>(es)...));
  }

  template <class A, class Cmd>
  step&& send(std::string id, Cmd cmd) && {
    return std::move(this->template send<A>(std::move(id), std::move(cmd)));
  }

  step&& schedule(std::string name, std::chrono::nanoseconds after) && {
    return std::move(this->schedule(std::move(name), after));
  }

  step&& cancel(std::string name) && {
    return std::move(this->cancel(std::move(name)));
  }

  step&& complete() && {
    return std::move(this->complete());
  }

  // -- access for the runtime ------------------------------------------------

  bool empty() const noexcept {
    return events_.empty() && commands_.empty() && deadlines_.empty()
           && !complete_;
  }

  std::vector<event_type>& events() noexcept {
    return events_;
  }

  std::vector<detail::pending_command>& commands() noexcept {
    return commands_;
  }

  std::vector<detail::deadline_change>& deadlines() noexcept {
    return deadlines_;
  }

  bool completes() const noexcept {
    return complete_;
  }

private:
  std::vector<event_type> events_;
  std::vector<detail::pending_command> commands_;
  std::vector<detail::deadline_change> deadlines_;
  bool complete_ = false;
};

/// An empty step: the input changes nothing.
template <class P>
step<P> nothing() {
  return {};
}

// -- built-in events of every manager stream ----------------------------------

/// A deadline was scheduled (or moved) by a step.
struct deadline_scheduled {
  static constexpr const char* event_name = "cairn.deadline_scheduled";
  std::string name;
  int64_t due_ns = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(name, due_ns);
  }
};

/// A deadline was cancelled by a step, or fired (the step reacting to it).
struct deadline_cleared {
  static constexpr const char* event_name = "cairn.deadline_cleared";
  std::string name;
  bool fired = false;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(name, fired);
  }
};

/// The process completed.
struct process_completed {
  static constexpr const char* event_name = "cairn.completed";
  template <class Archive>
  void serialize(Archive&) {
    // nop
  }
};

/// The step that reacted to the outcome of a command of an earlier step.
struct outcome_reacted {
  static constexpr const char* event_name = "cairn.outcome_reacted";
  template <class Archive>
  void serialize(Archive&) {
    // nop
  }
};

/// The step that reacted to an input from another node's log: the input's
/// node and its position there. Inputs of the own node are recorded in the
/// step record (`step_record::input_position`); positions of different logs
/// do not compare, so an instance keeps the last one per node.
struct remote_input {
  static constexpr const char* event_name = "cairn.remote_input";
  std::string source;
  uint64_t position = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(source, position);
  }
};

/// Name of the table that indexes scheduled deadlines by manager instance,
/// so that a runtime can wake instances with deadlines when it starts.
constexpr const char* deadline_table = "cairn.deadlines";

/// Name of the checkpoint of a manager type's input router.
inline std::string router_checkpoint_of(const std::string& category) {
  return "cairn.router." + category;
}

/// Name of the checkpoint of a manager type's input router for the log of
/// node `source`, another node than its own (on a cluster):
/// `cairn.router.<category>@<source>`.
inline std::string router_checkpoint_of(const std::string& category,
                                        const std::string& source) {
  return router_checkpoint_of(category) + "@" + source;
}

} // namespace cairn
