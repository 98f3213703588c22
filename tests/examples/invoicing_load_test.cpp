#include "examples/invoicing/load.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"

#include "cairn/actors/runtime.hpp"
#include "examples/invoicing/http_server.hpp"
#include "tests/support/temp_dir.hpp"

using namespace invoicing;

TEST_CASE("load reads its url, clients and seconds, and refuses the rest") {
  std::string error;
  auto s = parse_load_args(
    {"--url=http://127.0.0.1:8080", "--clients=4", "--seconds=0.5"}, error);
  REQUIRE(s);
  CHECK(s->host == "127.0.0.1");
  CHECK(s->port == 8080);
  CHECK(s->clients == 4);
  CHECK(s->seconds == 0.5);
  CHECK_FALSE(parse_load_args({}, error));
  CHECK(error == "missing --url=http://HOST:PORT");
  CHECK_FALSE(parse_load_args({"--url=localhost:80"}, error));
  CHECK_FALSE(parse_load_args({"--url=http://h:0"}, error));
  CHECK_FALSE(parse_load_args({"--url=http://h:1", "--clients=0"}, error));
  CHECK_FALSE(parse_load_args({"--url=http://h:1", "--seconds=x"}, error));
  CHECK_FALSE(parse_load_args({"--url=http://h:1", "--fast"}, error));
  CHECK(error.find("--fast") != std::string::npos);
}

TEST_CASE("each durable POST that load counts is one event in the journal") {
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
    load_settings ls;
    ls.port = srv.port();
    ls.clients = 4;
    ls.seconds = 0.3;
    std::vector<std::string> ids;
    auto posts = load_posts(ls, "t", ids);
    CHECK(posts.errors == 0);
    CHECK(posts.requests > 0);
    CHECK(posts.p50_us <= posts.p99_us);
    auto last = (*rt)->journal()->last_position();
    REQUIRE(last);
    CHECK(*last == posts.requests);
    REQUIRE_FALSE(ids.empty());
    std::vector<std::string> paths;
    for (auto& id : ids)
      paths.push_back("/invoices/" + id);
    auto gets = load_gets(ls, paths);
    CHECK(gets.errors == 0);
    CHECK(gets.requests > 0);
    CHECK(*(*rt)->journal()->last_position() == posts.requests);
  }
  (*rt)->stop();
}
