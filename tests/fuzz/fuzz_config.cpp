// Fuzzes the config parser (cairn/actors/config.hpp): `cairn::config::load` on a
// config file with the input's text and, after the input's first NUL byte,
// command-line arguments separated by NUL bytes.
//
// Only arguments that set keys (`--journal.*`, `--aggregates.*`,
// `--cluster.*`, `--caf.*`) or are positional are passed on: `--help` and
// `--dump-config` print and stop, and `--config-file` would read other
// files.
//
// Invariants: `load` never throws or crashes; it fails only with
// `errc::bad_config` and a message; what it accepts passes `validate` and
// converts to runtime and journal options and cluster members.

#include "cairn/actors/config.hpp"

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "cairn/journal/errc.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace {

std::string config_file;

bool passed_on(std::string_view arg) {
  for (auto prefix : {"--journal.", "--aggregates.", "--cluster.", "--caf."})
    if (arg.substr(0, std::string_view{prefix}.size()) == prefix)
      return true;
  return arg.empty() || arg.front() != '-';
}

void remove_config_dir() {
  std::remove(config_file.c_str());
  rmdir(config_file.substr(0, config_file.rfind('/')).c_str());
}

} // namespace

namespace cairn::fuzz {

void init() {
  auto tmp = std::getenv("TMPDIR");
  std::string dir = std::string{tmp ? tmp : "/tmp"} + "/cairn-fuzz-XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) {
    std::perror("mkdtemp");
    std::exit(EXIT_FAILURE);
  }
  config_file = dir + "/cairn.ini";
  std::atexit(remove_config_dir);
}

std::vector<std::string> seeds() {
  using namespace std::string_literals;
  return {
    "[journal]\npath = \"data\"\nmap-size = \"64MiB\"\nsync = \"none\"\n",
    "[journal]\nmax-batch-events = 16\nmax-batch-bytes = 1048576\n"
    "[aggregates]\nsnapshot-every = 0\npassivate-after = 30s\n"
    "max-active = 10\nstash-capacity = 8\n",
    "[cluster]\nnode-id = \"a\"\nport = 4242\n"
    "nodes = [\"a:4242\", \"[::1]:4243\"]\n",
    "; defaults only\n"s + '\0' + "--journal.sync=no-meta-sync" + '\0'
      + "--aggregates.passivate-after=2min",
    "[journal]\nmap-size = \"1 GiB\"\n"s + '\0' + "--cluster.nodes=[\"h:1\"]"
      + '\0' + "positional",
  };
}

} // namespace cairn::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto in = cairn::fuzz::as_view(data, size);
  auto text = in.substr(0, in.find('\0'));
  {
    std::ofstream out{config_file, std::ios::binary | std::ios::trunc};
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
  }
  std::vector<std::string> args{"--config-file=" + config_file};
  if (text.size() < in.size()) {
    auto rest = in.substr(text.size() + 1);
    while (args.size() < 8) {
      auto arg = rest.substr(0, rest.find('\0'));
      if (passed_on(arg))
        args.emplace_back(arg);
      if (arg.size() == rest.size())
        break;
      rest.remove_prefix(arg.size() + 1);
    }
  }
  cairn::config cfg;
  if (auto err = cfg.load(args)) {
    CAIRN_FUZZ_CHECK(err.category() == cairn::cairn_error_category);
    CAIRN_FUZZ_CHECK(err.code()
                     == static_cast<uint8_t>(cairn::errc::bad_config));
    CAIRN_FUZZ_CHECK(!cairn::describe(err).empty());
    return 0;
  }
  CAIRN_FUZZ_CHECK(!cfg.validate());
  CAIRN_FUZZ_CHECK(cfg.loaded_file() == config_file);
  auto members = cfg.cluster_members();
  CAIRN_FUZZ_CHECK(static_cast<bool>(members));
  CAIRN_FUZZ_CHECK(members->size() == cfg.cluster_nodes.size());
  auto opts = cfg.journal_options();
  CAIRN_FUZZ_CHECK(opts.map_size >= (uint64_t{1} << 20));
  cfg.runtime_options();
  return 0;
}
