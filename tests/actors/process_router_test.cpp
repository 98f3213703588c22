#include "actors/process_router.hpp"

#include <catch2/catch.hpp>

#include "caf/all.hpp"

#include "actors/aggregate.hpp"
#include "actors/process_manager.hpp"
#include "actors/runtime.hpp"
#include "journal/errc.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cairn;
using cairn::test::temp_dir;
using namespace std::chrono_literals;

namespace {

using seen_atom = caf::atom_constant<caf::atom("t_seen")>;

struct instances_state {
  std::vector<uint64_t> seen;
};

/// Stands in for a registry of instances: records each input's position;
/// the instance of `broken` fails.
caf::behavior instances(caf::stateful_actor<instances_state>* self) {
  return {
    [self](entity_id& id, input_atom, uint64_t pos) -> caf::result<void> {
      self->state.seen.push_back(pos);
      if (id.value == "broken")
        return make_error(errc::rejected, "broken instance");
      return caf::unit;
    },
    [self](seen_atom) { return self->state.seen; },
  };
}

} // namespace

TEST_CASE("a router hands inputs to their instances, skips and counts "
          "inputs that do not decode, and stores its checkpoint") {
  temp_dir dir;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  runtime_options opts;
  opts.journal_path = dir.path();
  opts.journal.sync = journal::sync_mode::none;
  auto rt = runtime::start(sys, opts);
  REQUIRE(rt);
  auto commit = [&](const std::string& stream, const std::string& type) {
    journal::write_group g;
    g.appends.push_back({stream, journal::expected_version::any(), {}});
    g.appends.back().events.push_back({});
    g.appends.back().events.back().type = type;
    self->request((*rt)->coordinator(), 10s, commit_atom::value, g)
      .receive([](journal::group_receipt&) {},
               [](caf::error& err) { FAIL(describe(err)); });
  };
  commit("order-1", "in");    // 1
  commit("order-2", "bad");   // 2
  commit("order-3", "other"); // 3
  commit("broken-1", "in");   // 4
  commit("order-4", "in");    // 5
  auto reg = sys.spawn(instances);
  input_dispatch fn = [](const journal::stored_event& ev)
    -> caf::expected<std::optional<std::pair<std::string, caf::message>>> {
    if (ev.record.type == "bad")
      return make_error(errc::corrupt_record, "does not decode");
    if (ev.record.type != "in")
      return std::nullopt;
    auto id = journal::category_of(ev.stream) == "broken" ? "broken" : "x";
    return std::optional<std::pair<std::string, caf::message>>{
      std::in_place, id, caf::make_message(input_atom::value, ev.position)};
  };
  router_settings rs;
  rs.read_chunk = 2;
  auto router
    = spawn_process_router(sys, "order", (*rt)->journal(), (*rt)->hub(),
                           (*rt)->coordinator(), reg, fn, rs);
  REQUIRE(router);
  (*rt)->adopt(*router);
  CHECK(await_caught_up(sys, *router, 5, 10s) == uint64_t{5});
  commit("order-5", "in"); // 6, from the live feed
  CHECK(await_caught_up(sys, *router, 6, 10s) == uint64_t{6});
  self->request(reg, 10s, seen_atom::value)
    .receive(
      [](std::vector<uint64_t>& xs) {
        CHECK(xs == std::vector<uint64_t>{1, 4, 5, 6});
      },
      [](caf::error& err) { FAIL(describe(err)); });
  self->request(*router, 10s, stats_atom::value)
    .receive(
      [](router_stats& st) {
        CHECK(st.undecodable_inputs == 1);
        CHECK(st.failed_inputs == 1);
        CHECK(st.subscription.checkpoint == 6);
        CHECK(st.subscription.delivered == 6);
        CHECK(st.subscription.from_feed == 1);
      },
      [](caf::error& err) { FAIL(describe(err)); });
  auto cp = (*rt)->journal()->checkpoint(router_checkpoint_of("order"));
  REQUIRE(cp);
  CHECK(*cp == std::optional<uint64_t>{6});
  self->send_exit(reg, caf::exit_reason::user_shutdown);
  (*rt)->stop();
}

TEST_CASE("a router refuses bad settings") {
  temp_dir dir;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  runtime_options opts;
  opts.journal_path = dir.path();
  auto rt = runtime::start(sys, opts);
  REQUIRE(rt);
  router_settings rs;
  rs.max_in_flight = 0;
  auto router = spawn_process_router(sys, "order", (*rt)->journal(),
                                     (*rt)->hub(), (*rt)->coordinator(),
                                     caf::actor{}, input_dispatch{}, rs);
  REQUIRE(!router);
  CHECK(code_of(router.error()) == errc::invalid_argument);
  (*rt)->stop();
}
