#pragma once

#include <cstdint>
#include <string>

#include <cereal/types/string.hpp>

#include "bench/bench_aggregate.hpp"
#include "cairn/actors/process_manager.hpp"

/// The process manager of `cairn-bench saga`: each instance runs chains of
/// atomic steps, each step commanding one entity of the bench aggregate
/// `counter` (bench/bench_aggregate.hpp).
///
/// A `chain_requested` input (stream `benchgo-<wave>`) starts a chain of
/// `steps` steps on instance `instance`, whose commands all go to the
/// counter entity of the same id. The first step reacts to the input; each
/// later one reacts to the outcome of the command of the step before. Every
/// step commits, in one write group, the manager's `chain_stepped` event,
/// the runtime's bookkeeping (`outcome_reacted`, the step record) and the
/// counter's 200-byte event. The outcome of the last command is answered by
/// a closing step that records `chain_ended` and commands nothing; the
/// instance then waits for its next chain.
namespace cairn::bench {

// -- the input ----------------------------------------------------------------

/// Starts a chain of `steps` steps on instance `instance`.
struct chain_requested {
  static constexpr const char* event_name = "bench.chain_requested";
  std::string instance;
  uint64_t wave = 0;
  uint64_t steps = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(instance, wave, steps);
  }
};

// -- the manager's events -----------------------------------------------------

/// A chain began: its commands go to counter `entity`.
struct chain_begun {
  static constexpr const char* event_name = "bench.chain_begun";
  std::string entity;
  uint64_t wave = 0;
  uint64_t steps = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(entity, wave, steps);
  }
};

/// A step commanded the counter; `seq` numbers the instance's steps.
struct chain_stepped {
  static constexpr const char* event_name = "bench.chain_stepped";
  uint64_t seq = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(seq);
  }
};

/// The chain of wave `wave` is done.
struct chain_ended {
  static constexpr const char* event_name = "bench.chain_ended";
  uint64_t wave = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(wave);
  }
};

// -- the process manager ------------------------------------------------------

struct chain_state {
  /// The counter entity the commands go to.
  std::string entity;
  uint64_t wave = 0;
  /// Steps of the current chain, and how many have committed.
  uint64_t steps = 0;
  uint64_t done = 0;
  /// Steps of all chains.
  uint64_t total = 0;
  /// Whether a chain is under way.
  bool running = false;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(entity, wave, steps, done, total, running);
  }
};

struct chain_saga {
  static constexpr const char* category = "benchsaga";
  using state = chain_state;
  using events = event_list<chain_begun, chain_stepped, chain_ended>;
  using inputs = event_list<chain_requested>;

  static std::string correlate(const chain_requested& e) {
    return e.instance;
  }

  static state apply(state s, const chain_begun& e) {
    s.entity = e.entity;
    s.wave = e.wave;
    s.steps = e.steps;
    s.done = 0;
    s.running = true;
    return s;
  }

  static state apply(state s, const chain_stepped&) {
    ++s.done;
    ++s.total;
    return s;
  }

  static state apply(state s, const chain_ended&) {
    s.running = false;
    return s;
  }

  /// The first step of a chain. A request while a chain runs changes
  /// nothing; a request for no step closes at once (a closing step that
  /// commands nothing: the memory case starts instances this way).
  static step<chain_saga> react(const state& s, const chain_requested& e) {
    if (s.running)
      return nothing<chain_saga>();
    if (e.steps == 0)
      return step<chain_saga>{}.emit(chain_ended{e.wave});
    return step<chain_saga>{}
      .emit(chain_begun{e.instance, e.wave, e.steps},
            chain_stepped{s.total + 1})
      .send<counter>(e.instance, record_event{s.total + 1});
  }

  /// The next step, or the closing one after the last command's outcome.
  /// A rejected command counts as a step like an accepted one (the
  /// coordinator counts rejections; the benchmark fails on any).
  static step<chain_saga> react(const state& s, const command_result&) {
    if (!s.running)
      return nothing<chain_saga>();
    if (s.done < s.steps)
      return step<chain_saga>{}
        .emit(chain_stepped{s.total + 1})
        .send<counter>(s.entity, record_event{s.total + 1});
    return step<chain_saga>{}.emit(chain_ended{s.wave});
  }
};

} // namespace cairn::bench
