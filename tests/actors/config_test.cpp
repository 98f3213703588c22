#include "cairn/actors/config.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>

#include "caf/actor_system.hpp"

#include "cairn/journal/errc.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cairn;
using namespace cairn::test;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace {

/// A config whose default file is a path in a fresh directory, so that no
/// stray cairn.ini in the working directory changes the outcome.
struct fixture {
  temp_dir dir;
  config cfg;

  fixture() {
    cfg.config_file_path = dir.sub("cairn.ini");
  }

  /// Writes `text` as an INI file and returns `--config-file=<its path>`.
  std::string ini(const std::string& text, const std::string& name = "x.ini") {
    write_file(dir.sub(name), text);
    return "--config-file=" + dir.sub(name);
  }

  /// Loads `args` into a fresh config and returns the error's text; fails
  /// the test unless the error is `bad_config`.
  std::string refused(std::vector<std::string> args) {
    config fresh;
    fresh.config_file_path = dir.sub("cairn.ini");
    auto err = fresh.load(std::move(args));
    REQUIRE(err);
    CHECK(code_of(err) == errc::bad_config);
    return context_of(err);
  }
};

/// Returns the path of config/cairn.ini in the source tree: from
/// CAIRN_SOURCE_DIR if set, else from the path of this file.
std::string shipped_ini() {
  std::string dir;
  if (auto env = std::getenv("CAIRN_SOURCE_DIR")) {
    dir = env;
  } else {
    dir = __FILE__;
    dir.erase(dir.rfind("/tests/actors/"));
  }
  return dir + "/config/cairn.ini";
}

void check_defaults(const config& cfg) {
  CHECK(cfg.journal_path == "cairn-data");
  CHECK(cfg.journal_map_size == uint64_t{1} << 30);
  CHECK(cfg.journal_sync == journal::sync_mode::full);
  CHECK(cfg.journal_max_batch_events == 4096);
  CHECK(cfg.journal_max_batch_bytes == uint64_t{16} << 20);
  CHECK(cfg.journal_commit_thread == "worker");
  CHECK(!cfg.runtime_options().coordinator.own_thread);
  CHECK(cfg.aggregates_snapshot_every == 100);
  CHECK(cfg.aggregates_passivate_after == caf::timespan{2min});
  CHECK(cfg.aggregates_max_active == 100000);
  CHECK(cfg.aggregates_stash_capacity == 1024);
  CHECK(cfg.aggregates_recovery_chunk == 512);
  CHECK(cfg.cluster_name.empty());
  CHECK(cfg.cluster_node_id.empty());
  CHECK(cfg.cluster_port == 0);
  CHECK(cfg.cluster_nodes.empty());
  CHECK(cfg.cluster_shards == 1024);
  CHECK(cfg.cluster_heartbeat_interval == caf::timespan{500ms});
  CHECK(cfg.cluster_connection_timeout == caf::timespan{3s});
  CHECK(cfg.metrics_port == -1);
  CHECK(cfg.metrics_address == "127.0.0.1");
  CHECK(cfg.log_level == "warning");
  CHECK(cfg.runtime_options().log_level == log::level::warning);
  CHECK(!cfg.runtime_options().metrics.enabled);
}

} // namespace

TEST_CASE_METHOD(fixture, "without flags and file every key has its default") {
  REQUIRE(!cfg.load({}));
  CHECK(cfg.loaded_file().empty());
  check_defaults(cfg);
  CHECK(config{}.config_file_path == "cairn.ini");
}

TEST_CASE_METHOD(fixture, "command-line flags override the defaults") {
  auto err = cfg.load(
    {"--journal.path=/tmp/j", "--journal.map-size=64MiB",
     "--journal.sync=no-meta-sync", "--journal.max-batch-events=10",
     "--journal.max-batch-bytes=2097152", "--aggregates.snapshot-every=0",
     "--aggregates.passivate-after=500ms", "--aggregates.max-active=0",
     "--aggregates.stash-capacity=8", "--cluster.node-id=n1",
     "--cluster.port=4242", "--cluster.name=shop", "--cluster.shards=64",
     "--cluster.heartbeat-interval=200ms", "--cluster.connection-timeout=1s",
     "--cluster.nodes=[\"n1@a.example:1\", \"n2@[::1]:65535\"]"});
  INFO(describe(err));
  REQUIRE(!err);
  CHECK(cfg.journal_path == "/tmp/j");
  CHECK(cfg.journal_map_size == uint64_t{64} << 20);
  CHECK(cfg.journal_sync == journal::sync_mode::no_meta_sync);
  CHECK(cfg.journal_max_batch_events == 10);
  CHECK(cfg.journal_max_batch_bytes == uint64_t{2} << 20);
  CHECK(cfg.aggregates_snapshot_every == 0);
  CHECK(cfg.aggregates_passivate_after == caf::timespan{500ms});
  CHECK(cfg.aggregates_max_active == 0);
  CHECK(cfg.aggregates_stash_capacity == 8);
  CHECK(cfg.cluster_node_id == "n1");
  CHECK(cfg.cluster_port == 4242);
  CHECK(cfg.cluster_name == "shop");
  CHECK(cfg.cluster_shards == 64);
  CHECK(cfg.cluster_heartbeat_interval == caf::timespan{200ms});
  CHECK(cfg.cluster_connection_timeout == caf::timespan{1s});
  auto members = cfg.cluster_members();
  REQUIRE(members);
  REQUIRE(members->size() == 2);
  CHECK((*members)[0].id == "n1");
  CHECK((*members)[0].host == "a.example");
  CHECK((*members)[0].port == 1);
  CHECK((*members)[1].host == "::1");
  CHECK((*members)[1].port == 65535);
}

TEST_CASE_METHOD(fixture, "passivate-after accepts a plain 0 for never") {
  REQUIRE(!cfg.load({"--aggregates.passivate-after=0"}));
  CHECK(cfg.aggregates_passivate_after == caf::timespan{0});
}

TEST_CASE_METHOD(fixture, "the shipped config/cairn.ini loads and gives the "
                          "defaults") {
  auto path = shipped_ini();
  auto err = cfg.load({"--config-file=" + path});
  INFO(describe(err));
  REQUIRE(!err);
  CHECK(cfg.loaded_file() == path);
  check_defaults(cfg);
}

TEST_CASE_METHOD(fixture, "the config file is read and flags win over it") {
  auto flag = ini("[journal]\n"
                  "path = \"from-file\"\n"
                  "map-size = \"2GiB\"\n"
                  "sync = \"none\"\n"
                  "[aggregates]\n"
                  "passivate-after = 30s\n"
                  "snapshot-every = 7\n"
                  "[cluster]\n"
                  "name = \"shop\"\n"
                  "node-id = \"a\"\n"
                  "nodes = [\"a@10.0.0.1:4242\"]\n");
  REQUIRE(!cfg.load({flag, "--aggregates.snapshot-every=9"}));
  CHECK(cfg.journal_path == "from-file");
  CHECK(cfg.journal_map_size == uint64_t{2} << 30);
  CHECK(cfg.journal_sync == journal::sync_mode::none);
  CHECK(cfg.aggregates_passivate_after == caf::timespan{30s});
  CHECK(cfg.aggregates_snapshot_every == 9);
  CHECK(cfg.cluster_nodes == std::vector<std::string>{"a@10.0.0.1:4242"});
  CHECK(cfg.runtime_options().cluster.nodes == cfg.cluster_nodes);
}

TEST_CASE_METHOD(fixture, "the default file is read when no --config-file "
                          "is given") {
  write_file(cfg.config_file_path, "[journal]\npath = \"default-file\"\n");
  REQUIRE(!cfg.load({}));
  CHECK(cfg.loaded_file() == cfg.config_file_path);
  CHECK(cfg.journal_path == "default-file");
}

TEST_CASE_METHOD(fixture, "a bad sync mode is refused naming the key and "
                          "the accepted values") {
  CHECK(refused({"--journal.sync=fast"})
        == "journal.sync: 'fast' is not one of: full, no-meta-sync, none");
  auto text = refused({ini("[journal]\nsync = \"fast\"\n")});
  CHECK_THAT(text, Contains("journal.sync: 'fast' is not one of: full, "
                            "no-meta-sync, none"));
  CHECK_THAT(text, Contains("x.ini"));
}

TEST_CASE_METHOD(fixture, "a non-numeric number is refused naming the key") {
  auto text = refused({"--aggregates.snapshot-every=abc"});
  CHECK_THAT(text, Contains("aggregates.snapshot-every: 'abc' is not a "
                            "non-negative integer"));
  CHECK_THAT(refused({"--aggregates.snapshot-every=-1"}),
             Contains("aggregates.snapshot-every"));
  CHECK_THAT(refused({"--journal.map-size=12XB"}),
             Contains("journal.map-size: '12XB'"));
  CHECK_THAT(refused({"--cluster.port=70000"}),
             Contains("cluster.port: '70000' is not a port number"));
  CHECK_THAT(refused({"--aggregates.passivate-after=soon"}),
             Contains("aggregates.passivate-after: 'soon' is not a "
                      "timespan"));
}

TEST_CASE_METHOD(fixture, "a mistyped value in the file is refused, not "
                          "dropped") {
  // CAF 0.17 alone would silently keep the default for these.
  CHECK_THAT(refused({ini("[aggregates]\nsnapshot-every = \"abc\"\n")}),
             Contains("aggregates.snapshot-every: 'abc' is not a "
                      "non-negative integer"));
  CHECK_THAT(refused({ini("[cluster]\nport = 70000\n")}),
             Contains("cluster.port: '70000'"));
  CHECK_THAT(refused({ini("[journal]\nmap-size = \"lots\"\n")}),
             Contains("journal.map-size: 'lots'"));
}

TEST_CASE_METHOD(fixture, "a syntax error in the file names the key") {
  auto text = refused({ini("[journal]\n; comment\nsync = fast\n")});
  CHECK_THAT(text, Contains("journal.sync: 'fast' is not one of"));
  CHECK_THAT(text, Contains("line 3"));
  CHECK_THAT(text, Contains("double quotes"));
}

TEST_CASE_METHOD(fixture, "a zero stash capacity is refused") {
  CHECK(refused({"--aggregates.stash-capacity=0"})
        == "aggregates.stash-capacity: '0' is not a positive integer");
  CHECK(refused({"--aggregates.recovery-chunk=0"})
        == "aggregates.recovery-chunk: '0' is not a positive integer");
  CHECK_THAT(refused({"--journal.max-batch-events=0"}),
             Contains("journal.max-batch-events"));
  CHECK_THAT(refused({"--journal.map-size=1KiB"}),
             Contains("journal.map-size: '1024' is not a byte count of at "
                      "least 1MiB"));
}

TEST_CASE_METHOD(fixture, "the commit thread is a worker or the writer's own") {
  REQUIRE(!cfg.load({"--journal.commit-thread=own"}));
  CHECK(cfg.runtime_options().coordinator.own_thread);
  config from_file;
  from_file.config_file_path = dir.sub("cairn.ini");
  REQUIRE(!from_file.load({ini("[journal]\ncommit-thread = \"worker\"\n")}));
  CHECK(!from_file.runtime_options().coordinator.own_thread);
  CHECK(refused({"--journal.commit-thread=detached"})
        == "journal.commit-thread: 'detached' is not one of: worker, own");
}

TEST_CASE_METHOD(fixture, "a bad cluster node is refused") {
  for (auto bad : {"x@nohost", "x@host:", "x@:4242", "x@host:0", "x@host:65536",
                   "x@host:42x", "x@::1:4242", "host:1"}) {
    INFO(bad);
    auto text = refused({"--cluster.name=c", "--cluster.node-id=ok",
                         std::string{"--cluster.nodes=ok@h:1,"} + bad});
    CHECK_THAT(text, Contains("cluster.nodes"));
    CHECK_THAT(text, Contains(bad));
  }
}

TEST_CASE_METHOD(fixture, "an invalid cluster is refused naming the key") {
  std::vector<std::string> ok{"--cluster.name=c", "--cluster.node-id=a",
                              "--cluster.nodes=a@h:1,b@h:2"};
  REQUIRE(!cfg.load(ok));
  auto with = [&](std::string flag) {
    auto args = ok;
    args.push_back(std::move(flag));
    return args;
  };
  CHECK_THAT(refused(with("--cluster.node-id=z")),
             Contains("cluster.node-id: 'z' is not one of"));
  CHECK_THAT(refused(with("--cluster.name=")), Contains("cluster.name"));
  CHECK_THAT(refused(with("--cluster.shards=0")),
             Contains("cluster.shards: '0'"));
  CHECK_THAT(refused(with("--cluster.connection-timeout=100ms")),
             Contains("cluster.connection-timeout"));
  CHECK_THAT(refused(with("--cluster.nodes=a@h:1,a@h:2")),
             Contains("cluster.nodes: the id 'a' is listed twice"));
}

TEST_CASE_METHOD(fixture, "an unknown key of Cairn's groups is refused") {
  auto text = refused({"--journal.pth=x"});
  CHECK_THAT(text, Contains("journal.pth: unknown key (command line)"));
  CHECK_THAT(text, Contains("path, map-size, sync"));
  text = refused({ini("[journal]\npath = \"x\"\n[aggregates]\n"
                      "snapshot-evry = 5\n")});
  CHECK_THAT(text, Contains("aggregates.snapshot-evry: unknown key"));
  CHECK_THAT(text, Contains("x.ini"));
  CHECK_THAT(text, Contains("snapshot-every"));
}

TEST_CASE_METHOD(fixture, "other bad arguments are refused too") {
  CHECK_THAT(refused({"--no-such-flag"}), Contains("--no-such-flag"));
  CHECK_THAT(refused({"--config-file=" + dir.sub("missing.ini")}),
             Contains("missing.ini"));
  CHECK_THAT(refused({"run", "--journal.path=x"}),
             Contains("journal.path: the flag '--journal.path=x' follows"));
}

TEST_CASE_METHOD(fixture, "validate checks values set in code") {
  REQUIRE(!cfg.validate());
  cfg.journal_path.clear();
  CHECK_THAT(context_of(cfg.validate()), Contains("journal.path"));
  cfg.journal_path = "x";
  cfg.aggregates_passivate_after = caf::timespan{-1};
  CHECK_THAT(context_of(cfg.validate()),
             Contains("aggregates.passivate-after"));
}

TEST_CASE_METHOD(fixture, "the config converts to runtime options") {
  REQUIRE(!cfg.load(
    {"--journal.path=/tmp/j", "--journal.map-size=2TiB", "--journal.sync=none",
     "--journal.max-batch-events=10", "--journal.max-batch-bytes=1MiB",
     "--aggregates.snapshot-every=5", "--aggregates.passivate-after=1s",
     "--aggregates.max-active=3", "--aggregates.stash-capacity=2",
     "--aggregates.recovery-chunk=7"}));
  auto opts = cfg.runtime_options();
  CHECK(opts.journal_path == "/tmp/j");
  CHECK(opts.journal.map_size == uint64_t{2} << 40);
  CHECK(opts.journal.max_map_size >= opts.journal.map_size);
  CHECK(opts.journal.sync == journal::sync_mode::none);
  CHECK(opts.coordinator.max_batch_events == 10);
  CHECK(opts.coordinator.max_batch_bytes == uint64_t{1} << 20);
  CHECK(opts.aggregates.snapshot_every == 5);
  CHECK(opts.aggregates.recovery_chunk == 7);
  CHECK(opts.aggregates.stash_capacity == 2);
  CHECK(opts.registry.passivate_after == caf::timespan{1s});
  CHECK(opts.registry.max_active == 3);
}

TEST_CASE("byte sizes take an integer or a binary unit") {
  CHECK(*parse_byte_size("0") == 0);
  CHECK(*parse_byte_size("1073741824") == uint64_t{1} << 30);
  CHECK(*parse_byte_size("512B") == 512);
  CHECK(*parse_byte_size("4KiB") == 4096);
  CHECK(*parse_byte_size("64MiB") == uint64_t{64} << 20);
  CHECK(*parse_byte_size("1 GiB") == uint64_t{1} << 30);
  CHECK(*parse_byte_size("3TiB") == uint64_t{3} << 40);
  for (auto bad : {"", "MiB", "1MB", "1.5GiB", "-1", "99999999999999999999",
                   "17179869184GiB"}) {
    INFO(bad);
    auto x = parse_byte_size(bad);
    REQUIRE(!x);
    CHECK(code_of(x.error()) == errc::bad_config);
  }
}

TEST_CASE("an actor system renders Cairn's errors readably") {
  config cfg;
  caf::actor_system sys{cfg};
  auto err = make_error(errc::bad_config, "journal.sync: 'fast'");
  CHECK(sys.render(err) == "bad_config: journal.sync: 'fast'");
}

TEST_CASE_METHOD(fixture,
                 "the scheduler is Cairn's by default, CAF's on request, and "
                 "an unknown policy is refused") {
  REQUIRE(!cfg.load({}));
  CHECK(caf::get_or(cfg, "scheduler.policy", caf::atom(""))
        == caf::atom("cairn"));
  CHECK(cfg.module_factories.size() == 1); // Cairn's scheduler
  config caf_own;
  caf_own.config_file_path = dir.sub("cairn.ini");
  REQUIRE(!caf_own.load({"--scheduler.policy=sharing"}));
  CHECK(caf_own.module_factories.empty());
  CHECK_THAT(refused({"--scheduler.policy=fast"}),
             Contains("scheduler.policy: 'fast' is not one of: cairn, "
                      "stealing, sharing"));
  CHECK_THAT(refused({ini("[scheduler]\npolicy = 'fast'\n")}),
             Contains("scheduler.policy: 'fast'"));
}
