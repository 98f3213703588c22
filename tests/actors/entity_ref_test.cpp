#include "cairn/actors/entity_ref.hpp"

#include <catch2/catch.hpp>

#include "caf/all.hpp"

#include "cairn/actors/registry.hpp"
#include "cairn/actors/runtime.hpp"
#include "tests/actors/account.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cairn;
using namespace cairn::test;
using namespace std::chrono_literals;

namespace {

/// An event-based actor that sends commands through entity references:
/// `(size_t ref, command)` -> the reply, or the error.
caf::behavior ref_client(caf::event_based_actor* self,
                         std::vector<entity_ref> refs) {
  auto send = [self, refs](size_t i, auto cmd) {
    auto rp = self->make_response_promise<int64_t>();
    refs.at(i).request(
      self, 10s, std::move(cmd), [rp](int64_t x) mutable { rp.deliver(x); },
      [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
    return rp;
  };
  return {
    [send](size_t i, charge& cmd) { return send(i, cmd); },
    [send](size_t i, get_balance& cmd) { return send(i, cmd); },
  };
}

struct fixture {
  temp_dir dir;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  std::unique_ptr<runtime> rt;

  void start(registry_settings reg = {}) {
    if (rt)
      rt->stop();
    runtime_options opts;
    opts.journal_path = dir.path();
    opts.journal.sync = journal::sync_mode::none;
    opts.registry = reg;
    auto r = runtime::start(sys, opts);
    REQUIRE(r);
    rt = std::move(*r);
  }

  fixture() {
    start();
  }

  ~fixture() {
    rt->stop();
  }

  template <class Command>
  caf::expected<int64_t> ask(const caf::actor& client, size_t i,
                             Command cmd) {
    caf::expected<int64_t> res{0};
    self->request(client, 20s, i, std::move(cmd))
      .receive([&](int64_t x) { res = x; },
               [&](caf::error& err) { res = std::move(err); });
    return res;
  }

  /// Opens account `id` through the registry.
  void open(const std::string& id) {
    self->request(rt->registry<account>(), 10s, entity_id{id},
                  open_account{id})
      .receive([] {}, [](caf::error& err) { FAIL(describe(err)); });
  }

  registry_stats stats() {
    registry_stats st;
    self->request(rt->local_registry<account>(), 10s, stats_atom::value)
      .receive([&](registry_stats& s) { st = s; },
               [](caf::error& err) { FAIL(describe(err)); });
    return st;
  }
};

} // namespace

TEST_CASE_METHOD(fixture, "an entity_ref resolves once, then its commands "
                          "reach the entity past the registry") {
  auto ref = rt->entity<account>("a");
  CHECK(ref.id() == "a");
  CHECK(ref.direct());
  CHECK(!ref.resolved());
  auto client = sys.spawn(ref_client, std::vector<entity_ref>{ref});
  open("a");
  auto before = stats();
  for (int64_t i = 1; i <= 20; ++i)
    REQUIRE(*ask(client, 0, charge{i}) == i * (i + 1) / 2);
  auto after = stats();
  // One resolve, then 20 commands the registry did not see.
  CHECK(after.routed - before.routed == 1);
  CHECK(after.spawned == before.spawned);
  CHECK(ref.resolved()); // copies share the resolved actor
  self->send_exit(client, caf::exit_reason::user_shutdown);
}

TEST_CASE_METHOD(fixture, "entity_refs survive passivations: every command "
                          "takes effect once and none is lost") {
  registry_settings reg;
  reg.max_active = 1; // each command to one entity passivates the other
  start(reg);
  open("a");
  open("b");
  auto a = rt->entity<account>("a");
  auto b = rt->entity<account>("b");
  auto client = sys.spawn(ref_client, std::vector<entity_ref>{a, b});
  int64_t want_a = 0;
  int64_t want_b = 0;
  for (int64_t i = 1; i <= 50; ++i) {
    want_a += i;
    REQUIRE(*ask(client, 0, charge{i}) == want_a);
    want_b += 2 * i;
    REQUIRE(*ask(client, 1, charge{2 * i}) == want_b);
  }
  auto st = stats();
  CHECK(st.passivated >= 50);
  CHECK(st.spawned >= 50);
  // The journal agrees: the opening and one event per charge.
  auto n = rt->journal()->read_stream("account-a", 1, 1000);
  REQUIRE(n);
  CHECK(n->size() == 51);
  CHECK(*ask(client, 0, get_balance{}) == want_a);
  CHECK(*ask(client, 1, get_balance{}) == want_b);
  self->send_exit(client, caf::exit_reason::user_shutdown);
}

TEST_CASE_METHOD(fixture, "an entity used through an entity_ref declines its "
                          "idle passivation; an unused one is passivated") {
  registry_settings reg;
  reg.passivate_after = 200ms;
  start(reg);
  open("hot");
  open("cold");
  auto hot = rt->entity<account>("hot");
  auto client = sys.spawn(ref_client, std::vector<entity_ref>{hot});
  REQUIRE(*ask(client, 0, charge{1}) == 1);
  // Charges through the reference, paced, until the registry found the
  // cold entity idle and the hot one declined at least once (bounded).
  int64_t balance = 1;
  registry_stats st;
  for (int i = 0; i < 2000 && (st.passivated == 0 || st.declined == 0);
       ++i) {
    REQUIRE(*ask(client, 0, charge{1}) == ++balance);
    st = stats();
    self->receive(caf::after(5ms) >> [] {});
  }
  CHECK(st.declined >= 1);
  CHECK(st.passivated >= 1);
  // The cold entity went; the hot one ran on (it may have been passivated
  // too when this machine stalled for the whole idle time: then it was
  // spawned again, and its balance says nothing was lost).
  CHECK(*ask(client, 0, get_balance{}) == balance);
  self->send_exit(client, caf::exit_reason::user_shutdown);
}

TEST_CASE_METHOD(fixture, "an entity_ref with a bad id gets the registry's "
                          "error, naming it") {
  auto empty = rt->entity<account>("");
  auto long_id = rt->entity<account>(std::string(300, 'x'));
  auto client = sys.spawn(ref_client, std::vector<entity_ref>{empty, long_id});
  auto r1 = ask(client, 0, charge{1});
  REQUIRE(!r1);
  CHECK(code_of(r1.error()) == errc::invalid_argument);
  CHECK(describe(r1.error()).find("empty entity id") != std::string::npos);
  auto r2 = ask(client, 1, charge{1});
  REQUIRE(!r2);
  CHECK(code_of(r2.error()) == errc::invalid_argument);
  CHECK(describe(r2.error()).find("300 bytes is longer than the limit")
        != std::string::npos);
  // Nothing was spawned for them, and the journal takes other commands.
  CHECK(stats().spawned == 0);
  open("fine");
  auto ok = rt->entity<account>("fine");
  auto client2 = sys.spawn(ref_client, std::vector<entity_ref>{ok});
  CHECK(*ask(client2, 0, charge{3}) == 3);
  self->send_exit(client, caf::exit_reason::user_shutdown);
  self->send_exit(client2, caf::exit_reason::user_shutdown);
}

TEST_CASE_METHOD(fixture, "an entity_ref that is not direct routes every "
                          "command through the registry") {
  open("r");
  entity_ref ref{rt->registry<account>(), "r", false};
  CHECK(!ref.direct());
  auto client = sys.spawn(ref_client, std::vector<entity_ref>{ref});
  auto before = stats();
  for (int64_t i = 1; i <= 5; ++i)
    REQUIRE(*ask(client, 0, charge{1}) == i);
  CHECK(stats().routed - before.routed == 5);
  CHECK(!ref.resolved());
  self->send_exit(client, caf::exit_reason::user_shutdown);
}
