// Tests of the cairn-journal inspection CLI
// (cairn/journal/tools/cairn_journal.cpp): journals are written through the
// journal API, then the program runs on them as a child process. Also the
// corruption test: bytes of one record flipped in data.mdb must be named by
// verify, by reads and by cat.

#include <catch2/catch.hpp>

#include <lmdb.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/actors/dead_letter.hpp"
#include "cairn/journal/codec.hpp"
#include "cairn/journal/errc.hpp"
#include "cairn/journal/event_record.hpp"
#include "cairn/journal/export.hpp"
#include "cairn/journal/import.hpp"
#include "cairn/journal/journal.hpp"
#include "cairn/journal/write_group.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/raw_lmdb.hpp"
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
  cairn::test::edit_raw(
    dir, "meta",
    [](MDB_txn* txn, MDB_dbi dbi) {
      uint32_t version = 99;
      MDB_val key{6, const_cast<char*>("format")};
      MDB_val val{4, &version};
      REQUIRE(mdb_put(txn, dbi, &key, &val, 0) == 0);
    },
    MDB_CREATE);
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

// -- export and import --------------------------------------------------------

namespace {

/// `str` in single quotes for /bin/sh (the paths of tests hold none).
std::string sh_quoted(const std::string& str) {
  return "'" + str + "'";
}

/// Runs `command` with /bin/sh, capturing stdout and stderr together.
run_result sh(const std::string& command) {
  return cairn::test::run({"/bin/sh", "-c", command});
}

std::string cli_path() {
  return sh_quoted(cairn::test::bin_path("cairn-journal"));
}

/// Runs `cairn-journal export ARGS DIR > FILE`; the output is stderr.
run_result export_to(const std::string& dir, const std::string& file,
                     const std::string& args = {}) {
  return sh(cli_path() + " export " + args + " " + sh_quoted(dir) + " > "
            + sh_quoted(file));
}

/// Runs `cairn-journal import ARGS DIR < FILE`.
run_result import_from(const std::string& dir, const std::string& file,
                       const std::string& args = {}) {
  return sh(cli_path() + " import " + args + " " + sh_quoted(dir) + " < "
            + sh_quoted(file));
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> result;
  for (size_t at = 0, nl; (nl = text.find('\n', at)) != std::string::npos;
       at = nl + 1)
    result.push_back(text.substr(at, nl - at));
  return result;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string result;
  for (auto& l : lines)
    result += l + '\n';
  return result;
}

std::string all_byte_values() {
  std::string result;
  for (int i = 0; i < 256; ++i)
    result += static_cast<char>(i);
  return result;
}

/// A journal of five streams (one with a name that is not UTF-8), four
/// event types and schema versions, binary metadata and payloads, ids with
/// quotes and control characters, written in interleaved commits.
struct rich_journal {
  temp_dir tmp;
  std::string dir = tmp.sub("source");

  static const std::vector<std::string>& streams() {
    static const std::vector<std::string> result{
      "order-1", "order-2", "invoice-ü", std::string("raw-\xff\x01", 6),
      "customer-7"};
    return result;
  }

  rich_journal() {
    auto j = open_journal(dir);
    for (int round = 1; round <= 6; ++round) {
      std::vector<cj::write_group> groups;
      for (size_t s = 0; s < streams().size(); ++s) {
        if ((round + static_cast<int>(s)) % 3 == 0)
          continue; // not every stream in every commit
        auto rec
          = make_event("type_" + std::to_string(round % 4),
                       all_byte_values() + streams()[s] + std::to_string(round),
                       fixed_ts + round * 1000 + static_cast<int64_t>(s),
                       "corr \"" + std::to_string(round) + "\"\n",
                       s % 2 == 0 ? "" : "cause\t" + streams()[s]);
        rec.schema_version = static_cast<uint32_t>(round % 3 + 1);
        rec.metadata = s == 2 ? "" : std::string("\0trace=", 7) + streams()[s];
        groups.push_back(group_of(streams()[s], {rec}));
      }
      auto res = j->commit(groups);
      REQUIRE(res);
    }
    // One large payload.
    append(*j, "order-1",
           {make_event("big", std::string(200'000, 'x') + all_byte_values(),
                       fixed_ts)});
  }
};

/// Checks that `a` and `b` hold the same streams with the same events.
void check_same_events(const std::string& a_dir, const std::string& b_dir) {
  auto a = open_journal(a_dir);
  auto b = open_journal(b_dir);
  auto a_streams = a->streams();
  auto b_streams = b->streams();
  REQUIRE(a_streams);
  REQUIRE(b_streams);
  REQUIRE(a_streams->size() == b_streams->size());
  for (size_t i = 0; i < a_streams->size(); ++i) {
    auto& name = (*a_streams)[i].name;
    CHECK((*b_streams)[i].name == name);
    CHECK((*b_streams)[i].version == (*a_streams)[i].version);
    auto x = a->read_stream(name);
    auto y = b->read_stream(name);
    REQUIRE(x);
    REQUIRE(y);
    REQUIRE(x->size() == y->size());
    for (size_t k = 0; k < x->size(); ++k) {
      CHECK((*y)[k].version == (*x)[k].version);
      CHECK((*y)[k].record == (*x)[k].record);
    }
  }
  auto x = a->read_all(1, 10000);
  auto y = b->read_all(1, 10000);
  REQUIRE(x);
  REQUIRE(y);
  REQUIRE(x->events.size() == y->events.size());
  for (size_t k = 0; k < x->events.size(); ++k) {
    CHECK(y->events[k].stream == x->events[k].stream);
    CHECK(y->events[k].version == x->events[k].version);
  }
}

} // namespace

TEST_CASE("export then import into a new directory round-trips every "
          "stream, version, type, metadata and payload exactly") {
  rich_journal src;
  auto first = src.tmp.sub("first.jsonl");
  auto second = src.tmp.sub("second.jsonl");
  auto copy = src.tmp.sub("copy");
  auto exported = export_to(src.dir, first);
  INFO(exported.output);
  REQUIRE(exported.exit_code == 0);
  auto imported = import_from(copy, first);
  INFO(imported.output);
  REQUIRE(imported.exit_code == 0);
  CHECK(imported.output.find("imported 21 events into 5 streams")
        != std::string::npos);
  REQUIRE(export_to(copy, second).exit_code == 0);
  auto text = cairn::test::read_file(first);
  CHECK(text.size() > 200'000);
  CHECK(cairn::test::read_file(second) == text);
  check_same_events(src.dir, copy);
  CHECK(cli({"verify", copy}).exit_code == 0);
}

TEST_CASE("export writes a header, one JSON line per event in position "
          "order, and an end line naming the next --from") {
  sample_journal sample;
  auto file = sample.tmp.sub("out.jsonl");
  auto res = export_to(sample.dir, file);
  INFO(res.output);
  REQUIRE(res.exit_code == 0);
  CHECK(res.output.empty()); // no progress when not on a terminal
  auto lines = split_lines(cairn::test::read_file(file));
  REQUIRE(lines.size() == 8);
  CHECK(lines[0] == R"({"cairn_export":1})");
  CHECK(lines[1]
        == R"({"position":1,"stream":"order-1","version":1,)"
           R"("type":"order_placed","schema_version":1,)"
           R"("timestamp_ns":1700000000123456789,"correlation_id":"corr-1",)"
           R"("causation_id":"cmd-1","metadata":"",)"
           R"("payload":"cGF5bG9hZCBvcmRlci0xIHYx"})");
  for (size_t i = 1; i <= 6; ++i) {
    CHECK(is_json(lines[i]));
    CHECK(lines[i].find(R"({"position":)" + std::to_string(i) + ",") == 0);
  }
  CHECK(lines[7] == R"({"cairn_export_end":1,"events":6,"next_from":7})");
  auto json = cli({"export", "--json", sample.dir});
  CHECK(json.exit_code == 2);
  CHECK(json.output.find("--json does not apply to export")
        != std::string::npos);
}

TEST_CASE("export --from and import --append carry what was committed "
          "since an earlier export") {
  sample_journal sample;
  auto full = sample.tmp.sub("full.jsonl");
  auto more = sample.tmp.sub("more.jsonl");
  auto copy = sample.tmp.sub("copy");
  REQUIRE(export_to(sample.dir, full).exit_code == 0);
  REQUIRE(import_from(copy, full).exit_code == 0);
  {
    auto j = open_journal(sample.dir);
    append(*j, "order-2", {make_event("order_paid", "payload order-2 v2")});
    append(*j, "refund-1", {make_event("refund_asked", "payload refund")});
  }
  REQUIRE(export_to(sample.dir, more, "--from 7").exit_code == 0);
  auto lines = split_lines(cairn::test::read_file(more));
  REQUIRE(lines.size() == 4);
  CHECK(lines[1].find(R"("stream":"order-2","version":2,)")
        != std::string::npos);
  auto refused = import_from(copy, more);
  INFO(refused.output);
  CHECK(refused.exit_code == 1);
  CHECK(refused.output.find("is not empty: it holds 3 streams and 6 events; "
                            "importing into it needs --append")
        != std::string::npos);
  auto appended = import_from(copy, more, "--append");
  INFO(appended.output);
  REQUIRE(appended.exit_code == 0);
  check_same_events(sample.dir, copy);
  // The full export again would repeat versions: refused, naming them.
  auto again = import_from(copy, full, "--append");
  CHECK(again.exit_code == 1);
  CHECK(again.output.find(
          "conflict: line 2: stream order-1 version 1 does not continue its "
          "stream: the journal's stream is at version 3, so the next is 4")
        != std::string::npos);
  check_same_events(sample.dir, copy);
}

TEST_CASE("a bad line is refused with its number and what was wrong, and "
          "nothing is imported") {
  sample_journal sample;
  auto file = sample.tmp.sub("good.jsonl");
  REQUIRE(export_to(sample.dir, file).exit_code == 0);
  auto good = split_lines(cairn::test::read_file(file));
  REQUIRE(good.size() == 8);
  struct bad_case {
    const char* name;
    std::string from; // replaced in line 5 (the fourth event)
    std::string to;
    std::string expected;
  };
  std::vector<bad_case> cases{
    {"malformed JSON", R"(,"version":1,)", R"(,"version":1 )",
     "line 5: column 46: expected ',' or '}'"},
    {"missing field", R"("type":"order_placed",)", "",
     R"(line 5: missing field "type")"},
    {"bad base64", R"("payload":"cGF5)", R"("payload":"c$F5)",
     R"(line 5: field "payload": invalid base64 at offset 1: '$')"},
    {"stream name over the limit", R"("stream":"order-2")",
     R"("stream":")" + std::string(256, 'o') + "\"",
     "line 5: stream name of 256 bytes is over the maximum of 255"},
    {"type name over the limit", R"("type":"order_placed")",
     R"("type":")" + std::string(256, 't') + "\"",
     "line 5: type name of 256 bytes is over the maximum of 255"},
    {"unknown field", R"("metadata":"",)", R"("metadata":"","extra":1,)",
     R"(line 5: unknown field "extra")"},
    {"a version that does not follow", R"("version":1,)", R"("version":3,)",
     "line 5: stream order-2 version 3 does not continue its stream: the "
     "journal's stream is at version 0, so the next is 1"},
  };
  for (auto& c : cases) {
    DYNAMIC_SECTION(c.name) {
      auto lines = good;
      auto at = lines[4].find(c.from);
      REQUIRE(at != std::string::npos);
      lines[4].replace(at, c.from.size(), c.to);
      auto bad = sample.tmp.sub("bad.jsonl");
      cairn::test::write_file(bad, join_lines(lines));
      auto target = sample.tmp.sub("target");
      auto res = import_from(target, bad, "--batch-events 1");
      INFO(res.output);
      CHECK(res.exit_code == 1);
      CHECK(res.output.find(c.expected) != std::string::npos);
      auto j = open_journal(target);
      CHECK(j->last_position() == uint64_t{0});
      CHECK(j->streams()->empty());
      CHECK(!*j->table_get(cj::import_table, cj::import_checkpoint_key));
    }
  }
  SECTION("a file cut short") {
    auto cut = sample.tmp.sub("cut.jsonl");
    auto text = join_lines(good);
    cairn::test::write_file(cut, text.substr(0, text.size() - 60));
    auto res = import_from(sample.tmp.sub("target"), cut);
    INFO(res.output);
    CHECK(res.exit_code == 1);
    CHECK(res.output.find("line 7: column 201: unterminated string")
          != std::string::npos);
    auto no_end = sample.tmp.sub("no-end.jsonl");
    good.pop_back();
    cairn::test::write_file(no_end, join_lines(good));
    auto res2 = import_from(sample.tmp.sub("target"), no_end);
    CHECK(res2.exit_code == 1);
    CHECK(res2.output.find("the input ends after line 7 inside the section "
                           "begun at line 1, without its end line")
          != std::string::npos);
  }
  SECTION("the output of another command") {
    auto cat = sample.tmp.sub("cat.json");
    REQUIRE(sh(cli_path() + " tail --json --follow " + sh_quoted(sample.dir)
               + " --limit 2 > " + sh_quoted(cat))
              .exit_code
            == 0);
    auto res = import_from(sample.tmp.sub("target"), cat);
    CHECK(res.exit_code == 1);
    CHECK(res.output.find("line 1: ") != std::string::npos);
  }
}

TEST_CASE("a bad line in an import with --append leaves the journal as it "
          "was") {
  sample_journal sample;
  auto other = sample.tmp.sub("other");
  {
    auto j = open_journal(other);
    for (int i = 0; i < 10; ++i)
      append(*j, "payment-" + std::to_string(i % 3),
             {make_event("paid", "payment " + std::to_string(i), fixed_ts)});
  }
  auto file = sample.tmp.sub("other.jsonl");
  REQUIRE(export_to(other, file).exit_code == 0);
  auto lines = split_lines(cairn::test::read_file(file));
  auto& last_event = lines[lines.size() - 2];
  last_event.replace(last_event.find(R"("payload":")"), 11, R"("payload":"=)");
  cairn::test::write_file(file, join_lines(lines));
  auto before = sample.tmp.sub("before.jsonl");
  auto after = sample.tmp.sub("after.jsonl");
  REQUIRE(export_to(sample.dir, before).exit_code == 0);
  auto res = import_from(sample.dir, file, "--append --batch-events 2");
  INFO(res.output);
  CHECK(res.exit_code == 1);
  CHECK(res.output.find("line " + std::to_string(lines.size() - 1)
                        + R"(: field "payload": invalid base64)")
        != std::string::npos);
  REQUIRE(export_to(sample.dir, after).exit_code == 0);
  CHECK(cairn::test::read_file(after) == cairn::test::read_file(before));
}

TEST_CASE("an import killed between batches goes on where it stopped when "
          "run again") {
  temp_dir tmp;
  auto src = tmp.sub("source");
  {
    auto j = open_journal(src);
    for (int round = 0; round < 100; ++round) {
      std::vector<cj::write_group> groups;
      for (int s = 0; s < 30; ++s)
        groups.push_back(
          group_of("stream-" + std::to_string(s),
                   {make_event("ev", "payload " + std::to_string(round),
                               fixed_ts + round)}));
      REQUIRE(j->commit(groups));
    }
  }
  auto file = tmp.sub("all.jsonl");
  REQUIRE(export_to(src, file).exit_code == 0);
  auto lines = split_lines(cairn::test::read_file(file));
  REQUIRE(lines.size() == 3002);
  auto dst = tmp.sub("copy");
  uint64_t reported = 0;
  {
    cairn::test::child_process child{
      {"/bin/sh", "-c",
       "exec " + cli_path() + " import --progress --batch-events 10 "
         + sh_quoted(dst) + " < " + sh_quoted(file) + " 2>&1"}};
    auto run = cairn::test::kill_at(child, cairn::test::kill_moment{1, -1},
                                    [](const std::string& line) {
                                      return line.rfind("import: line", 0) == 0;
                                    });
    REQUIRE(!run.stalled);
    for (auto& line : run.lines) {
      INFO(line);
      if (line.rfind("import: line ", 0) == 0)
        reported = std::max<uint64_t>(reported, std::stoull(line.substr(13)));
    }
    REQUIRE(reported > 0);
  }
  uint64_t done_lines = 0;
  {
    auto j = open_journal(dst);
    auto row = j->table_get(cj::import_table, cj::import_checkpoint_key);
    REQUIRE(row);
    auto events = j->read_all(1, 10000);
    REQUIRE(events);
    if (*row) {
      auto at = (*row)->find("lines=");
      REQUIRE(at != std::string::npos);
      done_lines = std::stoull((*row)->substr(at + 6));
    } else {
      done_lines = lines.size(); // finished before the kill
    }
    INFO("checkpoint: " << (*row ? **row : "none"));
    // What was reported is committed, and the journal holds exactly the
    // events of the lines the checkpoint covers.
    CHECK(done_lines >= reported);
    auto expected_events = std::min<uint64_t>(done_lines - 1, 3000);
    REQUIRE(events->events.size() == expected_events);
    for (size_t k = 0; k < events->events.size(); ++k)
      REQUIRE(cj::export_event_line(events->events[k]) == lines[k + 1]);
  }
  auto other = tmp.sub("other.jsonl");
  auto changed = lines;
  changed[1].replace(changed[1].find("\"ev\""), 4, "\"ew\"");
  cairn::test::write_file(other, join_lines(changed));
  if (done_lines < lines.size()) {
    auto stats = cli({"stats", dst});
    CHECK(
      stats.output.find("UNFINISHED: " + std::to_string(done_lines) + " lines")
      != std::string::npos);
    auto refused = import_from(dst, other);
    INFO(refused.output);
    CHECK(refused.exit_code == 1);
    CHECK(refused.output.find("holds an unfinished import of another input")
          != std::string::npos);
  }
  auto resumed = import_from(dst, file);
  INFO(resumed.output);
  if (done_lines < lines.size()) {
    REQUIRE(resumed.exit_code == 0);
    CHECK(resumed.output.find("resumed the unfinished import after line "
                              + std::to_string(done_lines))
          != std::string::npos);
  }
  CHECK(cli({"stats", "--json", dst}).output.find(R"("unfinished_import":null)")
        != std::string::npos);
  auto again = tmp.sub("again.jsonl");
  REQUIRE(export_to(dst, again).exit_code == 0);
  CHECK(cairn::test::read_file(again) == cairn::test::read_file(file));
}

TEST_CASE("import reads an export from a pipe as well as from a file") {
  sample_journal sample;
  auto file = sample.tmp.sub("out.jsonl");
  REQUIRE(export_to(sample.dir, file).exit_code == 0);
  auto copy = sample.tmp.sub("copy");
  auto res = sh(cli_path() + " export " + sh_quoted(sample.dir) + " | "
                + cli_path() + " import --json " + sh_quoted(copy));
  INFO(res.output);
  REQUIRE(res.exit_code == 0);
  CHECK(res.output
        == R"({"lines":8,"events":6,"imported":6,"streams":3,"batches":1,)"
           R"("resumed_after_line":0})"
           "\n");
  check_same_events(sample.dir, copy);
}

TEST_CASE("export, import and verify show progress on a terminal and not "
          "when their output is piped") {
  sample_journal sample;
  auto file = sample.tmp.sub("out.jsonl");
  if (sh("script -qec true /dev/null < /dev/null").exit_code != 0) {
    WARN("script(1) cannot run a pseudo-terminal here: the terminal half "
         "is not checked");
  } else {
    // script(1) runs the command on a pseudo-terminal.
    auto on_tty
      = sh("script -qec "
           + sh_quoted(cli_path() + " export " + sample.dir + " > " + file)
           + " /dev/null < /dev/null");
    INFO(on_tty.output);
    CHECK(on_tty.output.find("export: 6 events; next export --from 7")
          != std::string::npos);
    auto imported = sh("script -qec "
                       + sh_quoted(cli_path() + " import "
                                   + sample.tmp.sub("copy") + " < " + file)
                       + " /dev/null < /dev/null");
    INFO(imported.output);
    CHECK(imported.output.find("import: line 8 of 8") != std::string::npos);
    CHECK(imported.output.find("imported 6 events") != std::string::npos);
    auto verified
      = sh("script -qec " + sh_quoted(cli_path() + " verify " + sample.dir)
           + " /dev/null < /dev/null");
    INFO(verified.output);
    CHECK(verified.output.find("verify: log entry 6 of 6 (100%)")
          != std::string::npos);
    CHECK(verified.output.find("OK") != std::string::npos);
  }
  auto verify_piped = cli({"verify", sample.dir});
  CHECK(verify_piped.output.find("verify:") == std::string::npos);
  auto piped = sh(cli_path() + " export " + sh_quoted(sample.dir) + " 2>&1 | "
                  + "grep -c export:");
  CHECK(piped.output == "0\n");
  auto to_file = export_to(sample.dir, file);
  CHECK(to_file.output.empty()); // stderr is a pipe here
  auto forced = export_to(sample.dir, file, "--progress");
  CHECK(forced.output.find("export: 6 events; next export --from 7")
        != std::string::npos);
  auto import_quiet = import_from(sample.tmp.sub("copy2"), file);
  CHECK(import_quiet.output.find("import:") == std::string::npos);
}

TEST_CASE("export warns about streams whose first events retention deleted") {
  sample_journal sample;
  {
    auto j = open_journal(sample.dir);
    REQUIRE(j->truncate_before("order-1", 3) == uint64_t{3});
  }
  auto file = sample.tmp.sub("out.jsonl");
  auto res = export_to(sample.dir, file);
  INFO(res.output);
  CHECK(res.exit_code == 0);
  CHECK(res.output.find("warning: 1 stream starts after version 1, its "
                        "first events deleted by retention: order-1 (from "
                        "version 3)")
        != std::string::npos);
  auto imported = import_from(sample.tmp.sub("copy"), file);
  CHECK(imported.exit_code == 1);
  CHECK(imported.output.find("stream order-1 version 3 does not continue its "
                             "stream: the journal's stream is at version 0")
        != std::string::npos);
}

TEST_CASE("export stops at a corrupted record without its end line, and "
          "import refuses the cut-off file") {
  corrupted_journal bad;
  auto file = bad.tmp.sub("out.jsonl");
  auto res = export_to(bad.dir, file);
  INFO(res.output);
  CHECK(res.exit_code == 1);
  CHECK(res.output.find("order-3") != std::string::npos);
  auto text = cairn::test::read_file(file);
  CHECK(text.find("cairn_export_end") == std::string::npos);
  auto imported = import_from(bad.tmp.sub("copy"), file);
  CHECK(imported.exit_code == 1);
  CHECK(imported.output.find("without its end line: the export is "
                             "incomplete")
        != std::string::npos);
}

TEST_CASE("import refuses a journal that another process holds open") {
  sample_journal sample;
  auto file = sample.tmp.sub("out.jsonl");
  REQUIRE(export_to(sample.dir, file).exit_code == 0);
  auto target = sample.tmp.sub("target");
  auto held = open_journal(target); // this process holds it
  auto res = import_from(target, file);
  INFO(res.output);
  CHECK(res.exit_code == 1);
  CHECK(res.output.find("is in use by process " + std::to_string(::getpid()))
        != std::string::npos);
  CHECK(held->last_position() == uint64_t{0});
  CHECK(cli({"import", "--batch-events", "0", target}).exit_code == 2);
}
