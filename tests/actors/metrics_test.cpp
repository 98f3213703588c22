#include "cairn/actors/metrics.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <map>
#include <sstream>

#include "caf/all.hpp"

#include "cairn/actors/atoms.hpp"
#include "cairn/actors/config.hpp"
#include "cairn/actors/runtime.hpp"
#include "cairn/actors/subscription.hpp"
#include "tests/actors/account.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cairn;
using namespace cairn::test;
using namespace std::chrono_literals;

namespace {

/// Fetches `url` with curl (a real HTTP client); returns its body, or an
/// empty string when curl fails (it gives up after 10 s).
std::string http_get(const std::string& url) {
  auto cmd = "curl --silent --show-error --fail --max-time 10 '" + url + "'";
  std::string body;
  if (auto f = popen(cmd.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
      body.append(buf, n);
    if (pclose(f) != 0)
      body.clear();
  }
  return body;
}

/// The samples of a text exposition: "name{labels}" -> value.
std::map<std::string, double> samples(const std::string& text) {
  std::map<std::string, double> result;
  std::istringstream in{text};
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#')
      continue;
    auto sp = line.rfind(' ');
    REQUIRE(sp != std::string::npos);
    result[line.substr(0, sp)] = std::stod(line.substr(sp + 1));
  }
  return result;
}

double at(const std::map<std::string, double>& xs, const std::string& key) {
  auto i = xs.find(key);
  if (i == xs.end())
    FAIL("no sample " << key);
  return i->second;
}

runtime_options options(const temp_dir& dir, bool metrics) {
  runtime_options opts;
  opts.journal_path = dir.path();
  opts.journal.sync = journal::sync_mode::none;
  opts.metrics.enabled = metrics;
  opts.metrics.port = 0;
  return opts;
}

} // namespace

TEST_CASE("a scrape over HTTP gives the numbers of a known workload") {
  temp_dir dir;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto r = runtime::start(sys, options(dir, true));
  REQUIRE(r);
  auto& rt = **r;
  REQUIRE(rt.metrics_port() != 0);
  auto url
    = "http://127.0.0.1:" + std::to_string(rt.metrics_port()) + "/metrics";
  // A subscription to $all whose handler acknowledges every batch.
  auto sink = sys.spawn([]() -> caf::behavior {
    return {[](events_atom, const std::vector<journal::stored_event>&) {}};
  });
  subscription_settings ss;
  ss.checkpoint = "audit";
  ss.store_checkpoint = false;
  REQUIRE(subscribe(rt, ss, deliver_to(sink)));
  // 3 accounts opened (3 events), 4 charges each (12 events), one refusal.
  caf::scoped_actor self{sys};
  auto accounts = rt.registry<account>();
  auto open = [&](const std::string& id, const std::string& guest) {
    bool ok = false;
    self->request(accounts, 10s, entity_id{id}, open_account{guest})
      .receive([&] { ok = true; }, [&](caf::error&) { ok = false; });
    return ok;
  };
  auto charge_100 = [&](const std::string& id) {
    bool ok = false;
    self->request(accounts, 10s, entity_id{id}, charge{100})
      .receive([&](int64_t) { ok = true; }, [&](caf::error&) { ok = false; });
    return ok;
  };
  for (auto id : {"a", "b", "c"}) {
    REQUIRE(open(id, id));
    for (int i = 0; i < 4; ++i)
      REQUIRE(charge_100(id));
  }
  CHECK_FALSE(open("a", "again"));
  // The subscription catches up: poll until its lag is 0 (bounded).
  std::map<std::string, double> xs;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  for (;;) {
    auto body = http_get(url);
    REQUIRE(!body.empty());
    xs = samples(body);
    auto lag
      = xs.find(R"(cairn_subscription_lag{kind="subscription",name="audit"})");
    if (lag != xs.end() && lag->second == 0)
      break;
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    self->receive(caf::after(20ms) >> [] {});
  }
  CHECK(at(xs, "cairn_events_total") == 15);
  CHECK(at(xs, R"(cairn_groups_total{outcome="committed"})") == 15);
  CHECK(at(xs, R"(cairn_groups_total{outcome="failed"})") == 0);
  CHECK(at(xs, "cairn_failed_commits_total") == 0);
  CHECK(at(xs, "cairn_journal_failed") == 0);
  CHECK(at(xs, "cairn_journal_last_position") == 15);
  auto commits = at(xs, "cairn_commits_total");
  CHECK(commits >= 1);
  CHECK(commits <= 15);
  CHECK(at(xs, "cairn_commit_seconds_count") == commits);
  CHECK(at(xs, "cairn_commit_events_sum") == 15);
  CHECK(at(xs, R"(cairn_commit_events_bucket{le="+Inf"})")
        == at(xs, "cairn_commit_events_count"));
  CHECK(at(xs, R"(cairn_entities_active{category="account"})") == 3);
  CHECK(at(xs, R"(cairn_entities_spawned_total{category="account"})") == 3);
  CHECK(at(xs, R"(cairn_entities_passivated_total{category="account"})") == 0);
  CHECK(
    at(
      xs,
      R"(cairn_subscription_delivered_total{kind="subscription",name="audit"})")
    == 15);
  CHECK(at(xs, "cairn_metrics_scrape_errors_total") == 0);
  // The endpoint serves only /metrics.
  CHECK(
    http_get("http://127.0.0.1:" + std::to_string(rt.metrics_port()) + "/other")
      .empty());
  rt.stop();
  CHECK(http_get(url).empty());
  caf::anon_send_exit(sink, caf::exit_reason::user_shutdown);
}

TEST_CASE("the metrics are off unless metrics.port is given") {
  temp_dir dir;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto r = runtime::start(sys, options(dir, false));
  REQUIRE(r);
  CHECK((*r)->metrics_port() == 0);
  // render_metrics works without an endpoint, e.g. for a program's own
  // HTTP server.
  auto xs = samples(render_metrics((*r)->shared()));
  CHECK(at(xs, "cairn_events_total") == 0);
  (*r)->stop();
}

TEST_CASE("a metrics port in use refuses the runtime's start and names the "
          "address") {
  temp_dir dir1;
  temp_dir dir2;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto r1 = runtime::start(sys, options(dir1, true));
  REQUIRE(r1);
  auto opts = options(dir2, true);
  opts.metrics.port = (*r1)->metrics_port();
  auto r2 = runtime::start(sys, opts);
  REQUIRE(!r2);
  CHECK(code_of(r2.error()) == errc::bad_config);
  CHECK(
    describe(r2.error()).find("127.0.0.1:" + std::to_string(opts.metrics.port))
    != std::string::npos);
  (*r1)->stop();
}

TEST_CASE("bad metrics keys are refused with the key's name") {
  temp_dir dir;
  auto load = [&](std::vector<std::string> args) {
    config cfg;
    cfg.config_file_path = dir.sub("none.ini");
    return cfg.load(std::move(args));
  };
  auto err = load({"--metrics.port=70000"});
  REQUIRE(err);
  CHECK(code_of(err) == errc::bad_config);
  CHECK(describe(err).find("metrics.port") != std::string::npos);
  err = load({"--metrics.port=-2"});
  REQUIRE(err);
  CHECK(describe(err).find("metrics.port") != std::string::npos);
  err = load({"--metrics.address="});
  REQUIRE(err);
  CHECK(describe(err).find("metrics.address") != std::string::npos);
  err = load({"--metrics.bogus=1"});
  REQUIRE(err);
  CHECK(describe(err).find("metrics.bogus") != std::string::npos);
  config ok;
  ok.config_file_path = dir.sub("none.ini");
  REQUIRE(!ok.load({"--metrics.port=0"}));
  auto opts = ok.runtime_options();
  CHECK(opts.metrics.enabled);
  CHECK(opts.metrics.port == 0);
}
