#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <variant>

#include "caf/meta/type_name.hpp"

#include "cairn/actors/coordinator.hpp"
#include "cairn/actors/effect.hpp"
#include "cairn/journal/codec.hpp"
#include "cairn/journal/journal.hpp"

/// The user-facing side of aggregates.
///
/// An aggregate type is a struct with:
///
/// ```
/// struct invoice {
///   static constexpr const char* category = "invoice";  // stream prefix
///   using state = invoice_state;        // default-constructible, cereal
///   using events = cairn::event_list<invoice_created, item_added>;
///   using commands = cairn::command_list<create_invoice, add_item>;
///   static state apply(state s, const item_added& e);     // one per event
///   static cairn::effect<invoice> handle(const state& s,  // one per command
///                                        const add_item& c);
/// };
/// ```
///
/// Each event type names itself for the journal with
/// `static constexpr const char* event_name = "item_added";` and may set
/// `static constexpr uint32_t event_version = 2;` (default 1); it is
/// serialized with cereal (a `serialize(Archive&)` member). An aggregate may
/// add `static void upcasters(cairn::journal::codec&)` to register
/// upcasters for old event versions. Commands and replies travel in CAF
/// messages and need an `inspect` overload.
///
/// Snapshots store the state with cereal under the schema version
/// `static constexpr uint32_t state_version = N;` of the aggregate type
/// (default 1). Raise it when the state's serialized form changes: a
/// snapshot of another version (or a damaged one) is not used, and recovery
/// replays the events from the start instead.
///
/// The entity with id `42` of `invoice` lives in stream `invoice-42`.
namespace cairn {

/// The event types of an aggregate.
template <class... Ts>
struct event_list {
  using variant_type = std::variant<Ts...>;
};

/// The command types of an aggregate.
template <class... Ts>
struct command_list {
  using variant_type = std::variant<Ts...>;
};

/// Identifies the entity a command is for; the first element of a command
/// message sent to an entity registry: `request(reg, 5s, entity_id{"42"},
/// add_item{...})`.
struct entity_id {
  std::string value;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, entity_id& x) {
  return f(caf::meta::type_name("cairn.entity_id"), x.value);
}

/// Runtime settings of the entities of one aggregate type.
struct aggregate_settings {
  /// Snapshot every this many events (0: never); `aggregates.snapshot-every`.
  uint64_t snapshot_every = 100;
  /// Commands held while an entity recovers or persists; the next one is
  /// refused with `errc::overloaded`.
  size_t stash_capacity = 1024;
  /// Events replayed per step of recovery before the entity yields;
  /// `aggregates.recovery-chunk`, at least 1.
  size_t recovery_chunk = 512;
};

/// Checks `x`: returns `errc::bad_config` naming the key of the first
/// invalid value (`aggregates.stash-capacity`, `aggregates.recovery-chunk`:
/// both must be positive), or no error.
inline caf::error validate(const aggregate_settings& x) {
  auto bad = [](const char* key) {
    return make_error(errc::bad_config, std::string{"aggregates."} + key
                                          + ": '0' is not a positive integer");
  };
  if (x.stash_capacity == 0)
    return bad("stash-capacity");
  if (x.recovery_chunk == 0)
    return bad("recovery-chunk");
  return {};
}

/// What the entities of one aggregate type share: the journal to read, the
/// coordinator to write through, the settings, and the capability of the
/// step protocol (the same token as the coordinator's; see
/// `step_capability`).
struct aggregate_env {
  std::shared_ptr<journal::journal> journal;
  coordinator_actor coordinator;
  aggregate_settings settings;
  /// Known to the coordinator and the entities only.
  step_capability capability = step_capability::generate();
  /// Internal messages (decide, outcome, recover) refused because they were
  /// forged: a wrong capability or a foreign sender.
  mutable std::atomic<uint64_t> forged_messages{0};
};

namespace detail {

template <class T, class = void>
struct event_version_of {
  static constexpr uint32_t value = 1;
};

template <class T>
struct event_version_of<T, std::void_t<decltype(T::event_version)>> {
  static constexpr uint32_t value = T::event_version;
};

template <class A, class = void>
struct state_version_of {
  static constexpr uint32_t value = 1;
};

template <class A>
struct state_version_of<A, std::void_t<decltype(A::state_version)>> {
  static constexpr uint32_t value = A::state_version;
};

template <class A, class = void>
struct has_upcasters : std::false_type {};

template <class A>
struct has_upcasters<
  A, std::void_t<decltype(A::upcasters(std::declval<journal::codec&>()))>>
  : std::true_type {};

template <class... Ts>
void register_events(journal::codec& c, event_list<Ts...>) {
  (c.add<Ts>(Ts::event_name, event_version_of<Ts>::value), ...);
}

template <class... Ts>
caf::expected<std::variant<Ts...>> decode_event(const journal::codec& c,
                                                const journal::stored_event& ev,
                                                event_list<Ts...>) {
  return c.decode_variant<Ts...>(ev);
}

} // namespace detail

/// Returns the codec of `A`'s events, built once.
template <class A>
const journal::codec& codec_of() {
  static const journal::codec instance = [] {
    journal::codec c;
    detail::register_events(c, typename A::events{});
    if constexpr (detail::has_upcasters<A>::value)
      A::upcasters(c);
    return c;
  }();
  return instance;
}

/// Returns the stream of entity `id` of `A`: `"<category>-<id>"`.
template <class A>
std::string stream_of(const std::string& id) {
  std::string result = A::category;
  result += '-';
  result += id;
  return result;
}

/// Returns the type name under which `A`'s snapshots are stored.
template <class A>
std::string snapshot_type_of() {
  return std::string{A::category} + ".state";
}

/// Returns the schema version of `A`'s state, stored with its snapshots:
/// `A::state_version` when the aggregate declares it, else 1.
template <class A>
constexpr uint32_t snapshot_version_of() {
  return detail::state_version_of<A>::value;
}

} // namespace cairn
