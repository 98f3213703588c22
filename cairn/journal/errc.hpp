#pragma once

#include <cstdint>
#include <string>

#include "caf/atom.hpp"
#include "caf/error.hpp"

/// Cairn's error codes. Every fallible call in Cairn returns `caf::expected`
/// or `caf::error` with the category `cairn_error_category` and a code from
/// `errc`. The context of the error holds one string naming what went wrong
/// (the stream, the version, the key): `cairn::describe` renders both.
namespace cairn {

/// The error category of every `errc` value.
constexpr caf::atom_value cairn_error_category = caf::atom("cairn");

/// Error codes of Cairn, stable across versions: they cross nodes.
enum class errc : uint8_t {
  /// Not an error.
  none = 0,
  /// An append's expected version did not match the stream's version.
  conflict,
  /// A dedup key of a write group already exists.
  duplicate,
  /// Stored bytes failed their checksum or did not decode.
  corrupt_record,
  /// An event's type name is not registered with the codec.
  unknown_event_type,
  /// The journal refuses writes after a failed commit until it is reopened.
  journal_failed,
  /// The journal on disk has a format version this build cannot read.
  format_mismatch,
  /// LMDB reported an error; the context holds mdb_strerror's text.
  storage_error,
  /// An argument was out of its domain (empty stream name, bad option).
  invalid_argument,
  /// A stream, snapshot or checkpoint that must exist does not.
  not_found,
  /// A bounded queue (a stash, a batch) is full; the request was not taken.
  overloaded,
  /// The entity's node is down or the entity cannot be reached.
  entity_unavailable,
  /// A request did not get its answer in time.
  timeout,
  /// A command was rejected by the domain logic of an aggregate.
  rejected,
  /// A configuration value is invalid; the context names the key.
  bad_config,
};

/// Returns the name of `x`, e.g. `"conflict"`.
std::string to_string(errc x);

/// Creates an error of category `cairn` without context.
caf::error make_error(errc x);

/// Creates an error of category `cairn` whose context is `what`.
caf::error make_error(errc x, std::string what);

/// Returns the `errc` of `err`, or `errc::none` if `err` is empty or of
/// another category.
errc code_of(const caf::error& err) noexcept;

/// Returns the context string of a Cairn error, or an empty string.
std::string context_of(const caf::error& err);

/// Renders any error for humans: `"conflict: stream order-1 expected version
/// 3, is at 5"` for Cairn errors, CAF's rendering otherwise.
std::string describe(const caf::error& err);

/// Renders a Cairn error from its parts; used as the CAF error renderer so
/// that an actor system prints Cairn errors readably.
std::string render_error(uint8_t code, caf::atom_value category,
                         const caf::message& context);

} // namespace cairn
