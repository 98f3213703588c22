#include "cairn/actors/scheduler.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "caf/actor_system.hpp"
#include "caf/detail/set_thread_name.hpp"
#include "caf/logger.hpp"
#include "caf/policy/unprofiled.hpp"
#include "caf/resumable.hpp"
#include "caf/scheduler/abstract_coordinator.hpp"
#include "caf/scheduler/coordinator.hpp"
#include "caf/scheduler/worker.hpp"

#include "cairn/journal/errc.hpp"

namespace cairn {

namespace {

/// Threads in a commit's wait for the disk (see `disk_wait`).
std::atomic<int> disk_waits{0};

/// `disk_wait` objects made so far.
std::atomic<uint64_t> disk_waits_made{0};

/// Pauses the CPU for a moment inside a spin loop.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

/// Work stealing with a constant-time steal and sleeping idle workers (see
/// cairn/actors/scheduler.hpp).
class stealing_policy : public caf::policy::unprofiled {
public:
  /// Rounds of searching (own deque, then every other worker's) before a
  /// worker sleeps; each round pauses the CPU briefly, the whole search
  /// takes some tens of microseconds.
  static constexpr int search_rounds = 32;

  /// Rounds of searching that steal only from workers with two or more
  /// jobs waiting.
  static constexpr int patient_rounds = 8;

  /// Naps after the search, and their length: a worker idle for longer than
  /// about `nap_rounds * nap_duration` blocks until woken.
  static constexpr int nap_rounds = 20;
  static constexpr auto nap_duration = std::chrono::microseconds{50};

  /// Pauses per round of searching.
  static constexpr int pauses_per_round = 8;

  /// The longest a worker sleeps before it looks again by itself. Wake-ups
  /// are explicit; this only bounds the cost of a lost one.
  static constexpr auto max_sleep = std::chrono::milliseconds{10};

  /// A worker's runnable actors.
  struct job_deque {
    std::mutex mtx;
    std::deque<caf::resumable*> jobs;
    /// The size of `jobs`, readable without the lock.
    std::atomic<size_t> size{0};

    /// Returns the number of jobs after the push.
    size_t push_front(caf::resumable* job) {
      std::lock_guard<std::mutex> guard{mtx};
      jobs.push_front(job);
      auto n = jobs.size();
      size.store(n, std::memory_order_seq_cst);
      return n;
    }

    void push_back(caf::resumable* job) {
      std::lock_guard<std::mutex> guard{mtx};
      jobs.push_back(job);
      size.store(jobs.size(), std::memory_order_seq_cst);
    }

    caf::resumable* pop_front() {
      if (size.load(std::memory_order_relaxed) == 0)
        return nullptr;
      std::lock_guard<std::mutex> guard{mtx};
      if (jobs.empty())
        return nullptr;
      auto job = jobs.front();
      jobs.pop_front();
      size.store(jobs.size(), std::memory_order_relaxed);
      return job;
    }

    /// Takes the oldest job if at least `min_size` are waiting.
    caf::resumable* pop_back(size_t min_size) {
      if (size.load(std::memory_order_relaxed) < min_size)
        return nullptr;
      std::lock_guard<std::mutex> guard{mtx};
      if (jobs.empty() || jobs.size() < min_size)
        return nullptr;
      auto job = jobs.back();
      jobs.pop_back();
      size.store(jobs.size(), std::memory_order_relaxed);
      return job;
    }
  };

  struct coordinator_data {
    explicit coordinator_data(caf::scheduler::abstract_coordinator*) {
      // nop
    }

    /// Round robin of enqueues from outside the workers.
    std::atomic<size_t> next_worker{0};
    /// Workers looking for work, not yet asleep.
    std::atomic<int> searching{0};
    /// Workers asleep and not yet woken.
    std::atomic<int> sleepers{0};
    /// Guards the sleep and wake-up of every worker.
    std::mutex sleep_mtx;
  };

  struct worker_data {
    explicit worker_data(caf::scheduler::abstract_coordinator*) {
      // nop
    }

    worker_data(const worker_data&) {
      // nop: each worker gets a fresh deque
    }

    job_deque queue;
    /// Set while asleep, cleared by whoever wakes it (under `sleep_mtx`).
    bool asleep = false;
    std::condition_variable cv;
    /// The worker to steal from first, rotated on each search.
    size_t next_victim = 0;
  };

  // -- enqueueing -------------------------------------------------------------

  template <class Coordinator>
  void central_enqueue(Coordinator* self, caf::resumable* job) {
    auto n = self->num_workers();
    auto w = self->worker_by_id(d(self).next_worker++ % n);
    w->external_enqueue(job);
  }

  template <class Worker>
  void external_enqueue(Worker* self, caf::resumable* job) {
    d(self).queue.push_back(job);
    wake_if_needed(self->parent());
  }

  /// An actor made runnable by the actor this worker runs. If it is the
  /// only one waiting, this worker runs it next, with its caches warm:
  /// waking another worker would only move it to another core (a request
  /// and its reply would bounce between cores).
  template <class Worker>
  void internal_enqueue(Worker* self, caf::resumable* job) {
    if (d(self).queue.push_front(job) > 1)
      wake_if_needed(self->parent());
  }

  template <class Worker>
  void resume_job_later(Worker* self, caf::resumable* job) {
    d(self).queue.push_back(job);
    wake_if_needed(self->parent());
  }

  // -- dequeueing -------------------------------------------------------------

  template <class Worker>
  caf::resumable* dequeue(Worker* self) {
    auto parent = self->parent();
    auto& cd = d(parent);
    // Whether this worker counts in `searching`: a worker woken by another
    // was counted by it.
    bool counted = false;
    for (;;) {
      if (!counted) {
        if (auto job = d(self).queue.pop_front())
          return job;
        cd.searching.fetch_add(1, std::memory_order_seq_cst);
      }
      for (int round = 0; round < search_rounds; ++round) {
        auto job = d(self).queue.pop_front();
        // A lone job is left to its worker at first: that worker runs it as
        // soon as it is done with the current one, with warm caches.
        if (job == nullptr)
          job = try_steal(self, round < patient_rounds ? 2 : 1);
        if (job != nullptr) {
          // The last searcher to find work wakes another worker if more is
          // waiting, so that a burst spreads over the workers.
          if (cd.searching.fetch_sub(1, std::memory_order_seq_cst) == 1
              && work_visible(parent))
            wake_one(parent);
          return job;
        }
        for (int i = 0; i < pauses_per_round; ++i)
          cpu_relax();
      }
      // Naps: still searching (so nobody wakes it, and an enqueue costs no
      // wake-up), it looks again after each short sleep. Gaps of a few
      // hundred microseconds, such as an fsync of the coordinator, are
      // common; a worker blocked on its condition variable takes longer to
      // wake than a napping one to look, on virtual machines most of all.
      for (int nap = 0; nap < nap_rounds; ++nap) {
        // A commit waits for the disk: its end makes the next work, and
        // wakes a sleeper for it. Napping through the sync only slows it.
        if (disk_waits.load(std::memory_order_relaxed) > 0)
          break;
        std::this_thread::sleep_for(nap_duration);
        auto job = d(self).queue.pop_front();
        if (job == nullptr)
          job = try_steal(self, 1);
        if (job != nullptr) {
          if (cd.searching.fetch_sub(1, std::memory_order_seq_cst) == 1
              && work_visible(parent))
            wake_one(parent);
          return job;
        }
      }
      cd.searching.fetch_sub(1, std::memory_order_seq_cst);
      counted = sleep(self);
    }
  }

  // -- blocking ---------------------------------------------------------------

  /// Before `self` blocks for the disk: wakes a sleeping worker, unless one
  /// searches, if actors wait in `self`'s deque. They would wait for the
  /// whole sync otherwise, since idle workers sleep through it.
  template <class Worker>
  static void before_disk_wait(Worker* self) {
    if (d(self).queue.size.load(std::memory_order_seq_cst) > 0)
      wake_if_needed(self->parent());
  }

  // -- shutdown ---------------------------------------------------------------

  template <class Worker, class UnaryFunction>
  void foreach_resumable(Worker* self, UnaryFunction f) {
    while (auto job = d(self).queue.pop_front())
      f(job);
  }

  template <class Coordinator, class UnaryFunction>
  void foreach_central_resumable(Coordinator*, UnaryFunction) {
    // nop: no central queue
  }

private:
  template <class Worker>
  caf::resumable* try_steal(Worker* self, size_t min_size) {
    auto parent = self->parent();
    auto n = parent->num_workers();
    if (n < 2)
      return nullptr;
    auto& next = d(self).next_victim;
    for (size_t i = 0; i < n; ++i) {
      auto victim = (next + i) % n;
      if (victim == self->id())
        continue;
      if (auto job = d(parent->worker_by_id(victim)).queue.pop_back(min_size)) {
        next = victim;
        return job;
      }
    }
    next = (next + 1) % n;
    return nullptr;
  }

  template <class Coordinator>
  static bool work_visible(Coordinator* parent) {
    for (size_t i = 0; i < parent->num_workers(); ++i)
      if (d(parent->worker_by_id(i)).queue.size.load(std::memory_order_seq_cst)
          > 0)
        return true;
    return false;
  }

  /// Wakes a sleeping worker when nobody searches: the job just enqueued
  /// may wait otherwise while a worker sleeps.
  template <class Coordinator>
  static void wake_if_needed(Coordinator* parent) {
    auto& cd = d(parent);
    // The push stored the deque's size with seq_cst before these seq_cst
    // loads; a sleeper stores `sleepers` before it loads the sizes: one of
    // the two sees the other (no fence, which ThreadSanitizer cannot model).
    if (cd.sleepers.load(std::memory_order_seq_cst) > 0
        && cd.searching.load(std::memory_order_seq_cst) == 0)
      wake_one(parent);
  }

  template <class Coordinator>
  static void wake_one(Coordinator* parent) {
    auto& cd = d(parent);
    std::lock_guard<std::mutex> guard{cd.sleep_mtx};
    for (size_t i = 0; i < parent->num_workers(); ++i) {
      auto& wd = d(parent->worker_by_id(i));
      if (wd.asleep) {
        wd.asleep = false;
        cd.sleepers.fetch_sub(1, std::memory_order_seq_cst);
        // Counted as searching from now on, so that the enqueues until it
        // runs wake nobody else.
        cd.searching.fetch_add(1, std::memory_order_seq_cst);
        wd.cv.notify_one();
        return;
      }
    }
  }

  /// Sleeps until woken, for `max_sleep` at most. Returns whether another
  /// worker woke it, and so counted it as searching.
  template <class Worker>
  bool sleep(Worker* self) {
    auto parent = self->parent();
    auto& cd = d(parent);
    auto& wd = d(self);
    std::unique_lock<std::mutex> guard{cd.sleep_mtx};
    wd.asleep = true;
    cd.sleepers.fetch_add(1, std::memory_order_seq_cst);
    // An enqueue before the increment above did not see this sleeper: look
    // once more, under the lock that every wake-up takes.
    if (!work_visible(parent))
      wd.cv.wait_for(guard, max_sleep, [&] { return !wd.asleep; });
    if (!wd.asleep)
      return true;
    // Timed out or found work: not woken by anyone.
    wd.asleep = false;
    cd.sleepers.fetch_sub(1, std::memory_order_seq_cst);
    return false;
  }
};

/// The worker of Cairn's scheduler that runs on this thread, if any.
thread_local caf::scheduler::worker<stealing_policy>* current_worker = nullptr;

} // namespace

} // namespace cairn

/// The scheduling loop of Cairn's workers: CAF's `worker::run` without its
/// logging context. CAF's loop sets the logger's actor id around every
/// resume, a `dynamic_cast` of the job plus a thread-local exchange, even
/// when CAF logs nothing (CAF_LOG_LEVEL_QUIET): about 6% of the CPU of
/// `cairn-bench persist` at 1,000 entities.
template <>
void caf::scheduler::worker<cairn::stealing_policy>::run() {
  cairn::current_worker = this;
  for (;;) {
    auto job = policy_.dequeue(this);
    policy_.before_resume(this, job);
    auto res = job->resume(this, max_throughput_);
    policy_.after_resume(this, job);
    switch (res) {
      case resumable::resume_later:
        // It stays in the loop, with its reference.
        policy_.resume_job_later(this, job);
        break;
      case resumable::done:
        policy_.after_completion(this, job);
        intrusive_ptr_release(job);
        break;
      case resumable::awaiting_message:
        // Enqueued again by its next message, with a new reference.
        intrusive_ptr_release(job);
        break;
      case resumable::shutdown_execution_unit:
        policy_.after_completion(this, job);
        policy_.before_shutdown(this);
        return;
    }
  }
}

/// Starts a worker's thread, named `cairn.worker`. It installs CAF's logger
/// for the thread only when the logger writes something: CAF's actors set
/// the logger's actor id on every resume when a logger is installed, a
/// shared lock and a hash lookup (about 3% of a worker's CPU in
/// `cairn-bench persist`), which buy nothing from a quiet logger.
template <>
void caf::scheduler::worker<cairn::stealing_policy>::start() {
  auto this_worker = this;
  this_thread_ = std::thread{[this_worker] {
    auto& sys = this_worker->system();
    if (sys.logger().verbosity() != CAF_LOG_LEVEL_QUIET)
      CAF_SET_LOGGER_SYS(&sys);
    caf::detail::set_thread_name("cairn.worker");
    sys.thread_started();
    this_worker->run();
    sys.thread_terminates();
  }};
}

namespace cairn {

namespace {

using coordinator = caf::scheduler::coordinator<stealing_policy>;

} // namespace

disk_wait::disk_wait() noexcept {
  disk_waits.fetch_add(1, std::memory_order_relaxed);
  disk_waits_made.fetch_add(1, std::memory_order_relaxed);
  if (auto w = current_worker)
    stealing_policy::before_disk_wait(w);
}

disk_wait::~disk_wait() {
  disk_waits.fetch_sub(1, std::memory_order_relaxed);
}

int disk_wait::active() noexcept {
  return disk_waits.load(std::memory_order_relaxed);
}

uint64_t disk_wait::made() noexcept {
  return disk_waits_made.load(std::memory_order_relaxed);
}

void use_cairn_scheduler(caf::actor_system_config& cfg) {
  cfg.module_factories.push_back(
    [](caf::actor_system& sys) -> caf::actor_system::module* {
      return new coordinator(sys);
    });
}

caf::error apply_scheduler_policy(caf::actor_system_config& cfg,
                                  std::string_view policy) {
  if (policy == "cairn") {
    use_cairn_scheduler(cfg);
    return caf::none;
  }
  if (policy == "stealing" || policy == "sharing")
    return caf::none;
  return make_error(errc::bad_config,
                    "scheduler.policy: '" + std::string{policy}
                      + "' is not one of: cairn, stealing, sharing");
}

} // namespace cairn
