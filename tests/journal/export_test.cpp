// Tests of the export line format and of export_events
// (cairn/journal/export.hpp).

#include "cairn/journal/export.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "cairn/journal/errc.hpp"
#include "cairn/journal/journal.hpp"
#include "tests/support/temp_dir.hpp"

namespace cj = cairn::journal;

namespace {

std::string all_bytes() {
  std::string result;
  for (int i = 0; i < 256; ++i)
    result += static_cast<char>(i);
  return result;
}

cj::stored_event sample_event() {
  cj::stored_event ev;
  ev.stream = "order-42";
  ev.version = 7;
  ev.position = 19;
  ev.record.type = "order_placed";
  ev.record.schema_version = 3;
  ev.record.timestamp_ns = -1'234'567;
  ev.record.correlation_id = "corr \"1\"\n\t\\ é ✓ 🙂";
  ev.record.causation_id = "cmd-1";
  ev.record.metadata = std::string("\0meta\xff", 6);
  ev.record.payload = all_bytes();
  return ev;
}

std::string error_text(const caf::expected<cj::export_line>& x) {
  REQUIRE(!x);
  CHECK(cairn::code_of(x.error()) == cairn::errc::invalid_argument);
  return cairn::context_of(x.error());
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

} // namespace

TEST_CASE("base64 encodes the RFC 4648 test vectors") {
  CHECK(cj::to_base64("") == "");
  CHECK(cj::to_base64("f") == "Zg==");
  CHECK(cj::to_base64("fo") == "Zm8=");
  CHECK(cj::to_base64("foo") == "Zm9v");
  CHECK(cj::to_base64("foob") == "Zm9vYg==");
  CHECK(cj::to_base64("fooba") == "Zm9vYmE=");
  CHECK(cj::to_base64("foobar") == "Zm9vYmFy");
  CHECK(cj::from_base64("Zm9vYmE=") == std::string{"fooba"});
}

TEST_CASE("base64 round-trips every byte value at every length") {
  auto bytes = all_bytes();
  for (size_t n = 0; n <= bytes.size(); n += 1) {
    auto part = bytes.substr(bytes.size() - n);
    auto back = cj::from_base64(cj::to_base64(part));
    REQUIRE(back);
    REQUIRE(*back == part);
  }
}

TEST_CASE("bad base64 is refused naming the offset") {
  auto bad_char = cj::from_base64("Zm9v!mFy");
  REQUIRE(!bad_char);
  CHECK(contains(cairn::context_of(bad_char.error()), "offset 4"));
  auto bad_length = cj::from_base64("Zm9vY");
  REQUIRE(!bad_length);
  CHECK(contains(cairn::context_of(bad_length.error()), "multiple of 4"));
  // "Zh==" decodes to 'f' with non-zero bits under the padding: a second
  // spelling of "Zg==", refused so that every value has one encoding.
  CHECK(!cj::from_base64("Zh=="));
  CHECK(!cj::from_base64("Zg=a"));
  CHECK(!cj::from_base64("=Zg="));
}

TEST_CASE("an event line parses back to the same event") {
  auto ev = sample_event();
  auto line = cj::export_event_line(ev);
  CHECK(line.find('\n') == std::string::npos);
  auto back = cj::parse_export_line(line);
  REQUIRE(back);
  REQUIRE(back->what == cj::export_line::kind::event);
  CHECK(back->event.stream == ev.stream);
  CHECK(back->event.version == ev.version);
  CHECK(back->event.position == ev.position);
  CHECK(back->event.record == ev.record);
}

TEST_CASE("names that are not UTF-8 are written in base64 and round-trip") {
  auto ev = sample_event();
  ev.stream = std::string("bin-\xff\xfe", 6);
  ev.record.type = std::string("t\xc3", 2); // a cut UTF-8 sequence
  ev.record.correlation_id = std::string("\xed\xa0\x80", 3); // a surrogate
  auto line = cj::export_event_line(ev);
  CHECK(contains(line, R"("stream_base64":")"));
  CHECK(contains(line, R"("type_base64":")"));
  CHECK(contains(line, R"("correlation_id_base64":")"));
  CHECK(contains(line, R"("causation_id":"cmd-1")"));
  auto back = cj::parse_export_line(line);
  REQUIRE(back);
  CHECK(back->event.stream == ev.stream);
  CHECK(back->event.record == ev.record);
}

TEST_CASE("the parser reads JSON escapes, surrogate pairs and blanks") {
  auto line
    = std::string{R"( { "position" : 1 , "stream":"a\u00e9\ud83d\ude42\/b",)"}
      + R"("version":1,"type":"t","schema_version":0,)"
      + R"("timestamp_ns":5,"correlation_id":"\b\f\n\r\t\"\\",)"
      + R"("causation_id":"","metadata":"","payload":""} )";
  auto x = cj::parse_export_line(line);
  REQUIRE(x);
  CHECK(x->event.stream == "aé🙂/b");
  CHECK(x->event.record.correlation_id == "\b\f\n\r\t\"\\");
}

TEST_CASE("header and end lines parse, and another format version is "
          "refused") {
  auto h = cj::parse_export_line(cj::export_header_line());
  REQUIRE(h);
  CHECK(h->what == cj::export_line::kind::header);
  auto e = cj::parse_export_line(cj::export_end_line(12, 40));
  REQUIRE(e);
  CHECK(e->what == cj::export_line::kind::end);
  CHECK(e->events == 12);
  CHECK(e->next_from == 40);
  auto v2 = cj::parse_export_line(R"({"cairn_export":2})");
  CHECK(contains(error_text(v2), "format version 2 is not supported"));
}

TEST_CASE("a malformed line is refused saying what is wrong") {
  auto line = cj::export_event_line(sample_event());
  auto with = [&](const std::string& from, const std::string& to) {
    auto copy = line;
    auto at = copy.find(from);
    REQUIRE(at != std::string::npos);
    copy.replace(at, from.size(), to);
    return cj::parse_export_line(copy);
  };
  CHECK(contains(error_text(cj::parse_export_line("not json")),
                 "column 1: expected '{'"));
  CHECK(contains(error_text(cj::parse_export_line(line + "x")),
                 "unexpected text after the object"));
  CHECK(
    contains(error_text(cj::parse_export_line(line.substr(0, 30))), "column"));
  CHECK(contains(error_text(with(R"("type":"order_placed",)", "")),
                 "missing field \"type\""));
  CHECK(contains(error_text(with(R"("position":19)", R"("position":"19")")),
                 "field \"position\": expected an integer"));
  CHECK(contains(error_text(with(R"("version":7)", R"("version":0)")),
                 "field \"version\": 0 is out of range"));
  CHECK(contains(error_text(with(R"("version":7)", R"("version":7.5)")),
                 "expected an integer"));
  CHECK(contains(
    error_text(with(R"("position":19)", R"("position":99999999999999999999)")),
    "too large"));
  CHECK(contains(
    error_text(with(R"("schema_version":3)", R"("schema_version":4294967296)")),
    "out of range"));
  CHECK(contains(error_text(with(R"("payload":")", R"("payload":"*)")),
                 "field \"payload\": invalid base64"));
  CHECK(contains(error_text(with(R"("version":7,)", R"("version":7,"x":1,)")),
                 "unknown field \"x\""));
  CHECK(
    contains(error_text(with(R"("version":7,)", R"("version":7,"version":8,)")),
             "appears twice"));
  CHECK(contains(
    error_text(with(R"("timestamp_ns":-1234567)", R"("timestamp_ns":0)")),
    "0 is not a timestamp"));
  CHECK(contains(error_text(with(R"("type":"order_placed")", R"("type":"")")),
                 "the type name is empty"));
  CHECK(
    contains(error_text(with(R"("stream":"order-42")",
                             R"("stream":")" + std::string(256, 's') + "\"")),
             "stream name of 256 bytes is over the maximum of 255"));
  CHECK(contains(error_text(with(R"("type":"order_placed")",
                                 R"("type":")" + std::string(300, 't') + "\"")),
                 "type name of 300 bytes is over the maximum of 255"));
  CHECK(contains(error_text(with(R"("stream":"order-42")",
                                 R"("stream":"a","stream_base64":"YQ==")")),
                 "both given"));
  CHECK(contains(error_text(with("order-42", "order\x01-42")),
                 "control character"));
  CHECK(
    contains(error_text(with("order-42", "order\xff-42")), "invalid UTF-8"));
  CHECK(
    contains(error_text(with("order-42", R"(order\ud800-42)")), "surrogate"));
}

TEST_CASE("export_events writes a section of the log from a position") {
  cairn::test::temp_dir tmp;
  auto j = cj::journal::open(tmp.sub("j"));
  REQUIRE(j);
  for (int i = 1; i <= 5; ++i) {
    cj::write_group g;
    cj::event_record rec;
    rec.type = "ev";
    rec.payload = std::to_string(i);
    g.appends.push_back(
      {"s-" + std::to_string(i % 2), cj::expected_version::any(), {rec}});
    REQUIRE((*j)->commit(g));
  }
  std::string out;
  auto write = [&](std::string_view text) -> caf::error {
    out += text;
    return {};
  };
  uint64_t last_seen = 0;
  auto res = cj::export_events(**j, 3, write,
                               [&](uint64_t pos, uint64_t last, uint64_t) {
                                 CHECK(last == 5);
                                 last_seen = pos;
                               });
  REQUIRE(res);
  CHECK(res->events == 3);
  CHECK(res->next_from == 6);
  CHECK(last_seen == 5);
  std::vector<std::string> lines;
  for (size_t at = 0, nl; (nl = out.find('\n', at)) != std::string::npos;
       at = nl + 1)
    lines.push_back(out.substr(at, nl - at));
  REQUIRE(lines.size() == 5);
  CHECK(lines.front() == cj::export_header_line());
  CHECK(lines.back() == cj::export_end_line(3, 6));
  for (size_t i = 1; i <= 3; ++i) {
    auto x = cj::parse_export_line(lines[i]);
    REQUIRE(x);
    CHECK(x->event.position == i + 2);
    CHECK(x->event.record.payload == std::to_string(i + 2));
  }
}

TEST_CASE("an error of the writer ends the export with that error") {
  cairn::test::temp_dir tmp;
  auto j = cj::journal::open(tmp.sub("j"));
  REQUIRE(j);
  auto res = cj::export_events(**j, 1, [](std::string_view) {
    return cairn::make_error(cairn::errc::storage_error, "disk full");
  });
  REQUIRE(!res);
  CHECK(cairn::context_of(res.error()) == "disk full");
}
