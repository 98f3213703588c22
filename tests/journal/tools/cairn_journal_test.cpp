// Tests of the cairn-journal inspection CLI (journal/tools/cairn_journal.cpp):
// journals are written through the journal API, then the program runs on
// them as a child process. Also the corruption test: bytes of one record
// flipped in data.mdb must be named by verify, by reads and by cat.

#include <catch2/catch.hpp>

#include <lmdb.h>
#include <signal.h>
#include <sys/wait.h>

#include <cctype>
#include <cstdint>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "actors/dead_letter.hpp"
#include "journal/codec.hpp"
#include "journal/errc.hpp"
#include "journal/event_record.hpp"
#include "journal/journal.hpp"
#include "journal/write_group.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/temp_dir.hpp"

namespace cj = cairn::journal;

using cairn::test::run_result;
using cairn::test::temp_dir;

namespace {

// -- helpers ------------------------------------------------------------------

/// 2023-11-14T22:13:20.123456789Z.
constexpr int64_t fixed_ts = 1'700'000'000'123'456'789;

constexpr const char* fixed_ts_text = "2023-11-14T22:13:20.123456789Z";

cj::event_record make_event(std::string type, std::string payload,
                            int64_t ts = 0, std::string correlation = {},
                            std::string causation = {}) {
  cj::event_record rec;
  rec.type = std::move(type);
  rec.payload = std::move(payload);
  rec.timestamp_ns = ts;
  rec.correlation_id = std::move(correlation);
  rec.causation_id = std::move(causation);
  return rec;
}

std::unique_ptr<cj::journal> open_journal(const std::string& dir) {
  auto j = cj::journal::open(dir);
  REQUIRE(j);
  return std::move(*j);
}

cj::write_group group_of(const std::string& stream,
                         std::vector<cj::event_record> events) {
  cj::write_group g;
  g.appends.push_back({stream, cj::expected_version::any(), std::move(events)});
  return g;
}

void append(cj::journal& j, const std::string& stream,
            std::vector<cj::event_record> events) {
  auto res = j.commit(group_of(stream, std::move(events)));
  REQUIRE(res);
}

/// Runs cairn-journal with `args`, capturing stdout and stderr together.
run_result cli(std::vector<std::string> args) {
  args.insert(args.begin(), cairn::test::bin_path("cairn-journal"));
  return cairn::test::run(args);
}

/// The whitespace-separated fields of the first output line that starts
/// with `prefix` (after leading blanks); empty if there is none.
std::vector<std::string> line_fields(const std::string& output,
                                     const std::string& prefix) {
  std::istringstream lines{output};
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream in{line};
    std::vector<std::string> fields;
    for (std::string f; in >> f;)
      fields.push_back(f);
    if (!fields.empty() && fields[0] == prefix)
      return fields;
  }
  return {};
}

size_t count_of(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (auto i = haystack.find(needle); i != std::string::npos;
       i = haystack.find(needle, i + needle.size()))
    ++n;
  return n;
}

/// A strict JSON syntax checker (RFC 8259), enough to tell that the output
/// is exactly one JSON document.
class json_checker {
public:
  explicit json_checker(std::string_view str) : s_(str) {
    // nop
  }

  bool document() {
    ws();
    if (!value())
      return false;
    ws();
    return i_ == s_.size();
  }

private:
  bool value() {
    if (i_ >= s_.size())
      return false;
    switch (s_[i_]) {
      case '{':
        return object();
      case '[':
        return array();
      case '"':
        return string();
      case 't':
        return literal("true");
      case 'f':
        return literal("false");
      case 'n':
        return literal("null");
      default:
        return number();
    }
  }

  bool object() {
    ++i_;
    ws();
    if (eat('}'))
      return true;
    for (;;) {
      ws();
      if (!string())
        return false;
      ws();
      if (!eat(':'))
        return false;
      ws();
      if (!value())
        return false;
      ws();
      if (eat('}'))
        return true;
      if (!eat(','))
        return false;
    }
  }

  bool array() {
    ++i_;
    ws();
    if (eat(']'))
      return true;
    for (;;) {
      ws();
      if (!value())
        return false;
      ws();
      if (eat(']'))
        return true;
      if (!eat(','))
        return false;
    }
  }

  bool string() {
    if (!eat('"'))
      return false;
    while (i_ < s_.size()) {
      auto c = static_cast<unsigned char>(s_[i_++]);
      if (c == '"')
        return true;
      if (c < 0x20)
        return false;
      if (c != '\\')
        continue;
      if (i_ >= s_.size())
        return false;
      auto e = s_[i_++];
      if (e == 'u') {
        for (int k = 0; k < 4; ++k, ++i_)
          if (i_ >= s_.size() || !std::isxdigit(static_cast<uint8_t>(s_[i_])))
            return false;
      } else if (std::strchr("\"\\/bfnrt", e) == nullptr || e == '\0') {
        return false;
      }
    }
    return false;
  }

  bool number() {
    eat('-');
    if (eat('0')) {
      // no more integer digits
    } else if (!digits()) {
      return false;
    }
    if (eat('.') && !digits())
      return false;
    if (eat('e') || eat('E')) {
      if (!eat('+'))
        eat('-');
      if (!digits())
        return false;
    }
    return true;
  }

  bool digits() {
    auto start = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9')
      ++i_;
    return i_ > start;
  }

  bool literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word)
      return false;
    i_ += word.size();
    return true;
  }

  bool eat(char c) {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }

  void ws() {
    while (i_ < s_.size() && std::strchr(" \t\r\n", s_[i_]) != nullptr
           && s_[i_] != '\0')
      ++i_;
  }

  std::string_view s_;
  size_t i_ = 0;
};

bool is_json(const std::string& str) {
  return json_checker{str}.document();
}

/// A journal of three streams in two categories, written in four commits:
///
/// | position | stream    | version | type            |
/// |----------|-----------|---------|-----------------|
/// | 1        | order-1   | 1       | order_placed    |
/// | 2        | order-1   | 2       | order_paid      |
/// | 3        | invoice-1 | 1       | invoice_created |
/// | 4        | order-2   | 1       | order_placed    |
/// | 5        | invoice-1 | 2       | invoice_sent    |
/// | 6        | order-1   | 3       | order_shipped   |
struct sample_journal {
  temp_dir tmp;
  std::string dir = tmp.sub("journal");

  sample_journal() {
    auto j = open_journal(dir);
    append(*j, "order-1",
           {make_event("order_placed", "payload order-1 v1", fixed_ts, "corr-1",
                       "cmd-1"),
            make_event("order_paid", "payload order-1 v2")});
    std::vector<cj::write_group> groups;
    groups.push_back(group_of(
      "invoice-1", {make_event("invoice_created", "payload invoice-1 v1")}));
    groups.push_back(
      group_of("order-2", {make_event("order_placed", "payload order-2 v1")}));
    REQUIRE(j->commit(groups));
    append(*j, "invoice-1",
           {make_event("invoice_sent", "payload invoice-1 v2")});
    append(*j, "order-1", {make_event("order_shipped", "payload order-1 v3")});
  }
};

// -- corruption helpers -------------------------------------------------------

constexpr int corrupt_round = 2;

const char* const corrupt_stream = "order-3";

/// A 64-byte payload that occurs nowhere else in the file.
std::string marker() {
  std::string result = "CAIRN-CORRUPTION-MARKER/order-3/version-2/";
  result.resize(64, '#');
  return result;
}

std::string payload_of(const std::string& stream, int version) {
  if (stream == corrupt_stream && version == corrupt_round)
    return marker();
  return "payload " + stream + " v" + std::to_string(version);
}

const std::vector<std::string>& corrupt_fixture_streams() {
  static const std::vector<std::string> result{"order-1", "order-2", "order-3",
                                               "invoice-1"};
  return result;
}

/// Flips bytes inside every copy of `needle` in the file at `path` (stale
/// copies in free pages included). Returns the number of copies.
size_t flip_bytes_of(const std::string& path, const std::string& needle) {
  auto bytes = cairn::test::read_file(path);
  size_t copies = 0;
  for (auto i = bytes.find(needle); i != std::string::npos;
       i = bytes.find(needle, i + needle.size())) {
    for (size_t k = 20; k < 40; ++k)
      bytes[i + k] = static_cast<char>(bytes[i + k] ^ 0x5A);
    ++copies;
  }
  cairn::test::write_file(path, bytes);
  return copies;
}

/// Four streams of four events, written round by round (one commit per
/// round, one group per stream), so that positions interleave: version v of
/// the i-th stream sits at position 4 * (v - 1) + i + 1. Then the record of
/// order-3 version 2 (position 7) gets bytes flipped in data.mdb.
struct corrupted_journal {
  temp_dir tmp;
  std::string dir = tmp.sub("journal");

  static constexpr uint64_t bad_position = 7;

  corrupted_journal() {
    {
      auto j = open_journal(dir);
      for (int v = 1; v <= 4; ++v) {
        std::vector<cj::write_group> groups;
        for (auto& s : corrupt_fixture_streams())
          groups.push_back(group_of(
            s, {make_event("ev_" + std::to_string(v), payload_of(s, v))}));
        auto res = j->commit(groups);
        REQUIRE(res);
        for (auto& out : *res)
          REQUIRE(out);
      }
    } // closes the journal
    REQUIRE(flip_bytes_of(dir + "/data.mdb", marker()) >= 1);
    REQUIRE(cairn::test::read_file(dir + "/data.mdb").find(marker())
            == std::string::npos);
  }
};

void check_stream_intact(const cj::journal& j, const std::string& stream) {
  auto events = j.read_stream(stream);
  REQUIRE(events);
  REQUIRE(events->size() == 4);
  for (int v = 1; v <= 4; ++v) {
    auto& ev = (*events)[static_cast<size_t>(v - 1)];
    CHECK(ev.version == static_cast<uint64_t>(v));
    CHECK(ev.record.payload == payload_of(stream, v));
  }
}

} // namespace

// -- ls -----------------------------------------------------------------------

TEST_CASE("ls lists every stream with its version and first stored version") {
  sample_journal sample;
  auto res = cli({"ls", sample.dir});
  INFO(res.output);
  REQUIRE(res.exit_code == 0);
  CHECK(res.output.find("STREAM") != std::string::npos);
  CHECK(line_fields(res.output, "order-1")
        == std::vector<std::string>{"order-1", "3", "1", "3"});
  CHECK(line_fields(res.output, "order-2")
        == std::vector<std::string>{"order-2", "1", "1", "1"});
  CHECK(line_fields(res.output, "invoice-1")
        == std::vector<std::string>{"invoice-1", "2", "1", "2"});
  CHECK(res.output.find("3 streams, 6 events") != std::string::npos);
}

TEST_CASE("ls shows the first stored version of a truncated stream") {
  sample_journal sample;
  {
    auto j = open_journal(sample.dir);
    REQUIRE(j->truncate_before("order-1", 3) == uint64_t{3});
  }
  auto res = cli({"ls", sample.dir});
  INFO(res.output);
  REQUIRE(res.exit_code == 0);
  CHECK(line_fields(res.output, "order-1")
        == std::vector<std::string>{"order-1", "3", "3", "1"});
  auto json = cli({"ls", "--json", sample.dir});
  CHECK(json.output.find(R"({"name":"order-1","category":"order",)"
                         R"("version":3,"first_version":3,"events":1})")
        != std::string::npos);
}

TEST_CASE("ls --json prints one JSON document naming each stream") {
  sample_journal sample;
  auto res = cli({"ls", "--json", sample.dir});
  INFO(res.output);
  REQUIRE(res.exit_code == 0);
  CHECK(is_json(res.output));
  CHECK(res.output.find(R"("count":3)") != std::string::npos);
  CHECK(res.output.find(R"({"name":"order-1","category":"order",)"
                        R"("version":3,"first_version":1,"events":3})")
        != std::string::npos);
  CHECK(res.output.find(R"({"name":"invoice-1","category":"invoice",)"
                        R"("version":2,"first_version":1,"events":2})")
        != std::string::npos);
}

TEST_CASE("ls of an empty journal prints no streams") {
  temp_dir tmp;
  open_journal(tmp.sub("j"));
  auto res = cli({"ls", tmp.sub("j")});
  INFO(res.output);
  REQUIRE(res.exit_code == 0);
  CHECK(res.output.find("0 streams, 0 events") != std::string::npos);
  auto json = cli({"--json", "ls", tmp.sub("j")});
  CHECK(is_json(json.output));
  CHECK(json.output.find(R"("streams":[])") != std::string::npos);
}

TEST_CASE("JSON output escapes quotes, backslashes, control bytes and "
          "invalid UTF-8") {
  temp_dir tmp;
  auto dir = tmp.sub("j");
  std::string odd = "odd-\"q\"\\x\n\x01\xc3\xa9\xff";
  {
    auto j = open_journal(dir);
    append(*j, odd, {make_event("t\"ype", "p")});
  }
  auto res = cli({"ls", "--json", dir});
  INFO(res.output);
  REQUIRE(res.exit_code == 0);
  CHECK(is_json(res.output));
  CHECK(res.output.find(std::string{R"("odd-\"q\"\\x\n\u0001)"} + "\xc3\xa9"
                        + R"(\ufffd")")
        != std::string::npos);
  auto cat = cli({"cat", "--json", dir, odd});
  CHECK(cat.exit_code == 0);
  CHECK(is_json(cat.output));
  CHECK(cat.output.find(R"("type":"t\"ype")") != std::string::npos);
}

// -- cat ----------------------------------------------------------------------

TEST_CASE("cat prints a stream's events in order with their metadata") {
  sample_journal sample;
  auto res = cli({"cat", sample.dir, "order-1"});
  INFO(res.output);
  REQUIRE(res.exit_code == 0);
  auto first = line_fields(res.output, "1");
  REQUIRE(first.size() >= 9);
  CHECK(first[1] == "1"); // position
  CHECK(first[2] == fixed_ts_text);
  CHECK(first[3] == "order_placed");
  CHECK(first[4] == "1"); // schema version
  CHECK(first[5] == "corr-1");
  CHECK(first[6] == "cmd-1");
  CHECK(first[7] == "18"); // payload size
  CHECK(res.output.find("\"payload order-1 v1\"") != std::string::npos);
  auto third = line_fields(res.output, "3");
  REQUIRE(third.size() >= 4);
  CHECK(third[1] == "6");
  CHECK(third[3] == "order_shipped");
  auto placed = res.output.find("order_placed");
  auto paid = res.output.find("order_paid");
  auto shipped = res.output.find("order_shipped");
  CHECK(placed < paid);
  CHECK(paid < shipped);
  CHECK(res.output.find("invoice") == std::string::npos);
}

TEST_CASE("cat --json prints an array of event objects") {
  sample_journal sample;
  auto res = cli({"cat", "--json", sample.dir, "order-1"});
  INFO(res.output);
  REQUIRE(res.exit_code == 0);
  CHECK(is_json(res.output));
  CHECK(res.output.front() == '[');
  CHECK(count_of(res.output, R"("stream":"order-1")") == 3);
  CHECK(res.output.find(R"({"stream":"order-1","version":1,"position":1,)"
                        R"("type":"order_placed","schema_version":1,)"
                        R"("timestamp":"2023-11-14T22:13:20.123456789Z",)"
                        R"("timestamp_ns":1700000000123456789,)"
                        R"("correlation_id":"corr-1","causation_id":"cmd-1",)")
        != std::string::npos);
  CHECK(res.output.find(R"("payload_size":18,)"
                        R"("payload_preview":"payload order-1 v1")")
        != std::string::npos);
  CHECK(res.output.find(R"("version":3,"position":6,)") != std::string::npos);
}

TEST_CASE("cat --from and --limit select a slice of the stream") {
  sample_journal sample;
  auto res = cli({"cat", sample.dir, "order-1", "--from", "2", "--limit=1"});
  INFO(res.output);
  REQUIRE(res.exit_code == 0);
  CHECK(res.output.find("order_paid") != std::string::npos);
  CHECK(res.output.find("order_placed") == std::string::npos);
  CHECK(res.output.find("order_shipped") == std::string::npos);
}

TEST_CASE("cat --payload prints whole payloads in hex") {
  sample_journal sample;
  auto res = cli({"cat", "--payload", "--json", sample.dir, "order-2"});
  INFO(res.output);
  REQUIRE(res.exit_code == 0);
  CHECK(is_json(res.output));
  // "payload order-2 v1" in hex.
  CHECK(res.output.find(R"("payload_hex":"7061796c6f6164206f726465722d32)"
                        R"(207631")")
        != std::string::npos);
}

TEST_CASE("cat reads a stream longer than one chunk completely") {
  temp_dir tmp;
  auto dir = tmp.sub("j");
  {
    auto j = open_journal(dir);
    std::vector<cj::event_record> events;
    for (int i = 1; i <= 700; ++i)
      events.push_back(make_event("tick", "tick " + std::to_string(i)));
    append(*j, "clock-1", std::move(events));
  }
  auto res = cli({"cat", "--json", dir, "clock-1"});
  REQUIRE(res.exit_code == 0);
  CHECK(is_json(res.output));
  CHECK(count_of(res.output, R"("type":"tick")") == 700);
  CHECK(res.output.find(R"("version":700,"position":700,)")
        != std::string::npos);
  auto tail = cli({"tail", "--json", "--from", "650", dir});
  CHECK(tail.exit_code == 0);
  CHECK(count_of(tail.output, R"("type":"tick")") == 51);
}

TEST_CASE("cat of an unknown stream exits 1 naming the stream") {
  sample_journal sample;
  auto res = cli({"cat", sample.dir, "order-99"});
  INFO(res.output);
  CHECK(res.exit_code == 1);
  CHECK(res.output.find("cairn-journal: not_found: no stream order-99")
        != std::string::npos);
}

// -- tail ---------------------------------------------------------------------

TEST_CASE("tail prints the global log in position order") {
  sample_journal sample;
  auto res = cli({"tail", sample.dir});
  INFO(res.output);
  REQUIRE(res.exit_code == 0);
  CHECK(line_fields(res.output, "1").at(1) == "order-1");
  CHECK(line_fields(res.output, "3").at(1) == "invoice-1");
  CHECK(line_fields(res.output, "4").at(1) == "order-2");
  CHECK(line_fields(res.output, "6").at(1) == "order-1");
  CHECK(line_fields(res.output, "6").at(2) == "3");
  auto json = cli({"tail", "--json", sample.dir});
  CHECK(is_json(json.output));
  CHECK(count_of(json.output, R"("stream":)") == 6);
  CHECK(json.output.find(R"({"stream":"invoice-1","version":2,"position":5,)")
        != std::string::npos);
}

TEST_CASE("tail --from starts at that position") {
  sample_journal sample;
  auto res = cli({"tail", "--json", "--from", "4", sample.dir});
  INFO(res.output);
  REQUIRE(res.exit_code == 0);
  CHECK(is_json(res.output));
  CHECK(count_of(res.output, R"("stream":)") == 3);
  CHECK(res.output.find(R"("position":3,)") == std::string::npos);
  CHECK(res.output.find(R"("position":4,)") != std::string::npos);
  CHECK(res.output.find(R"("position":6,)") != std::string::npos);
  auto past = cli({"tail", "--json", "--from=100", sample.dir});
  CHECK(past.exit_code == 0);
  CHECK(is_json(past.output));
  CHECK(past.output.find(R"("stream":)") == std::string::npos);
}

TEST_CASE("tail --category prints only the streams of that category") {
  sample_journal sample;
  auto res = cli({"tail", "--category", "invoice", "--json", sample.dir});
  INFO(res.output);
  REQUIRE(res.exit_code == 0);
  CHECK(is_json(res.output));
  CHECK(count_of(res.output, R"("stream":"invoice-1")") == 2);
  CHECK(res.output.find(R"("stream":"order)") == std::string::npos);
  auto text = cli({"tail", sample.dir, "--category=order", "--from", "2"});
  CHECK(text.exit_code == 0);
  CHECK(text.output.find("invoice-1") == std::string::npos);
  CHECK(line_fields(text.output, "2").at(1) == "order-1");
  CHECK(line_fields(text.output, "4").at(1) == "order-2");
  CHECK(line_fields(text.output, "6").at(1) == "order-1");
  CHECK(line_fields(text.output, "1").empty());
}

TEST_CASE("tail --follow prints events committed later until SIGINT") {
  sample_journal sample;
  auto j = open_journal(sample.dir);
  cairn::test::child_process proc{{cairn::test::bin_path("cairn-journal"),
                                   "tail", "--follow", "--json", "--from", "5",
                                   sample.dir}};
  std::string line;
  REQUIRE(proc.read_line(line, 10000));
  CHECK(is_json(line));
  CHECK(line.find(R"("position":5,)") != std::string::npos);
  REQUIRE(proc.read_line(line, 10000));
  CHECK(line.find(R"("position":6,)") != std::string::npos);
  append(*j, "order-2", {make_event("order_paid", "late")});
  REQUIRE(proc.read_line(line, 10000));
  CHECK(is_json(line));
  CHECK(line.find(R"({"stream":"order-2","version":2,"position":7,)")
        != std::string::npos);
  REQUIRE(::kill(proc.pid(), SIGINT) == 0);
  auto status = proc.wait();
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

// -- stats --------------------------------------------------------------------

TEST_CASE("stats prints counts, sizes and the use of the map") {
  sample_journal sample;
  auto res = cli({"stats", sample.dir});
  INFO(res.output);
  REQUIRE(res.exit_code == 0);
  CHECK(line_fields(res.output, "streams").at(1) == "3");
  CHECK(line_fields(res.output, "events").at(1) == "6");
  CHECK(res.output.find("last position  6") != std::string::npos);
  CHECK(res.output.find("map size") != std::string::npos);
  CHECK(res.output.find("of the map") != std::string::npos);
  auto json = cli({"stats", "--json", sample.dir});
  INFO(json.output);
  REQUIRE(json.exit_code == 0);
  CHECK(is_json(json.output));
  CHECK(json.output.find(R"("streams":3,"events":6,"last_position":6,)")
        != std::string::npos);
  CHECK(json.output.find(R"("map_size":)") != std::string::npos);
  CHECK(json.output.find(R"("map_used":)") != std::string::npos);
  CHECK(json.output.find(R"("map_use_percent":)") != std::string::npos);
  CHECK(json.output.find(R"("file_size":)") != std::string::npos);
}

TEST_CASE("stats shows the journal's id") {
  sample_journal sample;
  std::string id;
  {
    auto j = open_journal(sample.dir);
    id = j->id();
  }
  REQUIRE(id.size() == 32);
  auto res = cli({"stats", sample.dir});
  INFO(res.output);
  CHECK(line_fields(res.output, "id") == std::vector<std::string>{"id", id});
  auto json = cli({"stats", "--json", sample.dir});
  CHECK(json.output.find(R"("id":")" + id + '"') != std::string::npos);
}

// -- verify -------------------------------------------------------------------

TEST_CASE("verify exits 0 on a sound journal") {
  sample_journal sample;
  auto res = cli({"verify", sample.dir});
  INFO(res.output);
  CHECK(res.exit_code == 0);
  CHECK(res.output.find("checked 3 streams, 6 events, 6 log entries: OK")
        != std::string::npos);
  auto json = cli({"verify", "--json", sample.dir});
  INFO(json.output);
  CHECK(json.exit_code == 0);
  CHECK(is_json(json.output));
  CHECK(json.output.find(R"("ok":true,"streams":3,"events":6,)")
        != std::string::npos);
  CHECK(json.output.find(R"("problems":[])") != std::string::npos);
}

// -- usage and errors ---------------------------------------------------------

TEST_CASE("--help prints the usage and exits 0") {
  auto res = cli({"--help"});
  CHECK(res.exit_code == 0);
  CHECK(res.output.find("usage: cairn-journal <command>") != std::string::npos);
  for (auto cmd : {"ls", "cat", "tail", "stats", "verify", "--follow"})
    CHECK(res.output.find(cmd) != std::string::npos);
}

TEST_CASE("an unknown command exits 2 naming it") {
  sample_journal sample;
  auto res = cli({"frobnicate", sample.dir});
  INFO(res.output);
  CHECK(res.exit_code == 2);
  CHECK(res.output.find("unknown command 'frobnicate'") != std::string::npos);
}

TEST_CASE("an unknown or misplaced option exits 2 naming it") {
  sample_journal sample;
  auto res = cli({"ls", "--frobnicate", sample.dir});
  CHECK(res.exit_code == 2);
  CHECK(res.output.find("unknown option --frobnicate") != std::string::npos);
  auto misplaced = cli({"ls", "--follow", sample.dir});
  CHECK(misplaced.exit_code == 2);
  CHECK(misplaced.output.find("--follow does not apply to ls")
        != std::string::npos);
  auto bad_number = cli({"tail", "--from", "soon", sample.dir});
  CHECK(bad_number.exit_code == 2);
  CHECK(bad_number.output.find("--from needs a number") != std::string::npos);
  auto missing = cli({"cat", sample.dir});
  CHECK(missing.exit_code == 2);
  CHECK(missing.output.find("cat needs STREAM") != std::string::npos);
  auto none = cli({});
  CHECK(none.exit_code == 2);
}

TEST_CASE("a missing journal exits 1 with a clear message") {
  temp_dir tmp;
  auto res = cli({"ls", tmp.sub("nowhere")});
  INFO(res.output);
  CHECK(res.exit_code == 1);
  CHECK(res.output.find("cairn-journal: not_found: no journal at "
                        + tmp.sub("nowhere"))
        != std::string::npos);
  auto empty_dir = cli({"verify", tmp.path()});
  INFO(empty_dir.output);
  CHECK(empty_dir.exit_code == 1);
  CHECK(empty_dir.output.find("cairn-journal: not_found: no journal at "
                              + tmp.path())
        != std::string::npos);
}

TEST_CASE("a journal of another format version exits 1 naming the versions") {
  temp_dir tmp;
  auto dir = tmp.path();
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == 0);
  mdb_env_set_maxdbs(env, 16);
  REQUIRE(mdb_env_open(env, dir.c_str(), 0, 0644) == 0);
  MDB_txn* txn = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
  MDB_dbi dbi = 0;
  REQUIRE(mdb_dbi_open(txn, "meta", MDB_CREATE, &dbi) == 0);
  uint32_t version = 99;
  MDB_val key{6, const_cast<char*>("format")};
  MDB_val val{4, &version};
  REQUIRE(mdb_put(txn, dbi, &key, &val, 0) == 0);
  REQUIRE(mdb_txn_commit(txn) == 0);
  mdb_env_close(env);
  auto res = cli({"ls", dir});
  INFO(res.output);
  CHECK(res.exit_code == 1);
  CHECK(res.output.find("cairn-journal: format_mismatch:")
        != std::string::npos);
  CHECK(res.output.find("format version 99") != std::string::npos);
}

// -- corruption ---------------------------------------------------------------

TEST_CASE("verify names the stream and version of a corrupted record") {
  corrupted_journal bad;
  auto res = cli({"verify", bad.dir});
  INFO(res.output);
  CHECK(res.exit_code == 1);
  CHECK(res.output.find("stream order-3 version 2 position "
                        + std::to_string(corrupted_journal::bad_position)
                        + ": checksum mismatch")
        != std::string::npos);
  CHECK(res.output.find("1 problem") != std::string::npos);
  for (auto name : {"order-1", "order-2", "invoice-1"})
    CHECK(res.output.find(name) == std::string::npos);
  auto json = cli({"verify", "--json", bad.dir});
  INFO(json.output);
  CHECK(json.exit_code == 1);
  CHECK(is_json(json.output));
  CHECK(json.output.find(R"("ok":false)") != std::string::npos);
  CHECK(json.output.find(R"({"stream":"order-3","version":2,)")
        != std::string::npos);
}

TEST_CASE("reading a corrupted record gives corrupt_record naming the stream "
          "and version") {
  corrupted_journal bad;
  auto j = open_journal(bad.dir);
  auto all = j->read_stream(corrupt_stream);
  REQUIRE(!all);
  CHECK(cairn::code_of(all.error()) == cairn::errc::corrupt_record);
  CHECK(cairn::context_of(all.error()).find("stream order-3 version 2")
        != std::string::npos);
  CHECK(cairn::describe(all.error()).find("corrupt_record")
        != std::string::npos);
  // The events before and after the bad one still read.
  auto before = j->read_stream(corrupt_stream, 1, 1);
  REQUIRE(before);
  REQUIRE(before->size() == 1);
  CHECK(before->front().record.payload == payload_of(corrupt_stream, 1));
  auto after = j->read_stream(corrupt_stream, 3);
  REQUIRE(after);
  REQUIRE(after->size() == 2);
  CHECK(after->at(0).version == 3);
  CHECK(after->at(0).record.payload == payload_of(corrupt_stream, 3));
  CHECK(after->at(1).version == 4);
  // The raw bytes are there for tools, unchecked.
  auto raw = j->raw_event(corrupt_stream, 2);
  REQUIRE(raw);
  CHECK(raw->has_value());
}

TEST_CASE("a corrupted record leaves every other stream readable") {
  corrupted_journal bad;
  auto j = open_journal(bad.dir);
  for (auto& s : corrupt_fixture_streams())
    if (s != corrupt_stream)
      check_stream_intact(*j, s);
  auto res = cli({"cat", bad.dir, "order-2"});
  CHECK(res.exit_code == 0);
}

TEST_CASE("reading the global log over a corrupted record gives "
          "corrupt_record naming the stream and version") {
  corrupted_journal bad;
  auto j = open_journal(bad.dir);
  auto slice = j->read_all(1, 100);
  REQUIRE(!slice);
  CHECK(cairn::code_of(slice.error()) == cairn::errc::corrupt_record);
  CHECK(cairn::context_of(slice.error()).find("stream order-3 version 2")
        != std::string::npos);
  // Past the bad position, and in other categories, the log reads.
  auto rest = j->read_all(corrupted_journal::bad_position + 1, 100);
  REQUIRE(rest);
  CHECK(rest->events.size() == 16 - corrupted_journal::bad_position);
  auto invoices = j->read_all(1, 100, "invoice");
  REQUIRE(invoices);
  CHECK(invoices->events.size() == 4);
}

TEST_CASE("cat prints the events before a corrupted record, then names it "
          "and exits 1") {
  corrupted_journal bad;
  auto res = cli({"cat", bad.dir, corrupt_stream});
  INFO(res.output);
  CHECK(res.exit_code == 1);
  auto first = line_fields(res.output, "1");
  REQUIRE(first.size() >= 4);
  CHECK(first[3] == "ev_1");
  CHECK(res.output.find("cairn-journal: corrupt_record: stream order-3 "
                        "version 2: checksum mismatch")
        != std::string::npos);
  CHECK(res.output.find("ev_3") == std::string::npos);
  auto json = cli({"cat", "--json", bad.dir, corrupt_stream});
  CHECK(json.exit_code == 1);
  CHECK(json.output.find(R"({"stream":"order-3","version":1,)")
        != std::string::npos);
  CHECK(json.output.find("stream order-3 version 2") != std::string::npos);
}

TEST_CASE("tail stops at a corrupted record, naming it, and exits 1") {
  corrupted_journal bad;
  auto res = cli({"tail", bad.dir});
  INFO(res.output);
  CHECK(res.exit_code == 1);
  CHECK(line_fields(res.output, "6").at(1) == "order-2");
  CHECK(line_fields(res.output, "7").empty());
  CHECK(res.output.find("cairn-journal: corrupt_record: stream order-3 "
                        "version 2")
        != std::string::npos);
  auto other = cli({"tail", "--category", "invoice", bad.dir});
  CHECK(other.exit_code == 0);
}

// -- dead letters -------------------------------------------------------------

TEST_CASE("dead-letters lists the parked inputs and --replay marks them, "
          "only while no other process holds the journal") {
  temp_dir tmp;
  auto dir = tmp.sub("journal");
  cairn::dead_letter row{"bumps",
                         "desk-1",
                         1,
                         2,
                         "bump_requested",
                         "unknown_event_type: stream bumps-x version 1",
                         fixed_ts,
                         1,
                         false};
  auto key = cairn::dead_letter_key("bumps", 2);
  {
    auto j = open_journal(dir);
    cj::write_group g;
    g.tables.push_back(
      {cairn::dead_letter_table, key, cj::to_bytes(row), false});
    REQUIRE(j->commit(g));
    auto listed = cli({"dead-letters", dir});
    INFO(listed.output);
    CHECK(listed.exit_code == 0);
    CHECK(line_fields(listed.output, key).at(1) == "desk-1");
    CHECK(listed.output.find("unknown_event_type: stream bumps-x")
          != std::string::npos);
    CHECK(listed.output.find("1 dead letter") != std::string::npos);
    auto json = cli({"dead-letters", "--json", dir});
    CHECK(is_json(json.output));
    CHECK(json.output.find(R"("stream":"desk-1","version":1,"position":2,)"
                           R"("type":"bump_requested")")
          != std::string::npos);
    // This process holds the journal: marking is refused.
    auto refused = cli({"dead-letters", "--replay", "--all", dir});
    INFO(refused.output);
    CHECK(refused.exit_code == 1);
    CHECK(refused.output.find("in use by process") != std::string::npos);
  }
  auto unknown = cli({"dead-letters", "--replay", dir, "bumps#1"});
  CHECK(unknown.exit_code == 1);
  CHECK(unknown.output.find("no dead letter bumps#1") != std::string::npos);
  auto marked = cli({"dead-letters", "--replay", dir, key});
  INFO(marked.output);
  CHECK(marked.exit_code == 0);
  CHECK(marked.output.find("marked 1 dead letter") != std::string::npos);
  auto j = open_journal(dir);
  auto bytes = j->table_get(cairn::dead_letter_table, key);
  REQUIRE(bytes);
  REQUIRE(*bytes);
  auto back = cj::from_bytes<cairn::dead_letter>(**bytes, "row");
  REQUIRE(back);
  CHECK(back->replay);
  CHECK(back->error == row.error);
  CHECK(cli({"dead-letters", "--replay", dir}).exit_code == 2);
  CHECK(cli({"dead-letters", "--all", dir}).exit_code == 2);
}

TEST_CASE("arguments over the maximum lengths are usage errors naming the "
          "limit") {
  sample_journal sample;
  auto stream = cli({"cat", sample.dir, std::string(256, 's')});
  CHECK(stream.exit_code == 2);
  CHECK(stream.output.find("over the maximum of 255") != std::string::npos);
  auto category
    = cli({"tail", "--category", std::string(256, 'c'), sample.dir});
  CHECK(category.exit_code == 2);
  CHECK(category.output.find("--category is 256 bytes long")
        != std::string::npos);
  auto key
    = cli({"dead-letters", "--replay", sample.dir, std::string(441, 'k')});
  CHECK(key.exit_code == 2);
  CHECK(key.output.find("over the maximum of 440") != std::string::npos);
}
