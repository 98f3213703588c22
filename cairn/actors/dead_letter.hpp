#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include <cereal/types/string.hpp>

/// Dead letters: inputs of process managers that could not take effect.
///
/// A process manager's router hands every input event to the instance it
/// correlates with. When the input cannot take effect — its instance's
/// recovery fails, its step keeps failing, it does not decode, its instance
/// id is too long, its record in the log is corrupt — the router parks it in
/// the table `cairn.dead-letters` of the journal, through the coordinator,
/// and acknowledges it only once that row has committed. So every input is
/// either reflected in its instance's stream or parked here with its error:
/// the router's checkpoint never passes an input that was lost.
///
/// Row: key `<manager category>#<input position, 20 digits>` (so rows sort
/// by manager, then position), value a `dead_letter` serialized with cereal
/// (binary archive, fields in declaration order).
///
/// Replay: mark rows (`replay = true`) with `cairn-journal dead-letters DIR
/// --replay [--all | KEY...]` while no process holds the journal, or with
/// `replay_dead_letters` (cairn/actors/process_router.hpp) from a program. A
/// router re-delivers the marked rows of its manager when it starts (and
/// when `replay_dead_letters` asks it to). The instance takes a replayed
/// input even though later inputs have had their effect; its step stores
/// the dedup key `replay_dedup_key(stream, position)`, so a replay repeated
/// after a crash has no second effect. The row is deleted once the instance
/// acknowledged the input; if it fails again, the row stays with the new
/// error, one more attempt and the mark cleared.
///
/// This header uses only the standard library and cereal, so that tools
/// without actors (`cairn-journal`) read the table too.
namespace cairn {

/// Name of the table of dead letters.
constexpr const char* dead_letter_table = "cairn.dead-letters";

/// A parked input and why it was parked.
struct dead_letter {
  /// The process manager type's category (its router).
  std::string manager;
  /// Where the input event is: its stream, version and global position,
  /// and its type name.
  std::string stream;
  uint64_t version = 0;
  uint64_t position = 0;
  std::string type;
  /// The last error, rendered (`describe`).
  std::string error;
  /// When it was parked (or last failed), ns since the epoch.
  int64_t time_ns = 0;
  /// Times it was handed to an instance and failed.
  uint32_t attempts = 0;
  /// Marked for replay: the next router start re-delivers it.
  bool replay = false;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(manager, stream, version, position, type, error, time_ns, attempts,
       replay);
  }
};

/// Returns the key of the dead letter of `manager`'s input at `position`.
inline std::string dead_letter_key(const std::string& manager,
                                   uint64_t position) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "%020llu",
                static_cast<unsigned long long>(position));
  return manager + "#" + buf;
}

/// Returns the dedup key a replayed input's step stores.
inline std::string replay_dedup_key(const std::string& stream,
                                    uint64_t position) {
  return "cairn.replayed#" + stream + "#" + std::to_string(position);
}

} // namespace cairn
