#include "actors/process_manager.hpp"

#include <catch2/catch.hpp>

#include "caf/all.hpp"

#include "actors/process_instance.hpp"
#include "journal/codec.hpp"
#include "journal/verify.hpp"
#include "tests/actors/group_checkout.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cairn;
using namespace cairn::test;
using namespace std::chrono_literals;

namespace {

struct fixture {
  temp_dir dir;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  std::unique_ptr<runtime> rt;
  caf::actor accounts;

  fixture() {
    start();
  }

  ~fixture() {
    rt->stop();
  }

  void start() {
    runtime_options opts;
    opts.journal_path = dir.path();
    opts.journal.sync = journal::sync_mode::none;
    auto r = runtime::start(sys, opts);
    REQUIRE(r);
    rt = std::move(*r);
    accounts = rt->registry<account>();
  }

  template <class Cmd>
  void tell(const std::string& id, Cmd cmd) {
    self->send(accounts, entity_id{id}, std::move(cmd));
    self->receive([] {}, [](int64_t) {},
                  [&](caf::error& err) { FAIL(describe(err)); });
  }

  /// Commits the front desk's request as an event of stream frontdesk-<g>.
  void request_checkout(const std::string& group,
                        std::vector<std::string> guests) {
    journal::codec c;
    c.add<group_checkout_requested>(group_checkout_requested::event_name);
    journal::write_group g;
    journal::append a;
    a.stream = "frontdesk-" + group;
    a.events.push_back(c.encode(group_checkout_requested{group, guests}));
    g.appends.push_back(a);
    self->request(rt->coordinator(), 10s, commit_atom::value, g)
      .receive([](journal::group_receipt&) {},
               [](caf::error& err) { FAIL(describe(err)); });
  }

  /// Reads the decoded group_finished event of a checkout, waiting for the
  /// condition "the process has completed" by polling the journal.
  std::optional<group_finished> await_finished(const std::string& group) {
    journal::codec c;
    c.add<group_finished>(group_finished::event_name);
    for (int i = 0; i < 2000; ++i) {
      auto evs = rt->journal()->read_stream("checkout-" + group);
      REQUIRE(evs);
      for (auto& ev : *evs)
        if (ev.record.type == group_finished::event_name)
          return *c.decode<group_finished>(ev);
      self->receive(caf::after(std::chrono::milliseconds{5}) >> [] {});
    }
    // Say what is there, to explain the failure.
    if (auto all = rt->journal()->read_all(1, 1000))
      for (auto& ev : all->events)
        UNSCOPED_INFO(ev.position << " " << ev.stream << " v" << ev.version
                                  << " " << ev.record.type);
    return std::nullopt;
  }
};

} // namespace

TEST_CASE_METHOD(fixture, "a group checkout checks out every guest and "
                          "records the one with an unsettled balance") {
  for (auto id : {"ann", "ben", "cid"})
    tell(id, open_account{id});
  tell("ben", charge{40});
  start_process_manager<group_checkout>(*rt);
  request_checkout("g1", {"ann", "ben", "cid"});
  auto fin = await_finished("g1");
  REQUIRE(fin);
  CHECK(fin->failures == std::vector<std::string>{"ben"});
  // ann and cid are checked out: a charge is refused now.
  self->send(accounts, entity_id{"ann"}, charge{1});
  self->receive([](int64_t) { FAIL("charged a closed account"); },
                [](caf::error& err) {
                  CHECK(describe(err).find("not open") != std::string::npos);
                });
  CHECK(*rt->journal()->stream_version("account-ben") == 2);
  // Each checkout event of an account committed in the same transaction
  // as the manager's step that commanded it.
  auto report = journal::verify(*rt->journal());
  REQUIRE(report);
  CHECK(report->ok());
}

TEST_CASE_METHOD(fixture, "after a restart no input has its effect twice") {
  for (auto id : {"a", "b"})
    tell(id, open_account{id});
  start_process_manager<group_checkout>(*rt);
  request_checkout("g2", {"a", "b"});
  REQUIRE(await_finished("g2"));
  auto before = *rt->journal()->stream_version("checkout-g2");
  // Restart with the router's checkpoint removed: every input is read
  // again from the start of the log.
  rt->stop();
  rt.reset();
  start();
  journal::write_group reset;
  reset.checkpoints.emplace_back(router_checkpoint_of("checkout"), 0);
  self->request(rt->coordinator(), 10s, commit_atom::value, reset)
    .receive([](journal::group_receipt&) {},
             [](caf::error& err) { FAIL(describe(err)); });
  start_process_manager<group_checkout>(*rt);
  request_checkout("g3", {"a"}); // a later input, to know the replay ran
  REQUIRE(await_finished("g3"));
  CHECK(*rt->journal()->stream_version("checkout-g2") == before);
  CHECK(*rt->journal()->stream_version("account-a") == 3); // checked out
                                                           // twice: g2, g3
}
