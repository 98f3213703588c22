/// `cairn-journal`: inspects a Cairn journal, exports and imports its
/// events.
///
/// The journal is opened read-only (`options::read_only`), except by the
/// two commands below that write, so the tool is safe to run while a
/// writer process uses the journal: every read runs in its own LMDB read
/// transaction and sees the last commit before it began.
///
/// Two commands write: `import` adds the events of an export
/// (cairn/journal/import.hpp), and `dead-letters --replay` marks dead letters for
/// replay (cairn/actors/dead_letter.hpp). They open the journal for writing only
/// when no other process holds it (no process has its LMDB environment
/// open, as the lock LMDB keeps on byte 0 of `lock.mdb` tells), and refuse
/// with exit status 1 naming the process otherwise: a running runtime's
/// coordinator must stay the only writer. From a running program, use
/// `cairn::replay_dead_letters` instead of `--replay`.
///
/// `export`, `import` and `verify` show their progress on stderr when it is
/// a terminal and their output is not piped (see `progress_wanted`).
///
/// Exit status: 0 on success, 1 when the journal cannot be read (missing,
/// another format, a corrupt record) or `verify` found problems, 2 for a
/// usage error. Errors go to stderr as `cairn-journal: <describe(err)>`.
///
/// See `usage_text` below for the commands and options.

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "caf/error.hpp"
#include "caf/expected.hpp"

#include "cairn/actors/dead_letter.hpp"
#include "cairn/journal/detail/utf8.hpp"
#include "cairn/journal/codec.hpp"
#include "cairn/journal/errc.hpp"
#include "cairn/journal/event_record.hpp"
#include "cairn/journal/export.hpp"
#include "cairn/journal/import.hpp"
#include "cairn/journal/journal.hpp"
#include "cairn/journal/options.hpp"
#include "cairn/journal/verify.hpp"

namespace cairn::journal {

namespace {

// -- constants ----------------------------------------------------------------

constexpr const char* usage_text
  = R"(usage: cairn-journal <command> [options] DIR [args]

Inspects the Cairn journal in directory DIR (the one holding data.mdb),
exports its events and imports them. The journal is opened read-only, except
by import and dead-letters --replay: running the others next to a writer is
safe.

commands:
  ls DIR             list the streams: version, first stored version, events
  cat DIR STREAM     print the events of one stream
    --from N           start at version N (default 1)
    --limit N          print at most N events
    --payload          also print each whole payload in hex
  tail DIR           print the global log ($all) in position order
    --from N           start at position N (default 1)
    --category C       only events of streams of category C (the part of the
                       stream name before the first '-': order-42 -> order)
    --follow           at the end, keep polling every 200 ms for new events
                       until SIGINT or SIGTERM (then exit 0)
    --limit N          stop after N events
    --payload          also print each whole payload in hex
  stats DIR          print the journal's id, counts, sizes and how much of
                     the map is used
  verify DIR         check every record's checksum and structure, the stream
                     versions and the global log; exit 1 if anything is wrong
  export DIR         write the events to stdout as JSON Lines, for backup,
                     migration or another node: a header line, one line per
                     event in position order (stream, version, type, schema
                     version, timestamp, correlation and causation ids,
                     metadata and payload in base64), an end line counting
                     them and naming the next --from. Snapshots,
                     checkpoints, dedup keys and tables are not exported
    --from N           start at position N (default 1): what was committed
                       since an earlier export ended (its next_from)
  import DIR         add the events of an export read from stdin
                     (cairn-journal import DIR < file.jsonl) to the journal
                     in DIR, created if missing, each event at the version it
                     had; positions are the journal's own, in the same order.
                     Every line is checked before anything is written: a bad
                     line is refused with its number (exit 1). The events
                     commit in batches, each with a checkpoint of the import
                     in the same transaction: after an interruption, the
                     same import run again goes on where it stopped. Writes
                     to the journal, so it refuses (exit 1) while another
                     process holds it
    --append           import into a journal that has streams already; each
                       stream in the input must continue the journal's
                       stream exactly (its first version in the input is the
                       journal's version plus 1), else it is refused naming
                       the stream and versions. Without --append, an import
                       into a journal that has any stream is refused
    --batch-events N   at most N events per batch (default 10000)
  dead-letters DIR [KEY...]
                     list the inputs of process managers parked in the table
                     cairn.dead-letters: key, stream, version, position,
                     type, attempts, whether marked for replay, error
    --replay           mark the rows given by KEY (or every row, with --all)
                       for replay: the next start of their manager's router
                       re-delivers them. Writes to the journal, so it
                       refuses (exit 1) while another process holds it
    --all              with --replay: every row
  help               print this text

options of every command:
  --json             print one JSON document on stdout instead of text:
                     ls, stats, verify, dead-letters, import: an object;
                     cat, tail: an array of event objects; tail --follow:
                     JSON Lines, one event object per line, flushed as
                     events arrive (export writes JSON Lines always)
  --progress         export, import, verify show their progress on stderr
                     when it is a terminal and stdout is not piped (nor,
                     for export, the terminal); --progress shows it always
                     (as lines, at most one a second, when stderr is not a
                     terminal)
  --no-progress      never show progress
  --help, -h         print this text

Options go anywhere after the command, as "--from 5" or "--from=5"; "--"
ends the options. Timestamps are ISO-8601 UTC with nanoseconds. A STREAM or
--category longer than a stream name may be (255 bytes), or a KEY longer
than a table key may be (440 bytes), is a usage error.

exit status: 0 success; 1 journal error (missing, other format, corrupt
record) or problems found by verify; 2 usage error.
)";

constexpr int exit_ok = 0;

constexpr int exit_failure = 1;

constexpr int exit_usage = 2;

/// Events per read call; bounds the memory a huge stream or log takes.
constexpr size_t chunk_size = 256;

/// Bytes of a payload shown in previews.
constexpr size_t preview_bytes = 24;

/// Pause between polls of `tail --follow`, in milliseconds.
constexpr long poll_interval_ms = 200;

/// Set by SIGINT/SIGTERM while `tail --follow` runs.
volatile sig_atomic_t stop_requested = 0;

// -- JSON ---------------------------------------------------------------------

using detail::utf8_length;

/// Appends `str` to `out` as a JSON string. Control characters are escaped;
/// bytes that are not valid UTF-8 become U+FFFD, so the output is always
/// valid JSON.
void append_json_string(std::string& out, std::string_view str) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (size_t i = 0; i < str.size();) {
    auto c = static_cast<uint8_t>(str[i]);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 0x0F];
        } else if (auto len = utf8_length(str, i); len == 0) {
          out += "\\ufffd";
        } else {
          out.append(str.data() + i, len);
          i += len;
          continue;
        }
    }
    ++i;
  }
  out += '"';
}

/// Builds one JSON object, field by field.
class json_object {
public:
  json_object& str(std::string_view key, std::string_view value) {
    append_json_string(name(key), value);
    return *this;
  }

  json_object& num(std::string_view key, uint64_t value) {
    name(key) += std::to_string(value);
    return *this;
  }

  json_object& signed_num(std::string_view key, int64_t value) {
    name(key) += std::to_string(value);
    return *this;
  }

  json_object& real(std::string_view key, double value) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.2f", value);
    name(key) += buf;
    return *this;
  }

  json_object& boolean(std::string_view key, bool value) {
    name(key) += value ? "true" : "false";
    return *this;
  }

  /// Adds `value` when it is non-zero, else `null`.
  json_object& num_or_null(std::string_view key, uint64_t value) {
    name(key) += value != 0 ? std::to_string(value) : "null";
    return *this;
  }

  /// Adds an already rendered JSON value.
  json_object& raw(std::string_view key, std::string_view json) {
    name(key) += json;
    return *this;
  }

  std::string done() const {
    return buf_ + "}";
  }

private:
  std::string& name(std::string_view key) {
    if (buf_.size() > 1)
      buf_ += ',';
    append_json_string(buf_, key);
    buf_ += ':';
    return buf_;
  }

  std::string buf_ = "{";
};

// -- rendering helpers --------------------------------------------------------

/// Renders nanoseconds since the epoch as `2024-05-01T12:00:00.000000000Z`.
std::string iso8601(int64_t ns) {
  auto secs = ns / 1'000'000'000;
  auto frac = ns % 1'000'000'000;
  if (frac < 0) {
    frac += 1'000'000'000;
    --secs;
  }
  auto t = static_cast<time_t>(secs);
  struct tm tm;
  char date[32];
  if (::gmtime_r(&t, &tm) == nullptr
      || std::strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
    return "(timestamp " + std::to_string(ns) + ")";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s.%09lldZ", date,
                static_cast<long long>(frac));
  return buf;
}

std::string to_hex(std::string_view bytes) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string result;
  result.reserve(bytes.size() * 2);
  for (auto ch : bytes) {
    auto c = static_cast<uint8_t>(ch);
    result += hex[c >> 4];
    result += hex[c & 0x0F];
  }
  return result;
}

/// The first `preview_bytes` of `bytes`, non-printable bytes shown as `.`.
std::string printable_preview(std::string_view bytes) {
  std::string result;
  for (auto ch : bytes.substr(0, preview_bytes))
    result += ch >= 0x20 && ch < 0x7F ? ch : '.';
  return result;
}

/// Left-aligns `str` in a column of `width` characters.
std::string left(std::string str, size_t width) {
  if (str.size() < width)
    str.append(width - str.size(), ' ');
  return str;
}

/// Right-aligns `str` in a column of `width` characters.
std::string right(std::string str, size_t width) {
  if (str.size() < width)
    str.insert(0, width - str.size(), ' ');
  return str;
}

std::string or_dash(const std::string& str) {
  return str.empty() ? "-" : str;
}

std::string human_bytes(uint64_t n) {
  static constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  auto x = static_cast<double>(n);
  size_t unit = 0;
  while (x >= 1024 && unit + 1 < std::size(units)) {
    x /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), unit == 0 ? "%.0f %s" : "%.1f %s", x,
                units[unit]);
  return buf;
}

/// Prints an error as `cairn-journal: <describe(err)>` and returns 1.
int fail(const caf::error& err) {
  std::cout.flush();
  std::cerr << "cairn-journal: " << describe(err) << std::endl;
  return exit_failure;
}

/// Prints a usage error and returns 2.
int usage_error(const std::string& what) {
  std::cerr << "cairn-journal: " << what
            << "\n(run 'cairn-journal --help' for usage)" << std::endl;
  return exit_usage;
}

// -- command line -------------------------------------------------------------

/// What the command line asks for.
struct settings {
  std::string command;
  /// Positional arguments after the command: DIR, then the command's own.
  std::vector<std::string> args;
  bool help = false;
  bool json = false;
  bool follow = false;
  bool payload = false;
  bool replay = false;
  bool all = false;
  bool append = false;
  /// Set by --progress (true) or --no-progress (false).
  std::optional<bool> progress;
  uint64_t batch_events = 10000;
  uint64_t from = 1;
  std::optional<uint64_t> limit;
  std::string category;
};

/// An option and whether it takes a value.
struct option_spec {
  std::string_view name;
  bool takes_value;
};

constexpr option_spec known_options[] = {
  {"json", false},        {"help", false},        {"follow", false},
  {"payload", false},     {"from", true},         {"limit", true},
  {"category", true},     {"replay", false},      {"all", false},
  {"append", false},      {"batch-events", true}, {"progress", false},
  {"no-progress", false},
};

/// A command, its positional arguments and the options it accepts beyond
/// `--json` and `--help`.
struct command_spec {
  std::string_view name;
  std::vector<std::string_view> positionals;
  std::vector<std::string_view> options;
  /// Takes any number of further arguments after `positionals`.
  bool variadic = false;
};

const std::vector<command_spec>& commands() {
  static const std::vector<command_spec> result{
    {"ls", {"DIR"}, {}},
    {"cat", {"DIR", "STREAM"}, {"from", "limit", "payload"}},
    {"tail", {"DIR"}, {"from", "category", "follow", "limit", "payload"}},
    {"stats", {"DIR"}, {}},
    {"verify", {"DIR"}, {"progress", "no-progress"}},
    {"export", {"DIR"}, {"from", "progress", "no-progress"}},
    {"import", {"DIR"}, {"append", "batch-events", "progress", "no-progress"}},
    {"dead-letters", {"DIR"}, {"replay", "all"}, true},
    {"help", {}, {}},
  };
  return result;
}

const command_spec* find_command(std::string_view name) {
  for (auto& cmd : commands())
    if (cmd.name == name)
      return &cmd;
  return nullptr;
}

const option_spec* find_option(std::string_view name) {
  for (auto& opt : known_options)
    if (opt.name == name)
      return &opt;
  return nullptr;
}

/// Parses a decimal number into `out`; false if `str` is not one.
bool parse_number(const std::string& str, uint64_t& out) {
  if (str.empty() || str.find_first_not_of("0123456789") != std::string::npos)
    return false;
  errno = 0;
  char* end = nullptr;
  auto value = std::strtoull(str.c_str(), &end, 10);
  if (errno == ERANGE || *end != '\0')
    return false;
  out = value;
  return true;
}

/// Stores option `name` (known to exist) with `value` in `out`.
std::string apply_option(std::string_view name, const std::string& value,
                         settings& out) {
  if (name == "json")
    out.json = true;
  else if (name == "help")
    out.help = true;
  else if (name == "follow")
    out.follow = true;
  else if (name == "payload")
    out.payload = true;
  else if (name == "replay")
    out.replay = true;
  else if (name == "all")
    out.all = true;
  else if (name == "append")
    out.append = true;
  else if (name == "progress" || name == "no-progress")
    out.progress = name == "progress";
  else if (name == "category")
    out.category = value;
  else if (uint64_t n = 0; !parse_number(value, n))
    return "option --" + std::string{name} + " needs a number, got '" + value
           + "'";
  else if (name == "from")
    out.from = n;
  else if (name == "batch-events" && n == 0)
    return "option --batch-events needs a number above 0";
  else if (name == "batch-events")
    out.batch_events = n;
  else
    out.limit = n;
  return {};
}

/// Parses `argv` into `out`, collecting the names of the options seen in
/// `seen`. Returns a usage error, or an empty string.
std::string parse_args(int argc, char** argv, settings& out,
                       std::vector<std::string>& seen) {
  bool options_done = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (options_done || arg.size() < 2 || arg[0] != '-') {
      if (out.command.empty())
        out.command = std::move(arg);
      else
        out.args.push_back(std::move(arg));
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    if (arg == "-h")
      arg = "--help";
    if (arg.compare(0, 2, "--") != 0)
      return "unknown option " + arg;
    auto eq = arg.find('=');
    auto name = arg.substr(2, eq == std::string::npos ? eq : eq - 2);
    auto spec = find_option(name);
    if (spec == nullptr)
      return "unknown option --" + name;
    std::string value;
    if (spec->takes_value && eq != std::string::npos)
      value = arg.substr(eq + 1);
    else if (spec->takes_value && i + 1 < argc)
      value = argv[++i];
    else if (spec->takes_value)
      return "option --" + name + " needs a value";
    else if (eq != std::string::npos)
      return "option --" + name + " takes no value";
    if (auto err = apply_option(name, value, out); !err.empty())
      return err;
    seen.push_back(std::move(name));
  }
  return {};
}

/// Checks the command, its arguments and options. Returns a usage error, or
/// an empty string.
std::string check_args(const settings& s,
                       const std::vector<std::string>& seen) {
  if (s.command.empty())
    return "no command given";
  auto cmd = find_command(s.command);
  if (cmd == nullptr)
    return "unknown command '" + s.command + "'";
  for (auto& name : seen) {
    bool common = (name == "json" && s.command != "export") || name == "help";
    bool own = false;
    for (auto& opt : cmd->options)
      own = own || opt == name;
    if (!common && !own)
      return "option --" + name + " does not apply to " + s.command;
  }
  if (s.args.size() < cmd->positionals.size())
    return s.command + " needs " + std::string{cmd->positionals[s.args.size()]};
  if (s.args.size() > cmd->positionals.size() && !cmd->variadic)
    return "unexpected argument '" + s.args[cmd->positionals.size()] + "'";
  if (s.command == "cat" && s.args[1].size() > max_stream_name_size)
    return "STREAM is " + std::to_string(s.args[1].size())
           + " bytes long, over the maximum of "
           + std::to_string(max_stream_name_size) + " of a stream name";
  if (s.category.size() > max_stream_name_size)
    return "--category is " + std::to_string(s.category.size())
           + " bytes long, over the maximum of "
           + std::to_string(max_stream_name_size) + " of a stream name";
  if (s.command == "dead-letters") {
    for (size_t i = 1; i < s.args.size(); ++i)
      if (s.args[i].size() > max_table_key_size)
        return "KEY is " + std::to_string(s.args[i].size())
               + " bytes long, over the maximum of "
               + std::to_string(max_table_key_size) + " of a table key";
    if (s.all && !s.replay)
      return "--all applies to --replay only";
    if (s.replay && s.all == (s.args.size() > 1))
      return "--replay needs either KEY arguments or --all";
    if (!s.replay && s.args.size() > 1)
      return "KEY arguments apply to --replay only";
  }
  return {};
}

// -- opening ------------------------------------------------------------------

caf::expected<std::unique_ptr<journal>> open_read_only(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    auto file = dir + "/data.mdb";
    if (::stat(file.c_str(), &st) != 0)
      return make_error(errc::not_found,
                        "no journal at " + dir + " (it has no data.mdb)");
  }
  options opts;
  opts.read_only = true;
  opts.create = false;
  return journal::open(dir, opts);
}

/// Opens the journal in `dir` for writing, if no other process holds it.
/// LMDB keeps a shared lock on byte 0 of `lock.mdb` in every process that
/// has the environment open; a conflicting lock names such a process,
/// and the error ends with `hint`. With `create`, a missing journal is
/// created.
caf::expected<std::unique_ptr<journal>>
open_for_writing(const std::string& dir, bool create, const std::string& hint) {
  struct stat st;
  if (!create && ::stat((dir + "/data.mdb").c_str(), &st) != 0)
    return make_error(errc::not_found,
                      "no journal at " + dir + " (it has no data.mdb)");
  auto lock_file = dir + "/lock.mdb";
  auto fd = ::open(lock_file.c_str(), O_RDWR);
  if (fd >= 0) {
    struct flock probe {};
    probe.l_type = F_WRLCK;
    probe.l_whence = SEEK_SET;
    probe.l_start = 0;
    probe.l_len = 1;
    auto rc = ::fcntl(fd, F_GETLK, &probe);
    ::close(fd);
    if (rc != 0)
      return make_error(errc::storage_error,
                        "cannot check the lock of " + lock_file);
    if (probe.l_type != F_UNLCK)
      return make_error(errc::invalid_argument, "the journal at " + dir
                                                  + " is in use by process "
                                                  + std::to_string(probe.l_pid)
                                                  + "; stop it first" + hint);
  }
  options opts;
  opts.create = create;
  return journal::open(dir, opts);
}

// -- events -------------------------------------------------------------------

/// Prints events as a text table, a JSON array or JSON Lines.
class event_printer {
public:
  enum class style { text, json_array, json_lines };

  /// `with_stream` adds the stream's name and puts the position first (for
  /// the global log).
  event_printer(style how, bool with_stream, bool full_payload)
    : how_(how), with_stream_(with_stream), full_payload_(full_payload) {
    // nop
  }

  /// Prints the opening: a header line or `[`.
  void begin() {
    if (how_ == style::json_array)
      std::cout << '[';
    else if (how_ == style::text)
      std::cout << header() << '\n';
  }

  void print(const stored_event& ev) {
    if (how_ == style::text) {
      std::cout << text(ev) << '\n';
      if (full_payload_)
        std::cout << "    payload " << to_hex(ev.record.payload) << '\n';
      return;
    }
    if (how_ == style::json_array && count_ > 0)
      std::cout << ',';
    std::cout << (how_ == style::json_array ? "\n  " : "") << json(ev);
    if (how_ == style::json_lines)
      std::cout << '\n';
    ++count_;
  }

  /// Prints the closing `]`, also after an error, so that stdout holds a
  /// complete JSON document.
  void end() {
    if (how_ == style::json_array)
      std::cout << (count_ > 0 ? "\n]\n" : "]\n");
    std::cout.flush();
  }

private:
  std::string header() const {
    std::string result = with_stream_
                           ? right("POSITION", 8) + "  " + left("STREAM", 16)
                               + "  " + right("VERSION", 7)
                           : right("VERSION", 7) + "  " + right("POSITION", 8);
    return result + "  " + left("TIMESTAMP", 30) + "  " + left("TYPE", 20)
           + "  SCHEMA  " + left("CORRELATION", 14) + "  "
           + left("CAUSATION", 14) + "  " + right("SIZE", 7) + "  PAYLOAD";
  }

  std::string text(const stored_event& ev) const {
    auto& rec = ev.record;
    auto version = right(std::to_string(ev.version), 7);
    auto position = right(std::to_string(ev.position), 8);
    std::string result
      = with_stream_ ? position + "  " + left(ev.stream, 16) + "  " + version
                     : version + "  " + position;
    result += "  " + left(iso8601(rec.timestamp_ns), 30) + "  "
              + left(rec.type, 20) + "  "
              + right(std::to_string(rec.schema_version), 6) + "  "
              + left(or_dash(rec.correlation_id), 14) + "  "
              + left(or_dash(rec.causation_id), 14) + "  "
              + right(std::to_string(rec.payload.size()), 7) + "  \""
              + printable_preview(rec.payload) + '"';
    if (rec.payload.size() > preview_bytes)
      result += " ...";
    return result;
  }

  std::string json(const stored_event& ev) const {
    auto& rec = ev.record;
    std::string_view payload = rec.payload;
    json_object obj;
    obj.str("stream", ev.stream)
      .num("version", ev.version)
      .num("position", ev.position)
      .str("type", rec.type)
      .num("schema_version", rec.schema_version)
      .str("timestamp", iso8601(rec.timestamp_ns))
      .signed_num("timestamp_ns", rec.timestamp_ns)
      .str("correlation_id", rec.correlation_id)
      .str("causation_id", rec.causation_id)
      .num("metadata_size", rec.metadata.size())
      .num("payload_size", payload.size())
      .str("payload_preview", printable_preview(payload))
      .str("payload_head_hex", to_hex(payload.substr(0, preview_bytes)));
    if (full_payload_)
      obj.str("payload_hex", to_hex(payload));
    return obj.done();
  }

  style how_;
  bool with_stream_;
  bool full_payload_;
  size_t count_ = 0;
};

event_printer::style style_of(const settings& s) {
  if (!s.json)
    return event_printer::style::text;
  return s.follow ? event_printer::style::json_lines
                  : event_printer::style::json_array;
}

/// Returns how many events to read next: a chunk, capped by what is left of
/// the limit.
size_t next_count(const settings& s, uint64_t printed, size_t chunk) {
  if (!s.limit)
    return chunk;
  return static_cast<size_t>(std::min<uint64_t>(chunk, *s.limit - printed));
}

bool limit_reached(const settings& s, uint64_t printed) {
  return s.limit && printed >= *s.limit;
}

// -- progress -----------------------------------------------------------------

/// Returns whether `fd` is a pipe or a socket.
bool is_piped(int fd) {
  struct stat st;
  return ::fstat(fd, &st) == 0
         && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
}

/// Returns whether a command shows progress: as asked by --progress or
/// --no-progress, else when stderr is a terminal and stdout is not piped.
/// `output_to_terminal_ok` is false for commands whose output would mix
/// with the progress line on the terminal (export).
bool progress_wanted(const settings& s, bool output_to_terminal_ok) {
  if (s.progress)
    return *s.progress;
  if (::isatty(STDERR_FILENO) == 0 || is_piped(STDOUT_FILENO))
    return false;
  return output_to_terminal_ok || ::isatty(STDOUT_FILENO) == 0;
}

/// Shows progress on stderr: on a terminal, one line rewritten in place at
/// most ten times a second; elsewhere (forced by --progress), a line at
/// most once a second.
class progress_display {
public:
  explicit progress_display(bool enabled)
    : enabled_(enabled), terminal_(enabled && ::isatty(STDERR_FILENO) != 0) {
    // nop
  }

  ~progress_display() {
    clear();
  }

  progress_display(const progress_display&) = delete;
  progress_display& operator=(const progress_display&) = delete;

  /// Shows `text` if enough time passed since the last one, or if `force`.
  void show(const std::string& text, bool force = false) {
    if (!enabled_)
      return;
    auto now = now_ms();
    auto interval = terminal_ ? 100 : 1000;
    if (!force && shown_ && now - last_ms_ < interval)
      return;
    last_ms_ = now;
    shown_ = true;
    std::string line = terminal_ ? "\r\x1b[K" + text : text + "\n";
    write_all(line);
  }

  /// Shows `text` as the last line, kept on the terminal.
  void finish(const std::string& text) {
    if (!enabled_)
      return;
    write_all(terminal_ ? "\r\x1b[K" + text + "\n" : text + "\n");
    shown_ = false;
  }

  /// Erases the line on a terminal, so that what follows starts clean.
  void clear() {
    if (terminal_ && shown_) {
      write_all("\r\x1b[K");
      shown_ = false;
    }
  }

private:
  static int64_t now_ms() {
    struct timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
  }

  static void write_all(const std::string& str) {
    size_t done = 0;
    while (done < str.size()) {
      auto n = ::write(STDERR_FILENO, str.data() + done, str.size() - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return;
      done += static_cast<size_t>(n);
    }
  }

  bool enabled_;
  bool terminal_;
  bool shown_ = false;
  int64_t last_ms_ = 0;
};

std::string percent(uint64_t done, uint64_t total) {
  if (total == 0)
    return "";
  char buf[16];
  std::snprintf(buf, sizeof(buf), " (%.0f%%)",
                100.0 * static_cast<double>(std::min(done, total))
                  / static_cast<double>(total));
  return buf;
}

// -- commands -----------------------------------------------------------------

uint64_t event_count(const stream_info& info) {
  return info.version >= info.first_version
           ? info.version - info.first_version + 1
           : 0;
}

int run_ls(const journal& j, const settings& s) {
  auto list = j.streams();
  if (!list)
    return fail(list.error());
  uint64_t total = 0;
  for (auto& info : *list)
    total += event_count(info);
  if (s.json) {
    std::string arr = "[";
    for (auto& info : *list) {
      if (arr.size() > 1)
        arr += ',';
      arr += json_object{}
               .str("name", info.name)
               .str("category", category_of(info.name))
               .num("version", info.version)
               .num("first_version", info.first_version)
               .num("events", event_count(info))
               .done();
    }
    std::cout << json_object{}
                   .num("count", list->size())
                   .num("events", total)
                   .raw("streams", arr + "]")
                   .done()
              << std::endl;
    return exit_ok;
  }
  size_t width = 6;
  for (auto& info : *list)
    width = std::max(width, info.name.size());
  std::cout << left("STREAM", width) << "  " << right("VERSION", 8) << "  "
            << right("FIRST", 8) << "  " << right("EVENTS", 8) << '\n';
  for (auto& info : *list)
    std::cout << left(info.name, width) << "  "
              << right(std::to_string(info.version), 8) << "  "
              << right(std::to_string(info.first_version), 8) << "  "
              << right(std::to_string(event_count(info)), 8) << '\n';
  std::cout << list->size() << (list->size() == 1 ? " stream, " : " streams, ")
            << total << (total == 1 ? " event" : " events") << std::endl;
  return exit_ok;
}

int run_cat(const journal& j, const settings& s) {
  auto& stream = s.args[1];
  auto version = j.stream_version(stream);
  if (!version)
    return fail(version.error());
  if (*version == 0)
    return fail(make_error(errc::not_found, "no stream " + stream));
  event_printer out{style_of(s), false, s.payload};
  out.begin();
  uint64_t next = s.from;
  uint64_t printed = 0;
  size_t chunk = chunk_size;
  while (!limit_reached(s, printed)) {
    auto events = j.read_stream(stream, next, next_count(s, printed, chunk));
    if (!events && chunk > 1) {
      // Read one by one up to the bad record, to print what precedes it.
      chunk = 1;
      continue;
    }
    if (!events) {
      out.end();
      return fail(events.error());
    }
    if (events->empty())
      break;
    for (auto& ev : *events)
      out.print(ev);
    printed += events->size();
    next = events->back().version + 1;
  }
  out.end();
  return exit_ok;
}

void on_stop_signal(int) {
  stop_requested = 1;
}

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0; // no SA_RESTART: a signal ends the pause at once
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

void pause_for_poll() {
  struct timespec ts;
  ts.tv_sec = poll_interval_ms / 1000;
  ts.tv_nsec = (poll_interval_ms % 1000) * 1'000'000;
  ::nanosleep(&ts, nullptr);
}

int run_tail(const journal& j, const settings& s) {
  if (s.follow)
    install_stop_handlers();
  event_printer out{style_of(s), true, s.payload};
  out.begin();
  uint64_t pos = s.from;
  uint64_t printed = 0;
  size_t chunk = chunk_size;
  while (!limit_reached(s, printed) && stop_requested == 0) {
    auto slice = j.read_all(pos, next_count(s, printed, chunk), s.category);
    if (!slice && chunk > 1) {
      chunk = 1; // print the events before the bad record
      continue;
    }
    if (!slice) {
      out.end();
      return fail(slice.error());
    }
    for (auto& ev : slice->events)
      out.print(ev);
    printed += slice->events.size();
    bool progressed = slice->next_position != pos;
    pos = slice->next_position;
    if (progressed)
      continue;
    if (!s.follow)
      break;
    std::cout.flush();
    pause_for_poll();
  }
  out.end();
  return exit_ok;
}

int run_stats(const journal& j, const settings& s) {
  auto st = j.stats();
  if (!st)
    return fail(st.error());
  double use = st->map_size == 0 ? 0.0
                                 : 100.0 * static_cast<double>(st->map_used)
                                     / static_cast<double>(st->map_size);
  auto pending = find_unfinished_import(j);
  if (!pending)
    return fail(pending.error());
  if (s.json) {
    std::string unfinished = "null";
    if (*pending)
      unfinished = json_object{}
                     .num("lines", (*pending)->lines)
                     .num("events", (*pending)->events)
                     .done();
    std::cout << json_object{}
                   .str("path", j.path())
                   .str("id", j.id())
                   .num("streams", st->streams)
                   .num("events", st->events)
                   .num("last_position", st->last_position)
                   .num("snapshots", st->snapshots)
                   .num("checkpoints", st->checkpoints)
                   .num("dedup_keys", st->dedup_keys)
                   .num("page_size", st->page_size)
                   .num("map_size", st->map_size)
                   .num("map_used", st->map_used)
                   .real("map_use_percent", use)
                   .num("file_size", st->file_size)
                   .raw("unfinished_import", unfinished)
                   .done()
              << std::endl;
    return exit_ok;
  }
  auto line = [](const char* name, const std::string& value) {
    std::cout << left(name, 15) << value << '\n';
  };
  auto sized = [](uint64_t n) {
    return std::to_string(n) + " (" + human_bytes(n) + ")";
  };
  char pct[32];
  std::snprintf(pct, sizeof(pct), "%.2f%%", use);
  line("journal", j.path());
  line("id", j.id().empty() ? "(none yet)" : j.id());
  line("streams", std::to_string(st->streams));
  line("events", std::to_string(st->events));
  line("last position", std::to_string(st->last_position));
  line("snapshots", std::to_string(st->snapshots));
  line("checkpoints", std::to_string(st->checkpoints));
  line("dedup keys", std::to_string(st->dedup_keys));
  line("page size", std::to_string(st->page_size));
  line("map size", sized(st->map_size));
  line("map used", sized(st->map_used) + ", " + pct + " of the map");
  line("file size", sized(st->file_size));
  if (*pending)
    line("import", "UNFINISHED: " + std::to_string((*pending)->lines)
                     + " lines, " + std::to_string((*pending)->events)
                     + " events imported; run the same import again to "
                       "finish it");
  std::cout.flush();
  return exit_ok;
}

/// Renders a problem as `stream order-7 version 3 position 9: what`.
std::string describe_problem(const problem& p) {
  std::string result;
  if (!p.stream.empty())
    result += "stream " + p.stream;
  if (p.version != 0)
    result += (result.empty() ? "version " : " version ")
              + std::to_string(p.version);
  if (p.position != 0)
    result += (result.empty() ? "position " : " position ")
              + std::to_string(p.position);
  return (result.empty() ? std::string{"journal"} : result) + ": " + p.what;
}

void print_verify_json(const verify_report& rep, size_t max_problems) {
  std::string arr = "[";
  for (auto& p : rep.problems) {
    if (arr.size() > 1)
      arr += ',';
    json_object obj;
    if (p.stream.empty())
      obj.raw("stream", "null");
    else
      obj.str("stream", p.stream);
    arr += obj.num_or_null("version", p.version)
             .num_or_null("position", p.position)
             .str("what", p.what)
             .str("message", describe_problem(p))
             .done();
  }
  std::cout << json_object{}
                 .boolean("ok", rep.ok())
                 .num("streams", rep.streams)
                 .num("events", rep.events)
                 .num("log_entries", rep.log_entries)
                 .boolean("truncated", rep.problems.size() >= max_problems)
                 .raw("problems", arr + "]")
                 .done()
            << std::endl;
}

int run_verify(const journal& j, const settings& s) {
  constexpr size_t max_problems = 1000;
  progress_display progress{progress_wanted(s, true)};
  auto shown = [&](uint64_t done, uint64_t total) {
    progress.show("verify: log entry " + std::to_string(done) + " of "
                  + std::to_string(total) + percent(done, total));
  };
  auto rep = verify(j, max_problems, shown);
  progress.clear();
  if (!rep)
    return fail(rep.error());
  if (s.json) {
    print_verify_json(*rep, max_problems);
  } else {
    for (auto& p : rep->problems)
      std::cout << describe_problem(p) << '\n';
    std::cout << "checked " << rep->streams << " streams, " << rep->events
              << " events, " << rep->log_entries << " log entries: ";
    if (rep->ok())
      std::cout << "OK\n";
    else
      std::cout << rep->problems.size()
                << (rep->problems.size() >= max_problems ? " or more" : "")
                << (rep->problems.size() == 1 ? " problem\n" : " problems\n");
    std::cout.flush();
  }
  return rep->ok() ? exit_ok : exit_failure;
}

int run_dead_letters(const std::string& dir, const settings& s) {
  std::unique_ptr<journal> j;
  auto opened = s.replay ? open_for_writing(dir, false,
                                            ", or replay from the program "
                                            "(cairn::replay_dead_letters)")
                         : open_read_only(dir);
  if (!opened)
    return fail(opened.error());
  j = std::move(*opened);
  auto rows = j->table_scan(dead_letter_table);
  if (!rows)
    return fail(rows.error());
  std::vector<std::pair<std::string, dead_letter>> letters;
  for (auto& [key, bytes] : *rows) {
    auto row = from_bytes<dead_letter>(bytes, "dead letter " + key);
    if (!row)
      return fail(row.error());
    letters.emplace_back(key, std::move(*row));
  }
  if (s.replay) {
    write_group g;
    size_t marked = 0;
    for (size_t i = 1; i < s.args.size(); ++i) {
      auto& key = s.args[i];
      auto found = std::any_of(letters.begin(), letters.end(),
                               [&](auto& x) { return x.first == key; });
      if (!found)
        return fail(make_error(errc::not_found, "no dead letter " + key));
    }
    for (auto& [key, row] : letters) {
      auto wanted
        = s.all
          || std::find(s.args.begin() + 1, s.args.end(), key) != s.args.end();
      if (!wanted)
        continue;
      row.replay = true;
      g.tables.push_back(
        table_write{dead_letter_table, key, to_bytes(row), false});
      ++marked;
    }
    if (marked > 0)
      if (auto res = j->commit(g); !res)
        return fail(res.error());
    if (s.json)
      std::cout << json_object{}.num("marked", marked).done() << std::endl;
    else
      std::cout << "marked " << marked
                << (marked == 1 ? " dead letter" : " dead letters")
                << " for replay; the next start of their managers' routers "
                   "re-delivers them\n";
    std::cout.flush();
    return exit_ok;
  }
  if (s.json) {
    std::string arr = "[";
    for (auto& [key, row] : letters) {
      if (arr.size() > 1)
        arr += ',';
      arr += json_object{}
               .str("key", key)
               .str("manager", row.manager)
               .str("stream", row.stream)
               .num("version", row.version)
               .num("position", row.position)
               .str("type", row.type)
               .str("error", row.error)
               .str("time", iso8601(row.time_ns))
               .num("attempts", row.attempts)
               .boolean("replay", row.replay)
               .done();
    }
    std::cout << json_object{}
                   .num("count", letters.size())
                   .raw("dead_letters", arr + "]")
                   .done()
              << std::endl;
    return exit_ok;
  }
  size_t kw = 3;
  size_t sw = 6;
  for (auto& [key, row] : letters) {
    kw = std::max(kw, key.size());
    sw = std::max(sw, row.stream.size());
  }
  std::cout << left("KEY", kw) << "  " << left("STREAM", sw) << "  "
            << right("VERSION", 7) << "  " << right("POSITION", 8) << "  "
            << left("TYPE", 20) << "  " << right("ATTEMPTS", 8) << "  REPLAY  "
            << left("TIME", 30) << "  ERROR\n";
  for (auto& [key, row] : letters)
    std::cout << left(key, kw) << "  " << left(row.stream, sw) << "  "
              << right(std::to_string(row.version), 7) << "  "
              << right(std::to_string(row.position), 8) << "  "
              << left(row.type, 20) << "  "
              << right(std::to_string(row.attempts), 8) << "  "
              << left(row.replay ? "yes" : "no", 6) << "  "
              << left(iso8601(row.time_ns), 30) << "  " << row.error << '\n';
  std::cout << letters.size()
            << (letters.size() == 1 ? " dead letter" : " dead letters")
            << std::endl;
  return exit_ok;
}

// -- export and import --------------------------------------------------------

/// Writes all of `bytes` to stdout.
caf::error write_stdout(std::string_view bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    auto n = ::write(STDOUT_FILENO, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return make_error(errc::storage_error,
                        std::string{"cannot write the export to stdout: "}
                          + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  return {};
}

/// Warns on stderr about streams whose first events retention deleted: an
/// export holds them from their first stored version, which an import
/// accepts only with --append onto a journal that has the versions before.
void warn_truncated(const journal& j) {
  auto list = j.streams();
  if (!list)
    return;
  std::string names;
  size_t count = 0;
  for (auto& info : *list) {
    if (info.first_version <= 1)
      continue;
    if (++count <= 5)
      names += (names.empty() ? "" : ", ") + info.name + " (from version "
               + std::to_string(info.first_version) + ")";
  }
  if (count == 0)
    return;
  std::cerr << "cairn-journal: warning: " << count
            << (count == 1 ? " stream starts" : " streams start")
            << " after version 1, its first events deleted by retention: "
            << names << (count > 5 ? ", ..." : "")
            << "; an import takes them only with --append into a journal "
               "that holds their earlier versions"
            << std::endl;
}

int run_export(const journal& j, const settings& s) {
  if (s.from <= 1)
    warn_truncated(j);
  progress_display progress{progress_wanted(s, false)};
  auto shown = [&](uint64_t position, uint64_t last, uint64_t events) {
    progress.show("export: position " + std::to_string(position) + " of "
                  + std::to_string(last) + percent(position, last) + ", "
                  + std::to_string(events) + " events");
  };
  auto res = export_events(j, s.from, write_stdout, shown);
  if (!res) {
    progress.clear();
    return fail(res.error());
  }
  progress.finish("export: " + std::to_string(res->events)
                  + " events; next export --from "
                  + std::to_string(res->next_from));
  return exit_ok;
}

/// Returns a descriptor of a seekable file holding stdin: stdin itself if
/// it is a regular file, else a copy in an unlinked temporary file under
/// $TMPDIR (or /tmp).
caf::expected<int> seekable_stdin() {
  struct stat st;
  if (::fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode))
    return STDIN_FILENO;
  const char* tmp = std::getenv("TMPDIR");
  std::string path = (tmp != nullptr && *tmp != '\0' ? tmp : "/tmp");
  path += "/cairn-import-XXXXXX";
  auto fd = ::mkstemp(path.data());
  if (fd < 0)
    return make_error(errc::storage_error,
                      "cannot create a temporary file " + path
                        + " for the input: " + std::strerror(errno));
  ::unlink(path.c_str());
  char buf[1 << 16];
  for (;;) {
    auto n = ::read(STDIN_FILENO, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      auto err = std::strerror(errno);
      ::close(fd);
      return make_error(errc::storage_error,
                        std::string{"cannot read stdin: "} + err);
    }
    if (n == 0)
      break;
    for (ssize_t done = 0; done < n;) {
      auto w = ::write(fd, buf + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0) {
        auto err = std::strerror(errno);
        ::close(fd);
        return make_error(errc::storage_error,
                          "cannot copy stdin to " + path + ": " + err);
      }
      done += w;
    }
  }
  if (::lseek(fd, 0, SEEK_SET) != 0) {
    ::close(fd);
    return make_error(errc::storage_error, "cannot seek in " + path);
  }
  return fd;
}

int run_import(const std::string& dir, const settings& s) {
  if (::isatty(STDIN_FILENO) != 0)
    return usage_error("import reads an export from stdin: cairn-journal "
                       "import DIR < file.jsonl");
  auto fd = seekable_stdin();
  if (!fd)
    return fail(fd.error());
  auto opened = open_for_writing(dir, true, "");
  if (!opened)
    return fail(opened.error());
  auto& j = **opened;
  progress_display progress{progress_wanted(s, true)};
  import_options opts;
  opts.append = s.append;
  opts.batch_events = static_cast<size_t>(s.batch_events);
  bool importing = false;
  opts.progress = [&](const import_progress& p) {
    bool first = !importing && p.what == import_progress::phase::importing;
    importing = importing || first;
    if (p.what == import_progress::phase::checking)
      progress.show("import: checking line " + std::to_string(p.lines) + ", "
                    + std::to_string(p.bytes) + " bytes"
                    + percent(p.bytes, p.total_bytes));
    else
      progress.show("import: line " + std::to_string(p.lines) + " of "
                      + std::to_string(p.total_lines)
                      + percent(p.bytes, p.total_bytes) + ", "
                      + std::to_string(p.events) + " events committed",
                    first);
  };
  auto rep = import_events(j, *fd, opts);
  progress.clear();
  if (*fd != STDIN_FILENO)
    ::close(*fd);
  if (!rep)
    return fail(rep.error());
  if (s.json) {
    std::cout << json_object{}
                   .num("lines", rep->lines)
                   .num("events", rep->events)
                   .num("imported", rep->imported)
                   .num("streams", rep->streams)
                   .num("batches", rep->batches)
                   .num("resumed_after_line", rep->resumed_after_line)
                   .done()
              << std::endl;
    return exit_ok;
  }
  if (rep->resumed_after_line > 0)
    std::cout << "resumed the unfinished import after line "
              << rep->resumed_after_line << '\n';
  std::cout << "imported " << rep->imported
            << (rep->imported == 1 ? " event" : " events") << " into "
            << rep->streams << (rep->streams == 1 ? " stream" : " streams")
            << " in " << rep->batches
            << (rep->batches == 1 ? " batch" : " batches") << " (" << rep->lines
            << " lines)" << std::endl;
  return exit_ok;
}

int dispatch(const journal& j, const settings& s) {
  if (s.command == "ls")
    return run_ls(j, s);
  if (s.command == "cat")
    return run_cat(j, s);
  if (s.command == "tail")
    return run_tail(j, s);
  if (s.command == "stats")
    return run_stats(j, s);
  if (s.command == "export")
    return run_export(j, s);
  return run_verify(j, s);
}

int run(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << usage_text;
    return exit_usage;
  }
  settings s;
  std::vector<std::string> seen;
  if (auto err = parse_args(argc, argv, s, seen); !err.empty())
    return usage_error(err);
  if (s.help || s.command == "help") {
    std::cout << usage_text;
    return exit_ok;
  }
  if (auto err = check_args(s, seen); !err.empty())
    return usage_error(err);
  if (s.command == "dead-letters")
    return run_dead_letters(s.args[0], s);
  if (s.command == "import")
    return run_import(s.args[0], s);
  auto j = open_read_only(s.args[0]);
  if (!j)
    return fail(j.error());
  return dispatch(**j, s);
}

} // namespace

} // namespace cairn::journal

int main(int argc, char** argv) {
  return cairn::journal::run(argc, argv);
}
