#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cairn/actors/coordinator.hpp"
#include "cairn/actors/runtime.hpp"

/// The process steps of `cairn-bench cluster`: local steps against
/// cross-node steps, in one run, on one node of a running cluster.
///
/// Instances of the bench process manager `chain_saga`
/// (bench/bench_saga.hpp) live on the measuring node (call it a): each is
/// started by a `chain_requested` event committed to a's own journal, and
/// runs a chain of steps, each step commanding the `counter` entity of the
/// instance's id (bench/bench_aggregate.hpp). The ids are picked by
/// placement, so that every instance is owned by a, and
///
/// - for **local steps**, its entity is owned by a too: a step commits the
///   manager's events and the entity's 200-byte event in ONE write group,
///   and the outcome is at the instance when that group commits;
/// - for **cross steps**, its entity is owned by another node (b): a step
///   commits the manager's events with an outbox row; a's dispatcher
///   delivers the command through a's router and b's gateway; b commits the
///   entity's event with the command's dedup key; a commits the outcome as
///   a `cairn.remote_outcome` event, which a's input router hands to the
///   instance.
///
/// A step is done when its outcome has been reacted to on a: when the
/// instance's next step (or the closing step after the last) commits. Its
/// **latency** is the time from its own commit to that reaction's commit,
/// both as they reach a subscriber of a's live feed: the intervals tile an
/// instance's chain, so a chain of K steps lasts about K latencies.
///
/// A **wave** starts one chain of K steps on every instance of a kind with
/// one commit of the inputs and ends when every instance has committed its
/// closing step. Its **steady part** runs from the moment every instance
/// has had a step done to the moment the first chain closes (K is chosen
/// so that it lasts about the seconds asked for): every instance has one
/// step in flight all along. Steps per second is the steps done in the
/// steady parts over their time, and the latencies are those of these
/// steps; the ramp (the inputs' commit, the first steps) and the tail
/// (the last chains closing while the others are done) are left out, as
/// they are the driver's and weigh more on shorter chains. The figures of
/// whole waves (N·K over the time from the inputs' commit to the last
/// close) are kept too. The runs go local, cross, cross, local (each after
/// two untimed waves per kind that spawn the instances and the entities),
/// so that a drift of a shared machine weighs on both alike.
namespace cairn::bench {

/// What to run.
struct cluster_step_params {
  /// Instances of each kind.
  uint64_t instances = 1000;
  /// Timed seconds per run (four runs).
  double seconds = 2;
};

/// The figures of one kind of steps (local or cross), both runs together.
struct cluster_step_result {
  /// Steps done in the steady parts of the timed waves, and the seconds
  /// of these parts.
  uint64_t steps = 0;
  double seconds = 0;
  /// Steps that commanded in the timed waves, and the seconds of these
  /// waves, whole.
  uint64_t wave_steps = 0;
  double wave_seconds = 0;
  /// Latency of each step of the steady parts, microseconds.
  std::vector<double> latency_us;
  /// Of cross steps, the two parts of each latency: up to the commit of
  /// the outcome on the instance's node, and from there to the commit of
  /// the reaction.
  std::vector<double> outcome_us;
  std::vector<double> reaction_us;
  /// The first part split at the commit of the command's effect on the
  /// peer: the way there, and the way back with the outcome's commit.
  std::vector<double> to_peer_us;
  std::vector<double> back_us;
  /// CPU time of the process (every node in it) during the timed waves.
  double cpu_seconds = 0;
  /// Steps per chain of the last wave.
  uint64_t steps_per_chain = 0;
  /// Timed waves.
  uint64_t waves = 0;
  /// The coordinators' counters over the timed waves: of the instances'
  /// node, and of the peer (whose entities the cross steps command).
  coordinator_stats node_stats;
  coordinator_stats peer_stats;
  /// Deliveries the outbox dispatcher tried again after a transient
  /// error, and deliveries the target had seen before (their keys found).
  uint64_t outbox_retries = 0;
  uint64_t outbox_duplicates = 0;

  double steps_per_s() const {
    return seconds > 0 ? steps / seconds : 0;
  }

  double wave_steps_per_s() const {
    return wave_seconds > 0 ? wave_steps / wave_seconds : 0;
  }

  /// CPU time per step of the timed waves, whole.
  double cpu_us_per_step() const {
    return wave_steps > 0 ? cpu_seconds * 1e6 / wave_steps : 0;
  }
};

struct cluster_step_figures {
  cluster_step_result local;
  cluster_step_result cross;
  /// Remote outcomes the instances received in the timed cross waves.
  uint64_t remote_outcomes = 0;

  /// Cross steps per second over local steps per second.
  double ratio() const {
    auto l = local.steps_per_s();
    return l > 0 ? cross.steps_per_s() / l : 0;
  }

  /// The same over whole waves.
  double wave_ratio() const {
    auto l = local.wave_steps_per_s();
    return l > 0 ? cross.wave_steps_per_s() / l : 0;
  }
};

/// Runs the steps on node `a` of a cluster whose links are up, with the
/// entities of cross steps on node `b`. Starts `chain_saga` on `a`.
/// Throws `std::runtime_error` when a wave does not end in time, a command
/// is rejected or the steps seen are not the steps expected.
cluster_step_figures measure_cluster_steps(runtime& a, runtime& b,
                                           const cluster_step_params& p);

} // namespace cairn::bench
