#pragma once

#include <algorithm>
#include <chrono>
#include <mutex>
#include <string>
#include <unordered_set>

#include "caf/send.hpp"

#include "cairn/actors/aggregate/state.hpp"
#include "cairn/actors/atoms.hpp"
#include "cairn/journal/codec.hpp"
#include "cairn/journal/log.hpp"

/// Phase `recovering`: the latest snapshot, then the tail of the stream in
/// chunks of `aggregate_settings::recovery_chunk` events. Between two chunks
/// the entity sends itself `recover_atom` and yields its thread, so a long
/// stream neither blocks a scheduler thread for long nor sits in memory
/// whole. Commands that arrive meanwhile are stashed. Previous phase: none
/// (spawn), `persisting` (after a conflict) or `deciding` (after a step
/// that did not commit). Next: `running` (running.hpp), or `failed` after a
/// recovery error.
namespace cairn::detail {

template <class A>
void enter_running(aggregate_pointer<A> self);

/// Enters `failed` after a recovery error: every waiting command gets the
/// error, and so does every later one until the entity is passivated (the
/// way Akka's persistent actors stop on a recovery failure and a backoff
/// supervisor tries again later). The entity does not end on its own: a
/// command that reached it after it ended would bounce with a CAF error
/// instead of the recovery error.
template <class A>
void recovery_failed(aggregate_pointer<A> self, caf::error err) {
  auto& st = self->state;
  if (code_of(err) != errc::none
      && context_of(err).find(st.stream) == std::string::npos)
    err = make_error(code_of(err), "recovery of " + st.stream
                                     + " failed: " + context_of(err));
  st.phase = aggregate_phase::failed;
  st.value = typename A::state{};
  st.version = 0;
  st.failure = err;
  log::warning(st.stream, describe(err));
  fail_stash<A>(self, err);
  if (st.passivate_requested)
    self->quit();
}

/// Warns in the log, once per stream and process, that the snapshot of
/// `stream` is not used.
inline void warn_unusable_snapshot(const std::string& stream,
                                   const std::string& why) {
  static std::mutex mtx;
  static std::unordered_set<std::string> warned;
  {
    std::lock_guard<std::mutex> guard{mtx};
    if (!warned.insert(stream).second)
      return;
  }
  log::warning(
    stream, "snapshot not used, replaying the events from the start: " + why);
}

/// Loads the latest snapshot, if any, and schedules the first chunk. A
/// snapshot that cannot be used (damaged: `corrupt_record`; stored by
/// another schema version of the state, or of another type; not decoding)
/// is skipped: the events replay from the start, unless retention removed
/// them, which `recover_chunk` reports as a missing event.
template <class A>
void start_recovery(aggregate_pointer<A> self) {
  auto& st = self->state;
  st.phase = aggregate_phase::recovering;
  st.value = typename A::state{};
  st.version = 0;
  st.recovery_started = std::chrono::steady_clock::now();
  st.recovery_reported = st.recovery_started;
  st.recovery_snapshot = 0;
  auto snap = st.env->journal->latest_snapshot(st.stream);
  if (!snap) {
    if (code_of(snap.error()) != errc::corrupt_record)
      return recovery_failed<A>(self, std::move(snap.error()));
    warn_unusable_snapshot(st.stream, describe(snap.error()));
  } else if (*snap) {
    auto& s = **snap;
    if (s.type != snapshot_type_of<A>()) {
      warn_unusable_snapshot(st.stream, "its type is " + s.type + ", not "
                                          + snapshot_type_of<A>());
    } else if (s.schema_version != snapshot_version_of<A>()) {
      // Expected after the state's schema changed: no warning.
    } else {
      auto decoded = journal::from_bytes<typename A::state>(
        s.payload, "snapshot of stream " + st.stream + " at version "
                     + std::to_string(s.version));
      if (decoded) {
        st.value = std::move(*decoded);
        st.version = s.version;
        st.recovery_snapshot = s.version;
      } else {
        warn_unusable_snapshot(st.stream, describe(decoded.error()));
      }
    }
  }
  self->send(self, recover_atom::value);
}

/// Replays the next chunk of the stream; on the last one, enters running.
template <class A>
void recover_chunk(aggregate_pointer<A> self) {
  auto& st = self->state;
  if (st.phase != aggregate_phase::recovering)
    return;
  // 0 is refused by `validate(aggregate_settings)`; never loop on it.
  auto chunk_size = std::max(size_t{1}, st.env->settings.recovery_chunk);
  auto chunk
    = st.env->journal->read_stream(st.stream, st.version + 1, chunk_size);
  if (!chunk)
    return recovery_failed<A>(self, std::move(chunk.error()));
  auto& codec = codec_of<A>();
  for (auto& ev : *chunk) {
    if (ev.version != st.version + 1)
      return recovery_failed<A>(
        self, make_error(errc::corrupt_record,
                         "stream " + st.stream + " version "
                           + std::to_string(st.version + 1)
                           + ": event is missing (deleted by retention "
                             "without a usable snapshot?)"));
    auto decoded = decode_event(codec, ev, typename A::events{});
    if (!decoded)
      return recovery_failed<A>(self, std::move(decoded.error()));
    st.value = std::visit(
      [&](auto& e) { return A::apply(std::move(st.value), e); }, *decoded);
    st.version = ev.version;
  }
  if (chunk->size() == chunk_size) {
    // A long recovery says how far it got, every 2 s at most.
    if (log::enabled(log::level::info)) {
      auto now = std::chrono::steady_clock::now();
      if (now - st.recovery_reported >= std::chrono::seconds{2}) {
        st.recovery_reported = now;
        log::info(
          st.stream,
          "recovering: " + std::to_string(st.version - st.recovery_snapshot)
            + " events replayed, at version " + std::to_string(st.version));
      }
    }
    self->send(self, recover_atom::value);
    return;
  }
  if (st.version > 0 && log::enabled(log::level::info)) {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::steady_clock::now() - st.recovery_started)
                .count();
    log::info(st.stream, "recovered in " + std::to_string(us / 1000) + "."
                           + std::to_string(us % 1000 / 100) + " ms from "
                           + std::to_string(st.version - st.recovery_snapshot)
                           + " events"
                           + (st.recovery_snapshot > 0
                                ? " after the snapshot at version "
                                    + std::to_string(st.recovery_snapshot)
                                : std::string{}));
  }
  enter_running<A>(self);
}

} // namespace cairn::detail
