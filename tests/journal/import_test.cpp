// Tests of import_events (cairn/journal/import.hpp): exact versions, checks
// before writing, batches with a resumable checkpoint.

#include "cairn/journal/import.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "cairn/journal/errc.hpp"
#include "cairn/journal/export.hpp"
#include "cairn/journal/journal.hpp"
#include "tests/support/temp_dir.hpp"

namespace cj = cairn::journal;

using cairn::test::temp_dir;

namespace {

std::unique_ptr<cj::journal> open_journal(const std::string& dir) {
  auto j = cj::journal::open(dir);
  REQUIRE(j);
  return std::move(*j);
}

cj::event_record make_event(const std::string& type, std::string payload) {
  cj::event_record rec;
  rec.type = type;
  rec.payload = std::move(payload);
  rec.metadata = "m:" + type;
  rec.correlation_id = "corr";
  return rec;
}

/// Writes `rounds` commits of one event to each of three streams, so that
/// streams interleave in the log.
void fill(cj::journal& j, int rounds, int first_round = 1) {
  for (int r = first_round; r < first_round + rounds; ++r) {
    std::vector<cj::write_group> groups;
    for (auto s : {"order-1", "order-2", "invoice-1"}) {
      cj::write_group g;
      g.appends.push_back(
        {s,
         cj::expected_version::any(),
         {make_event("ev_" + std::to_string(r),
                     std::string(s) + " round " + std::to_string(r))}});
      groups.push_back(std::move(g));
    }
    auto res = j.commit(groups);
    REQUIRE(res);
  }
}

std::string export_text(const cj::journal& j, uint64_t from = 1) {
  std::string out;
  auto res = cj::export_events(j, from, [&](std::string_view text) {
    out += text;
    return caf::error{};
  });
  REQUIRE(res);
  return out;
}

/// A file holding `text`, open for reading.
class input_file {
public:
  input_file(const temp_dir& tmp, const std::string& text)
    : path_(tmp.sub("input-" + std::to_string(++count_) + ".jsonl")) {
    cairn::test::write_file(path_, text);
    fd_ = ::open(path_.c_str(), O_RDONLY);
    REQUIRE(fd_ >= 0);
  }

  ~input_file() {
    ::close(fd_);
  }

  int fd() const {
    return fd_;
  }

private:
  static inline int count_ = 0;
  std::string path_;
  int fd_ = -1;
};

caf::expected<cj::import_report> import_text(cj::journal& j,
                                             const temp_dir& tmp,
                                             const std::string& text,
                                             cj::import_options opts = {}) {
  input_file in{tmp, text};
  return cj::import_events(j, in.fd(), opts);
}

std::optional<std::string> checkpoint_row(const cj::journal& j) {
  auto row = j.table_get(cj::import_table, cj::import_checkpoint_key);
  REQUIRE(row);
  return *row;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> result;
  for (size_t at = 0, nl; (nl = text.find('\n', at)) != std::string::npos;
       at = nl + 1)
    result.push_back(text.substr(at, nl - at));
  return result;
}

std::string join(const std::vector<std::string>& lines) {
  std::string result;
  for (auto& l : lines)
    result += l + '\n';
  return result;
}

} // namespace

TEST_CASE("an import recreates every stream at its versions, in log order") {
  temp_dir tmp;
  auto src = open_journal(tmp.sub("src"));
  fill(*src, 4);
  auto text = export_text(*src);
  auto dst = open_journal(tmp.sub("dst"));
  cj::import_options opts;
  opts.batch_events = 5;
  auto rep = import_text(*dst, tmp, text, opts);
  REQUIRE(rep);
  CHECK(rep->lines == 14);
  CHECK(rep->events == 12);
  CHECK(rep->imported == 12);
  CHECK(rep->streams == 3);
  CHECK(rep->batches == 3);
  CHECK(rep->resumed_after_line == 0);
  CHECK(!checkpoint_row(*dst));
  auto a = src->read_all(1, 100);
  auto b = dst->read_all(1, 100);
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(a->events.size() == b->events.size());
  for (size_t i = 0; i < a->events.size(); ++i) {
    CHECK(b->events[i].stream == a->events[i].stream);
    CHECK(b->events[i].version == a->events[i].version);
    CHECK(b->events[i].position == a->events[i].position);
    CHECK(b->events[i].record == a->events[i].record);
  }
  CHECK(export_text(*dst) == text);
}

TEST_CASE("an import whose batch fails leaves whole batches and a "
          "checkpoint, and the same import run again finishes it") {
  temp_dir tmp;
  auto src = open_journal(tmp.sub("src"));
  fill(*src, 10);
  auto text = export_text(*src);
  auto dir = tmp.sub("dst");
  {
    auto dst = open_journal(dir);
    cj::import_options opts;
    opts.batch_events = 4;
    int committed = 0;
    opts.progress = [&](const cj::import_progress& p) {
      if (p.what == cj::import_progress::phase::importing && ++committed == 2)
        dst->inject_commit_failure(); // the third batch fails
    };
    auto rep = import_text(*dst, tmp, text, opts);
    REQUIRE(!rep);
    auto what = cairn::context_of(rep.error());
    INFO(what);
    CHECK(what.find("lines 10 to 13 were not imported") != std::string::npos);
    CHECK(what.find("run the same import again") != std::string::npos);
  }
  auto dst = open_journal(dir); // reopened after the fail-stop
  // Two batches of four events (lines 2 to 9) and their checkpoint.
  auto part = dst->read_all(1, 100);
  REQUIRE(part);
  REQUIRE(part->events.size() == 8);
  auto row = checkpoint_row(*dst);
  REQUIRE(row);
  CHECK(row->find("lines=9 ") != std::string::npos);
  CHECK(row->find("events=8") != std::string::npos);
  auto pending = cj::find_unfinished_import(*dst);
  REQUIRE(pending);
  REQUIRE(*pending);
  CHECK((*pending)->lines == 9);
  CHECK((*pending)->events == 8);
  SECTION("another input is refused and changes nothing") {
    auto lines = lines_of(text);
    // Another correlation id in line 4, inside the imported part.
    auto at = lines[3].find("\"corr\"");
    REQUIRE(at != std::string::npos);
    lines[3].insert(at + 5, "2");
    auto other = import_text(*dst, tmp, join(lines));
    REQUIRE(!other);
    CHECK(cairn::context_of(other.error())
            .find("unfinished import of another "
                  "input")
          != std::string::npos);
    CHECK(dst->last_position() == uint64_t{8});
    CHECK(checkpoint_row(*dst) == row);
  }
  SECTION("the same input goes on after the checkpoint") {
    auto rep = import_text(*dst, tmp, text);
    REQUIRE(rep);
    CHECK(rep->resumed_after_line == 9);
    CHECK(rep->imported == 22);
    CHECK(rep->events == 30);
    CHECK(!checkpoint_row(*dst));
    CHECK(cj::find_unfinished_import(*dst) == std::nullopt);
    CHECK(export_text(*dst) == text);
  }
}

TEST_CASE("a malformed line late in the input leaves the journal untouched") {
  temp_dir tmp;
  auto src = open_journal(tmp.sub("src"));
  fill(*src, 5);
  auto lines = lines_of(export_text(*src));
  lines[12] = lines[12].substr(0, lines[12].size() - 3); // cut JSON
  auto dst = open_journal(tmp.sub("dst"));
  cj::import_options opts;
  opts.batch_events = 2;
  auto rep = import_text(*dst, tmp, join(lines), opts);
  REQUIRE(!rep);
  CHECK(cairn::code_of(rep.error()) == cairn::errc::invalid_argument);
  CHECK(cairn::context_of(rep.error()).rfind("line 13: column", 0) == 0);
  CHECK(dst->last_position() == uint64_t{0});
  CHECK(dst->streams()->empty());
  CHECK(!checkpoint_row(*dst));
}

TEST_CASE("an import into a journal with streams needs append, and then "
          "each stream must continue exactly") {
  temp_dir tmp;
  auto src = open_journal(tmp.sub("src"));
  fill(*src, 2);
  auto first = export_text(*src);
  fill(*src, 2, 3);
  auto next_from = uint64_t{7};
  auto second = export_text(*src, next_from);
  auto dst = open_journal(tmp.sub("dst"));
  REQUIRE(import_text(*dst, tmp, first));
  auto refused = import_text(*dst, tmp, second);
  REQUIRE(!refused);
  CHECK(cairn::context_of(refused.error()).find("is not empty")
        != std::string::npos);
  cj::import_options append;
  append.append = true;
  // The full export again: order-1 version 1 does not follow version 2.
  auto conflict = import_text(*dst, tmp, export_text(*src), append);
  REQUIRE(!conflict);
  CHECK(cairn::code_of(conflict.error()) == cairn::errc::conflict);
  CHECK(cairn::context_of(conflict.error())
        == "line 2: stream order-1 version 1 does not continue its stream: "
           "the journal's stream is at version 2, so the next is 3");
  CHECK(dst->last_position() == uint64_t{6});
  auto rep = import_text(*dst, tmp, second, append);
  REQUIRE(rep);
  CHECK(rep->imported == 6);
  CHECK(export_text(*dst) == export_text(*src));
}

TEST_CASE("a gap in a stream's versions inside the input is a conflict "
          "naming the line") {
  temp_dir tmp;
  auto src = open_journal(tmp.sub("src"));
  fill(*src, 3);
  auto lines = lines_of(export_text(*src));
  // Drop order-1 version 2 (line 5) and fix the end line's count.
  lines.erase(lines.begin() + 4);
  lines.back() = cj::export_end_line(8, 10);
  auto dst = open_journal(tmp.sub("dst"));
  auto rep = import_text(*dst, tmp, join(lines));
  REQUIRE(!rep);
  CHECK(cairn::context_of(rep.error())
        == "line 7: stream order-1 version 3 does not continue its stream: "
           "the line before of the stream expects version 2");
  CHECK(dst->last_position() == uint64_t{0});
}

TEST_CASE("section rules: a header first, an end line counting the events") {
  temp_dir tmp;
  auto src = open_journal(tmp.sub("src"));
  fill(*src, 2);
  auto lines = lines_of(export_text(*src));
  auto dst = open_journal(tmp.sub("dst"));
  auto error_of = [&](std::vector<std::string> input) {
    auto rep = import_text(*dst, tmp, join(input));
    REQUIRE(!rep);
    CHECK(dst->last_position() == uint64_t{0});
    return cairn::context_of(rep.error());
  };
  auto no_header = lines;
  no_header.erase(no_header.begin());
  CHECK(error_of(no_header).rfind("line 1: expected the header", 0) == 0);
  auto cut = lines;
  cut.pop_back();
  CHECK(error_of(cut)
        == "the input ends after line 7 inside the section begun at line 1, "
           "without its end line: the export is incomplete");
  auto miscount = lines;
  miscount.back() = cj::export_end_line(5, 7);
  CHECK(error_of(miscount)
        == "line 8: the end line counts 5 events, the section begun at line "
           "1 holds 6");
  auto after_end = lines;
  after_end.push_back(lines[1]);
  CHECK(error_of(after_end) == "line 9: an event after the end line of line 8");
  auto swapped = lines;
  std::swap(swapped[1], swapped[2]);
  CHECK(error_of(swapped).rfind("line 3: position 1 does not follow position "
                                "2",
                                0)
        == 0);
  CHECK(error_of({}).rfind("the input is empty", 0) == 0);
  auto blank = lines;
  blank.insert(blank.begin() + 3, "");
  CHECK(error_of(blank).rfind("line 4: column 1: expected '{'", 0) == 0);
}

TEST_CASE("two sections in one input import as one") {
  temp_dir tmp;
  auto src = open_journal(tmp.sub("src"));
  fill(*src, 2);
  auto first = export_text(*src);
  fill(*src, 1, 3);
  auto both = first + export_text(*src, 7);
  auto dst = open_journal(tmp.sub("dst"));
  auto rep = import_text(*dst, tmp, both);
  REQUIRE(rep);
  CHECK(rep->imported == 9);
  CHECK(export_text(*dst) == export_text(*src));
}

TEST_CASE("an input without events writes nothing") {
  temp_dir tmp;
  auto dst = open_journal(tmp.sub("dst"));
  auto rep = import_text(*dst, tmp, export_text(*dst));
  REQUIRE(rep);
  CHECK(rep->imported == 0);
  CHECK(rep->batches == 0);
  CHECK(dst->stats()->commits == 0);
}

TEST_CASE("an input that cannot be sought is refused") {
  temp_dir tmp;
  auto dst = open_journal(tmp.sub("dst"));
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  auto rep = cj::import_events(*dst, fds[0]);
  ::close(fds[0]);
  ::close(fds[1]);
  REQUIRE(!rep);
  CHECK(cairn::code_of(rep.error()) == cairn::errc::storage_error);
}
