#pragma once

#include <cstdint>
#include <string_view>

#include "caf/actor_system_config.hpp"
#include "caf/error.hpp"

/// Cairn's scheduler for CAF's event-based actors: work stealing with
/// constant-time steals and workers that sleep when idle.
///
/// CAF 0.17's `stealing` scheduler keeps each worker's runnable actors in a
/// singly linked list, and a steal walks that list to its tail while it holds
/// the owner's locks: with thousands of runnable entities (a commit of the
/// coordinator answers all of them at once) every steal costs a walk of
/// thousands of nodes, and the workers spend their time there. Its idle
/// workers poll: 100 attempts, then 500 with a sleep of 50 µs each, so a
/// worker that runs out of work for a moment burns CPU on `nanosleep`.
/// CAF's `sharing` scheduler has neither problem, but runs every actor from
/// one queue under one mutex, so a message to an actor loses the cache of
/// the worker that sent it.
///
/// This scheduler keeps CAF's work-stealing shape: each worker runs actors
/// from its own deque, the newest first when it woke them itself; an idle
/// worker steals the oldest actor of another worker's deque, in constant
/// time. A worker that finds nothing searches briefly, then sleeps on a
/// condition variable; whoever makes an actor runnable wakes a sleeper when
/// no worker is searching. Configure it with `scheduler.policy = "cairn"`
/// (the default of `cairn::config`); `scheduler.max-threads` and
/// `scheduler.max-throughput` apply as for CAF's schedulers.
///
/// Between the search and the sleep, an idle worker naps: it looks again
/// after each of a few sleeps of 50 µs, so that short gaps of work cost no
/// wake-up. While a thread waits for the disk in a commit (`disk_wait`),
/// idle workers skip the naps and sleep at once: the work that follows
/// comes from that commit's end, which wakes a sleeper if it makes more
/// than its own worker can run next, and on a virtual machine the naps'
/// timer wake-ups slow the sync itself (round 14 of
/// docs/performance-rounds.md).
namespace cairn {

/// Marks, while it lives, that the calling thread waits for the disk in a
/// commit whose end makes work for the workers. Cairn's coordinator holds
/// one around each commit of a journal that syncs. Made on a worker of
/// Cairn's scheduler whose deque holds actors, it first wakes a sleeping
/// worker to run them (unless a worker searches): they would wait for the
/// whole sync otherwise. Costs a few atomic operations; affects only
/// Cairn's scheduler, in every actor system of the process.
class disk_wait {
public:
  disk_wait() noexcept;
  ~disk_wait();
  disk_wait(const disk_wait&) = delete;
  disk_wait& operator=(const disk_wait&) = delete;

  /// The number of `disk_wait` objects alive in the process.
  static int active() noexcept;

  /// The number of `disk_wait` objects made since the process started.
  static uint64_t made() noexcept;
};

/// Makes the actor system built from `cfg` use Cairn's scheduler, whatever
/// `scheduler.policy` says. Call it before the actor system is constructed.
void use_cairn_scheduler(caf::actor_system_config& cfg);

/// Applies `scheduler.policy` of `cfg`: `"cairn"` installs Cairn's
/// scheduler (see `use_cairn_scheduler`); `"stealing"` and `"sharing"` leave
/// the choice to CAF.
///
/// Errors: `errc::bad_config` naming the key and the policies it accepts
/// when `policy` is none of them (CAF itself only warns and falls back to
/// `stealing`).
caf::error apply_scheduler_policy(caf::actor_system_config& cfg,
                                  std::string_view policy);

} // namespace cairn
