#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "caf/actor.hpp"
#include "caf/error.hpp"
#include "caf/message.hpp"
#include "caf/meta/type_name.hpp"

#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include "cairn/actors/journal_messages.hpp"
#include "cairn/journal/write_group.hpp"

/// The messages of the atomic step: a process manager hands the coordinator
/// its own write group and the commands it issues; the coordinator has each
/// target aggregate decide its command without writing, then commits the
/// manager's events, a step record and the targets' events in ONE write
/// group.
namespace cairn {

/// The capability of the internal step protocol: an unguessable 128-bit
/// token, drawn from `std::random_device` once per runtime (one per
/// `aggregate_env`), known only to its coordinator and its entities.
///
/// `decide` and `outcome` travel through the public, dynamically typed
/// entity registry, so anyone holding the registry could send them. Each
/// carries the token, and an entity refuses one with a wrong token: a
/// forged `decide` is answered with `errc::invalid_argument` ("forged
/// internal message refused"), a forged `outcome` is ignored and counted
/// (`aggregate_env::forged_messages`). Without it, a sender that guesses a
/// step id could make an entity apply events its journal does not hold.
struct step_capability {
  uint64_t hi = 0;
  uint64_t lo = 0;

  /// Draws a fresh token from `std::random_device`.
  static step_capability generate() {
    std::random_device rd;
    auto word = [&rd] { return (uint64_t{rd()} << 32) ^ uint64_t { rd() }; };
    step_capability result;
    result.hi = word();
    result.lo = word();
    return result;
  }

  /// Compares in constant time.
  friend bool operator==(const step_capability& x,
                         const step_capability& y) noexcept {
    return ((x.hi ^ y.hi) | (x.lo ^ y.lo)) == 0;
  }

  friend bool operator!=(const step_capability& x,
                         const step_capability& y) noexcept {
    return !(x == y);
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, step_capability& x) {
  return f(caf::meta::type_name("cairn.step_capability"), x.hi, x.lo);
}

/// One command of a step, for entity `entity` of the registry `target`.
struct step_command {
  /// The registry of the target's aggregate type.
  caf::actor target;
  /// The target's stream (`category-id`), for the step record.
  std::string stream;
  /// The target's entity id.
  std::string entity;
  /// The command itself.
  caf::message command;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, step_command& x) {
  return f(caf::meta::type_name("cairn.step_command"), x.target, x.stream,
           x.entity, x.command);
}

/// A step: the manager's group (its append, with expected version) and the
/// commands. The coordinator adds the step record to the manager's append.
struct step_request {
  /// The manager's group; its first append is the manager's stream.
  journal::write_group group;
  std::vector<step_command> commands;
  /// The global position of the input that caused the step (0: none).
  uint64_t input_position = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, step_request& x) {
  return f(caf::meta::type_name("cairn.step_request"), x.group, x.commands,
           x.input_position);
}

/// What a target decided for a step command, without writing anything.
/// Only the command handler's own rejection is a decision with `accepted`
/// false; a target that cannot decide (stash full, recovery failed, forged
/// request) answers the decide with an error instead, which fails the step.
struct step_decision {
  /// False: the command was rejected; `why` says why.
  bool accepted = false;
  std::string why;
  /// The target's write group (empty for effects that store nothing).
  journal::write_group group;
  /// The entity actor that decided. A target that holds for the step hears
  /// the outcome from the coordinator directly, never through its registry:
  /// a registry that passivates the entity meanwhile would otherwise park
  /// the outcome for a successor and wedge the entity.
  caf::actor entity;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, step_decision& x) {
  return f(caf::meta::type_name("cairn.step_decision"), x.accepted, x.why,
           x.group, x.entity);
}

/// The recorded outcome of one command of a step.
struct command_outcome {
  std::string stream;
  bool accepted = false;
  /// Why it was rejected (rendered error), empty when accepted.
  std::string why;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(stream, accepted, why);
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, command_outcome& x) {
  return f(caf::meta::type_name("cairn.command_outcome"), x.stream, x.accepted,
           x.why);
}

/// The step record: the last event of every step in the manager's stream.
/// Stored under the type name `step_record::event_name`.
struct step_record {
  static constexpr const char* event_name = "cairn.step";
  /// The global position of the input that caused the step (0: none).
  uint64_t input_position = 0;
  std::vector<command_outcome> outcomes;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(input_position, outcomes);
  }
};

/// What the coordinator answers a committed step with.
struct step_result {
  journal::group_receipt receipt;
  std::vector<command_outcome> outcomes;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, step_result& x) {
  return f(caf::meta::type_name("cairn.step_result"), x.receipt, x.outcomes);
}

} // namespace cairn
