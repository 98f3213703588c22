#include "cairn/actors/coordinator.hpp"

#include <catch2/catch.hpp>

#include <map>

#include "caf/all.hpp"

#include "cairn/actors/scheduler.hpp"
#include "cairn/journal/errc.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cairn;
using namespace std::chrono_literals;

namespace {

journal::write_group one_event(std::string stream,
                               journal::expected_version exp
                               = journal::expected_version::any()) {
  journal::write_group g;
  journal::append a;
  a.stream = std::move(stream);
  a.expected = exp;
  journal::event_record r;
  r.type = "e";
  r.payload = std::string(200, 'p');
  a.events.push_back(std::move(r));
  g.appends.push_back(std::move(a));
  return g;
}

/// An actor system's configuration with `threads` workers (0: CAF's
/// default).
struct threads_config : caf::actor_system_config {
  explicit threads_config(size_t threads) {
    if (threads > 0)
      set("scheduler.max-threads", threads);
  }
};

struct fixture {
  test::temp_dir dir;
  threads_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  std::shared_ptr<journal::journal> j;
  subscription_hub_actor hub;
  coordinator_actor coord;

  explicit fixture(coordinator_settings s = {}, size_t threads = 0,
                   journal::sync_mode sync = journal::sync_mode::none)
    : cfg(threads) {
    journal::options opts;
    opts.sync = sync;
    auto r = journal::journal::open(dir.path(), opts);
    REQUIRE(r);
    j = std::move(*r);
    hub = spawn_subscription_hub(sys, 0);
    coord = spawn_coordinator(sys, j, s, hub);
  }

  ~fixture() {
    self->send_exit(coord, caf::exit_reason::user_shutdown);
    self->send_exit(hub, caf::exit_reason::user_shutdown);
  }

  /// Sends `n` groups without waiting, then collects every answer.
  std::vector<caf::expected<journal::group_receipt>>
  burst(std::vector<journal::write_group> groups) {
    std::vector<caf::expected<journal::group_receipt>> result;
    for (auto& g : groups)
      self->request(coord, 10s, commit_atom::value, std::move(g))
        .receive([&](journal::group_receipt& r) { result.emplace_back(r); },
                 [&](caf::error& err) { result.emplace_back(err); });
    return result;
  }

  coordinator_stats stats() {
    coordinator_stats result;
    self->request(coord, 10s, stats_atom::value)
      .receive([&](coordinator_stats& s) { result = s; },
               [&](caf::error& err) { FAIL(describe(err)); });
    return result;
  }
};

/// An actor that sends `n` groups at once and reports all answers to
/// `parent` when every one has come back.
caf::behavior burst_sender(caf::event_based_actor* self,
                           coordinator_actor coord,
                           std::vector<journal::write_group> groups,
                           caf::actor parent) {
  auto left = std::make_shared<size_t>(groups.size());
  auto failures = std::make_shared<size_t>(0);
  for (auto& g : groups)
    self->request(coord, caf::infinite, commit_atom::value, std::move(g))
      .then(
        [=](journal::group_receipt&) {
          if (--*left == 0)
            self->send(parent, *failures);
        },
        [=](caf::error&) {
          ++*failures;
          if (--*left == 0)
            self->send(parent, *failures);
        });
  return {};
}

/// Sends `n` single-event groups to streams of their own at once, from an
/// actor of `f`'s system, and waits until every one is answered; fails
/// the test if any is refused.
void send_at_once(fixture& f, int n) {
  std::vector<journal::write_group> groups;
  for (int i = 0; i < n; ++i)
    groups.push_back(one_event("acct-" + std::to_string(i)));
  f.self->spawn(burst_sender, f.coord, std::move(groups), caf::actor{f.self});
  f.self->receive([](size_t failures) { CHECK(failures == 0); },
                  caf::after(60s) >> [] { FAIL("the burst did not end"); });
}

} // namespace

TEST_CASE_METHOD(fixture, "a writer is answered after its group committed") {
  auto res = burst({one_event("order-1")});
  REQUIRE(res.size() == 1);
  REQUIRE(res[0]);
  CHECK(res[0]->appends[0].last_version == 1);
  // The acknowledgement means the group is in the journal.
  CHECK(*j->stream_version("order-1") == 1);
}

TEST_CASE_METHOD(fixture, "groups that arrive during a commit share the next "
                          "commit") {
  send_at_once(*this, 500);
  auto s = stats();
  CHECK(s.groups == 500);
  CHECK(s.events == 500);
  CHECK(s.commits < 500);
  CHECK(s.max_events_per_commit > 1);
  CHECK(s.events_per_commit() > 1.0);
  CHECK(*j->last_position() == 500);
}

TEST_CASE("a commit holds at most max-batch-events events") {
  coordinator_settings s;
  s.max_batch_events = 10;
  fixture f{s};
  send_at_once(f, 200);
  auto st = f.stats();
  CHECK(st.groups == 200);
  CHECK(st.max_events_per_commit <= 10);
  CHECK(st.commits >= 20);
}

TEST_CASE("a coordinator on its own thread, or on the only worker that "
          "its writers share, batches and answers every group") {
  coordinator_settings s;
  s.own_thread = GENERATE(false, true);
  INFO("own_thread " << s.own_thread);
  // One worker: in the default mode the coordinator's commits block the
  // thread that runs its writers, and must still answer them all.
  fixture f{s, 1};
  send_at_once(f, 300);
  auto st = f.stats();
  CHECK(st.groups == 300);
  CHECK(st.max_events_per_commit > 1);
  CHECK(*f.j->last_position() == 300);
}

TEST_CASE("the coordinator counts the CPU time of its commits only when "
          "asked to") {
  coordinator_settings s;
  s.measure_commit_cpu = GENERATE(false, true);
  INFO("measure_commit_cpu " << s.measure_commit_cpu);
  fixture f{s};
  send_at_once(f, 300);
  auto st = f.stats();
  REQUIRE(st.groups == 300);
  if (!s.measure_commit_cpu) {
    CHECK(st.commit_cpu_ns_total == 0);
    return;
  }
  // Encoding and writing 300 events takes CPU time; one thread cannot
  // spend more of it than the time that passed. The CPU window of a commit
  // is a little wider than its clock window (a clock read and part of a
  // system call): 1 ms per commit covers it.
  CHECK(st.commit_cpu_ns_total > 0);
  CHECK(st.commit_cpu_ns_total <= st.commit_ns_total + st.commits * 1'000'000);
}

TEST_CASE("the coordinator marks each commit of a journal that syncs as a "
          "wait for the disk, and no commit of one that does not") {
  auto sync = GENERATE(journal::sync_mode::full, journal::sync_mode::none);
  INFO("sync " << journal::to_string(sync));
  fixture f{{}, 2, sync};
  auto made = disk_wait::made();
  for (int i = 0; i < 20; ++i)
    REQUIRE(f.burst({one_event("order-" + std::to_string(i))})[0]);
  send_at_once(f, 100);
  // Inject a failure: the wait ends with the failed commit as well.
  f.self
    ->request(f.coord, 10s, inject_atom::value, injected_failure::next_commit)
    .receive([](bool) {}, [](caf::error& err) { FAIL(describe(err)); });
  CHECK(!f.burst({one_event("order-x")})[0]);
  auto commits = f.stats().commits;
  CHECK(commits >= 21);
  if (sync == journal::sync_mode::none)
    CHECK(disk_wait::made() == made);
  else
    CHECK(disk_wait::made() == made + commits); // the failed one counts
  CHECK(disk_wait::active() == 0);
}

TEST_CASE_METHOD(fixture, "a conflicting group is refused alone") {
  REQUIRE(burst({one_event("order-1")})[0]);
  auto res = burst({one_event("order-2"),
                    one_event("order-1", journal::expected_version::exact(7)),
                    one_event("order-3")});
  CHECK(res[0]);
  REQUIRE(!res[1]);
  CHECK(code_of(res[1].error()) == errc::conflict);
  CHECK(res[2]);
  CHECK(stats().rejected_groups == 1);
}

TEST_CASE_METHOD(fixture, "after an injected commit failure every write "
                          "fails until the journal is reopened") {
  self->request(coord, 10s, inject_atom::value, injected_failure::next_commit)
    .receive([](bool) {}, [](caf::error& err) { FAIL(describe(err)); });
  auto res = burst({one_event("a-1"), one_event("b-1")});
  REQUIRE(!res[0]);
  CHECK(code_of(res[0].error()) == errc::storage_error);
  REQUIRE(!res[1]);
  CHECK(code_of(res[1].error()) == errc::journal_failed);
  CHECK(*j->stream_version("a-1") == 0);
  CHECK(stats().failed_groups == 2);
}

TEST_CASE_METHOD(fixture, "an injected persist failure refuses one group and "
                          "leaves the journal healthy") {
  self->request(coord, 10s, inject_atom::value, injected_failure::next_persist)
    .receive([](bool) {}, [](caf::error& err) { FAIL(describe(err)); });
  auto res = burst({one_event("a-1"), one_event("b-1")});
  REQUIRE(!res[0]);
  CHECK(code_of(res[0].error()) == errc::storage_error);
  CHECK(res[1]);
  CHECK(!j->failed());
}

TEST_CASE_METHOD(fixture, "the hub feeds subscribers the committed events in "
                          "position order") {
  uint64_t last = 99;
  self
    ->request(hub, 10s, subscribe_atom::value, caf::actor{self}, std::string{})
    .receive([&](uint64_t pos) { last = pos; },
             [](caf::error& err) { FAIL(describe(err)); });
  CHECK(last == 0);
  REQUIRE(burst({one_event("order-1"), one_event("invoice-1")}).size() == 2);
  std::vector<uint64_t> positions;
  while (positions.size() < 2)
    self->receive(
      [&](events_atom, std::vector<journal::stored_event>& evs) {
        for (auto& ev : evs)
          positions.push_back(ev.position);
      },
      caf::after(10s) >> [] { FAIL("no events from the hub"); });
  CHECK(positions == std::vector<uint64_t>{1, 2});
  SECTION("a category subscription sees only its category") {
    self
      ->request(hub, 10s, subscribe_atom::value, caf::actor{self},
                std::string{"invoice"})
      .receive([&](uint64_t pos) { CHECK(pos == 2); },
               [](caf::error& err) { FAIL(describe(err)); });
    burst({one_event("order-2"), one_event("invoice-2")});
    self->receive(
      [&](events_atom, std::vector<journal::stored_event>& evs) {
        REQUIRE(evs.size() == 1);
        CHECK(evs[0].stream == "invoice-2");
        CHECK(evs[0].position == 4);
      },
      caf::after(10s) >> [] { FAIL("no events from the hub"); });
  }
}

TEST_CASE_METHOD(fixture, "a record delivered live equals the same record "
                          "read back, field by field") {
  self
    ->request(hub, 10s, subscribe_atom::value, caf::actor{self}, std::string{})
    .receive([](uint64_t) {}, [](caf::error& err) { FAIL(describe(err)); });
  auto g = one_event("order-1");
  auto& first = g.appends[0].events[0];
  first.correlation_id = "corr-1";
  first.causation_id = "cause-1";
  first.metadata = "meta";
  first.schema_version = 3;
  journal::event_record dated;
  dated.type = "dated";
  dated.payload = "d";
  dated.timestamp_ns = 1234567;
  g.appends[0].events.push_back(dated);
  REQUIRE(burst({g, one_event("invoice-1")})[0]);
  std::vector<journal::stored_event> live;
  while (live.size() < 3)
    self->receive(
      [&](events_atom, std::vector<journal::stored_event>& evs) {
        for (auto& ev : evs)
          live.push_back(std::move(ev));
      },
      caf::after(10s) >> [] { FAIL("no events from the hub"); });
  auto stored = j->read_all(1, 10);
  REQUIRE(stored);
  REQUIRE(stored->events.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    auto& x = live[i];
    auto& y = stored->events[i];
    CHECK(x.stream == y.stream);
    CHECK(x.version == y.version);
    CHECK(x.position == y.position);
    CHECK(x.record.type == y.record.type);
    CHECK(x.record.schema_version == y.record.schema_version);
    CHECK(x.record.timestamp_ns == y.record.timestamp_ns);
    CHECK(x.record.correlation_id == y.record.correlation_id);
    CHECK(x.record.causation_id == y.record.causation_id);
    CHECK(x.record.metadata == y.record.metadata);
    CHECK(x.record.payload == y.record.payload);
    CHECK(x.record == y.record);
  }
  CHECK(live[0].record.timestamp_ns != 0);
  CHECK(live[1].record.timestamp_ns == 1234567);
}

TEST_CASE_METHOD(fixture, "the coordinator truncates a stream among its "
                          "own writes and goes on") {
  for (int i = 0; i < 5; ++i)
    REQUIRE(burst({one_event("order-1")})[0]);
  uint64_t from = 0;
  self
    ->request(coord, 10s, truncate_atom::value, std::string{"order-1"},
              uint64_t{4})
    .receive([&](uint64_t x) { from = x; },
             [](caf::error& err) { FAIL(describe(err)); });
  CHECK(from == 4);
  auto evs = j->read_stream("order-1");
  REQUIRE(evs);
  REQUIRE(evs->size() == 2);
  CHECK(evs->front().version == 4);
  CHECK(*j->stream_version("order-1") == 5);
  caf::error err;
  self
    ->request(coord, 10s, truncate_atom::value, std::string{"nope-1"},
              uint64_t{2})
    .receive([](uint64_t) { FAIL("truncated"); },
             [&](caf::error& e) { err = std::move(e); });
  CHECK(code_of(err) == errc::not_found);
  // The coordinator goes on.
  REQUIRE(burst({one_event("order-1")})[0]);
}

TEST_CASE_METHOD(fixture, "a group with a ticket is answered with "
                          "committed_atom, the ticket and its error") {
  // The entities' path: no response, a committed_atom message instead.
  self->send(coord, commit_atom::value, one_event("ticket-1"), uint64_t{41});
  self->send(coord, commit_atom::value,
             one_event("ticket-1", journal::expected_version::exact(7)),
             uint64_t{42});
  std::map<uint64_t, caf::error> answers;
  for (int i = 0; i < 2; ++i)
    self->receive(
      [&](committed_atom, uint64_t ticket, caf::error& err) {
        answers.emplace(ticket, std::move(err));
      },
      caf::after(10s) >> [] { FAIL("no committed_atom"); });
  REQUIRE(answers.size() == 2);
  // The first committed; the second expected a version the stream is not
  // at, and is refused alone.
  CHECK(!answers[41]);
  CHECK(code_of(answers[42]) == errc::conflict);
  CHECK(describe(answers[42]).find("ticket-1") != std::string::npos);
  CHECK(*j->stream_version("ticket-1") == 1);
  // Its receipt was sent only after the commit: the event is in the journal
  // and in the counters.
  CHECK(stats().groups == 1);
}
