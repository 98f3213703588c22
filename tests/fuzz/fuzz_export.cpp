// Fuzzes the parsing of export lines (cairn/journal/export.hpp): `cairn-journal
// import` reads every line of its input with `parse_export_line` before it
// writes anything, and base64 fields with `from_base64`.
//
// Input: a mode byte (a line, or a base64 text), the rest is the text.
// Invariants: parsing never throws and fails only with `invalid_argument`;
// a line that parses is written back by the exporter to a line that parses
// to the same value; base64 that decodes encodes back to itself.

#include "cairn/journal/export.hpp"

#include "cairn/journal/errc.hpp"
#include "tests/fuzz/fuzz_support.hpp"

using namespace cairn;
using namespace cairn::journal;

namespace {

bool is_invalid_argument(const caf::error& err) {
  return err.category() == cairn_error_category
         && err.code() == static_cast<uint8_t>(errc::invalid_argument);
}

bool same(const stored_event& x, const stored_event& y) {
  return x.stream == y.stream && x.version == y.version
         && x.position == y.position && x.record == y.record;
}

/// Writes `line` as the exporter does.
std::string write_line(const export_line& line) {
  switch (line.what) {
    case export_line::kind::header:
      return export_header_line();
    case export_line::kind::event:
      return export_event_line(line.event);
    case export_line::kind::end:
      return export_end_line(line.events, line.next_from);
  }
  return {};
}

void fuzz_line(std::string_view text) {
  auto line = parse_export_line(text);
  if (!line) {
    CAIRN_FUZZ_CHECK(is_invalid_argument(line.error()));
    return;
  }
  auto again = write_line(*line);
  auto back = parse_export_line(again);
  CAIRN_FUZZ_CHECK(static_cast<bool>(back));
  CAIRN_FUZZ_CHECK(back->what == line->what);
  CAIRN_FUZZ_CHECK(back->events == line->events);
  CAIRN_FUZZ_CHECK(back->next_from == line->next_from);
  CAIRN_FUZZ_CHECK(same(back->event, line->event));
  // The exporter's own spelling is canonical: it writes itself again.
  CAIRN_FUZZ_CHECK(write_line(*back) == again);
}

void fuzz_base64(std::string_view text) {
  auto bytes = from_base64(text);
  if (!bytes) {
    CAIRN_FUZZ_CHECK(is_invalid_argument(bytes.error()));
    return;
  }
  CAIRN_FUZZ_CHECK(to_base64(*bytes) == text);
}

} // namespace

namespace cairn::fuzz {

std::vector<std::string> seeds() {
  stored_event ev;
  ev.stream = "invoice-42";
  ev.version = 3;
  ev.position = 17;
  ev.record.type = "item_added";
  ev.record.schema_version = 2;
  ev.record.timestamp_ns = 1764720000000000000;
  ev.record.correlation_id = "order-7";
  ev.record.causation_id = "cmd-9";
  ev.record.metadata = std::string{"\x00\x01trace", 7};
  ev.record.payload = std::string{"\x0a\x00\xff\x10payload", 11};
  stored_event odd = ev;
  odd.stream = "caf\xc3\xa9-\xff\xfe";
  odd.record.metadata.clear();
  odd.record.payload.clear();
  return {
    std::string{"\0", 1} + export_header_line(),
    std::string{"\0", 1} + export_event_line(ev),
    std::string{"\0", 1} + export_event_line(odd),
    std::string{"\0", 1} + export_end_line(2, 18),
    std::string{"\1", 1} + to_base64(ev.record.payload),
  };
}

void init() {
  // nop
}

} // namespace cairn::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto in = cairn::fuzz::as_view(data, size);
  if (cairn::fuzz::take_byte(in) % 2 == 0)
    fuzz_line(in);
  else
    fuzz_base64(in);
  return 0;
}
