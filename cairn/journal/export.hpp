#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "caf/error.hpp"
#include "caf/expected.hpp"

#include "cairn/journal/event_record.hpp"

/// Export of a journal's events as JSON Lines, the format that
/// `cairn-journal export` writes and `cairn-journal import` reads (see
/// cairn/journal/import.hpp).
///
/// # Format (version 1)
///
/// One JSON object per line, each line ended by `\n`, in three kinds:
///
/// ```
/// {"cairn_export":1}
/// {"position":1,"stream":"order-1","version":1,"type":"order_placed",
///  "schema_version":1,"timestamp_ns":1700000000123456789,
///  "correlation_id":"corr-1","causation_id":"cmd-1","metadata":"",
///  "payload":"cGF5bG9hZA=="}
/// {"cairn_export_end":1,"events":1,"next_from":2}
/// ```
///
/// (an event line is one line; it is wrapped here). An export is a
/// *section*: the header line, one line per event in global position
/// order, and the end line. The end line counts the section's events, so
/// that a cut-off file is told from a complete one, and `next_from` is the
/// position to pass as `--from` to export what was committed after this
/// export. Sections may follow each other in one file (a full export and
/// an incremental one, concatenated).
///
/// Fields of an event line, every one required, in this order:
///
/// | field            | JSON          | meaning                              |
/// |------------------|---------------|--------------------------------------|
/// | `position`       | integer >= 1  | position in the source's global log  |
/// | `stream`         | string        | stream name                          |
/// | `version`        | integer >= 1  | the event's version in its stream    |
/// | `type`           | string        | event type name                      |
/// | `schema_version` | integer       | schema version of the payload (u32)  |
/// | `timestamp_ns`   | integer != 0  | nanoseconds since the Unix epoch     |
/// | `correlation_id` | string        | may be empty                         |
/// | `causation_id`   | string        | may be empty                         |
/// | `metadata`       | base64 string | metadata bytes, may be empty         |
/// | `payload`        | base64 string | payload bytes (cereal binary)        |
///
/// Base64 is RFC 4648's standard alphabet with `=` padding, no line
/// breaks. A name or id that is not valid UTF-8 (names are bytes to the
/// journal) is written as `stream_base64`, `type_base64`,
/// `correlation_id_base64` or `causation_id_base64` instead, so every byte
/// round-trips. Strings escape `"`, `\` and control characters; other
/// characters are written as they are.
///
/// What an export holds: the events, with everything of their records. It
/// does not hold snapshots (derived from events), checkpoints, dedup keys
/// or application tables: they belong to the journal's readers and
/// writers, whose positions differ in another journal. Positions are
/// those of the source; an import assigns its own, in the same order.
namespace cairn::journal {

class journal;

/// The format version of export lines this build writes and reads.
constexpr uint32_t export_format_version = 1;

/// One line of an export, parsed.
struct export_line {
  enum class kind : uint8_t {
    /// `{"cairn_export":1}`: a section begins.
    header,
    /// An event.
    event,
    /// `{"cairn_export_end":1,...}`: the section ends.
    end,
  };
  kind what = kind::event;
  /// The event (kind `event`); `position` is the source's.
  stored_event event;
  /// Events of the section (kind `end`).
  uint64_t events = 0;
  /// The position after the section's range (kind `end`).
  uint64_t next_from = 0;
};

/// Returns the header line, without its `\n`.
std::string export_header_line();

/// Returns the line of `ev`, without its `\n`.
std::string export_event_line(const stored_event& ev);

/// Returns the end line of a section of `events` events, without its `\n`.
std::string export_end_line(uint64_t events, uint64_t next_from);

/// Parses one line (without its `\n`).
///
/// Errors: `errc::invalid_argument` saying what is wrong, e.g. "column 12:
/// expected ':'", "missing field \"type\"", "field \"payload\": invalid
/// base64 at offset 5", "stream name of 300 bytes is over the maximum of
/// 255". The caller adds the line number.
caf::expected<export_line> parse_export_line(std::string_view line);

/// Encodes `bytes` as base64 (RFC 4648, padded).
std::string to_base64(std::string_view bytes);

/// Decodes padded base64. Errors: `errc::invalid_argument` naming the
/// offset of the first bad character, or a length that is not a multiple
/// of 4.
caf::expected<std::string> from_base64(std::string_view text);

/// What `export_events` wrote.
struct export_summary {
  /// Event lines written.
  uint64_t events = 0;
  /// The position to export from next time (`next_from` of the end line).
  uint64_t next_from = 1;
};

/// Progress of an export: the position reached and the last position to
/// export (fixed when the export begins), and the events written so far.
using export_progress
  = std::function<void(uint64_t position, uint64_t last, uint64_t events)>;

/// Writes one section of the events of `j` from position `from` up to the
/// last position committed when the call begins: the header line, the
/// events in position order, the end line. `write` receives the text in
/// chunks of whole lines; an error it returns ends the export. Reads go in
/// chunks, each in its own read transaction, so that the export runs next
/// to a writer and takes bounded memory; events committed during the
/// export are left to the next one (`next_from`).
///
/// Errors: the first read error (`errc::corrupt_record` naming the stream
/// and version); the section is then cut off without its end line, which
/// an import refuses. Errors of `write`, as they are.
caf::expected<export_summary>
export_events(const journal& j, uint64_t from,
              const std::function<caf::error(std::string_view)>& write,
              const export_progress& progress = {});

} // namespace cairn::journal
