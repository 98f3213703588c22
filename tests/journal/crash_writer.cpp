// cairn-crash-writer: writes random write groups to a journal until killed.
//
// Usage: cairn-crash-writer DIR SEED FIRST-GROUP-ID [MAX-COMMITS]
//
// The crash test (tests/journal/crash_test.cpp) starts this program, kills it
// with SIGKILL at a random moment and checks the journal it leaves. After
// each `journal::commit` returns, the writer prints one line per group of
// that commit, all lines of a commit in one write(2):
//
// ```
// ack <group id> <stream>:<first version>-<last version> ... .
// rej <group id> <errc> .
// ```
//
// The final ` .` marks a complete line. A printed `ack` means the group is
// durable: the test requires it in the journal, whole. Some groups are
// built to fail validation (a wrong expected version or an existing dedup
// key); the writer predicts every outcome and, when the journal disagrees,
// prints `err <what> .` and exits with status 3.
//
// Every event's payload names its group (see `make_payload`), so that the
// test can tell from the journal alone whether a group is whole.

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cairn/journal/errc.hpp"
#include "cairn/journal/journal.hpp"
#include "cairn/journal/options.hpp"
#include "cairn/journal/write_group.hpp"

namespace cairn::journal {
namespace {

/// Number of streams the writer appends to: `acct-0` to `acct-49`.
constexpr size_t stream_count = 50;

/// Name of the checkpoint that groups carry.
constexpr const char* checkpoint_name = "crash-writer";

/// Table that groups with a dedup key write to.
constexpr const char* table_name = "crash";

/// Returns the payload of event `index` of group `gid`, which has `total`
/// events. The crash test builds the same string (keep the two in sync).
std::string make_payload(uint64_t gid, const std::string& stream,
                         uint64_t index, uint64_t total, bool dedup,
                         bool checkpoint) {
  std::string result
    = "g=" + std::to_string(gid) + " s=" + stream
      + " i=" + std::to_string(index) + " n=" + std::to_string(total)
      + " d=" + (dedup ? "1" : "0") + " c=" + (checkpoint ? "1" : "0") + " x=";
  result.append((gid * 7 + index * 13) % 97,
                static_cast<char>('a' + (gid + index) % 26));
  return result;
}

/// Writes all of `str` to stdout in one write(2) when it fits the pipe's
/// atomic size, retrying on partial writes otherwise.
void write_out(const std::string& str) {
  const char* data = str.data();
  size_t left = str.size();
  while (left > 0) {
    auto n = ::write(STDOUT_FILENO, data, left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      std::exit(4); // the reader is gone
    data += n;
    left -= static_cast<size_t>(n);
  }
}

[[noreturn]] void fail(const std::string& what) {
  write_out("err " + what + " .\n");
  std::fprintf(stderr, "cairn-crash-writer: %s\n", what.c_str());
  std::exit(3);
}

/// What the writer predicts for one group of a commit.
struct plan {
  uint64_t gid = 0;
  /// Predicted error, `errc::none` when the group should commit.
  errc expected_error = errc::none;
  /// For each append: stream index and predicted first and last versions.
  struct range {
    size_t stream;
    uint64_t first;
    uint64_t last;
  };
  std::vector<range> ranges;
  /// The group's own dedup key, empty if none.
  std::string own_key;
};

std::string stream_name(size_t k) {
  return "acct-" + std::to_string(k);
}

/// The writer's state: its belief of stream versions and known dedup keys.
class writer {
public:
  writer(std::unique_ptr<journal> j, uint64_t seed, uint64_t next_gid)
    : journal_(std::move(j)), rng_(seed), next_gid_(next_gid) {
    // nop
  }

  /// Recovers the version of every stream from the journal.
  void recover() {
    versions_.resize(stream_count);
    for (size_t k = 0; k < stream_count; ++k) {
      auto v = journal_->stream_version(stream_name(k));
      if (!v)
        fail("stream_version: " + describe(v.error()));
      versions_[k] = *v;
    }
  }

  /// Builds, commits and reports one batch of groups.
  void step() {
    std::vector<write_group> groups;
    std::vector<plan> plans;
    auto planned = versions_;
    auto batch_keys = known_keys_;
    auto n = uniform(1, 8);
    for (uint64_t g = 0; g < n; ++g)
      build_group(planned, batch_keys, groups, plans);
    auto res = journal_->commit(groups);
    if (!res)
      fail("commit: " + describe(res.error()));
    if (res->size() != groups.size())
      fail("commit returned " + std::to_string(res->size()) + " outcomes for "
           + std::to_string(groups.size()) + " groups");
    std::string out;
    for (size_t i = 0; i < plans.size(); ++i)
      report(plans[i], (*res)[i], out);
    write_out(out);
    versions_ = std::move(planned);
  }

private:
  uint64_t uniform(uint64_t lo, uint64_t hi) {
    return std::uniform_int_distribution<uint64_t>{lo, hi}(rng_);
  }

  bool chance(unsigned percent) {
    return uniform(0, 99) < percent;
  }

  void build_group(std::vector<uint64_t>& planned,
                   std::vector<std::string>& batch_keys,
                   std::vector<write_group>& groups, std::vector<plan>& plans) {
    plan p;
    p.gid = next_gid_++;
    auto roll = uniform(0, 99);
    if (roll < 8)
      p.expected_error = errc::conflict;
    else if (roll < 15 && !batch_keys.empty())
      p.expected_error = errc::duplicate;
    bool good = p.expected_error == errc::none;
    bool dedup = chance(good ? 30 : 50);
    bool checkpoint = chance(good ? 20 : 50);
    // Shape: 1..4 appends (streams may repeat: their versions chain), each
    // of 1..5 events.
    auto appends = uniform(1, 4);
    std::vector<std::pair<size_t, uint64_t>> shape;
    uint64_t total = 0;
    for (uint64_t a = 0; a < appends; ++a) {
      auto count = uniform(1, 5);
      shape.emplace_back(static_cast<size_t>(uniform(0, stream_count - 1)),
                         count);
      total += count;
    }
    auto bad_append = uniform(0, appends - 1);
    // Versions as this group sees them: `planned` plus its own appends.
    auto local = planned;
    write_group wg;
    uint64_t index = 0;
    for (size_t a = 0; a < shape.size(); ++a) {
      auto [k, count] = shape[a];
      append ap;
      ap.stream = stream_name(k);
      if (p.expected_error == errc::conflict && a == bad_append)
        ap.expected = expected_version::exact(local[k] + uniform(1, 3));
      else if (chance(75))
        ap.expected = expected_version::exact(local[k]);
      else
        ap.expected = expected_version::any();
      for (uint64_t e = 0; e < count; ++e) {
        event_record rec;
        rec.type = "crash_event";
        rec.correlation_id = "g-" + std::to_string(p.gid);
        rec.payload
          = make_payload(p.gid, ap.stream, index++, total, dedup, checkpoint);
        ap.events.push_back(std::move(rec));
      }
      p.ranges.push_back({k, local[k] + 1, local[k] + count});
      local[k] += count;
      wg.appends.push_back(std::move(ap));
    }
    if (dedup) {
      p.own_key = "g-" + std::to_string(p.gid);
      wg.dedup_keys.push_back(p.own_key);
      wg.tables.push_back(
        table_write{table_name, p.own_key, std::to_string(total), false});
    }
    if (p.expected_error == errc::duplicate)
      wg.dedup_keys.push_back(batch_keys[uniform(0, batch_keys.size() - 1)]);
    if (checkpoint)
      wg.checkpoints.emplace_back(checkpoint_name, p.gid);
    if (good) {
      planned = std::move(local);
      if (dedup)
        batch_keys.push_back(p.own_key);
    }
    groups.push_back(std::move(wg));
    plans.push_back(std::move(p));
  }

  void report(const plan& p, const journal::group_outcome& outcome,
              std::string& out) {
    auto gid = std::to_string(p.gid);
    if (p.expected_error != errc::none) {
      if (outcome)
        fail("group " + gid + " committed; expected "
             + to_string(p.expected_error));
      if (code_of(outcome.error()) != p.expected_error)
        fail("group " + gid + " failed with " + describe(outcome.error())
             + "; expected " + to_string(p.expected_error));
      out += "rej " + gid + " " + to_string(p.expected_error) + " .\n";
      return;
    }
    if (!outcome)
      fail("group " + gid + " failed: " + describe(outcome.error()));
    auto& appends = outcome->appends;
    if (appends.size() != p.ranges.size())
      fail("group " + gid + ": receipt has a wrong number of appends");
    out += "ack " + gid;
    for (size_t a = 0; a < appends.size(); ++a) {
      auto& r = p.ranges[a];
      auto& got = appends[a];
      if (got.stream != stream_name(r.stream) || got.first_version != r.first
          || got.last_version != r.last)
        fail("group " + gid + ": append to " + got.stream + " landed at "
             + std::to_string(got.first_version) + "-"
             + std::to_string(got.last_version) + "; expected "
             + std::to_string(r.first) + "-" + std::to_string(r.last));
      out += " " + got.stream + ":" + std::to_string(got.first_version) + "-"
             + std::to_string(got.last_version);
    }
    out += " .\n";
    if (!p.own_key.empty()) {
      known_keys_.push_back(p.own_key);
      if (known_keys_.size() > 64)
        known_keys_.erase(known_keys_.begin());
    }
  }

  std::unique_ptr<journal> journal_;
  std::mt19937_64 rng_;
  uint64_t next_gid_;
  std::vector<uint64_t> versions_;
  /// Dedup keys of groups this process saw committed.
  std::vector<std::string> known_keys_;
};

bool parse_u64(const char* str, uint64_t& out) {
  char* end = nullptr;
  errno = 0;
  auto x = std::strtoull(str, &end, 10);
  if (errno != 0 || end == str || *end != '\0')
    return false;
  out = x;
  return true;
}

} // namespace
} // namespace cairn::journal

int main(int argc, char** argv) {
  uint64_t seed = 0;
  uint64_t first_gid = 0;
  uint64_t max_commits = 0; // 0: until killed
  using cairn::journal::parse_u64;
  if (argc < 4 || argc > 5 || !parse_u64(argv[2], seed)
      || !parse_u64(argv[3], first_gid)
      || (argc == 5 && !parse_u64(argv[4], max_commits))) {
    std::fprintf(stderr, "usage: cairn-crash-writer DIR SEED FIRST-GROUP-ID "
                         "[MAX-COMMITS]\n");
    return 2;
  }
  using namespace cairn::journal;
  options opts;
  opts.sync = sync_mode::full;
  auto j = journal::open(argv[1], opts);
  if (!j) {
    std::fprintf(stderr, "cairn-crash-writer: cannot open %s: %s\n", argv[1],
                 cairn::describe(j.error()).c_str());
    return 2;
  }
  writer w{std::move(*j), seed, first_gid};
  w.recover();
  for (uint64_t i = 0; max_commits == 0 || i < max_commits; ++i)
    w.step();
  return 0;
}
