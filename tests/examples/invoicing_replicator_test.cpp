#include "examples/invoicing/replicator.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"

#include "cairn/actors/runtime.hpp"
#include "cairn/journal/journal.hpp"
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

/// A TCP port of 127.0.0.1 that was free a moment ago (for the gateways,
/// whose ports the members' list names before the nodes start).
uint16_t free_port() {
  auto fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  auto ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0
            && ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  REQUIRE(ok);
  return ntohs(addr.sin_port);
}

/// A source and its replica: their command lines, over the cluster (a
/// two-node cluster, `a` the source and `r` the replica) or over HTTP.
struct replica_setup {
  replica_setup(cairn::test::temp_dir& dir, bool clustered)
    : dir(dir), clustered(clustered) {
    if (clustered) {
      auto a = free_port();
      auto r = free_port();
      while (r == a)
        r = free_port();
      source_gateway = a;
      replica_gateway = r;
    }
  }

  std::vector<std::string> cluster_args(const char* id, uint16_t port) const {
    if (!clustered)
      return {};
    return {std::string{"--cluster.node-id="} + id,
            "--cluster.port=" + std::to_string(port),
            "--cluster.nodes=a@127.0.0.1:" + std::to_string(source_gateway)
              + ",r@127.0.0.1:" + std::to_string(replica_gateway),
            "--cluster.connection-timeout=2s"};
  }

  /// Starts the source on HTTP port `port` (0: any; then `source_port`).
  std::unique_ptr<cairn::test::child_process> start_source() {
    std::vector<std::string> args{"serve",
                                  "--http.port=" + std::to_string(source_port),
                                  "--journal.path=" + dir.sub("source")};
    auto more = cluster_args("a", source_gateway);
    args.insert(args.end(), more.begin(), more.end());
    uint16_t port = 0;
    auto child = start(args, port);
    if (source_port != 0)
      REQUIRE(port == source_port);
    source_port = port;
    return child;
  }

  std::unique_ptr<cairn::test::child_process> start_replica() {
    std::vector<std::string> args{
      "replica", "--source=127.0.0.1:" + std::to_string(source_port),
      "--path=" + dir.sub("replica"), "--port=0"};
    auto more = cluster_args("r", replica_gateway);
    args.insert(args.end(), more.begin(), more.end());
    return start(args, replica_port);
  }

  cairn::test::temp_dir& dir;
  bool clustered;
  uint16_t source_gateway = 0;
  uint16_t replica_gateway = 0;
  uint16_t source_port = 0;
  uint16_t replica_port = 0;
};

/// A client of 127.0.0.1:`port`.
std::unique_ptr<httplib::Client> client_of(uint16_t port) {
  auto c = std::make_unique<httplib::Client>("127.0.0.1", port);
  c->set_connection_timeout(2, 0);
  c->set_read_timeout(10, 0);
  return c;
}

/// The source's last position, from its feed.
uint64_t source_last(uint16_t source_port) {
  auto src = client_of(source_port);
  auto res = src->Get("/log?after=0&limit=1");
  REQUIRE(res);
  REQUIRE(res->status == 200);
  return json::parse(res->body)["last"].get<uint64_t>();
}

/// Waits (at most 30 s) until the replica has applied the source's log up
/// to `last` and reports no lag; returns its `GET /replica`.
json await_replica(uint16_t replica_port, uint64_t last) {
  auto rep = client_of(replica_port);
  auto deadline = clock_type::now() + 30s;
  json status;
  for (;;) {
    auto res = rep->Get("/replica");
    if (res && res->status == 200) {
      status = json::parse(res->body);
      if (status["position"] == last && status["lag"] == 0
          && status["source_last"] == last)
        return status;
    }
    if (clock_type::now() > deadline)
      FAIL("the replica did not catch up with position " << last << ": "
                                                         << status.dump());
    std::this_thread::sleep_for(20ms); // polling interval of the condition
  }
}

/// Checks that invoices 1..`n` are the same on the source and the replica,
/// field by field, and the replica's list counts them; returns how many
/// exist.
int require_equal(uint16_t source_port, uint16_t replica_port, int n) {
  auto src = client_of(source_port);
  auto rep = client_of(replica_port);
  int found = 0;
  for (int i = 1; i <= n; ++i) {
    auto path = "/invoices/" + std::to_string(i);
    auto a = src->Get(path.c_str());
    auto b = rep->Get(path.c_str());
    REQUIRE(a);
    REQUIRE(b);
    INFO(path << ": source " << a->body << " replica " << b->body);
    CHECK(a->status == b->status);
    if (a->status == 200) {
      ++found;
      CHECK(json::parse(a->body) == json::parse(b->body));
    }
  }
  auto page = rep->Get("/invoices?limit=100&offset=0");
  REQUIRE(page);
  CHECK(json::parse(page->body)["count"] == found);
  return found;
}

/// Writes invoices `first`..`last` to the source, each through a whole
/// life cycle; every request must succeed.
void write_invoices(uint16_t source_port, int first, int last) {
  auto c = client_of(source_port);
  auto post = [&](const std::string& path, const json& body) {
    auto res = c->Post(path.c_str(), body.dump(), "application/json");
    REQUIRE(res);
    INFO(path << ": " << res->body);
    REQUIRE(res->status / 100 == 2);
  };
  for (int i = first; i <= last; ++i) {
    auto id = std::to_string(i);
    post("/invoices", {{"id", id}, {"customer", "c" + std::to_string(i % 5)}});
    post("/invoices/" + id + "/items",
         {{"description", "item of " + id}, {"cents", 100 + i}});
    if (i % 2 == 0)
      post("/invoices/" + id + "/send", {{"address", "street " + id}});
    if (i % 4 == 0)
      post("/invoices/" + id + "/payments", {{"cents", 100 + i}});
  }
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

namespace {

/// Kills and restarts the replica at random moments while a writer writes
/// and after, and the source once; then the replica must catch up and hold
/// the source's invoices field by field.
void kill_and_restart(bool clustered) {
  cairn::test::temp_dir dir;
  auto seed = std::random_device{}();
  INFO("seed " << seed << (clustered ? ", over the cluster" : ", over HTTP"));
  std::mt19937 rng{seed};
  replica_setup setup{dir, clustered};
  auto source = setup.start_source();
  auto replica = setup.start_replica();
  auto source_port = setup.source_port;
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
  // it again on its ports.
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
      source = setup.start_source();
    }
    replica = setup.start_replica();
  }
  INFO(kills_while_writing << " replica kills while the writer wrote");
  writer.join();
  // Catch-up: the replica's position reaches the source's last position.
  auto last = source_last(source_port);
  CHECK(last > 0);
  auto status = await_replica(setup.replica_port, last);
  CHECK(status["mode"] == (clustered ? "cluster" : "http"));
  // Field by field: every invoice the source has, the replica has, equal.
  CHECK(require_equal(source_port, setup.replica_port, invoices) > 0);
  // Read-only: the replica refuses writes.
  auto rep = client_of(setup.replica_port);
  auto res = rep->Post("/invoices", R"({"id":"x","customer":"y"})",
                       "application/json");
  REQUIRE(res);
  CHECK(res->status == 405);
  CHECK(res->get_header_value("Allow") == "GET");
}

} // namespace

TEST_CASE("a replica killed and restarted at random moments, and a killed "
          "source, end with the source's invoices field by field") {
  kill_and_restart(false);
}

TEST_CASE("over the cluster, a replica killed and restarted at random "
          "moments, and a killed source, end with the source's invoices "
          "field by field") {
  kill_and_restart(true);
}

TEST_CASE("a replica over the cluster catches up with the source's log, "
          "then follows it") {
  cairn::test::temp_dir dir;
  replica_setup setup{dir, true};
  auto source = setup.start_source();
  write_invoices(setup.source_port, 1, 40);
  auto replica = setup.start_replica();
  // Catch-up: 40 invoices written before the replica started.
  auto last = source_last(setup.source_port);
  auto status = await_replica(setup.replica_port, last);
  CHECK(status["mode"] == "cluster");
  CHECK(status["source_node"] == "a");
  CHECK(status["link"] == "up");
  CHECK(status["failed_commits"] == 0);
  CHECK(require_equal(setup.source_port, setup.replica_port, 40) == 40);
  // Following: what the source writes now reaches the replica live.
  for (int round = 0; round < 3; ++round) {
    auto first = 41 + round * 5;
    write_invoices(setup.source_port, first, first + 4);
    last = source_last(setup.source_port);
    await_replica(setup.replica_port, last);
  }
  CHECK(require_equal(setup.source_port, setup.replica_port, 60) == 55);
  // Nothing of the source's log is in the replica's journal as events: it
  // holds the invoices as rows, and its checkpoint.
  replica.reset(); // SIGKILL: the journal is closed by the kernel
  auto j = cairn::journal::journal::open(dir.sub("replica"), {});
  REQUIRE(j);
  auto events = (*j)->read_all(1, 10);
  REQUIRE(events);
  CHECK(events->events.empty());
  auto cp = (*j)->checkpoint(invoice_replicator::checkpoint_name);
  REQUIRE(cp);
  CHECK(*cp == last);
}

TEST_CASE("a source that is down delays the replica over the cluster and "
          "loses nothing") {
  cairn::test::temp_dir dir;
  replica_setup setup{dir, true};
  auto source = setup.start_source();
  auto replica = setup.start_replica();
  write_invoices(setup.source_port, 1, 10);
  auto last = source_last(setup.source_port);
  await_replica(setup.replica_port, last);
  // The source dies: the replica goes on serving what it has, and says
  // that its link to the source is down.
  source->kill();
  source->wait();
  auto rep = client_of(setup.replica_port);
  auto deadline = clock_type::now() + 30s;
  for (;;) {
    auto res = rep->Get("/replica");
    REQUIRE(res);
    auto status = json::parse(res->body);
    CHECK(status["position"] == last);
    if (status["link"] == "down")
      break;
    if (clock_type::now() > deadline)
      FAIL("the replica's link did not go down: " << status.dump());
    std::this_thread::sleep_for(20ms); // polling interval of the condition
  }
  auto inv = rep->Get("/invoices/3");
  REQUIRE(inv);
  CHECK(inv->status == 200);
  // A replica that starts while its source is down serves its journal.
  replica->kill();
  replica->wait();
  replica = setup.start_replica();
  rep = client_of(setup.replica_port);
  auto res = rep->Get("/replica");
  REQUIRE(res);
  CHECK(json::parse(res->body)["position"] == last);
  inv = rep->Get("/invoices/10");
  REQUIRE(inv);
  CHECK(inv->status == 200);
  // The source comes back and writes more: the replica resumes after its
  // checkpoint, nothing lost, nothing twice.
  source = setup.start_source();
  write_invoices(setup.source_port, 11, 20);
  last = source_last(setup.source_port);
  await_replica(setup.replica_port, last);
  CHECK(require_equal(setup.source_port, setup.replica_port, 20) == 20);
}

TEST_CASE("a replica's batch moves its checkpoint over events of other "
          "categories and commits with its invoices") {
  cairn::test::temp_dir dir;
  auto j = cairn::journal::journal::open(dir.path(), {});
  REQUIRE(j);
  std::shared_ptr<cairn::journal::journal> shared{std::move(*j)};
  auto r = invoice_replicator::over(shared);
  std::vector<replica_entry> batch{
    {1, "a", invoice_created{"ACME"}},
    {2, "", std::nullopt},
    {3, "a", item_added{{"one", 100}}},
    {5, "", std::nullopt},
  };
  auto group = r->prepare(batch, 0);
  REQUIRE(group);
  REQUIRE(*group);
  REQUIRE((*group)->checkpoints.size() == 1);
  CHECK((*group)->checkpoints[0].second == 5);
  // Prepared, not committed: nothing changed yet.
  CHECK(*r->position() == 0);
  REQUIRE(shared->commit(**group));
  CHECK(*r->position() == 5);
  auto a = r->get("a");
  REQUIRE(a);
  REQUIRE(*a);
  CHECK((**a)["total"] == 100);
  // The same batch again: nothing new.
  auto again = r->prepare(batch, 0);
  REQUIRE(again);
  CHECK_FALSE(*again);
  // Out of order: refused.
  CHECK_FALSE(r->prepare({{7, "", std::nullopt}, {6, "", std::nullopt}}, 0));
}

TEST_CASE("cluster options that cannot work are refused before a replica "
          "or a source starts") {
  cairn::test::temp_dir dir;
  auto exit_code = [&](std::vector<std::string> args) {
    args.insert(args.begin(), cairn::test::bin_path("cairn-invoicing"));
    cairn::test::child_process child{args};
    std::string line;
    while (child.read_line(line, 30000))
      if (line.rfind("listening on", 0) == 0)
        FAIL("started with " << args.at(1) << " " << args.at(2));
    REQUIRE_FALSE(child.timed_out());
    auto status = child.wait();
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  auto source = "--source=127.0.0.1:1";
  auto path = "--path=" + dir.sub("replica");
  auto nodes = "--cluster.nodes=a@127.0.0.1:" + std::to_string(free_port())
               + ",b@127.0.0.1:" + std::to_string(free_port())
               + ",r@127.0.0.1:" + std::to_string(free_port());
  // No node id: the cluster keys alone do not make a node.
  CHECK(exit_code({"replica", source, path, "--cluster.port=0"}) == 1);
  // No members: the node would never join.
  CHECK(exit_code({"replica", source, path, "--cluster.node-id=r"}) == 1);
  // Two other members and no --source-node: which one?
  CHECK(exit_code({"replica", source, path, "--cluster.node-id=r", nodes})
        == 1);
  // --source-node without the cluster.
  CHECK(exit_code({"replica", source, path, "--source-node=a"}) == 1);
  // A source with a node id and no members.
  CHECK(
    exit_code({"serve", "--http.port=0", "--journal.path=" + dir.sub("source"),
               "--cluster.node-id=a"})
    == 1);
}
