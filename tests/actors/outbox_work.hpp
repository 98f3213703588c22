#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include "caf/meta/type_name.hpp"

#include "cairn/actors/aggregate.hpp"
#include "cairn/actors/effect.hpp"
#include "cairn/actors/process_manager.hpp"

/// The work of the outbox crash test, the same for its driver
/// (outbox_crash_driver.cpp) and the test (outbox_crash_test.cpp): jobs in a
/// source journal whose process manager commands entities of a target
/// aggregate kept in another journal, through the outbox.
///
/// A job commands one to three distinct target entities (so that a
/// `command_result`, which names its entity, names its command); entities
/// are shared between jobs. A command's id is `<job>/<entity>`. The target
/// refuses the commands the work marks `refuse`, by a rule on the command
/// alone, so a redelivery decides the same way.
namespace cairn::test::outbox_work {

// -- the target aggregate, in the target journal ------------------------------

/// A command took effect at the target.
struct effect_applied {
  static constexpr const char* event_name = "effect_applied";
  std::string command;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(command);
  }
};

/// Apply command `command` once; refused by rule when `refuse`.
struct apply_effect {
  std::string command;
  bool refuse = false;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(command, refuse);
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, apply_effect& x) {
  return f(caf::meta::type_name("test.apply_effect"), x.command, x.refuse);
}

struct sink_state {
  uint64_t applied = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(applied);
  }
};

/// The target aggregate: one event per command it accepts.
struct sink {
  static constexpr const char* category = "sink";
  using state = sink_state;
  using events = event_list<effect_applied>;
  using commands = command_list<apply_effect>;

  static state apply(state s, const effect_applied&) {
    ++s.applied;
    return s;
  }

  static effect<sink> handle(const state&, const apply_effect& c) {
    if (c.refuse)
      return reject("command " + c.command + " is refused by its rule");
    return persist(effect_applied{c.command}).then_reply([](const state& n) {
      return n.applied;
    });
  }
};

// -- the process manager, in the source journal -------------------------------

/// One command of a job: its target entity and whether the target refuses
/// it.
struct target {
  std::string entity;
  bool refuse = false;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(entity, refuse);
  }
};

/// Input: run job `job` (stream `desk-<job>`).
struct job_requested {
  static constexpr const char* event_name = "job_requested";
  std::string job;
  std::vector<target> targets;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(job, targets);
  }
};

/// The job's first step: it sends `commands` commands.
struct job_started {
  static constexpr const char* event_name = "job_started";
  uint32_t commands = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(commands);
  }
};

/// The outcome of the job's command to `entity` reached the instance.
struct command_settled {
  static constexpr const char* event_name = "command_settled";
  std::string entity;
  bool accepted = false;
  std::string why;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(entity, accepted, why);
  }
};

/// Every command of the job has its outcome.
struct job_finished {
  static constexpr const char* event_name = "job_finished";
  template <class Archive>
  void serialize(Archive&) {
    // nop
  }
};

struct job_state {
  uint32_t commands = 0;
  uint32_t settled = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(commands, settled);
  }
};

/// The manager. It never completes: an outcome that reached an instance
/// twice would show as a second `command_settled`.
struct job_manager {
  static constexpr const char* category = "job";
  using state = job_state;
  using events = event_list<job_started, command_settled, job_finished>;
  using inputs = event_list<job_requested>;

  static std::string correlate(const job_requested& e) {
    return e.job;
  }

  static state apply(state s, const job_started& e) {
    s.commands = e.commands;
    return s;
  }
  static state apply(state s, const command_settled&) {
    ++s.settled;
    return s;
  }
  static state apply(state s, const job_finished&) {
    return s;
  }

  static step<job_manager> react(const state& s, const job_requested& e) {
    step<job_manager> result;
    if (s.commands > 0)
      return result; // started before
    result.emit(job_started{static_cast<uint32_t>(e.targets.size())});
    for (auto& t : e.targets)
      result.send<sink>(t.entity,
                        apply_effect{e.job + "/" + t.entity, t.refuse});
    return result;
  }

  static step<job_manager> react(const state& s, const command_result& r) {
    step<job_manager> result;
    result.emit(command_settled{r.entity, r.accepted, r.why});
    if (s.settled + 1 == s.commands)
      result.emit(job_finished{});
    return result;
  }
};

// -- the work -----------------------------------------------------------------

struct job_item {
  std::string id;
  std::vector<target> targets;
};

/// Number of jobs of one work.
constexpr size_t job_count = 240;

/// Number of target entities the jobs share.
constexpr size_t entity_count = 10;

inline std::string desk_stream(const std::string& job) {
  return "desk-" + job;
}

inline std::string command_id(const std::string& job,
                              const std::string& entity) {
  return job + "/" + entity;
}

/// Returns the jobs of the work for `seed`, in the order the driver
/// publishes them.
inline std::vector<job_item> make_work(uint64_t seed) {
  std::mt19937_64 rng{seed};
  auto pick = [&](size_t lo, size_t hi) {
    return std::uniform_int_distribution<size_t>{lo, hi}(rng);
  };
  std::vector<job_item> result;
  for (size_t i = 0; i < job_count; ++i) {
    job_item j;
    j.id = "j" + std::to_string(i);
    std::vector<size_t> entities(entity_count);
    for (size_t k = 0; k < entity_count; ++k)
      entities[k] = k;
    std::shuffle(entities.begin(), entities.end(), rng);
    auto n = pick(1, 3);
    for (size_t k = 0; k < n; ++k)
      j.targets.push_back(
        target{"t" + std::to_string(entities[k]), pick(0, 7) == 0});
    result.push_back(std::move(j));
  }
  return result;
}

} // namespace cairn::test::outbox_work
