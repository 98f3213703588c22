#pragma once

#include <cstdint>
#include <string>
#include <string_view>

/// Event records: what the journal stores for each event.
namespace cairn::journal {

/// One event as the writer hands it to the journal. The journal does not
/// interpret `payload`: the codec (`cairn/journal/codec.hpp`) produces and
/// reads it.
///
/// Stored byte format: the `log` value of an event, in journal format 5
/// and later (varints as in journal.hpp, other integers little-endian):
///
/// ```
/// u8  record format (2)
/// u32 crc32c          over every byte after this field
/// varint stream id
/// varint sequence number in the stream
/// varint global position
/// i64 timestamp       nanoseconds since the Unix epoch
/// varint schema version
/// varint length + bytes  type name (at most 65,535 bytes)
/// varint length + bytes  correlation id (at most 65,535 bytes)
/// varint length + bytes  causation id (at most 65,535 bytes)
/// varint length + bytes  metadata (under 4 GiB)
/// bytes payload       the rest of the value (under 4 GiB)
/// ```
///
/// Formats 2 to 4 wrote a 16-byte prefix, u64 stream id and u64 sequence
/// number (big-endian, so that the value's first byte is 0), then a record
/// of format 1, which later builds still read:
///
/// ```
/// u32 crc32c        over every byte after this field
/// u8  record format (1)
/// u64 global position
/// i64 timestamp     nanoseconds since the Unix epoch
/// u32 schema version
/// u16 length + bytes  type name
/// u16 length + bytes  correlation id
/// u16 length + bytes  causation id
/// u32 length + bytes  metadata
/// u32 length + bytes  payload
/// ```
struct event_record {
  /// Stable name of the event type, e.g. `"invoice_sent"`.
  std::string type;
  /// Version of the payload's schema; upcasters raise old versions.
  uint32_t schema_version = 1;
  /// Nanoseconds since the Unix epoch; 0 lets the journal stamp it.
  int64_t timestamp_ns = 0;
  /// Identifies the workflow or request this event belongs to.
  std::string correlation_id;
  /// Identifies the message (command, event) that caused this event.
  std::string causation_id;
  /// Free-form bytes for the application (headers, tracing).
  std::string metadata;
  /// The serialized event.
  std::string payload;

  friend bool operator==(const event_record& x, const event_record& y) {
    return x.type == y.type && x.schema_version == y.schema_version
           && x.timestamp_ns == y.timestamp_ns
           && x.correlation_id == y.correlation_id
           && x.causation_id == y.causation_id && x.metadata == y.metadata
           && x.payload == y.payload;
  }
};

/// An event as read back from the journal, with where it is stored.
struct stored_event {
  /// The stream the event belongs to, e.g. `"order-42"`.
  std::string stream;
  /// The event's sequence number in its stream, starting at 1.
  uint64_t version = 0;
  /// The event's position in the global log (`$all`), starting at 1.
  uint64_t position = 0;
  /// The event itself.
  event_record record;
};

/// An event record read in place: its fields view the journal's memory (see
/// `journal::visit_stream`), valid only while the call that hands it out
/// runs. `event_record` is the owning counterpart.
struct record_view {
  std::string_view type;
  uint32_t schema_version = 1;
  int64_t timestamp_ns = 0;
  std::string_view correlation_id;
  std::string_view causation_id;
  std::string_view metadata;
  std::string_view payload;
};

/// A stored event read in place, the counterpart of `stored_event`; see
/// `record_view` for how long its views live.
struct event_view {
  std::string_view stream;
  uint64_t version = 0;
  uint64_t position = 0;
  record_view record;
};

/// Returns the category of a stream: the part of its name before the first
/// `-`, or the whole name if it has none (`"order-42"` -> `"order"`).
std::string category_of(const std::string& stream);

} // namespace cairn::journal
