#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cairn/journal/event_record.hpp"

/// Write groups: the unit of atomicity of the journal.
namespace cairn::journal {

/// What an append expects of its stream before it writes.
class expected_version {
public:
  enum class kind : uint8_t {
    /// Append whatever the stream's version is.
    any,
    /// The stream must not exist yet (version 0).
    no_stream,
    /// The stream's version must equal `value()`.
    exact,
  };

  /// Matches any version (the default).
  expected_version() noexcept : kind_(kind::any), value_(0) {
    // nop
  }

  /// Matches any version.
  static expected_version any() noexcept {
    return {kind::any, 0};
  }

  /// Requires the stream not to exist.
  static expected_version no_stream() noexcept {
    return {kind::no_stream, 0};
  }

  /// Requires the stream to be at version `v`; `exact(0)` equals
  /// `no_stream()`.
  static expected_version exact(uint64_t v) noexcept {
    return {v == 0 ? kind::no_stream : kind::exact, v};
  }

  /// Rebuilds an expectation from `what()` and `value()` (deserialization).
  static expected_version from_parts(kind k, uint64_t v) noexcept {
    return {k, v};
  }

  kind what() const noexcept {
    return kind_;
  }

  uint64_t value() const noexcept {
    return value_;
  }

  /// Returns whether a stream at `current` satisfies this expectation.
  bool matches(uint64_t current) const noexcept {
    switch (kind_) {
      case kind::any:
        return true;
      case kind::no_stream:
        return current == 0;
      default:
        return current == value_;
    }
  }

  /// Renders as `any`, `no_stream` or the number.
  std::string to_string() const;

private:
  expected_version(kind k, uint64_t v) : kind_(k), value_(v) {
    // nop
  }

  kind kind_;
  uint64_t value_;
};

/// Events to add to the end of one stream.
struct append {
  std::string stream;
  expected_version expected = expected_version::any();
  std::vector<event_record> events;
};

/// A snapshot of a stream's state at a version.
struct snapshot {
  std::string stream;
  /// The stream version the state reflects.
  uint64_t version = 0;
  /// Stable name of the state's type, for the reader to check.
  std::string type;
  /// The serialized state.
  std::string payload;
  /// Schema version of the state's type, for the reader to compare with
  /// the version it knows. Snapshots of journals of earlier builds read as
  /// version 1.
  uint32_t schema_version = 1;
};

/// A key/value write to a named table of application data (for example a
/// projection's read model), committed with the rest of its group.
struct table_write {
  std::string table;
  std::string key;
  /// The new value; ignored when `erase` is set.
  std::string value;
  bool erase = false;
};

/// A set of updates that commit whole or not at all, in the manner of
/// LevelDB's `WriteBatch`. Validation happens at commit time against the
/// state left by the groups committed before it in the same transaction:
///
/// - each append's expected version must hold, else `errc::conflict`;
/// - each dedup key must not exist yet, else `errc::duplicate`.
///
/// A group that fails validation writes nothing; the other groups of the
/// same commit are not affected.
struct write_group {
  /// Appends, in order; two appends to the same stream chain their versions.
  std::vector<append> appends;
  /// Checkpoints to set: name -> global position.
  std::vector<std::pair<std::string, uint64_t>> checkpoints;
  /// Keys that must not exist; the group stores them.
  std::vector<std::string> dedup_keys;
  /// Snapshots to store; the latest version of a stream wins.
  std::vector<snapshot> snapshots;
  /// Application table writes.
  std::vector<table_write> tables;

  /// Number of events in all appends.
  size_t event_count() const noexcept;

  /// Approximate bytes this group adds to the journal (for batching caps).
  size_t byte_size() const noexcept;
};

/// Where one append of a committed group landed.
struct append_result {
  std::string stream;
  /// Version of the first appended event (0 when the append was empty).
  uint64_t first_version = 0;
  /// Version of the stream after the append.
  uint64_t last_version = 0;
  /// Global position of the first appended event; the others follow
  /// without gaps.
  uint64_t first_position = 0;
};

/// The outcome of a committed group: one entry per append, in order.
struct group_receipt {
  std::vector<append_result> appends;
};

} // namespace cairn::journal
