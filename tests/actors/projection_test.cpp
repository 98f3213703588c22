#include "cairn/actors/projection.hpp"

#include <catch2/catch.hpp>

#include "caf/all.hpp"

#include "cairn/actors/runtime.hpp"
#include "cairn/journal/codec.hpp"
#include "cairn/journal/errc.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cairn;
using cairn::test::temp_dir;
using namespace std::chrono_literals;

namespace {

struct deposited {
  static constexpr const char* event_name = "deposited";
  int64_t cents = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(cents);
  }
};

struct closed {
  static constexpr const char* event_name = "closed";
  template <class Archive>
  void serialize(Archive&) {
    // nop
  }
};

/// Balances per account, and totals over all accounts.
struct balances {
  static constexpr const char* name = "balances";
  static constexpr const char* category = "acct";
  using events = event_list<deposited, closed>;

  static void apply(projection_view& v, const deposited& e) {
    v.add("balance", v.event().stream, e.cents);
    v.add("totals", "deposits", 1);
    v.add("totals", "cents", e.cents);
  }

  static void apply(projection_view& v, const closed&) {
    v.erase("balance", v.event().stream);
    v.add("totals", "closed", 1);
  }
};

/// Writes a key of `key_size` bytes for each deposit (too long when over
/// the limit), and counts deposits.
template <size_t KeySize>
struct long_keys {
  static constexpr const char* name = "long-keys";
  using events = event_list<deposited>;

  static void apply(projection_view& v, const deposited& e) {
    v.add("totals", "deposits", 1);
    if (e.cents == 13)
      v.put("by_key", std::string(KeySize, 'k'), "13");
  }
};

/// A projection whose name leaves no room for its tables' names.
struct long_name {
  static constexpr const char* name
    = "a-projection-whose-name-is-longer-than-its-tables-allow";
  using events = event_list<deposited>;
  static void apply(projection_view& v, const deposited&) {
    v.add("t", "n", 1);
  }
};

/// The same over `$all`, in small batches.
struct all_deposits {
  static constexpr const char* name = "all-deposits";
  using events = event_list<deposited>;

  static void apply(projection_view& v, const deposited& e) {
    v.add("totals", "deposits", 1);
    v.add("totals", "cents", e.cents);
  }
};

const journal::codec& codec() {
  static const journal::codec instance = [] {
    journal::codec c;
    c.add<deposited>(deposited::event_name);
    c.add<closed>(closed::event_name);
    return c;
  }();
  return instance;
}

/// Flips bytes inside every copy of `needle` in the file at `path`.
size_t flip_bytes_of(const std::string& path, const std::string& needle) {
  auto bytes = test::read_file(path);
  size_t copies = 0;
  for (auto i = bytes.find(needle); i != std::string::npos;
       i = bytes.find(needle, i + needle.size())) {
    for (size_t k = 20; k < 40; ++k)
      bytes[i + k] = static_cast<char>(bytes[i + k] ^ 0x5A);
    ++copies;
  }
  test::write_file(path, bytes);
  return copies;
}

/// A runtime on a journal directory that outlives it.
struct node {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  std::unique_ptr<runtime> rt;

  explicit node(const std::string& dir) {
    runtime_options opts;
    opts.journal_path = dir;
    opts.journal.sync = journal::sync_mode::none;
    auto r = runtime::start(sys, opts);
    REQUIRE(r);
    rt = std::move(*r);
  }

  ~node() {
    rt->stop();
  }

  uint64_t commit(const std::string& stream, journal::event_record rec) {
    journal::write_group g;
    g.appends.push_back({stream, journal::expected_version::any(), {}});
    g.appends.back().events.push_back(std::move(rec));
    uint64_t pos = 0;
    self->request(rt->coordinator(), 10s, commit_atom::value, g)
      .receive(
        [&](journal::group_receipt& r) { pos = r.appends[0].first_position; },
        [](caf::error& err) { FAIL(describe(err)); });
    return pos;
  }

  /// Deposits 1, 2, 3, ... cents into accounts `acct-0` to `acct-4`,
  /// starting at deposit `first`; returns the sum.
  int64_t deposit(int first, int count) {
    int64_t sum = 0;
    for (int i = first; i < first + count; ++i) {
      commit("acct-" + std::to_string(i % 5), codec().encode(deposited{i}));
      sum += i;
    }
    return sum;
  }

  void inject(injected_failure what) {
    self->request(rt->coordinator(), 10s, inject_atom::value, what)
      .receive([](bool) {}, [](caf::error& err) { FAIL(describe(err)); });
  }

  uint64_t last_position() {
    auto last = rt->journal()->last_position();
    REQUIRE(last);
    return *last;
  }

  projection_stats stats(const caf::actor& proj) {
    projection_stats result;
    self->request(proj, 10s, stats_atom::value)
      .receive([&](projection_stats& x) { result = x; },
               [](caf::error& err) { FAIL(describe(err)); });
    return result;
  }

  int64_t get_int(const char* projection, const std::string& table,
                  const std::string& key) {
    projection_model model{rt->journal(), projection};
    auto x = model.get_int(table, key);
    REQUIRE(x);
    return *x;
  }
};

} // namespace

TEST_CASE("a projection applies each event of its category once and commits "
          "its checkpoint with its model") {
  temp_dir dir;
  node n{dir.path()};
  auto sum = n.deposit(1, 100);
  n.commit("other-1", codec().encode(deposited{1000}));
  n.commit("acct-3", codec().encode(closed{}));
  auto last_acct = n.commit("acct-1", codec().encode(deposited{7}));
  sum += 7;
  n.commit("other-2", codec().encode(deposited{1000}));
  auto proj = start_projection<balances>(*n.rt);
  REQUIRE(proj);
  CHECK(start_projection<balances>(*n.rt) == *proj);
  auto last = n.last_position();
  REQUIRE(await_caught_up(n.sys, *proj, last, 10s));
  CHECK(n.get_int("balances", "totals", "deposits") == 101);
  CHECK(n.get_int("balances", "totals", "cents") == sum);
  CHECK(n.get_int("balances", "totals", "closed") == 1);
  // acct-1 got 1, 6, 11, ..., 96 and 7.
  CHECK(n.get_int("balances", "balance", "acct-1") == 970 + 7);
  projection_model model{n.rt->journal(), "balances"};
  auto rows = model.scan("balance");
  REQUIRE(rows);
  CHECK(rows->size() == 4); // acct-3 was closed
  CHECK(model.checkpoint() == last_acct);
  auto st = n.stats(*proj);
  CHECK(st.applied == 102);
  CHECK(st.passed == 0);
  CHECK(st.undecodable == 0);
  CHECK(st.commits >= 1);
  CHECK(st.failed_commits == 0);
}

TEST_CASE("a projection over $all batches its groups and passes other "
          "types by, and skips and counts an event that does not decode") {
  temp_dir dir;
  node n{dir.path()};
  auto sum = n.deposit(1, 50);
  n.commit("acct-9", codec().encode(closed{}));
  journal::event_record bad;
  bad.type = deposited::event_name;
  bad.payload = "x";
  n.commit("acct-9", bad);
  projection_settings ps;
  ps.max_batch_events = 4;
  ps.read_chunk = 3;
  auto proj = start_projection<all_deposits>(*n.rt, ps);
  REQUIRE(proj);
  sum += n.deposit(51, 30);
  REQUIRE(await_caught_up(n.sys, *proj, n.last_position(), 10s));
  CHECK(n.get_int("all-deposits", "totals", "deposits") == 80);
  CHECK(n.get_int("all-deposits", "totals", "cents") == sum);
  auto st = n.stats(*proj);
  CHECK(st.applied == 80);
  CHECK(st.passed == 1);
  CHECK(st.undecodable == 1);
  CHECK(st.commits >= 82 / 4);
}

TEST_CASE("a projection counts exactly once across restarts") {
  temp_dir dir;
  int64_t sum = 0;
  {
    node n{dir.path()};
    sum += n.deposit(1, 40);
    auto proj = start_projection<balances>(*n.rt);
    REQUIRE(proj);
    REQUIRE(await_caught_up(n.sys, *proj, n.last_position(), 10s));
    CHECK(n.get_int("balances", "totals", "deposits") == 40);
    // Stopped while events still come in: whatever it committed stays
    // with its checkpoint.
    sum += n.deposit(41, 40);
  }
  {
    node n{dir.path()};
    sum += n.deposit(81, 20);
    auto proj = start_projection<balances>(*n.rt);
    REQUIRE(proj);
    REQUIRE(await_caught_up(n.sys, *proj, n.last_position(), 10s));
    CHECK(n.get_int("balances", "totals", "deposits") == 100);
    CHECK(n.get_int("balances", "totals", "cents") == sum);
  }
}

TEST_CASE("a refused group of a projection is applied again and retried") {
  temp_dir dir;
  node n{dir.path()};
  auto sum = n.deposit(1, 30);
  n.inject(injected_failure::next_persist);
  auto proj = start_projection<balances>(*n.rt);
  REQUIRE(proj);
  REQUIRE(await_caught_up(n.sys, *proj, n.last_position(), 10s));
  CHECK(n.get_int("balances", "totals", "deposits") == 30);
  CHECK(n.get_int("balances", "totals", "cents") == sum);
  auto st = n.stats(*proj);
  CHECK(st.failed_commits == 1);
  CHECK(st.applied == 30);
}

TEST_CASE("a failed commit of a projection leaves neither model nor "
          "checkpoint, and the next runtime resumes exactly once") {
  temp_dir dir;
  int64_t sum = 0;
  uint64_t first_checkpoint = 0;
  {
    node n{dir.path()};
    sum += n.deposit(1, 20);
    auto proj = start_projection<balances>(*n.rt);
    REQUIRE(proj);
    first_checkpoint = n.last_position();
    REQUIRE(await_caught_up(n.sys, *proj, first_checkpoint, 10s));
  }
  {
    node n{dir.path()};
    sum += n.deposit(21, 20);
    n.inject(injected_failure::next_commit);
    projection_settings ps;
    ps.max_batch_events = 8;
    auto proj = start_projection<balances>(*n.rt, ps);
    REQUIRE(proj);
    n.self->monitor(*proj);
    n.self->receive(
      [](caf::down_msg& msg) {
        CHECK(code_of(msg.reason) == errc::storage_error);
      },
      caf::after(10s) >> [] { FAIL("the projection does not stop"); });
    // Nothing of the failed group: the model and the checkpoint are those
    // of the first runtime.
    CHECK(n.get_int("balances", "totals", "deposits") == 20);
    projection_model model{n.rt->journal(), "balances"};
    CHECK(model.checkpoint() == first_checkpoint);
  }
  {
    node n{dir.path()};
    auto proj = start_projection<balances>(*n.rt);
    REQUIRE(proj);
    REQUIRE(await_caught_up(n.sys, *proj, n.last_position(), 10s));
    CHECK(n.get_int("balances", "totals", "deposits") == 40);
    CHECK(n.get_int("balances", "totals", "cents") == sum);
  }
}

TEST_CASE("a projection view reads its own writes before the committed "
          "model") {
  temp_dir dir;
  auto j = journal::journal::open(dir.path());
  REQUIRE(j);
  journal::write_group g;
  g.tables.push_back({projection_table("p", "t"), "a", "5", false});
  g.tables.push_back({projection_table("p", "t"), "b", "x", false});
  REQUIRE((*j)->commit(g));
  projection_view v{**j, "p"};
  CHECK(v.get("t", "a") == std::optional<std::string>{"5"});
  CHECK(v.add("t", "a", 2) == 7);
  CHECK(v.get_int("t", "a") == 7);
  v.erase("t", "a");
  CHECK(!v.get("t", "a"));
  CHECK(v.get_int("t", "a") == 0);
  v.put("t", "c", "hello");
  CHECK(!v.error());
  auto writes = v.take_writes();
  REQUIRE(writes.size() == 2);
  CHECK(writes[0].table == projection_table("p", "t"));
  CHECK(writes[0].key == "a");
  CHECK(writes[0].erase);
  CHECK(writes[1].key == "c");
  CHECK(writes[1].value == "hello");
  // A value that is not an integer is an error of the batch.
  CHECK(v.get_int("t", "b") == 0);
  REQUIRE(v.error());
  CHECK(code_of(v.error()) == errc::corrupt_record);
  CHECK(describe(v.error()).find("not an integer: x") != std::string::npos);
}

TEST_CASE("a projection refuses bad settings naming them") {
  temp_dir dir;
  node n{dir.path()};
  projection_settings ps;
  ps.max_batch_events = 0;
  auto proj = start_projection<balances>(*n.rt, ps);
  REQUIRE(!proj);
  CHECK(code_of(proj.error()) == errc::invalid_argument);
  CHECK(describe(proj.error()).find("max_batch_events") != std::string::npos);
}

TEST_CASE("a corrupt record in the log is reported and skipped, and the "
          "projection goes on with the rest") {
  temp_dir dir;
  // A payload that occurs nowhere else in the file.
  std::string marker = "CAIRN-CORRUPTION-MARKER/projection/";
  marker.resize(64, '#');
  journal::event_record bad;
  bad.type = "note";
  bad.payload = marker;
  uint64_t bad_pos = 0;
  {
    node n{dir.path()};
    n.deposit(1, 5);
    bad_pos = n.commit("acct-7", bad);
    n.deposit(6, 5);
  }
  REQUIRE(flip_bytes_of(dir.path() + "/data.mdb", marker) >= 1);
  node n{dir.path()};
  auto read = n.rt->journal()->read_all(1, 100);
  REQUIRE(!read);
  REQUIRE(code_of(read.error()) == errc::corrupt_record);
  projection_settings ps;
  ps.read_chunk = 3;
  auto proj = start_projection<all_deposits>(*n.rt, ps);
  REQUIRE(proj);
  auto last = n.last_position();
  CHECK(await_caught_up(n.sys, *proj, last, 10s) == last);
  CHECK(n.get_int("all-deposits", "totals", "deposits") == 10);
  CHECK(n.get_int("all-deposits", "totals", "cents") == 55);
  auto st = n.stats(*proj);
  CHECK(st.subscription.corrupt_records == 1);
  CHECK(st.applied == 10);
  // Live events after it count too.
  n.deposit(11, 1);
  CHECK(await_caught_up(n.sys, *proj, n.last_position(), 10s));
  CHECK(n.get_int("all-deposits", "totals", "deposits") == 11);
  CHECK(bad_pos == 6);
}

TEST_CASE("a projection whose writes are over the limits stops with "
          "invalid_argument naming the limit") {
  temp_dir dir;
  node n{dir.path()};
  n.deposit(1, 12); // positions 1 to 12
  n.deposit(13, 2); // 13 writes the long key
  auto proj
    = start_projection<long_keys<journal::max_table_key_size + 1>>(*n.rt);
  REQUIRE(proj);
  n.self->monitor(*proj);
  n.self->receive(
    [](caf::down_msg& msg) {
      CHECK(code_of(msg.reason) == errc::invalid_argument);
      CHECK(describe(msg.reason).find("max_table_key_size")
            != std::string::npos);
    },
    caf::after(10s) >> [] { FAIL("the projection does not stop"); });
  // Nothing of the refused batch: no count, no checkpoint past it.
  projection_model model{n.rt->journal(), "long-keys"};
  auto cp = model.checkpoint();
  REQUIRE(cp);
  CHECK(*cp < 13);
  // The journal goes on.
  CHECK(n.commit("acct-1", codec().encode(deposited{1})) > 0);
}

TEST_CASE("a projection name over the maximum length is refused at start") {
  temp_dir dir;
  node n{dir.path()};
  auto proj = start_projection<long_name>(*n.rt);
  REQUIRE(!proj);
  CHECK(code_of(proj.error()) == errc::invalid_argument);
  CHECK(describe(proj.error()).find("max_table_name_size")
        != std::string::npos);
  projection_view v{*n.rt->journal(), "p"};
  v.put(std::string(60, 't'), "k", "v");
  REQUIRE(v.error());
  CHECK(describe(v.error()).find("max_table_name_size") != std::string::npos);
  CHECK(v.take_writes().empty());
}
