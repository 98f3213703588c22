#pragma once

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
namespace cairn {

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
