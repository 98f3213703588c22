#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "caf/actor.hpp"
#include "caf/error.hpp"
#include "caf/message.hpp"
#include "caf/meta/type_name.hpp"

#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include "actors/journal_messages.hpp"
#include "journal/write_group.hpp"

/// The messages of the atomic step: a process manager hands the coordinator
/// its own write group and the commands it issues; the coordinator has each
/// target aggregate decide its command without writing, then commits the
/// manager's events, a step record and the targets' events in ONE write
/// group.
namespace cairn {

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
struct step_decision {
  /// False: the command was rejected; `why` says why.
  bool accepted = false;
  std::string why;
  /// The target's write group (empty for effects that store nothing).
  journal::write_group group;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, step_decision& x) {
  return f(caf::meta::type_name("cairn.step_decision"), x.accepted, x.why,
           x.group);
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
  return f(caf::meta::type_name("cairn.command_outcome"), x.stream,
           x.accepted, x.why);
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
