#pragma once

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/system_messages.hpp"

#include "cairn/actors/aggregate.hpp"
#include "cairn/actors/aggregate_actor.hpp"
#include "cairn/actors/runtime.hpp"
#include "cairn/actors/scheduler.hpp"
#include "cairn/journal/codec.hpp"
#include "cairn/journal/errc.hpp"

/// A test kit for aggregates, shipped for users: drive one entity with
/// commands and look at what it did, on a real journal and a real
/// coordinator.
///
/// ```
/// cairn::testkit<invoice> kit;                 // journal in a temp dir
/// auto r = kit.run_command<int64_t>(add_item{"coffee", 350});
/// REQUIRE(r.reply);                            // caf::expected<int64_t>
/// CHECK(r.events.size() == 1);                 // the persisted events
/// CHECK(r.state.total == 350);                 // the state afterwards
/// auto before = kit.state();
/// CHECK(kit.restart() == before);              // recovery gives the same
/// kit.fail_next_persist();                     // the next write fails
/// ```
namespace cairn {

/// What one command did.
template <class A, class Reply>
struct command_result {
  /// The reply, or the error the command was answered with.
  caf::expected<Reply> reply;
  /// The events the command stored, decoded.
  std::vector<typename A::events::variant_type> events;
  /// The entity's state after the command.
  typename A::state state;
  /// The stream version after the command.
  uint64_t version = 0;
};

/// Reply type of commands answered with an empty acknowledgement.
struct ack {};

/// Options of a test kit.
struct testkit_options {
  /// Journal directory; empty: a fresh temporary directory, removed at the
  /// end.
  std::string journal_path;
  /// Entity settings (snapshots, stash capacity).
  aggregate_settings aggregates;
  /// Time to wait for each reply.
  std::chrono::milliseconds timeout{10000};
  /// Durability of the journal; tests rarely need fsync.
  journal::sync_mode sync = journal::sync_mode::none;
};

/// Drives the entity `id` of aggregate `A`. Not thread-safe; one test, one
/// kit.
template <class A>
class testkit {
public:
  // -- member types ----------------------------------------------------------

  using state_type = typename A::state;
  using event_type = typename A::events::variant_type;

  // -- construction ----------------------------------------------------------

  explicit testkit(std::string id = "1", testkit_options opts = {})
    : id_(std::move(id)), opts_(std::move(opts)) {
    if (opts_.journal_path.empty()) {
      auto base = std::filesystem::temp_directory_path() / "cairn-kit-XXXXXX";
      std::string tmpl = base.string();
      if (::mkdtemp(tmpl.data()) == nullptr)
        throw std::runtime_error("testkit: cannot create a temp directory");
      opts_.journal_path = tmpl;
      owns_dir_ = true;
    }
    use_cairn_scheduler(cfg_); // as cairn::config does by default
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    self_ = std::make_unique<caf::scoped_actor>(*sys_);
    start();
  }

  ~testkit() {
    stop();
    self_.reset();
    sys_.reset();
    if (owns_dir_) {
      std::error_code ec;
      std::filesystem::remove_all(opts_.journal_path, ec);
    }
  }

  testkit(const testkit&) = delete;
  testkit& operator=(const testkit&) = delete;

  // -- commands --------------------------------------------------------------

  /// Sends `cmd` and waits for the reply. `Reply` is the type the command's
  /// effect replies with; `ack` for `then_ack()` and `none()`.
  template <class Reply = ack, class Cmd>
  command_result<A, Reply> run_command(Cmd cmd) {
    auto before = journal()->stream_version(stream_of<A>(id_));
    command_result<A, Reply> result{caf::error{}, {}, {}, 0};
    auto on_error = [&](caf::error& err) { result.reply = std::move(err); };
    auto req = (*self_)->request(entity_, opts_.timeout, std::move(cmd));
    if constexpr (std::is_same_v<Reply, ack>)
      req.receive([&] { result.reply = ack{}; }, on_error);
    else
      req.receive([&](Reply& x) { result.reply = std::move(x); }, on_error);
    auto fetched = try_fetch_state();
    if (!fetched) {
      // An entity whose recovery failed answered its command with the
      // recovery error; it has no state to show.
      if (!result.reply)
        return result;
      throw std::runtime_error("testkit: entity " + id_ + " did not answer: "
                               + describe(fetched.error()));
    }
    auto& [version, st] = *fetched;
    result.version = version;
    result.state = std::move(st);
    if (before && *before < version)
      result.events = events_between(*before + 1, version);
    return result;
  }

  // -- state -----------------------------------------------------------------

  /// The entity's committed state.
  state_type state() {
    return fetch_state().second;
  }

  /// The stream version of the entity.
  uint64_t version() {
    return fetch_state().first;
  }

  /// Stops the entity and starts a new one that recovers from the journal;
  /// returns its state.
  state_type restart() {
    stop_entity();
    spawn_entity();
    return state();
  }

  /// Stops the entity and starts a new one without waiting for its
  /// recovery (which may fail: the next command then gets the error).
  void restart_entity_only() {
    stop_entity();
    spawn_entity();
  }

  /// Stops everything and opens the journal again (after an injected commit
  /// failure, the journal refuses writes until then); returns the state the
  /// entity recovers.
  state_type reopen() {
    stop();
    start();
    return state();
  }

  /// Stops everything, calls `f(journal_path())` while the journal is
  /// closed (a test may damage it on purpose), opens it again; returns the
  /// state the entity recovers.
  template <class F>
  state_type reopen_after(F f) {
    stop();
    f(opts_.journal_path);
    start();
    return state();
  }

  // -- failure injection -----------------------------------------------------

  /// The next write group the coordinator receives is refused with
  /// `errc::storage_error`; the journal stays healthy.
  void fail_next_persist() {
    inject(injected_failure::next_persist);
  }

  /// The next commit fails as a failed fsync would: its writers get
  /// `errc::storage_error`, later ones `errc::journal_failed` until
  /// `reopen()`.
  void fail_next_commit() {
    inject(injected_failure::next_commit);
  }

  // -- access ----------------------------------------------------------------

  const std::shared_ptr<journal::journal>& journal() const {
    return rt_->journal();
  }

  runtime& rt() {
    return *rt_;
  }

  caf::actor_system& system() {
    return *sys_;
  }

  const caf::actor& entity() const {
    return entity_;
  }

  const std::string& journal_path() const {
    return opts_.journal_path;
  }

private:
  void start() {
    runtime_options ro;
    ro.journal_path = opts_.journal_path;
    ro.journal.sync = opts_.sync;
    ro.aggregates = opts_.aggregates;
    auto r = runtime::start(*sys_, ro);
    if (!r)
      throw std::runtime_error("testkit: " + describe(r.error()));
    rt_ = std::move(*r);
    spawn_entity();
  }

  void stop() {
    if (!rt_)
      return;
    stop_entity();
    rt_->stop();
    // Wait for the coordinator to end, so that the journal is closed.
    auto coord = caf::actor_cast<caf::actor>(rt_->coordinator());
    auto hub = caf::actor_cast<caf::actor>(rt_->hub());
    rt_.reset();
    await_down(coord);
    await_down(hub);
  }

  void spawn_entity() {
    entity_ = spawn_aggregate<A>(*sys_, rt_->env(), id_);
  }

  void stop_entity() {
    if (!entity_)
      return;
    (*self_)->send_exit(entity_, caf::exit_reason::user_shutdown);
    await_down(entity_);
    entity_ = nullptr;
  }

  void await_down(const caf::actor& hdl) {
    if (!hdl)
      return;
    (*self_)->monitor(hdl);
    bool done = false;
    while (!done)
      (*self_)->receive(
        [&](caf::down_msg& msg) {
          if (msg.source == hdl.address())
            done = true;
        },
        caf::after(opts_.timeout) >>
          [&] {
            throw std::runtime_error("testkit: an actor did not stop in time");
          });
  }

  void inject(injected_failure what) {
    (*self_)
      ->request(rt_->coordinator(), opts_.timeout, inject_atom::value, what)
      .receive([](bool) {},
               [](caf::error& err) {
                 throw std::runtime_error("testkit: " + describe(err));
               });
  }

  caf::expected<std::pair<uint64_t, state_type>> try_fetch_state() {
    caf::expected<std::pair<uint64_t, state_type>> result{caf::error{}};
    (*self_)
      ->request(entity_, opts_.timeout, get_state_atom::value)
      .receive(
        [&](uint64_t version, std::string& bytes) {
          auto st = journal::from_bytes<state_type>(bytes, "state");
          if (!st)
            result = std::move(st.error());
          else
            result = std::make_pair(version, std::move(*st));
        },
        [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  std::pair<uint64_t, state_type> fetch_state() {
    auto result = try_fetch_state();
    if (!result)
      throw std::runtime_error("testkit: entity " + id_ + " did not answer: "
                               + describe(result.error()));
    return std::move(*result);
  }

  std::vector<event_type> events_between(uint64_t from, uint64_t to) {
    std::vector<event_type> result;
    auto evs = journal()->read_stream(stream_of<A>(id_), from, to - from + 1);
    if (!evs)
      throw std::runtime_error("testkit: " + describe(evs.error()));
    for (auto& ev : *evs) {
      auto x = detail::decode_event(codec_of<A>(), ev, typename A::events{});
      if (!x)
        throw std::runtime_error("testkit: " + describe(x.error()));
      result.push_back(std::move(*x));
    }
    return result;
  }

  std::string id_;
  testkit_options opts_;
  bool owns_dir_ = false;
  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  std::unique_ptr<caf::scoped_actor> self_;
  std::unique_ptr<runtime> rt_;
  caf::actor entity_;
};

} // namespace cairn
