#include "actors/aggregate_actor.hpp"

#include <catch2/catch.hpp>

#include "caf/all.hpp"

#include "actors/runtime.hpp"
#include "tests/actors/account.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cairn;
using namespace cairn::test;
using namespace std::chrono_literals;

namespace {

struct fixture {
  temp_dir dir;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  std::unique_ptr<runtime> rt;
  caf::scoped_actor self{sys};

  fixture() {
    start();
  }

  ~fixture() {
    rt->stop();
  }

  void start(aggregate_settings as = {}) {
    runtime_options opts;
    opts.journal_path = dir.path();
    opts.journal.sync = journal::sync_mode::none;
    opts.aggregates = as;
    auto r = runtime::start(sys, opts);
    REQUIRE(r);
    rt = std::move(*r);
  }

  template <class T = int64_t, class Cmd>
  caf::expected<T> ask(const caf::actor& dest, const std::string& id,
                       Cmd cmd) {
    caf::expected<T> result{caf::error{}};
    self->request(dest, 10s, entity_id{id}, std::move(cmd))
      .receive([&](T x) { result = std::move(x); },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  template <class Cmd>
  caf::error tell(const caf::actor& dest, const std::string& id, Cmd cmd) {
    caf::error result;
    self->request(dest, 10s, entity_id{id}, std::move(cmd))
      .receive([&]() {}, [&](caf::error& err) { result = std::move(err); });
    return result;
  }
};

} // namespace

TEST_CASE_METHOD(fixture, "an aggregate persists events and replies after "
                          "the commit") {
  auto accounts = rt->registry<account>();
  REQUIRE(!tell(accounts, "1", open_account{"alice"}));
  auto b = ask(accounts, "1", charge{500});
  REQUIRE(b);
  CHECK(*b == 500);
  CHECK(*ask(accounts, "1", charge{250}) == 750);
  CHECK(*rt->journal()->stream_version("account-1") == 3);
  auto bal = ask(accounts, "1", get_balance{});
  REQUIRE(bal);
  CHECK(*bal == 750);
}

TEST_CASE_METHOD(fixture, "a rejected command stores nothing and names why") {
  auto accounts = rt->registry<account>();
  auto err = tell(accounts, "2", charge{100});
  REQUIRE(err);
  CHECK(code_of(err) == errc::rejected);
  CHECK(describe(err).find("not open") != std::string::npos);
  CHECK(*rt->journal()->stream_version("account-2") == 0);
}
