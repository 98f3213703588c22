#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>

#include "caf/expected.hpp"

/// Import of an export (see cairn/journal/export.hpp for the format) into a
/// journal, through the journal's ordinary write path: every event is
/// appended by `journal::commit` with the exact expected version it had in
/// the source, so checksums, indexes and size limits apply as for any
/// write, and a stream's versions come out as they went in.
///
/// # Nothing half-imported
///
/// The input is read twice. The first pass checks every line before
/// anything is written: its JSON, its fields, the sizes the journal
/// accepts, the sections (header, events in position order, an end line
/// counting them) and that each stream's versions follow each other and
/// continue the journal's stream. A malformed line is refused with its
/// number and what was wrong, and the journal is left as it was.
///
/// The second pass commits the events in batches (one write group each,
/// capped by `import_options::batch_events` and `batch_bytes`), so that an
/// import of any size takes bounded memory. Each batch carries, in the same
/// write group, a checkpoint of the import in the application table
/// `cairn.import` (key `progress`): the lines and bytes of the input done,
/// a CRC32C of those bytes, and the events imported. The last batch erases
/// it. So after a crash, a failed sync or a full disk, the journal holds
/// whole batches and a checkpoint saying how far they go; running the same
/// import again checks that the input starts with the bytes the checkpoint
/// covers and goes on after them. A different input is refused while the
/// checkpoint is there.
namespace cairn::journal {

class journal;

/// The application table that holds the checkpoint of an unfinished
/// import, under the key `import_checkpoint_key`.
constexpr const char* import_table = "cairn.import";

constexpr const char* import_checkpoint_key = "progress";

/// How far an import is, for a progress display.
struct import_progress {
  enum class phase : uint8_t {
    /// The first pass: checking lines, nothing written yet.
    checking,
    /// The second pass: committing batches.
    importing,
  };
  phase what = phase::checking;
  /// Lines of the input done (checked, or imported and committed),
  /// counting lines imported by an earlier, interrupted run.
  uint64_t lines = 0;
  /// Lines of the input; 0 while checking.
  uint64_t total_lines = 0;
  /// Events checked, or imported and committed.
  uint64_t events = 0;
  /// Bytes of the input done, and its size.
  uint64_t bytes = 0;
  uint64_t total_bytes = 0;
};

/// Options of `import_events`.
struct import_options {
  /// Import into a journal that holds streams already. Each stream of the
  /// input must continue the journal's stream of that name: its first
  /// event in the input has the journal's version plus one (1 for a stream
  /// the journal does not have). Without it, an import into a journal
  /// that holds any stream is refused.
  bool append = false;
  /// Most events of one batch (one write group).
  size_t batch_events = 10000;
  /// Most bytes of events of one batch (payloads, metadata, names).
  size_t batch_bytes = size_t{16} << 20;
  /// Called after each chunk of lines checked and each batch committed
  /// (after the commit is durable).
  std::function<void(const import_progress&)> progress;
};

/// What `import_events` did.
struct import_report {
  /// Lines of the input.
  uint64_t lines = 0;
  /// Events of the input, and how many of them this call imported (less
  /// when it resumed an interrupted import).
  uint64_t events = 0;
  uint64_t imported = 0;
  /// Streams this call wrote to.
  uint64_t streams = 0;
  /// Batches this call committed.
  uint64_t batches = 0;
  /// Lines imported by an earlier, interrupted run; 0 for a fresh import.
  uint64_t resumed_after_line = 0;
};

/// The checkpoint of an unfinished import: how far its batches went.
struct unfinished_import {
  /// Lines of the input imported (header and end lines included).
  uint64_t lines = 0;
  /// Bytes of the input imported.
  uint64_t bytes = 0;
  /// Events imported.
  uint64_t events = 0;
};

/// Returns the checkpoint of an unfinished import of `j`, or none when no
/// import was interrupted. A journal with one holds only part of its
/// input: finish the import before a runtime uses it.
///
/// Errors: `errc::corrupt_record` when the checkpoint is malformed; read
/// errors as `journal::table_get`.
caf::expected<std::optional<unfinished_import>>
find_unfinished_import(const journal& j);

/// Imports the export read from file descriptor `fd`, which must be a
/// seekable file (a regular file) positioned where the export begins: it
/// is read to its end twice.
///
/// Errors, all before anything is written unless said otherwise:
/// - `errc::invalid_argument`, "line N: ..." naming what is wrong with
///   the line (bad JSON, a missing or unknown field, bad base64, a name
///   over its maximum size, a header or end line out of place, an end line
///   whose count differs), or that the input ends without the end line of
///   its last section, or that the journal is not empty and
///   `opts.append` is not set, or that the input is not the one of the
///   unfinished import recorded in the journal;
/// - `errc::conflict`, "line N: stream S version V ...", when an event
///   does not continue its stream (in the input, or the journal's);
/// - `errc::storage_error` when `fd` cannot be read or sought;
/// - errors of `journal::commit` for a batch, with the lines of the batch
///   (nothing of them written) and how far the import went: the batches
///   before it are committed with their checkpoint, and the same import
///   run again goes on from there.
///
/// REQUIRES: no other writer uses the journal during the call.
caf::expected<import_report> import_events(journal& j, int fd,
                                           const import_options& opts = {});

} // namespace cairn::journal
