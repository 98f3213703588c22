#include "cairn/actors/cluster/gateway.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "caf/all.hpp"

#include "cairn/actors/aggregate.hpp"
#include "cairn/actors/atoms.hpp"
#include "cairn/actors/cluster/detail/wire.hpp"
#include "cairn/actors/cluster/messages.hpp"
#include "cairn/actors/runtime.hpp"
#include "cairn/journal/errc.hpp"
#include "tests/support/temp_dir.hpp"

// The gateway alone, in one actor system without a network: a scoped actor
// plays a peer's link, an echo actor the local registry.

using namespace cairn;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace {

/// A command that both sides know.
struct ping {
  int32_t x = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ping& x) {
  return f(caf::meta::type_name("test.ping"), x.x);
}

/// A reply type that the gateway's node does not announce.
struct secret_reply {
  int32_t x = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, secret_reply& x) {
  return f(caf::meta::type_name("test.secret_reply"), x.x);
}

/// A command that only the sender's node announces.
struct foreign_command {
  int32_t x = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, foreign_command& x) {
  return f(caf::meta::type_name("test.foreign_command"), x.x);
}

struct gateway_config : caf::actor_system_config {
  gateway_config() {
    add_message_type<entity_id>("cairn.entity_id");
    add_message_type<ping>("test.ping");
    add_message_type<std::vector<cluster::forward_item>>(
      "cairn.cluster.forward_batch");
    add_message_type<std::vector<cluster::reply_item>>(
      "cairn.cluster.reply_batch");
    add_error_category(cairn_error_category, render_error);
  }
};

/// The configuration of a peer that knows one more command type.
struct peer_config : gateway_config {
  peer_config() {
    add_message_type<foreign_command>("test.foreign_command");
  }
};

/// The local registry: answers `ping{x}` with `x + 1`, and `ping{-1}` with
/// a `secret_reply`; counts what it got.
caf::behavior fake_registry(caf::event_based_actor*,
                            std::shared_ptr<std::vector<std::string>> got) {
  return {
    [got](entity_id& id, ping& p) -> caf::message {
      got->push_back(id.value);
      if (p.x < 0)
        return caf::make_message(secret_reply{p.x});
      return caf::make_message(p.x + 1);
    },
  };
}

struct fixture {
  fixture() {
    cluster::settings s;
    s.name = "gw";
    s.node_id = "a";
    s.shards = 64;
    s.nodes = {"a@127.0.0.1:1", "b@127.0.0.1:2"};
    auto m = cluster::membership::make(s);
    REQUIRE(m);
    members = std::make_shared<const cluster::membership>(std::move(*m));
    registry = sys.spawn(fake_registry, got);
    v = std::make_shared<cluster::view>([this](const std::string& category) {
      return category == "thing" ? registry : caf::actor{};
    });
    v->join(members, {});
    gateway = cluster::spawn_gateway(sys, v);
    for (int i = 0; on_a.empty() || on_b.empty(); ++i) {
      auto id = "t" + std::to_string(i);
      if (members->owner("thing", id).id == "a")
        on_a = id;
      else
        on_b = id;
    }
  }

  ~fixture() {
    caf::anon_send_exit(gateway, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(registry, caf::exit_reason::user_shutdown);
  }

  /// A batch item for command `msg` of `category`, written by `from`.
  cluster::forward_item item(uint64_t key, std::string category,
                             const caf::message& msg, caf::actor_system& from) {
    cluster::forward_item x;
    x.key = key;
    x.category = std::move(category);
    auto err
      = cluster::detail::to_bytes(from.dummy_execution_unit(), msg, x.command);
    REQUIRE(!err);
    return x;
  }

  /// Sends `items` as one batch and collects one reply per item, by key.
  std::map<uint64_t, caf::message>
  run(std::vector<cluster::forward_item> items) {
    std::map<uint64_t, caf::message> result;
    auto n = items.size();
    caf::scoped_actor self{sys};
    self->send(gateway, cluster::forward_batch_atom::value, std::move(items));
    while (result.size() < n) {
      self->receive(
        [&](cluster::reply_batch_atom, std::vector<cluster::reply_item>& xs) {
          for (auto& x : xs) {
            caf::message msg;
            auto err = cluster::detail::from_bytes(sys.dummy_execution_unit(),
                                                   x.reply, msg);
            REQUIRE(!err);
            result.emplace(x.key, std::move(msg));
          }
        },
        caf::after(10s) >> [&] { FAIL("no reply batch within 10 s"); });
    }
    return result;
  }

  gateway_config cfg;
  caf::actor_system sys{cfg};
  std::shared_ptr<std::vector<std::string>> got
    = std::make_shared<std::vector<std::string>>();
  std::shared_ptr<const cluster::membership> members;
  caf::actor registry;
  std::shared_ptr<cluster::view> v;
  caf::actor gateway;
  std::string on_a;
  std::string on_b;
};

std::string error_text(const caf::message& msg) {
  if (!msg.match_elements<caf::error>())
    return "not an error: " + to_string(msg);
  return describe(msg.get_as<caf::error>(0));
}

} // namespace

TEST_CASE("a gateway delivers the commands of a batch it owns and answers "
          "each by its key") {
  fixture f;
  std::vector<cluster::forward_item> items;
  for (uint64_t k = 0; k < 5; ++k)
    items.push_back(f.item(
      k, "thing",
      caf::make_message(entity_id{f.on_a}, ping{static_cast<int32_t>(k)}),
      f.sys));
  auto replies = f.run(std::move(items));
  REQUIRE(replies.size() == 5);
  for (auto& [key, msg] : replies) {
    INFO("key " << key << ": " << to_string(msg));
    REQUIRE(msg.match_elements<int32_t>());
    CHECK(msg.get_as<int32_t>(0) == static_cast<int32_t>(key) + 1);
  }
  CHECK(f.got->size() == 5);
}

TEST_CASE("a gateway refuses an entity its node does not own, names the "
          "owner and never spawns it") {
  fixture f;
  auto replies = f.run(
    {f.item(7, "thing", caf::make_message(entity_id{f.on_b}, ping{1}), f.sys),
     f.item(8, "thing", caf::make_message(entity_id{f.on_a}, ping{1}), f.sys)});
  REQUIRE(replies.size() == 2);
  auto& refused = replies.at(7);
  REQUIRE(refused.match_elements<caf::error>());
  CHECK(refused.get_as<caf::error>(0)
        == make_error(errc::entity_unavailable, ""));
  CHECK_THAT(error_text(refused),
             Contains("node 'a' does not own thing-" + f.on_b)
               && Contains("node 'b' does"));
  // The other command of the batch went on.
  CHECK(replies.at(8).match_elements<int32_t>());
  // The registry saw only the entity this node owns.
  CHECK(*f.got == std::vector<std::string>{f.on_a});
}

TEST_CASE("a gateway refuses a category its node has no aggregate of") {
  fixture f;
  auto replies = f.run({f.item(
    1, "nothing", caf::make_message(entity_id{f.on_a}, ping{1}), f.sys)});
  auto& msg = replies.at(1);
  REQUIRE(msg.match_elements<caf::error>());
  CHECK(msg.get_as<caf::error>(0) == make_error(errc::invalid_argument, ""));
  // Placement depends on the category: ask for the owner of the message's
  // entity under "nothing".
  auto owner = f.members->owner("nothing", f.on_a).id;
  if (owner == "a")
    CHECK_THAT(error_text(msg), Contains("no aggregate of category 'nothing'"));
  else
    CHECK_THAT(error_text(msg), Contains("does not own nothing-" + f.on_a));
}

TEST_CASE("a command of a type the gateway's node does not announce fails "
          "alone, with an error naming the type") {
  fixture f;
  peer_config pcfg;
  caf::actor_system peer{pcfg};
  auto replies = f.run(
    {f.item(1, "thing",
            caf::make_message(entity_id{f.on_a}, foreign_command{3}), peer),
     f.item(2, "thing", caf::make_message(entity_id{f.on_a}, ping{3}), peer)});
  REQUIRE(replies.size() == 2);
  auto& refused = replies.at(1);
  REQUIRE(refused.match_elements<caf::error>());
  CHECK(refused.get_as<caf::error>(0)
        == make_error(errc::invalid_argument, ""));
  CHECK_THAT(error_text(refused),
             Contains("'test.foreign_command' is not announced"));
  REQUIRE(replies.at(2).match_elements<int32_t>());
  CHECK(replies.at(2).get_as<int32_t>(0) == 4);
}

TEST_CASE("a reply of a type that is not announced comes back as an error "
          "naming the type instead of being lost") {
  fixture f;
  auto replies = f.run({f.item(
    1, "thing", caf::make_message(entity_id{f.on_a}, ping{-1}), f.sys)});
  auto& msg = replies.at(1);
  REQUIRE(msg.match_elements<caf::error>());
  CHECK(msg.get_as<caf::error>(0) == make_error(errc::invalid_argument, ""));
  CHECK_THAT(error_text(msg), Contains("secret_reply")
                                && Contains("is not announced on node 'a'"));
  // The single-command protocol checks the same.
  caf::scoped_actor self{f.sys};
  caf::error err;
  self
    ->request(f.gateway, 10s, cluster::forward_atom::value,
              std::string{"thing"}, entity_id{f.on_a},
              caf::make_message(ping{-1}))
    .receive([&](secret_reply&) { FAIL("an unannounced reply arrived"); },
             [&](caf::error& x) { err = std::move(x); });
  CHECK_THAT(describe(err), Contains("secret_reply"));
}

TEST_CASE("a gateway opens a feed of its node's log that sends one chunk at "
          "a time and stops with the gateway") {
  fixture f;
  // No log served yet.
  caf::scoped_actor self{f.sys};
  caf::error err;
  self
    ->request(f.gateway, 10s, cluster::remote_subscribe_atom::value,
              std::string{}, uint64_t{0}, uint64_t{2}, uint64_t{1})
    .receive([&](caf::actor&) { FAIL("a feed without a log"); },
             [&](caf::error& x) { err = std::move(x); });
  CHECK(code_of(err) == errc::entity_unavailable);
  CHECK_THAT(describe(err), Contains("serves no log"));
  // The node's log: a runtime's journal, five events.
  test::temp_dir dir;
  runtime_options opts;
  opts.journal_path = dir.path();
  opts.journal.sync = journal::sync_mode::none;
  auto rt = runtime::start(f.sys, opts);
  REQUIRE(rt);
  f.v->serve_log([&](subscription_settings s, subscription_factory make) {
    return spawn_subscription(f.sys, (*rt)->journal(), (*rt)->hub(),
                              (*rt)->coordinator(), std::move(s),
                              std::move(make));
  });
  for (int i = 0; i < 5; ++i) {
    journal::write_group g;
    g.appends.push_back({"thing-1", journal::expected_version::any(), {}});
    g.appends.back().events.push_back({});
    g.appends.back().events.back().type = "e";
    self->request((*rt)->coordinator(), 10s, commit_atom::value, g)
      .receive([](journal::group_receipt&) {},
               [](caf::error& x) { FAIL(describe(x)); });
  }
  // A chunk of 0 is refused, naming it.
  self
    ->request(f.gateway, 10s, cluster::remote_subscribe_atom::value,
              std::string{}, uint64_t{0}, uint64_t{0}, uint64_t{1})
    .receive([&](caf::actor&) { FAIL("a feed with a chunk of 0"); },
             [&](caf::error& x) { err = std::move(x); });
  CHECK(code_of(err) == errc::invalid_argument);
  CHECK_THAT(describe(err), Contains("chunk must be 1 to"));
  // After position 1, in chunks of 2: the next chunk once one is answered.
  caf::actor feed;
  self
    ->request(f.gateway, 10s, cluster::remote_subscribe_atom::value,
              std::string{}, uint64_t{1}, uint64_t{2}, uint64_t{7})
    .receive([&](caf::actor& x) { feed = std::move(x); },
             [&](caf::error& x) { FAIL(describe(x)); });
  REQUIRE(feed);
  std::vector<uint64_t> positions;
  while (positions.size() < 4) {
    self->receive(
      [&](cluster::remote_events_atom, uint64_t epoch,
          std::vector<journal::stored_event>& events) {
        CHECK(epoch == 7);
        CHECK(events.size() <= 2);
        for (auto& ev : events)
          positions.push_back(ev.position);
        // Not answered yet: the feed sends nothing more.
        self->receive(
          [&](cluster::remote_events_atom, uint64_t,
              std::vector<journal::stored_event>&) {
            FAIL("a second chunk before the first was answered");
          },
          caf::after(std::chrono::milliseconds{50}) >> [] {});
        return caf::unit;
      },
      caf::after(10s) >> [&] { FAIL("no events within 10 s"); });
  }
  CHECK(positions == std::vector<uint64_t>{2, 3, 4, 5});
  // The feed stops with the gateway.
  self->monitor(feed);
  caf::anon_send_exit(f.gateway, caf::exit_reason::user_shutdown);
  bool down = false;
  self->receive([&](caf::down_msg& msg) { down = msg.source == feed; },
                caf::after(10s) >>
                  [] { FAIL("the feed outlived its gateway"); });
  CHECK(down);
  (*rt)->stop();
}
