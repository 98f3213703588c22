#include "cairn/journal/import.hpp"

#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "cairn/journal/detail/crc32c.hpp"
#include "cairn/journal/errc.hpp"
#include "cairn/journal/export.hpp"
#include "cairn/journal/journal.hpp"
#include "cairn/journal/write_group.hpp"

namespace cairn::journal {

namespace {

/// Lines checked between two progress reports of the first pass.
constexpr uint64_t check_report_every = 4096;

/// Reads a file descriptor line by line, counting the bytes consumed and
/// their CRC32C.
class line_reader {
public:
  line_reader(int fd, uint32_t crc) : fd_(fd), crc_(crc) {
    // nop
  }

  /// Reads the next line into `line`, without its `\n`. Returns false at
  /// the end of the input or on a read error (see `error`).
  bool next(std::string& line) {
    line.clear();
    for (;;) {
      auto nl = std::memchr(buf_ + pos_, '\n', len_ - pos_);
      if (nl != nullptr) {
        auto n = static_cast<size_t>(static_cast<char*>(nl) - (buf_ + pos_));
        consume(line, n, 1);
        return true;
      }
      consume(line, len_ - pos_, 0);
      if (!fill())
        return !line.empty() && error_.empty();
    }
  }

  /// Bytes consumed, from where reading began.
  uint64_t offset() const noexcept {
    return offset_;
  }

  uint32_t crc() const noexcept {
    return crc_;
  }

  /// A read error, or an empty string.
  const std::string& error() const noexcept {
    return error_;
  }

private:
  void consume(std::string& line, size_t n, size_t newline) {
    line.append(buf_ + pos_, n);
    crc_ = detail::crc32c(buf_ + pos_, n + newline, crc_);
    offset_ += n + newline;
    pos_ += n + newline;
  }

  bool fill() {
    pos_ = 0;
    len_ = 0;
    for (;;) {
      auto got = ::read(fd_, buf_, sizeof(buf_));
      if (got < 0 && errno == EINTR)
        continue;
      if (got < 0) {
        error_ = std::string{"cannot read the input: "} + std::strerror(errno);
        return false;
      }
      len_ = static_cast<size_t>(got);
      return got > 0;
    }
  }

  int fd_;
  char buf_[1 << 16];
  size_t pos_ = 0;
  size_t len_ = 0;
  uint64_t offset_ = 0;
  uint32_t crc_;
  std::string error_;
};

/// The checkpoint of an unfinished import, as stored in `import_table`.
struct checkpoint {
  uint64_t lines = 0;
  uint64_t bytes = 0;
  uint32_t crc = 0;
  uint64_t events = 0;

  std::string to_bytes() const {
    char buf[128];
    std::snprintf(buf, sizeof(buf),
                  "cairn-import 1 lines=%" PRIu64 " bytes=%" PRIu64
                  " crc=%" PRIu32 " events=%" PRIu64,
                  lines, bytes, crc, events);
    return buf;
  }

  static std::optional<checkpoint> parse(const std::string& str) {
    checkpoint cp;
    int used = 0;
    auto n = std::sscanf(str.c_str(),
                         "cairn-import 1 lines=%" SCNu64 " bytes=%" SCNu64
                         " crc=%" SCNu32 " events=%" SCNu64 "%n",
                         &cp.lines, &cp.bytes, &cp.crc, &cp.events, &used);
    if (n != 4 || static_cast<size_t>(used) != str.size())
      return std::nullopt;
    return cp;
  }
};

/// Reads the checkpoint of an unfinished import of `j`, if any.
caf::expected<std::optional<checkpoint>> load(const journal& j) {
  auto row = j.table_get(import_table, import_checkpoint_key);
  if (!row)
    return row.error();
  if (!*row)
    return std::optional<checkpoint>{};
  auto cp = checkpoint::parse(**row);
  if (!cp)
    return make_error(errc::corrupt_record,
                      std::string{"the checkpoint of an unfinished import in "
                                  "table "}
                        + import_table + " is malformed: " + **row);
  return cp;
}

caf::error line_error(errc code, uint64_t line, const std::string& what) {
  return make_error(code, "line " + std::to_string(line) + ": " + what);
}

/// Checks that the lines form sections: a header, events in position
/// order, an end line counting them.
class section_checker {
public:
  /// Returns an error text for line `n` of kind `x`, or an empty string.
  std::string check(uint64_t n, const export_line& x) {
    switch (x.what) {
      case export_line::kind::header:
        if (open_)
          return "a header inside the section begun at line "
                 + std::to_string(begun_at_) + " (its end line is missing)";
        open_ = true;
        begun_at_ = n;
        events_ = 0;
        last_position_ = 0;
        return {};
      case export_line::kind::end:
        if (!open_)
          return n == 1 ? not_header() : "an end line outside a section";
        if (x.events != events_)
          return "the end line counts " + std::to_string(x.events)
                 + " events, the section begun at line "
                 + std::to_string(begun_at_) + " holds "
                 + std::to_string(events_);
        open_ = false;
        ended_at_ = n;
        return {};
      default:
        if (!open_)
          return n == 1 ? not_header()
                        : "an event after the end line of line "
                            + std::to_string(ended_at_);
        if (x.event.position <= last_position_)
          return "position " + std::to_string(x.event.position)
                 + " does not follow position " + std::to_string(last_position_)
                 + " of the line before (a section is in position order)";
        last_position_ = x.event.position;
        ++events_;
        return {};
    }
  }

  /// Returns an error text for the end of the input after `lines` lines,
  /// or an empty string.
  std::string at_end(uint64_t lines) const {
    if (lines == 0)
      return "the input is empty (an export begins with the line "
             + export_header_line() + ")";
    if (open_)
      return "the input ends after line " + std::to_string(lines)
             + " inside the section begun at line " + std::to_string(begun_at_)
             + ", without its end line: the export is incomplete";
    return {};
  }

private:
  static std::string not_header() {
    return "expected the header " + export_header_line()
           + " (is this the output of cairn-journal export?)";
  }

  bool open_ = false;
  uint64_t begun_at_ = 0;
  uint64_t ended_at_ = 0;
  uint64_t events_ = 0;
  uint64_t last_position_ = 0;
};

/// Bytes an event adds to a batch.
size_t event_bytes(const stored_event& ev) {
  auto& r = ev.record;
  return ev.stream.size() + r.type.size() + r.correlation_id.size()
         + r.causation_id.size() + r.metadata.size() + r.payload.size() + 64;
}

caf::error seek(int fd, off_t offset) {
  if (::lseek(fd, offset, SEEK_SET) == static_cast<off_t>(-1))
    return make_error(errc::storage_error,
                      std::string{"cannot seek in the input (it must be a "
                                  "regular file): "}
                        + std::strerror(errno));
  return {};
}

/// The import's state across its two passes.
class importer {
public:
  importer(journal& j, int fd, const import_options& opts)
    : j_(j), fd_(fd), opts_(opts) {
    // nop
  }

  caf::expected<import_report> run() {
    base_ = ::lseek(fd_, 0, SEEK_CUR);
    if (base_ == static_cast<off_t>(-1))
      return seek(fd_, 0);
    if (auto err = load_checkpoint())
      return err;
    if (!resumed_ && !opts_.append) {
      auto st = j_.stats();
      if (!st)
        return st.error();
      if (st->streams > 0)
        return make_error(errc::invalid_argument,
                          "the journal at " + j_.path() + " is not empty: it "
                            + "holds " + std::to_string(st->streams)
                            + " streams and " + std::to_string(st->events)
                            + " events; importing into it needs --append");
    }
    if (auto err = check_all())
      return err;
    if (auto err = seek(fd_, base_ + static_cast<off_t>(cp_.bytes)))
      return err;
    if (auto err = import_rest())
      return err;
    return report_;
  }

private:
  caf::error load_checkpoint() {
    auto cp = load(j_);
    if (!cp)
      return cp.error();
    if (!*cp)
      return {};
    cp_ = **cp;
    resumed_ = true;
    row_exists_ = true;
    report_.resumed_after_line = cp_.lines;
    return {};
  }

  caf::error resume_mismatch(const std::string& why) const {
    return make_error(errc::invalid_argument,
                      "the journal at " + j_.path()
                        + " holds an unfinished import of another input ("
                        + std::to_string(cp_.lines) + " lines, "
                        + std::to_string(cp_.events)
                        + " events imported): " + why
                        + "; run the import again with that input to finish "
                          "it");
  }

  /// The first pass: checks every line; writes nothing.
  caf::error check_all() {
    line_reader in{fd_, 0};
    section_checker sections;
    std::string line;
    uint64_t n = 0;
    while (in.next(line)) {
      ++n;
      auto x = parse_export_line(line);
      if (!x)
        return line_error(errc::invalid_argument, n, context_of(x.error()));
      if (auto err = sections.check(n, *x); !err.empty())
        return line_error(errc::invalid_argument, n, err);
      if (x->what == export_line::kind::event) {
        ++report_.events;
        if (n > cp_.lines)
          if (auto err = check_version(n, x->event))
            return err;
      }
      if (n == cp_.lines && (in.offset() != cp_.bytes || in.crc() != cp_.crc))
        return resume_mismatch("its first " + std::to_string(cp_.lines)
                               + " lines differ from this input's");
      if (opts_.progress && n % check_report_every == 0)
        report(import_progress::phase::checking, n, 0, report_.events,
               in.offset(), 0);
    }
    if (!in.error().empty())
      return make_error(errc::storage_error, in.error());
    if (n < cp_.lines)
      return resume_mismatch("this input has only " + std::to_string(n)
                             + " lines");
    if (auto err = sections.at_end(n); !err.empty())
      return make_error(errc::invalid_argument, err);
    report_.lines = n;
    total_bytes_ = in.offset();
    if (opts_.progress)
      report(import_progress::phase::checking, n, n, report_.events,
             total_bytes_, total_bytes_);
    return {};
  }

  /// Checks that `ev` continues its stream.
  caf::error check_version(uint64_t n, const stored_event& ev) {
    auto i = next_version_.find(ev.stream);
    uint64_t expected = 0;
    std::string where;
    if (i != next_version_.end()) {
      expected = i->second;
      where = "the line before of the stream expects version ";
    } else {
      auto v = j_.stream_version(ev.stream);
      if (!v)
        return v.error();
      expected = *v + 1;
      where = "the journal's stream is at version " + std::to_string(*v)
              + ", so the next is ";
      i = next_version_.emplace(ev.stream, 0).first;
    }
    if (ev.version != expected)
      return line_error(errc::conflict, n,
                        "stream " + ev.stream + " version "
                          + std::to_string(ev.version)
                          + " does not continue its stream: " + where
                          + std::to_string(expected));
    i->second = ev.version + 1;
    return {};
  }

  /// The second pass: commits the lines after the checkpoint in batches.
  caf::error import_rest() {
    line_reader in{fd_, cp_.crc};
    auto start = cp_.bytes;
    std::string line;
    uint64_t n = cp_.lines;
    batch_first_line_ = n + 1;
    while (in.next(line)) {
      ++n;
      auto x = parse_export_line(line);
      if (!x)
        return line_error(errc::invalid_argument, n, context_of(x.error()));
      if (x->what == export_line::kind::event)
        add(std::move(x->event));
      auto offset = start + in.offset();
      if (offset == total_bytes_ || batch_events_ >= opts_.batch_events
          || batch_bytes_ >= opts_.batch_bytes) {
        if (auto err = commit_batch(n, offset, in.crc()))
          return err;
      }
    }
    if (!in.error().empty())
      return make_error(errc::storage_error, in.error());
    return {};
  }

  void add(stored_event&& ev) {
    batch_bytes_ += event_bytes(ev);
    ++batch_events_;
    touched_.insert(ev.stream);
    auto& apps = batch_.appends;
    if (apps.empty() || apps.back().stream != ev.stream) {
      append a;
      a.stream = ev.stream;
      a.expected = expected_version::exact(ev.version - 1);
      apps.push_back(std::move(a));
    }
    apps.back().events.push_back(std::move(ev.record));
  }

  /// Commits the batch that ends with line `n` at input offset `offset`.
  caf::error commit_batch(uint64_t n, uint64_t offset, uint32_t crc) {
    auto events = batch_events_;
    bool final = offset == total_bytes_;
    checkpoint next{n, offset, crc, cp_.events + events};
    if (final && !row_exists_ && events == 0) {
      // An input without events: nothing to write.
      return {};
    }
    table_write row;
    row.table = import_table;
    row.key = import_checkpoint_key;
    row.value = next.to_bytes();
    row.erase = final;
    batch_.tables.push_back(std::move(row));
    auto res = j_.commit(batch_);
    if (!res) {
      auto code = code_of(res.error());
      return make_error(code == errc::none ? errc::storage_error : code,
                        "lines " + std::to_string(batch_first_line_) + " to "
                          + std::to_string(n)
                          + " were not imported: " + describe(res.error())
                          + "; the " + std::to_string(cp_.events)
                          + " events of the lines before are imported, and "
                            "the journal records it: run the same import "
                            "again to go on");
    }
    cp_ = next;
    row_exists_ = !final;
    report_.imported += events;
    ++report_.batches;
    report_.streams = touched_.size();
    batch_ = write_group{};
    batch_bytes_ = 0;
    batch_events_ = 0;
    batch_first_line_ = n + 1;
    if (opts_.progress)
      report(import_progress::phase::importing, n, report_.lines, cp_.events,
             offset, total_bytes_);
    return {};
  }

  void report(import_progress::phase what, uint64_t lines, uint64_t total_lines,
              uint64_t events, uint64_t bytes, uint64_t total_bytes) {
    import_progress p;
    p.what = what;
    p.lines = lines;
    p.total_lines = total_lines;
    p.events = events;
    p.bytes = bytes;
    p.total_bytes = total_bytes;
    opts_.progress(p);
  }

  journal& j_;
  int fd_;
  const import_options& opts_;
  off_t base_ = 0;
  checkpoint cp_;
  /// Whether the journal held a checkpoint when the import began.
  bool resumed_ = false;
  /// Whether the journal holds a checkpoint now.
  bool row_exists_ = false;
  uint64_t total_bytes_ = 0;
  import_report report_;
  std::unordered_map<std::string, uint64_t> next_version_;
  std::unordered_set<std::string> touched_;
  write_group batch_;
  size_t batch_bytes_ = 0;
  size_t batch_events_ = 0;
  uint64_t batch_first_line_ = 1;
};

} // namespace

caf::expected<std::optional<unfinished_import>>
find_unfinished_import(const journal& j) {
  auto cp = load(j);
  if (!cp)
    return cp.error();
  if (!*cp)
    return std::optional<unfinished_import>{};
  return unfinished_import{(*cp)->lines, (*cp)->bytes, (*cp)->events};
}

caf::expected<import_report> import_events(journal& j, int fd,
                                           const import_options& opts) {
  return importer{j, fd, opts}.run();
}

} // namespace cairn::journal
