/// `cairn-bench`: one subcommand per measured claim of the performance
/// contract (see DESIGN.md). Each prints a table for people or, with
/// `--json`, one JSON object with the figures and the ratios.
///
/// Exit codes: 0 when the measurement ran (whether or not a target was met),
/// 1 when it failed, 2 for a wrong command line.

#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "bench/bench.hpp"

namespace {

using namespace cairn::bench;

/// Every subcommand, in the order `--help` lists them.
std::vector<subcommand> all_subcommands() {
  return {journal_subcommand(), persist_subcommand(), actor_subcommand(),
          saga_subcommand(), cluster_subcommand()};
}

const std::vector<flag_spec>& common_flags() {
  static const std::vector<flag_spec> flags{
    {"--json", "", "print one JSON object instead of a table"},
    {"--dir", "DIR", "create the temporary directory in DIR (else $TMPDIR)"},
    {"--quick", "", "tiny sizes: a smoke test of a few seconds"},
    {"--help", "", "print this help"},
  };
  return flags;
}

void print_flags(std::ostream& out, const std::vector<flag_spec>& flags) {
  for (auto& f : flags) {
    auto left = f.name + (f.value_name.empty() ? "" : " " + f.value_name);
    out << "  " << left
        << std::string(left.size() < 18 ? 18 - left.size() : 1, ' ') << f.help
        << '\n';
  }
}

void print_usage(std::ostream& out, const std::vector<subcommand>& cmds) {
  out << "usage: cairn-bench SUBCOMMAND [--json] [--dir DIR] [--quick] "
         "[FLAGS]\n\nsubcommands:\n";
  for (auto& cmd : cmds)
    out << "  " << cmd.name
        << std::string(cmd.name.size() < 18 ? 18 - cmd.name.size() : 1, ' ')
        << cmd.description << '\n';
  out << "\ncommon flags:\n";
  print_flags(out, common_flags());
  out << "\n'cairn-bench SUBCOMMAND --help' lists the flags of a subcommand.\n";
}

void print_subcommand_help(std::ostream& out, const subcommand& cmd) {
  out << "usage: cairn-bench " << cmd.name
      << " [--json] [--dir DIR] [--quick] [FLAGS]\n\n"
      << cmd.description << "\n\ncommon flags:\n";
  print_flags(out, common_flags());
  if (!cmd.flags.empty()) {
    out << "\nflags of " << cmd.name << ":\n";
    print_flags(out, cmd.flags);
  }
}

/// Parses the flags after the subcommand's name. Returns false when the
/// user asked for help. Throws `usage_error` naming a bad flag.
bool parse_flags(const subcommand& cmd, const std::vector<std::string>& args,
                 settings& out) {
  for (size_t i = 0; i < args.size(); ++i) {
    auto arg = args[i];
    std::string value;
    bool has_value = false;
    if (auto eq = arg.find('=');
        arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    const flag_spec* spec = nullptr;
    for (auto* flags : {&common_flags(), &cmd.flags})
      for (auto& f : *flags)
        if (f.name == arg)
          spec = &f;
    if (spec == nullptr)
      throw usage_error("unknown flag '" + args[i] + "' for cairn-bench "
                        + cmd.name);
    if (spec->value_name.empty()) {
      if (has_value)
        throw usage_error("flag " + arg + " takes no value");
    } else if (!has_value) {
      if (i + 1 == args.size())
        throw usage_error("flag " + arg + " needs a value (" + spec->value_name
                          + ")");
      value = args[++i];
    }
    if (arg == "--help")
      return false;
    if (arg == "--json")
      out.json = true;
    else if (arg == "--quick")
      out.quick = true;
    else if (arg == "--dir")
      out.dir = value;
    else
      out.values[arg] = value;
  }
  return true;
}

int run(const std::vector<std::string>& args) {
  auto cmds = all_subcommands();
  if (args.empty()) {
    std::cerr << "cairn-bench: missing subcommand\n\n";
    print_usage(std::cerr, cmds);
    return 2;
  }
  auto& name = args.front();
  if (name == "--help" || name == "-h" || name == "help") {
    print_usage(std::cout, cmds);
    return 0;
  }
  const subcommand* cmd = nullptr;
  for (auto& c : cmds)
    if (c.name == name)
      cmd = &c;
  if (cmd == nullptr) {
    std::cerr << "cairn-bench: unknown subcommand '" << name << "'\n\n";
    print_usage(std::cerr, cmds);
    return 2;
  }
  try {
    settings cfg;
    if (!parse_flags(*cmd, {args.begin() + 1, args.end()}, cfg)) {
      print_subcommand_help(std::cout, *cmd);
      return 0;
    }
    return cmd->run(cfg);
  } catch (const usage_error& ex) {
    std::cerr << "cairn-bench " << cmd->name << ": " << ex.what()
              << "\n(see 'cairn-bench " << cmd->name << " --help')\n";
    return 2;
  } catch (const std::exception& ex) {
    std::cerr << "cairn-bench " << cmd->name << ": failed: " << ex.what()
              << '\n';
    return 1;
  }
}

} // namespace

int main(int argc, char** argv) {
  return run(std::vector<std::string>(argv + 1, argv + argc));
}
