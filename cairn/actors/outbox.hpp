#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include <cereal/archives/binary.hpp>
#include <cereal/details/traits.hpp>
#include <cereal/types/string.hpp>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"
#include "caf/expected.hpp"
#include "caf/message.hpp"

#include "cairn/actors/coordinator.hpp"
#include "cairn/journal/codec.hpp"
#include "cairn/journal/errc.hpp"
#include "cairn/journal/journal.hpp"

/// Commands to aggregates of another journal: the outbox path.
///
/// No transaction spans two journals. When a process step commands an
/// aggregate that a runtime routes elsewhere (`runtime::route<A>`), the step
/// stores the command in the table `cairn.outbox` of its own journal, in
/// the same write group as the manager's events. After the commit the
/// runtime's dispatcher delivers it, at least once, as
/// `(entity_id, deliver_atom, key, command_index, command_bytes)`: the
/// command is serialized with cereal, so a command type sent this way needs
/// a `serialize` function. The target entity stores `key` (see
/// `outbox_key`) as a dedup key in the group of its events, so a redelivered
/// command has no second effect: it is answered with `errc::duplicate`
/// naming the key, which counts as accepted (it took effect before). A
/// `duplicate` that does not name the key (a rejection of the target's own)
/// is recorded as a rejection.
///
/// The outcome comes back as an event `cairn.remote_outcome` on stream
/// `cairn.outcome-<manager stream>`, committed in the same group that
/// erases the outbox row; the manager's input router hands it to the
/// instance as a `command_result` input, with the exactly-once of inputs.
///
/// Delivery is retried, with a growing delay, while the target answers
/// with a transient error (down, timeout, overloaded). A rejection is an
/// outcome like any other. A rejected command stores nothing at the target,
/// so after a crash between the target's answer and the outcome's commit a
/// redelivery decides the command again.
namespace cairn {

/// Name of the table holding undelivered commands: key -> `outbox_entry`.
constexpr const char* outbox_table = "cairn.outbox";

/// The key of the `index`-th command of the step that took the manager's
/// stream `stream` past version `version`, in the journal with id
/// `journal_id`: `<journal id>#<time>#<stream>#<version>#<index>`, where
/// `<time>` is the wall-clock time of the call, nanoseconds since the epoch
/// in 16 hex digits. The target stores the key as a dedup key, so it must
/// be unique across the journals that command it: the journal's id, the
/// stream and its version make it so. The time orders the keys of a journal
/// as they are made, so that the dedup keys they become (at the target, and
/// `cairn.outcome:<key>` at the source) go in at the end of the dedup table,
/// as in a log, rather than all over it: a commit then dirties a few pages
/// of that table rather than one per key (`cairn-bench cluster`, 1,000
/// instances: half the time per commit at the source, less than half at
/// the target). Two calls with the same arguments give different keys: a
/// committed key is read back (outbox row, `remote_outcome::key`), never
/// made again. At most 32 + 16 + 255 + 20 + 10 + 4 bytes, within
/// `journal::max_dedup_key_size` and `journal::max_table_key_size`.
inline std::string outbox_key(const std::string& journal_id,
                              const std::string& stream, uint64_t version,
                              size_t index) {
  auto ns = static_cast<uint64_t>(
    std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::system_clock::now().time_since_epoch())
      .count());
  std::string time(16, '0');
  for (auto i = time.rbegin(); i != time.rend(); ++i, ns >>= 4)
    *i = "0123456789abcdef"[ns & 0xf];
  return journal_id + "#" + time + "#" + stream + "#" + std::to_string(version)
         + "#" + std::to_string(index);
}

/// Category of the streams that carry remote outcomes back.
constexpr const char* outcome_category = "cairn.outcome";

/// A command waiting in the outbox.
struct outbox_entry {
  /// The commanding manager's category and instance id.
  std::string manager;
  std::string instance;
  /// The target aggregate's category and entity id.
  std::string category;
  std::string entity;
  /// Index of the command's type in the target's `commands` list, and the
  /// command serialized with cereal.
  uint32_t index = 0;
  std::string bytes;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(manager, instance, category, entity, index, bytes);
  }
};

/// The outcome of a command delivered through the outbox.
struct remote_outcome {
  static constexpr const char* event_name = "cairn.remote_outcome";
  /// The outbox key (also the dedup key at the target).
  std::string key;
  std::string manager;
  std::string instance;
  std::string category;
  std::string entity;
  bool accepted = false;
  std::string why;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(key, manager, instance, category, entity, accepted, why);
  }
};

/// Settings of the dispatcher.
struct outbox_settings {
  /// How long one delivery may take before it counts as failed.
  caf::timespan delivery_timeout = std::chrono::seconds{10};
  /// First and longest delay before delivering again after a failure.
  caf::timespan first_retry = std::chrono::milliseconds{50};
  caf::timespan max_retry = std::chrono::seconds{5};
};

/// Finds the registry that hosts aggregate category `category`, or an
/// invalid handle when none is known (the entry waits).
using remote_resolver = std::function<caf::actor(const std::string&)>;

/// Spawns a runtime's dispatcher: it delivers every row of the outbox table
/// present at start, and each `(outbox_atom, key, entry_bytes)` it is sent
/// after a commit. `(stats_atom)` -> `(delivered, redelivered_duplicates,
/// retries, pending, corrupt_rows)`; a row that does not decode is counted,
/// reported on stderr and left in the table.
caf::actor spawn_outbox_dispatcher(caf::actor_system& sys,
                                   std::shared_ptr<journal::journal> j,
                                   coordinator_actor coordinator,
                                   remote_resolver resolve,
                                   outbox_settings settings = {});

namespace detail {

template <class T>
constexpr bool is_cereal_serializable_v
  = cereal::traits::is_output_serializable<T,
                                           cereal::BinaryOutputArchive>::value;

template <class T, class Variant>
struct index_in;

template <class T, class... Ts>
struct index_in<T, std::variant<Ts...>> {
  static constexpr uint32_t value = [] {
    constexpr bool same[] = {std::is_same_v<T, Ts>...};
    for (uint32_t i = 0; i < sizeof...(Ts); ++i)
      if (same[i])
        return i;
    return static_cast<uint32_t>(sizeof...(Ts));
  }();
};

/// Serializes a command of aggregate `A` for the outbox; none when `Cmd`
/// has no cereal `serialize`.
template <class A, class Cmd>
std::optional<std::pair<uint32_t, std::string>>
encode_remote_command(const Cmd& cmd) {
  using variant = typename A::commands::variant_type;
  static_assert(index_in<Cmd, variant>::value < std::variant_size_v<variant>,
                "not a command of this aggregate");
  if constexpr (is_cereal_serializable_v<Cmd>)
    return std::make_pair(index_in<Cmd, variant>::value,
                          journal::to_bytes(cmd));
  else
    return std::nullopt;
}

template <class Variant, size_t I = 0>
caf::expected<Variant> decode_command_at(uint32_t index,
                                         const std::string& bytes) {
  if constexpr (I == std::variant_size_v<Variant>) {
    return make_error(errc::invalid_argument,
                      "command index " + std::to_string(index)
                        + " is not a command of this aggregate");
  } else {
    if (index != I)
      return decode_command_at<Variant, I + 1>(index, bytes);
    using T = std::variant_alternative_t<I, Variant>;
    if constexpr (is_cereal_serializable_v<T>) {
      auto x = journal::from_bytes<T>(bytes, "delivered command");
      if (!x)
        return std::move(x.error());
      return Variant{std::in_place_index<I>, std::move(*x)};
    } else {
      return make_error(errc::invalid_argument,
                        "command index " + std::to_string(index)
                          + " has no serialize function");
    }
  }
}

/// Decodes a delivered command of aggregate `A`.
template <class A>
caf::expected<typename A::commands::variant_type>
decode_remote_command(uint32_t index, const std::string& bytes) {
  return decode_command_at<typename A::commands::variant_type>(index, bytes);
}

} // namespace detail

} // namespace cairn
