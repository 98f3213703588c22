// Smoke tests of cairn-bench: it runs end to end on tiny sizes and prints one
// valid JSON object. Not timed: nothing here asserts on speed.

#include <catch2/catch.hpp>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "tests/support/child_process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cairn;

namespace {

/// A strict little JSON reader that keeps the numbers of the top-level
/// object; nested values are checked for syntax and skipped.
class json_reader {
public:
  explicit json_reader(const std::string& text) : text_(text) {
    // nop
  }

  /// Parses the whole text as one object; false on any syntax error.
  bool parse_object(std::map<std::string, double>& numbers) {
    skip_ws();
    if (!object(&numbers))
      return false;
    skip_ws();
    return pos_ == text_.size();
  }

private:
  bool object(std::map<std::string, double>* numbers) {
    if (!eat('{'))
      return false;
    skip_ws();
    if (eat('}'))
      return true;
    do {
      skip_ws();
      std::string key;
      if (!string(key))
        return false;
      skip_ws();
      if (!eat(':'))
        return false;
      skip_ws();
      if (!value(numbers != nullptr ? &(*numbers)[key] : nullptr))
        return false;
      skip_ws();
    } while (eat(','));
    return eat('}');
  }

  bool value(double* number) {
    if (peek() == '{')
      return object(nullptr);
    if (peek() == '"') {
      std::string ignored;
      return string(ignored);
    }
    for (auto word : {"true", "false", "null"})
      if (text_.compare(pos_, std::strlen(word), word) == 0) {
        pos_ += std::strlen(word);
        return true;
      }
    const char* begin = text_.c_str() + pos_;
    char* end = nullptr;
    auto x = std::strtod(begin, &end);
    if (end == begin)
      return false;
    pos_ += static_cast<size_t>(end - begin);
    if (number != nullptr)
      *number = x;
    return true;
  }

  bool string(std::string& out) {
    if (!eat('"'))
      return false;
    while (pos_ < text_.size() && text_[pos_] != '"') {
      if (text_[pos_] == '\\')
        ++pos_;
      out += text_[pos_++];
    }
    return eat('"');
  }

  char peek() const {
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }

  bool eat(char ch) {
    if (peek() != ch)
      return false;
    ++pos_;
    return true;
  }

  void skip_ws() {
    while (pos_ < text_.size()
           && std::isspace(static_cast<unsigned char>(text_[pos_])))
      ++pos_;
  }

  const std::string& text_;
  size_t pos_ = 0;
};

bool dir_is_empty(const std::string& path) {
  return std::filesystem::is_empty(path);
}

/// Whether `path` is an SVG file with at least one drawn line.
bool svg_has_lines(const std::string& path) {
  std::ifstream in{path};
  std::ostringstream text;
  text << in.rdbuf();
  auto svg = text.str();
  return svg.find("<svg") != std::string::npos
         && svg.find("</svg>") != std::string::npos
         && svg.find("<path") != std::string::npos;
}

/// Checks that `output` tells the bytes written per event of Cairn's side
/// and raw LMDB's (the first of each), at least the 200-byte event each.
void check_bytes_written(const std::string& output) {
  for (auto key :
       {"\"raw_write_bytes_per_event\": ", "\"write_bytes_per_event\": "}) {
    INFO("key " << key);
    auto at = output.find(key);
    REQUIRE(at != std::string::npos);
    CHECK(std::strtod(output.c_str() + at + std::strlen(key), nullptr) >= 200);
  }
}

/// Checks that `output` has JSON key `key` at least `count` times (once
/// per case of a bench), each with a positive number.
void check_positive_at_each(const std::string& output, const std::string& key,
                            size_t count) {
  INFO("key " << key);
  auto quoted = "\"" + key + "\": ";
  size_t found = 0;
  for (auto at = output.find(quoted); at != std::string::npos;
       at = output.find(quoted, at + 1)) {
    ++found;
    CHECK(std::strtod(output.c_str() + at + quoted.size(), nullptr) > 0);
  }
  CHECK(found >= count);
}

} // namespace

TEST_CASE("cairn-bench journal --quick --json prints every figure") {
  test::temp_dir tmp;
  auto res = test::run({test::bin_path("cairn-bench"), "journal", "--quick",
                        "--json", "--dir", tmp.path()},
                       120000);
  INFO(res.output);
  REQUIRE(res.exit_code == 0);
  std::map<std::string, double> numbers;
  json_reader reader{res.output};
  REQUIRE(reader.parse_object(numbers));
  for (auto key :
       {"events_per_s", "raw_events_per_s", "append_ratio",
        "read_events_per_s", "raw_scan_per_s", "read_ratio", "view_read_per_s",
        "view_read_ratio", "raw_scan_decode_per_s", "read_vs_raw_decode_ratio",
        "log_read_per_s", "log_read_vs_raw_decode_ratio"}) {
    INFO("key " << key);
    REQUIRE(numbers.count(key) == 1);
    CHECK(numbers[key] > 0);
  }
  CHECK(res.output.find("\"append_target_met\"") != std::string::npos);
  CHECK(res.output.find("\"read_target_met\"") != std::string::npos);
  CHECK(res.output.find("\"batches\"") != std::string::npos);
  CHECK(res.output.find("\"conditions\"") != std::string::npos);
  // Each batch size tells the bytes each side wrote per event.
  check_bytes_written(res.output);
  // And the CPU time of a commit on each side.
  for (auto key : {"\"raw_cpu_us_per_commit\": ", "\"cpu_us_per_commit\": "}) {
    INFO("key " << key);
    CHECK(res.output.find(key) != std::string::npos);
  }
  // The benchmark removed its temporary directory.
  CHECK(dir_is_empty(tmp.path()));
}

TEST_CASE("cairn-bench persist --quick --json prints every figure and "
          "--plot draws its charts") {
  test::temp_dir tmp;
  test::temp_dir charts;
  auto res = test::run({test::bin_path("cairn-bench"), "persist", "--quick",
                        "--json", "--dir", tmp.path(), "--plot", charts.path()},
                       120000);
  INFO(res.output);
  REQUIRE(res.exit_code == 0);
  std::map<std::string, double> numbers;
  json_reader reader{res.output};
  REQUIRE(reader.parse_object(numbers));
  for (auto key : {"events_per_s", "raw_batched_events_per_s",
                   "txn_per_event_events_per_s", "ratio_vs_raw",
                   "speedup_vs_txn_per_event", "events_per_commit", "p50_ms",
                   "p99_ms", "rss_bytes_per_entity"}) {
    INFO("key " << key);
    REQUIRE(numbers.count(key) == 1);
    CHECK(numbers[key] > 0);
  }
  for (auto key :
       {"\"ratio_target_met\"", "\"speedup_target_met\"", "\"p99_target_met\"",
        "\"rss_target_met\"", "\"per_entities\"", "\"conditions\""}) {
    INFO("key " << key);
    CHECK(res.output.find(key) != std::string::npos);
  }
  // Each N tells the bytes its commits wrote per event, and raw LMDB's in
  // the same batches.
  check_bytes_written(res.output);
  // ... and the CPU time of the coordinator's thread in commits, per event:
  // positive at every N (the quick run has three).
  check_positive_at_each(res.output, "commit_cpu_us_per_event", 3);
  // ... and the same closed loop with raw actors and raw LMDB (the floor):
  // its events per second, CPU per event, and the runtime's share of it.
  for (auto key : {"raw_actors_events_per_s", "raw_actors_cpu_us_per_event",
                   "raw_actors_events_per_commit", "ratio_vs_raw_actors"}) {
    INFO("key " << key);
    check_positive_at_each(res.output, key, 3);
  }
  REQUIRE(numbers.count("ratio_vs_raw_actors") == 1);
  CHECK(numbers["ratio_vs_raw_actors"] > 0);
  for (auto chart : {"persist-throughput", "persist-latency"}) {
    INFO("chart " << chart);
    CHECK(svg_has_lines(charts.sub(std::string{chart} + ".svg")));
  }
  CHECK(dir_is_empty(tmp.path()));
}

TEST_CASE("cairn-bench actor --quick --json prints every figure and "
          "--plot draws its charts") {
  test::temp_dir tmp;
  test::temp_dir charts;
  auto res = test::run({test::bin_path("cairn-bench"), "actor", "--quick",
                        "--json", "--dir", tmp.path(), "--plot", charts.path()},
                       120000);
  INFO(res.output);
  REQUIRE(res.exit_code == 0);
  std::map<std::string, double> numbers;
  json_reader reader{res.output};
  REQUIRE(reader.parse_object(numbers));
  for (auto key :
       {"ratio", "raw_per_s", "persistent_per_s", "read_only_per_s",
        "raw_store_per_s", "raw_store_ratio", "ratio_vs_raw_store"}) {
    INFO("key " << key);
    REQUIRE(numbers.count(key) == 1);
    CHECK(numbers[key] > 0);
  }
  CHECK(res.output.find("\"ratio_target_met\"") != std::string::npos);
  CHECK(res.output.find("\"per_clients\"") != std::string::npos);
  // The floor (raw actors, raw LMDB) at each client count (the quick run
  // has two), with its commits.
  check_positive_at_each(res.output, "raw_store_ratio", 2);
  check_positive_at_each(res.output, "ratio_vs_raw_store", 2);
  CHECK(res.output.find("\"raw_store\": {") != std::string::npos);
  for (auto chart : {"actor-throughput", "actor-latency"}) {
    INFO("chart " << chart);
    CHECK(svg_has_lines(charts.sub(std::string{chart} + ".svg")));
  }
  CHECK(dir_is_empty(tmp.path()));
}

TEST_CASE("cairn-bench saga --quick --json prints every figure and "
          "--plot draws its charts") {
  test::temp_dir tmp;
  test::temp_dir charts;
  auto res = test::run({test::bin_path("cairn-bench"), "saga", "--quick",
                        "--json", "--dir", tmp.path(), "--plot", charts.path()},
                       120000);
  INFO(res.output);
  REQUIRE(res.exit_code == 0);
  std::map<std::string, double> numbers;
  json_reader reader{res.output};
  REQUIRE(reader.parse_object(numbers));
  for (auto key : {"instances", "steps_per_s", "persist_events_per_s",
                   "ratio_vs_persist", "p50_ms", "p99_ms", "steps_per_commit",
                   "fsync_p50_ms", "memory_instances"}) {
    INFO("key " << key);
    REQUIRE(numbers.count(key) == 1);
    CHECK(numbers[key] > 0);
  }
  CHECK(numbers["ratio_vs_persist"]
        == Approx(numbers["steps_per_s"] / numbers["persist_events_per_s"]));
  // --quick starts 200 instances for the memory case.
  CHECK(numbers["memory_instances"] == 200);
  // The CPU time of the coordinator's thread in commits, per step, at both
  // instance counts of the quick run.
  check_positive_at_each(res.output, "commit_cpu_us_per_step", 2);
  for (auto key :
       {"\"ratio_target_met\"", "\"p99_target_met\"", "\"per_instances\"",
        "\"conditions\"", "\"rss_bytes_per_instance\"",
        "\"heap_bytes_per_instance\""}) {
    INFO("key " << key);
    CHECK(res.output.find(key) != std::string::npos);
  }
  for (auto chart : {"saga-throughput", "saga-latency"}) {
    INFO("chart " << chart);
    CHECK(svg_has_lines(charts.sub(std::string{chart} + ".svg")));
  }
  CHECK(dir_is_empty(tmp.path()));
}

TEST_CASE("cairn-bench cluster --quick --json prints every figure") {
  test::temp_dir tmp;
  auto res = test::run({test::bin_path("cairn-bench"), "cluster", "--quick",
                        "--json", "--dir", tmp.path()},
                       120000);
  INFO(res.output);
  REQUIRE(res.exit_code == 0);
  std::map<std::string, double> numbers;
  json_reader reader{res.output};
  REQUIRE(reader.parse_object(numbers));
  for (auto key :
       {"entities", "local_events_per_s", "remote_events_per_s", "remote_ratio",
        "p50_ms", "p99_ms", "killed_detect_ms", "stopped_detect_ms",
        "closed_detect_ms", "down_fail_p99_ms"}) {
    INFO("key " << key);
    REQUIRE(numbers.count(key) == 1);
    CHECK(numbers[key] > 0);
  }
  CHECK(
    numbers["remote_ratio"]
    == Approx(numbers["remote_events_per_s"] / numbers["local_events_per_s"]));
  CHECK(res.output.find("\"remote_ratio_ok\"") != std::string::npos);
  CHECK(dir_is_empty(tmp.path()));
}

TEST_CASE("cairn-bench cluster --json measures process steps to entities "
          "of another node against steps to entities of their own node") {
  test::temp_dir tmp;
  auto res = test::run({test::bin_path("cairn-bench"), "cluster", "--quick",
                        "--json", "--instances", "30", "--step-seconds", "0.3",
                        "--dir", tmp.path()},
                       120000);
  INFO(res.output);
  REQUIRE(res.exit_code == 0);
  std::map<std::string, double> numbers;
  json_reader reader{res.output};
  REQUIRE(reader.parse_object(numbers));
  CHECK(numbers["step_instances"] == 30);
  for (auto key :
       {"local_steps_per_s", "cross_steps_per_s", "cross_step_ratio",
        "local_step_p50_ms", "local_step_p99_ms", "cross_step_p50_ms",
        "cross_step_p99_ms", "cross_outcome_p50_ms", "cross_reaction_p50_ms",
        "local_ms_per_commit", "cross_ms_per_commit",
        "cross_peer_ms_per_commit", "local_wave_steps_per_s",
        "cross_wave_steps_per_s", "cross_wave_ratio"}) {
    INFO("key " << key);
    REQUIRE(numbers.count(key) == 1);
    CHECK(numbers[key] > 0);
  }
  CHECK(numbers["cross_step_ratio"]
        == Approx(numbers["cross_steps_per_s"] / numbers["local_steps_per_s"]));
  CHECK(numbers["cross_wave_ratio"]
        == Approx(numbers["cross_wave_steps_per_s"]
                  / numbers["local_wave_steps_per_s"]));
  CHECK(numbers["cross_step_p99_ms"] >= numbers["cross_step_p50_ms"]);
  CHECK(numbers["local_step_p99_ms"] >= numbers["local_step_p50_ms"]);
  // A cross step's latency holds its outcome's way and the reaction.
  CHECK(numbers["cross_step_p50_ms"] > numbers["cross_reaction_p50_ms"]);
  CHECK(numbers.count("cross_outbox_retries") == 1);
  CHECK(res.output.find("\"cross_step_ratio_ok\"") != std::string::npos);
  // The keys of the commands through a non-owner node stay.
  for (auto key : {"remote_ratio", "local_events_per_s", "remote_events_per_s",
                   "p99_ms", "stopped_detect_ms"}) {
    INFO("key " << key);
    CHECK(numbers.count(key) == 1);
  }
  CHECK(dir_is_empty(tmp.path()));
}

TEST_CASE("cairn-bench cluster names a bad instance count and exits with 2") {
  auto res = test::run(
    {test::bin_path("cairn-bench"), "cluster", "--quick", "--instances", "0"});
  CHECK(res.exit_code == 2);
  CHECK(res.output.find("--instances") != std::string::npos);
}

TEST_CASE("cairn-bench saga names a bad instance count and exits with 2") {
  auto res = test::run(
    {test::bin_path("cairn-bench"), "saga", "--quick", "--instances", "1,x"});
  CHECK(res.exit_code == 2);
  CHECK(res.output.find("--instances") != std::string::npos);
}

TEST_CASE("cairn-bench persist and actor name a bad --via and exit with 2") {
  for (auto sub : {"persist", "actor"}) {
    INFO(sub);
    auto res = test::run(
      {test::bin_path("cairn-bench"), sub, "--quick", "--via", "proxy"});
    CHECK(res.exit_code == 2);
    CHECK(res.output.find("--via expects ref or registry, got 'proxy'")
          != std::string::npos);
  }
}

TEST_CASE("cairn-bench persist, actor and saga run their commits where "
          "--commit-thread says and refuse any other place") {
  for (auto sub : {"persist", "actor", "saga"}) {
    INFO(sub);
    auto bad = test::run({test::bin_path("cairn-bench"), sub, "--quick",
                          "--commit-thread", "detached"});
    CHECK(bad.exit_code == 2);
    CHECK(bad.output.find("--commit-thread expects worker or own, got "
                          "'detached'")
          != std::string::npos);
  }
  test::temp_dir tmp;
  auto res = test::run({test::bin_path("cairn-bench"), "actor", "--quick",
                        "--json", "--dir", tmp.path(), "--commit-thread",
                        "own"},
                       120000);
  INFO(res.output);
  REQUIRE(res.exit_code == 0);
  CHECK(res.output.find("\"commit_thread\": \"own\"") != std::string::npos);
  CHECK(dir_is_empty(tmp.path()));
}

TEST_CASE("cairn-bench names an unknown subcommand and exits with 2") {
  auto res = test::run({test::bin_path("cairn-bench"), "no-such-bench"});
  CHECK(res.exit_code == 2);
  CHECK(res.output.find("no-such-bench") != std::string::npos);
}

TEST_CASE("cairn-bench names an unknown flag and exits with 2") {
  auto res = test::run(
    {test::bin_path("cairn-bench"), "journal", "--quick", "--no-such-flag"});
  CHECK(res.exit_code == 2);
  CHECK(res.output.find("--no-such-flag") != std::string::npos);
}

TEST_CASE("cairn-bench --help lists the journal, persist, actor and saga "
          "subcommands") {
  auto res = test::run({test::bin_path("cairn-bench"), "--help"});
  CHECK(res.exit_code == 0);
  CHECK(res.output.find("journal") != std::string::npos);
  CHECK(res.output.find("persist") != std::string::npos);
  CHECK(res.output.find("actor") != std::string::npos);
  CHECK(res.output.find("saga") != std::string::npos);
}
