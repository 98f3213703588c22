#include "examples/invoicing/replicator.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"

#include "cairn/actors/runtime.hpp"
#include "examples/invoicing/http_server.hpp"
#include "examples/invoicing/invoice_list.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace invoicing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

using clock_type = std::chrono::steady_clock;

/// A feed entry as the source makes it.
json entry(uint64_t position, const std::string& id,
           const invoice::events::variant_type& ev) {
  auto e = event_to_json(ev);
  e["position"] = position;
  e["id"] = id;
  return e;
}

json feed(std::vector<json> events, uint64_t next) {
  return {{"events", events}, {"next", next}, {"last", next}};
}

/// Starts `cairn-invoicing` with `args` and reads its port.
std::unique_ptr<cairn::test::child_process>
start(const std::vector<std::string>& args, uint16_t& port) {
  std::vector<std::string> argv{cairn::test::bin_path("cairn-invoicing")};
  argv.insert(argv.end(), args.begin(), args.end());
  auto child = std::make_unique<cairn::test::child_process>(argv);
  std::string line;
  const std::string prefix = "listening on 127.0.0.1:";
  while (child->read_line(line, 30000))
    if (line.rfind(prefix, 0) == 0) {
      port = static_cast<uint16_t>(std::stoi(line.substr(prefix.size())));
      return child;
    }
  FAIL("cairn-invoicing " << args.at(0) << " did not print its port");
  return nullptr;
}

} // namespace

TEST_CASE("events travel through the feed's JSON unchanged") {
  std::vector<invoice::events::variant_type> events{
    invoice_created{"A \"quoted\" <name>"}, item_added{{"x", 1250}},
    invoice_sent{"1 Main Street"}, invoice_paid{1250}};
  for (auto& ev : events) {
    auto back = event_from_json(event_to_json(ev));
    REQUIRE(back);
    CHECK(back->index() == ev.index());
    CHECK(event_to_json(*back) == event_to_json(ev));
  }
  CHECK_FALSE(
    event_from_json(json{{"type", "invoice_lost"}, {"data", json::object()}}));
  CHECK_FALSE(event_from_json(
    json{{"type", "item_added"}, {"data", {{"description", "x"}}}}));
  CHECK_FALSE(event_from_json(json::array()));
}

TEST_CASE("a replica folds the feed into invoices, skips what it applied, "
          "and resumes after reopening") {
  cairn::test::temp_dir dir;
  {
    auto rep
      = invoice_replicator::open(dir.path(), cairn::journal::sync_mode::none);
    REQUIRE(rep);
    auto& r = **rep;
    CHECK(*r.position() == 0);
    auto batch = feed({entry(1, "a", invoice_created{"ACME"}),
                       entry(3, "a", item_added{{"one", 100}}),
                       entry(4, "b", invoice_created{"Bea"})},
                      5);
    auto pos = r.apply(batch);
    REQUIRE(pos);
    CHECK(*pos == 5);
    // The same batch again (a replica that died before it knew): nothing
    // counts twice.
    CHECK(*r.apply(batch) == 5);
    auto a = r.get("a");
    REQUIRE(a);
    REQUIRE(*a);
    CHECK((**a)["total"] == 100);
    CHECK((**a)["items"].size() == 1);
    // Out of order: refused whole.
    auto bad = r.apply(feed({entry(7, "a", item_added{{"two", 5}}),
                             entry(6, "a", item_added{{"three", 5}})},
                            7));
    CHECK_FALSE(bad);
    CHECK(*r.position() == 5);
    CHECK_FALSE(r.apply(json{{"events", 1}}));
    CHECK_FALSE(r.apply(feed({json{{"position", 9}}}, 9)));
    CHECK(*r.position() == 5);
  }
  auto rep
    = invoice_replicator::open(dir.path(), cairn::journal::sync_mode::none);
  REQUIRE(rep);
  auto& r = **rep;
  CHECK(*r.position() == 5);
  REQUIRE(r.apply(feed({entry(3, "a", item_added{{"one", 100}}),
                        entry(6, "a", item_added{{"two", 250}}),
                        entry(8, "a", invoice_sent{"home"})},
                       9)));
  auto a = r.get("a");
  REQUIRE(a);
  REQUIRE(*a);
  CHECK((**a)["total"] == 350);
  CHECK((**a)["state"] == "sent");
  CHECK((**a)["address"] == "home");
  auto page = r.list(0, 10);
  REQUIRE(page);
  REQUIRE((*page)["invoices"].size() == 2);
  CHECK((*page)["invoices"][0]["id"] == "a");
  CHECK((*page)["invoices"][0]["items"] == 2);
  CHECK((*page)["invoices"][1]["id"] == "b");
  CHECK((*page)["position"] == 9);
  auto none = r.get("zzz");
  REQUIRE(none);
  CHECK_FALSE(*none);
}

TEST_CASE("the source's feed pages its invoice events in log order") {
  cairn::test::temp_dir dir;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  cairn::runtime_options opts;
  opts.journal_path = dir.sub("journal");
  opts.journal.sync = cairn::journal::sync_mode::none;
  auto rt = cairn::runtime::start(sys, opts);
  REQUIRE(rt);
  {
    http_settings hs;
    hs.port = 0;
    http_server srv{sys, **rt, hs};
    REQUIRE_FALSE(srv.start());
    httplib::Client c{"127.0.0.1", srv.port()};
    c.set_read_timeout(30, 0);
    auto post = [&](const std::string& path, const json& body) {
      auto res = c.Post(path.c_str(), body.dump(), "application/json");
      REQUIRE(res);
      REQUIRE(res->status / 100 == 2);
    };
    post("/invoices", {{"id", "1"}, {"customer", "ACME"}});
    post("/invoices/1/items", {{"description", "x"}, {"cents", 7}});
    post("/invoices", {{"id", "2"}, {"customer", "Bea"}});
    auto res = c.Get("/log?after=0&limit=2");
    REQUIRE(res);
    auto f = json::parse(res->body);
    REQUIRE(f["events"].size() == 2);
    CHECK(f["events"][0]["position"] == 1);
    CHECK(f["events"][0]["type"] == "invoice_created");
    CHECK(f["events"][1]["data"]["cents"] == 7);
    CHECK(f["next"] == 2);
    CHECK(f["last"] == 3);
    f = json::parse(c.Get("/log?after=2")->body);
    REQUIRE(f["events"].size() == 1);
    CHECK(f["events"][0]["id"] == "2");
    CHECK(f["next"] == 3);
    f = json::parse(c.Get("/log?after=3")->body);
    CHECK(f["events"].empty());
    CHECK(f["next"] == 3);
    res = c.Get("/log?after=x");
    REQUIRE(res);
    CHECK(res->status == 400);
  }
  (*rt)->stop();
}

TEST_CASE("a replica killed and restarted at random moments, and a killed "
          "source, end with the source's invoices field by field") {
  cairn::test::temp_dir dir;
  auto seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937 rng{seed};
  uint16_t source_port = 0;
  auto source_args = [&](uint16_t port) {
    return std::vector<std::string>{"serve",
                                    "--http.port=" + std::to_string(port),
                                    "--journal.path=" + dir.sub("source")};
  };
  auto source = start(source_args(0), source_port);
  auto replica_args = std::vector<std::string>{
    "replica", "--source=127.0.0.1:" + std::to_string(source_port),
    "--path=" + dir.sub("replica"), "--port=0"};
  uint16_t replica_port = 0;
  auto replica = start(replica_args, replica_port);
  // The writer: invoices through random life cycles; a request that gets
  // no answer (the source is down) is not retried.
  constexpr int invoices = 150;
  std::atomic<bool> writer_done{false};
  std::thread writer{[&, wseed = rng()] {
    std::mt19937 wrng{wseed};
    httplib::Client c{"127.0.0.1", source_port};
    c.set_connection_timeout(2, 0);
    c.set_read_timeout(10, 0);
    auto post = [&](const std::string& path, const json& body) {
      c.Post(path.c_str(), body.dump(), "application/json");
    };
    for (int i = 1; i <= invoices; ++i) {
      auto id = std::to_string(i);
      post("/invoices",
           {{"id", id}, {"customer", "c" + std::to_string(i % 7)}});
      int64_t total = 0;
      for (int k = 0, n = 1 + static_cast<int>(wrng() % 3); k < n; ++k) {
        auto cents = 100 + static_cast<int64_t>(wrng() % 900);
        post("/invoices/" + id + "/items",
             {{"description", "item " + std::to_string(k)}, {"cents", cents}});
        total += cents;
      }
      if (wrng() % 3 != 0) {
        post("/invoices/" + id + "/send", {{"address", "street " + id}});
        if (wrng() % 2 == 0)
          post("/invoices/" + id + "/payments", {{"cents", total}});
      }
    }
    writer_done = true;
  }};
  // Kill the replica at random moments and start it again, while the
  // writer writes and after; kill the source once, in the middle, and start
  // it again on its port.
  bool source_killed = false;
  int kills_while_writing = 0;
  for (int round = 0; round < 6 || !writer_done; ++round) {
    auto until
      = clock_type::now() + std::chrono::milliseconds{10 + rng() % 100};
    while (clock_type::now() < until)
      std::this_thread::sleep_for(2ms); // a random moment, not a sync
    if (!writer_done)
      ++kills_while_writing;
    replica->kill();
    replica->wait();
    if (!source_killed && round >= 2) {
      source->kill();
      source->wait();
      source_killed = true;
      uint16_t port = 0;
      source = start(source_args(source_port), port);
      REQUIRE(port == source_port);
    }
    replica = start(replica_args, replica_port);
  }
  INFO(kills_while_writing << " replica kills while the writer wrote");
  writer.join();
  // Catch-up: the replica's position reaches the source's last position.
  httplib::Client src{"127.0.0.1", source_port};
  src.set_read_timeout(10, 0);
  httplib::Client rep{"127.0.0.1", replica_port};
  rep.set_read_timeout(10, 0);
  auto last_res = src.Get("/log?after=0&limit=1");
  REQUIRE(last_res);
  auto last = json::parse(last_res->body)["last"].get<uint64_t>();
  CHECK(last > 0);
  auto deadline = clock_type::now() + 30s;
  json status;
  for (;;) {
    auto res = rep.Get("/replica");
    if (res && res->status == 200) {
      status = json::parse(res->body);
      if (status["position"] == last && status["lag"] == 0)
        break;
    }
    if (clock_type::now() > deadline)
      FAIL("the replica did not catch up with position " << last << ": "
                                                         << status.dump());
    std::this_thread::sleep_for(20ms); // polling interval of the condition
  }
  // Field by field: every invoice the source has, the replica has, equal.
  int found = 0;
  for (int i = 1; i <= invoices; ++i) {
    auto path = "/invoices/" + std::to_string(i);
    auto a = src.Get(path.c_str());
    auto b = rep.Get(path.c_str());
    REQUIRE(a);
    REQUIRE(b);
    INFO(path << ": source " << a->body << " replica " << b->body);
    CHECK(a->status == b->status);
    if (a->status == 200) {
      ++found;
      CHECK(json::parse(a->body) == json::parse(b->body));
    }
  }
  CHECK(found > 0);
  auto page = json::parse(rep.Get("/invoices?limit=100")->body);
  CHECK(page["count"] == found);
  // Read-only: the replica refuses writes.
  auto res
    = rep.Post("/invoices", R"({"id":"x","customer":"y"})", "application/json");
  REQUIRE(res);
  CHECK(res->status == 405);
  CHECK(res->get_header_value("Allow") == "GET");
}
