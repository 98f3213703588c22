#include "cairn/actors/config.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>

#include "caf/config_option.hpp"
#include "caf/config_value.hpp"
#include "caf/make_config_option.hpp"
#include "caf/message.hpp"
#include "caf/pec.hpp"
#include "caf/sec.hpp"
#include "caf/settings.hpp"

#include "cairn/actors/cluster/configure.hpp"
#include "cairn/actors/scheduler.hpp"
#include "cairn/journal/errc.hpp"
#include "cairn/journal/log.hpp"

namespace cairn {

namespace {

// -- the keys -----------------------------------------------------------------

/// A key of Cairn's groups and what it accepts, for error messages.
struct key_info {
  std::string_view group;
  std::string_view name;
  std::string_view accepts;
};

constexpr key_info keys[] = {
  {"journal", "path", "a directory path"},
  {"journal", "map-size",
   "a byte count of at least 1MiB: an integer or a size such as 64MiB or "
   "1GiB"},
  {"journal", "sync", "one of: full, no-meta-sync, none"},
  {"journal", "max-batch-events", "a positive integer"},
  {"journal", "max-batch-bytes",
   "a positive byte count: an integer or a size such as 16MiB"},
  {"journal", "commit-thread", "one of: worker, own"},
  {"aggregates", "snapshot-every", "a non-negative integer (0: never)"},
  {"aggregates", "passivate-after",
   "a timespan such as 2min, 30s or 500ms (0: never)"},
  {"aggregates", "max-active", "a non-negative integer (0: unbounded)"},
  {"aggregates", "stash-capacity", "a positive integer"},
  {"aggregates", "recovery-chunk", "a positive integer"},
  {"cluster", "name", "a string"},
  {"cluster", "node-id", "a string"},
  {"cluster", "port", "a port number in 0..65535 (0: any)"},
  {"cluster", "nodes",
   "a list of \"id@host:port\" strings with ports in 1..65535"},
  {"cluster", "shards", "a positive integer below 2^32"},
  {"cluster", "heartbeat-interval", "a positive timespan such as 500ms"},
  {"cluster", "connection-timeout",
   "a timespan such as 3s, longer than the heartbeat interval"},
  {"metrics", "port", "a port number in 0..65535 (0: any), or -1 for off"},
  {"metrics", "address", "an address to listen on, such as 127.0.0.1"},
  {"log", "level", "one of: quiet, error, warning, info, debug"},
};

constexpr std::string_view groups[]
  = {"journal", "aggregates", "cluster", "metrics", "log"};

bool is_our_group(std::string_view group) {
  return std::find(std::begin(groups), std::end(groups), group)
         != std::end(groups);
}

/// Returns the info of `group.name`, or null.
const key_info* find_key(std::string_view group, std::string_view name) {
  for (auto& k : keys)
    if (k.group == group && k.name == name)
      return &k;
  return nullptr;
}

std::string full_name(std::string_view group, std::string_view name) {
  std::string result{group};
  result += '.';
  result += name;
  return result;
}

/// `group.name: 'value' is not <accepts>[ (where)]`.
caf::error bad_value(std::string_view group, std::string_view name,
                     std::string_view value, std::string_view where = {}) {
  auto info = find_key(group, name);
  auto result = full_name(group, name);
  result += ": '";
  result += value;
  result += "' is not ";
  result += info ? info->accepts : "valid";
  if (!where.empty()) {
    result += " (";
    result += where;
    result += ')';
  }
  return make_error(errc::bad_config, std::move(result));
}

/// `group.name: unknown key (where); group has: a, b, c`.
caf::error unknown_key(std::string_view group, std::string_view name,
                       std::string_view where) {
  auto result = full_name(group, name);
  result += ": unknown key (";
  result += where;
  result += "); the keys of ";
  result += group;
  result += " are:";
  auto sep = " ";
  for (auto& k : keys) {
    if (k.group == group) {
      result += sep;
      result += k.name;
      sep = ", ";
    }
  }
  return make_error(errc::bad_config, std::move(result));
}

/// Splits `"group.name"` at its last dot.
std::pair<std::string_view, std::string_view> split_key(std::string_view x) {
  auto dot = x.rfind('.');
  if (dot == std::string_view::npos)
    return {{}, x};
  return {x.substr(0, dot), x.substr(dot + 1)};
}

/// Returns `group.name` if `arg` is a flag `--group.name[=value]` of one of
/// our groups.
std::optional<std::string_view> our_flag(std::string_view arg) {
  if (arg.substr(0, 2) != "--")
    return std::nullopt;
  auto key = arg.substr(2, arg.find('=') - 2);
  if (!is_our_group(split_key(key).first))
    return std::nullopt;
  return key;
}

std::string_view trim(std::string_view x) {
  auto is_space = [](char c) { return std::isspace(static_cast<uint8_t>(c)); };
  while (!x.empty() && is_space(x.front()))
    x.remove_prefix(1);
  while (!x.empty() && is_space(x.back()))
    x.remove_suffix(1);
  return x;
}

std::string_view unquote(std::string_view x) {
  x = trim(x);
  if (x.size() >= 2 && x.front() == '"' && x.back() == '"')
    return x.substr(1, x.size() - 2);
  return x;
}

caf::string_view to_caf(std::string_view x) {
  return {x.data(), x.size()};
}

/// Renders a value for an error message, without quotes around strings.
std::string text_of(const caf::config_value& x) {
  if (auto str = caf::get_if<std::string>(&x))
    return *str;
  if (auto atm = caf::get_if<caf::atom_value>(&x))
    return to_string(*atm);
  return to_string(x);
}

// -- option types beyond CAF's ------------------------------------------------

std::optional<journal::sync_mode> sync_mode_of(std::string_view str) {
  if (auto mode = journal::parse_sync_mode(std::string{unquote(str)}))
    return *mode;
  return std::nullopt;
}

caf::expected<caf::timespan> parse_timespan(std::string_view str) {
  str = unquote(str);
  if (str == "0")
    return caf::timespan{0};
  static const auto parser = caf::make_config_option<caf::timespan>(
    "aggregates", "passivate-after", "");
  auto val = parser.parse(to_caf(str));
  if (!val)
    return std::move(val.error());
  return caf::get<caf::timespan>(*val);
}

/// A byte count: an integer, or a string with a unit (`"64MiB"`).
struct byte_size_option {
  using value_type = uint64_t;
  static constexpr const char* type_name = "byte size";

  static std::optional<uint64_t> from_value(const caf::config_value& x) {
    if (auto num = caf::get_if<caf::config_value::integer>(&x)) {
      if (*num >= 0)
        return static_cast<uint64_t>(*num);
    } else if (auto str = caf::get_if<std::string>(&x)) {
      if (auto bytes = parse_byte_size(*str))
        return *bytes;
    }
    return std::nullopt;
  }

  static std::optional<uint64_t> from_string(std::string_view str) {
    if (auto bytes = parse_byte_size(unquote(str)))
      return *bytes;
    return std::nullopt;
  }

  static caf::config_value to_value(uint64_t x) {
    if (x > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return caf::config_value{std::to_string(x)};
    return caf::config_value{static_cast<caf::config_value::integer>(x)};
  }
};

/// A sync mode, by the names of `journal::to_string(sync_mode)`.
struct sync_mode_option {
  using value_type = journal::sync_mode;
  static constexpr const char* type_name = "sync mode";

  static std::optional<journal::sync_mode>
  from_value(const caf::config_value& x) {
    if (auto str = caf::get_if<std::string>(&x))
      return sync_mode_of(*str);
    if (auto atm = caf::get_if<caf::atom_value>(&x))
      return sync_mode_of(to_string(*atm));
    return std::nullopt;
  }

  static std::optional<journal::sync_mode> from_string(std::string_view str) {
    return sync_mode_of(str);
  }

  static caf::config_value to_value(journal::sync_mode x) {
    return caf::config_value{journal::to_string(x)};
  }
};

/// A timespan that also accepts a plain `0`.
struct timespan_option {
  using value_type = caf::timespan;
  static constexpr const char* type_name = "timespan";

  static std::optional<caf::timespan> from_value(const caf::config_value& x) {
    if (auto span = caf::get_if<caf::timespan>(&x))
      return *span;
    if (auto num = caf::get_if<caf::config_value::integer>(&x)) {
      if (*num == 0)
        return caf::timespan{0};
    } else if (auto str = caf::get_if<std::string>(&x)) {
      return from_string(*str);
    }
    return std::nullopt;
  }

  static std::optional<caf::timespan> from_string(std::string_view str) {
    if (auto span = parse_timespan(str))
      return *span;
    return std::nullopt;
  }

  static caf::config_value to_value(caf::timespan x) {
    return caf::config_value{x};
  }
};

/// CAF's vtable of an option of type `Option` (one of the structs above).
template <class Option>
const caf::config_option::meta_state* meta_of() {
  using value_type = typename Option::value_type;
  static const caf::config_option::meta_state instance{
    // check
    [](const caf::config_value& x) -> caf::error {
      if (Option::from_value(x))
        return caf::none;
      return caf::make_error(caf::pec::type_mismatch);
    },
    // store
    [](void* ptr, const caf::config_value& x) {
      if (auto val = Option::from_value(x))
        *static_cast<value_type*>(ptr) = *val;
    },
    // get
    [](const void* ptr) {
      return Option::to_value(*static_cast<const value_type*>(ptr));
    },
    // parse: a command-line value
    [](void* ptr, caf::string_view str) -> caf::expected<caf::config_value> {
      auto val = Option::from_string(std::string_view{str.data(), str.size()});
      if (!val)
        return caf::make_error(caf::pec::type_mismatch);
      if (ptr != nullptr)
        *static_cast<value_type*>(ptr) = *val;
      return Option::to_value(*val);
    },
    Option::type_name,
  };
  return &instance;
}

template <class Option>
caf::config_option make_option(typename Option::value_type& ref,
                               std::string_view group, std::string_view name,
                               std::string_view description) {
  return {to_caf(group), to_caf(name), to_caf(description), meta_of<Option>(),
          &ref};
}

// -- reading CAF's parser errors ----------------------------------------------

/// Returns the field `key` of the context of a CAF parser error (a
/// dictionary holding `argument`, or `line` and `column`).
std::string parser_field(const caf::error& err, const char* key) {
  auto& ctx = err.context();
  if (ctx.size() != 1 || !ctx.match_element<caf::settings>(0))
    return {};
  auto& dict = ctx.get_as<caf::settings>(0);
  auto i = dict.find(caf::string_view{key, std::strlen(key)});
  return i == dict.end() ? std::string{} : text_of(i->second);
}

/// A `key = value` line of a config file.
struct file_line {
  long number = 0;
  std::string text;
  /// The `[section]` above it.
  std::string section;
};

/// Returns line `n` (1-based) of `path` if it holds a `key = value`, else
/// the last such line before it: CAF reports some errors (an unquoted
/// `64MiB`) only where the next line starts.
file_line line_of(const std::string& path, long n) {
  std::ifstream in{path};
  std::string line;
  std::string section;
  file_line result;
  for (long i = 1; i <= n && std::getline(in, line); ++i) {
    auto x = trim(line);
    if (!x.empty() && x.front() == '[') {
      auto end = x.find(']');
      if (end != std::string_view::npos)
        section = std::string{trim(x.substr(1, end - 1))};
    } else if (!x.empty() && x.front() != ';'
               && x.find('=') != std::string_view::npos) {
      result = file_line{i, line, section};
    }
  }
  return result;
}

} // namespace

// -- free functions -----------------------------------------------------------

caf::expected<cluster_node> parse_cluster_node(std::string_view str) {
  return cluster::parse_member(str);
}

caf::expected<uint64_t> parse_byte_size(std::string_view str) {
  auto fail = [&] {
    std::string what = "'";
    what += str;
    what += "' is not a byte count such as 1073741824, 64MiB or 1GiB";
    return caf::expected<uint64_t>{
      make_error(errc::bad_config, std::move(what))};
  };
  auto x = trim(str);
  size_t digits = 0;
  uint64_t count = 0;
  constexpr auto max = std::numeric_limits<uint64_t>::max();
  for (; digits < x.size() && x[digits] >= '0' && x[digits] <= '9'; ++digits) {
    auto d = static_cast<uint64_t>(x[digits] - '0');
    if (count > (max - d) / 10)
      return fail();
    count = count * 10 + d;
  }
  if (digits == 0)
    return fail();
  auto unit = trim(x.substr(digits));
  int shift = 0;
  if (unit.empty() || unit == "B")
    shift = 0;
  else if (unit == "KiB")
    shift = 10;
  else if (unit == "MiB")
    shift = 20;
  else if (unit == "GiB")
    shift = 30;
  else if (unit == "TiB")
    shift = 40;
  else
    return fail();
  if (shift > 0 && count > (max >> shift))
    return fail();
  return count << shift;
}

// -- config -------------------------------------------------------------------

config::config() {
  config_file_path = default_file;
  opt_group{custom_options_, "journal"}
    .add(journal_path, "path", "directory of the journal (default cairn-data)")
    .add(journal_max_batch_events, "max-batch-events",
         "events per commit at most (default 4096)")
    .add(journal_commit_thread, "commit-thread",
         "worker or own: where commits run (default worker)");
  custom_options_
    .add(make_option<byte_size_option>(
      journal_map_size, "journal", "map-size",
      "initial size of the memory map, bytes or 64MiB/1GiB (default 1GiB)"))
    .add(make_option<sync_mode_option>(
      journal_sync, "journal", "sync",
      "full, no-meta-sync or none: what a commit waits for (default full)"))
    .add(make_option<byte_size_option>(
      journal_max_batch_bytes, "journal", "max-batch-bytes",
      "bytes per commit at most, bytes or 16MiB (default 16MiB)"));
  opt_group{custom_options_, "aggregates"}
    .add(aggregates_snapshot_every, "snapshot-every",
         "events between snapshots, 0: never (default 100)")
    .add(aggregates_max_active, "max-active",
         "entities in memory per type, 0: unbounded (default 100000)")
    .add(aggregates_stash_capacity, "stash-capacity",
         "commands an entity holds while busy, > 0 (default 1024)")
    .add(aggregates_recovery_chunk, "recovery-chunk",
         "events replayed before a recovering entity yields, > 0 "
         "(default 512)");
  custom_options_.add(make_option<timespan_option>(
    aggregates_passivate_after, "aggregates", "passivate-after",
    "idle time before an entity stops, 0: never (default 2min)"));
  opt_group{custom_options_, "cluster"}
    .add(cluster_name, "name", "the cluster's name (default empty)")
    .add(cluster_node_id, "node-id", "this node's id (default empty)")
    .add(cluster_port, "port", "listening port, 0: any (default 0)")
    .add(cluster_nodes, "nodes", "members as \"id@host:port\" (default none)")
    .add(cluster_shards, "shards", "number of shards, > 0 (default 1024)");
  custom_options_
    .add(make_option<timespan_option>(
      cluster_heartbeat_interval, "cluster", "heartbeat-interval",
      "heartbeats between nodes (default 500ms)"))
    .add(make_option<timespan_option>(
      cluster_connection_timeout, "cluster", "connection-timeout",
      "a silent peer is down after this long (default 3s)"));
  opt_group{custom_options_, "metrics"}
    .add(metrics_port, "port",
         "Prometheus endpoint's port, 0: any, -1: off (default -1)")
    .add(metrics_address, "address",
         "the endpoint's address (default 127.0.0.1)");
  opt_group{custom_options_, "log"}.add(
    log_level, "level",
    "quiet, error, warning, info or debug (default warning)");
  add_error_category(cairn_error_category, render_error);
  // CAF's key, with Cairn's scheduler as the default (load applies it).
  set("scheduler.policy", caf::atom("cairn"));
}

caf::error config::load(int argc, char** argv) {
  std::vector<std::string> args;
  if (argc > 1)
    args.assign(argv + 1, argv + argc);
  return load(std::move(args));
}

caf::error config::load(std::vector<std::string> args) {
  loaded_file_.clear();
  auto err = parse(std::move(args));
  // The file CAF read: the explicit one, else the default if it opens.
  if (auto explicit_file = caf::get_if<std::string>(&content, "config-file"))
    loaded_file_ = *explicit_file;
  else if (std::ifstream{config_file_path}.is_open())
    loaded_file_ = config_file_path;
  if (err)
    return translate(err);
  // CAF stops reading flags at the first positional argument.
  for (auto& arg : remainder) {
    if (auto key = our_flag(arg)) {
      auto what = std::string{*key} + ": the flag '" + arg
                  + "' follows the positional argument '" + remainder.front()
                  + "' and would be ignored; put flags first";
      return make_error(errc::bad_config, std::move(what));
    }
  }
  if (!loaded_file_.empty())
    if (auto err = check_file(loaded_file_))
      return err;
  if (auto err = validate())
    return err;
  if (!scheduler_applied_) {
    auto policy = caf::get_or(content, "scheduler.policy", caf::atom("cairn"));
    if (auto err = apply_scheduler_policy(*this, to_string(policy)))
      return err;
    scheduler_applied_ = true;
  }
  if (!cluster_node_id.empty() && !cluster_configured_) {
    cluster::configure(*this, cluster_settings());
    cluster_configured_ = true;
  }
  return caf::none;
}

caf::error config::check_file(const std::string& path) const {
  // Parse the file again without type checks: CAF drops mistyped values of
  // known options and keeps unknown keys, both silently.
  auto raw = parse_config_file(path.c_str());
  if (!raw)
    return translate(raw.error());
  auto where = "config file " + path;
  for (auto group : groups) {
    auto i = raw->find(std::string{group});
    if (i == raw->end())
      continue;
    auto dict = caf::get_if<caf::settings>(&i->second);
    if (dict == nullptr) {
      auto what = std::string{group} + ": not a section [" + std::string{group}
                  + "] (" + where + ")";
      return make_error(errc::bad_config, std::move(what));
    }
    for (auto& [name, value] : *dict) {
      auto opt = custom_options_.qualified_name_lookup(to_caf(group), name);
      if (opt == nullptr)
        return unknown_key(group, name, where);
      if (opt->check(value))
        return bad_value(group, name, text_of(value), where);
    }
  }
  return caf::none;
}

caf::error config::translate(const caf::error& err) const {
  if (err.category() == caf::atom("system")
      && err.code() == static_cast<uint8_t>(caf::sec::cannot_open_file)) {
    return make_error(errc::bad_config,
                      "config-file: cannot open '" + loaded_file_ + "'");
  }
  if (err.category() != caf::atom("parser"))
    return make_error(errc::bad_config, to_string(err));
  auto code = to_string(static_cast<caf::pec>(err.code()));
  // A command-line flag: "--group.name=value".
  if (auto arg = parser_field(err, "argument"); !arg.empty()) {
    std::string_view view{arg};
    auto eq = view.find('=');
    if (auto key = our_flag(view)) {
      auto [group, name] = split_key(*key);
      if (find_key(group, name) == nullptr)
        return unknown_key(group, name, "command line");
      if (eq == std::string_view::npos)
        return bad_value(group, name, "", "missing '=VALUE'");
      return bad_value(group, name, view.substr(eq + 1));
    }
    return make_error(errc::bad_config,
                      "command line argument '" + arg + "': " + code);
  }
  // A syntax error of the config file at line:column.
  auto line_no = parser_field(err, "line");
  auto where = "config file " + loaded_file_ + ", line " + line_no + ", column "
               + parser_field(err, "column") + ": " + code;
  auto line = line_of(loaded_file_, line_no.empty() ? 0 : std::stol(line_no));
  if (line.number == 0)
    return make_error(errc::bad_config, std::move(where));
  auto eq = line.text.find('=');
  auto name = trim(std::string_view{line.text}.substr(0, eq));
  auto value = trim(std::string_view{line.text}.substr(eq + 1));
  if (auto semicolon = value.find(';'); semicolon != std::string_view::npos)
    value = trim(value.substr(0, semicolon));
  if (is_our_group(line.section) && find_key(line.section, name) != nullptr) {
    where = "config file " + loaded_file_ + ", line "
            + std::to_string(line.number) + ": " + code;
    auto is_alpha
      = [](char c) { return std::isalpha(static_cast<uint8_t>(c)); };
    if (!value.empty() && value.front() != '"' && value.front() != '['
        && std::any_of(value.begin(), value.end(), is_alpha))
      where += "; write text in double quotes";
    return bad_value(line.section, name, value, where);
  }
  return make_error(errc::bad_config, where + " near '" + line.text + "'");
}

caf::error config::validate() const {
  using std::to_string;
  if (journal_path.empty())
    return bad_value("journal", "path", "");
  if (journal_map_size < (uint64_t{1} << 20))
    return bad_value("journal", "map-size", to_string(journal_map_size));
  if (journal_max_batch_events == 0)
    return bad_value("journal", "max-batch-events", "0");
  if (journal_max_batch_bytes == 0)
    return bad_value("journal", "max-batch-bytes", "0");
  if (journal_commit_thread != "worker" && journal_commit_thread != "own")
    return bad_value("journal", "commit-thread", journal_commit_thread);
  if (aggregates_passivate_after.count() < 0)
    return bad_value(
      "aggregates", "passivate-after",
      "-" + to_string(caf::config_value{-aggregates_passivate_after}));
  if (aggregates_stash_capacity == 0)
    return bad_value("aggregates", "stash-capacity", "0");
  if (aggregates_recovery_chunk == 0)
    return bad_value("aggregates", "recovery-chunk", "0");
  if (auto members = cluster_members(); !members)
    return std::move(members.error());
  if (cluster_shards == 0)
    return bad_value("cluster", "shards", "0");
  if (!cluster_nodes.empty())
    if (auto m = cluster::membership::make(cluster_settings()); !m)
      return std::move(m.error());
  if (metrics_port < -1 || metrics_port > 65535)
    return bad_value("metrics", "port", to_string(metrics_port));
  if (metrics_address.empty())
    return bad_value("metrics", "address", "");
  if (!log::parse_level(log_level))
    return bad_value("log", "level", log_level);
  return caf::none;
}

cluster::settings config::cluster_settings() const {
  cluster::settings result;
  result.name = cluster_name;
  result.node_id = cluster_node_id;
  result.port = cluster_port;
  result.nodes = cluster_nodes;
  result.shards = cluster_shards;
  result.heartbeat_interval = cluster_heartbeat_interval;
  result.connection_timeout = cluster_connection_timeout;
  return result;
}

journal::options config::journal_options() const {
  journal::options result;
  result.map_size = journal_map_size;
  result.max_map_size = std::max(result.max_map_size, journal_map_size);
  result.sync = journal_sync;
  return result;
}

cairn::runtime_options config::runtime_options() const {
  cairn::runtime_options result;
  result.journal_path = journal_path;
  result.journal = journal_options();
  result.coordinator.max_batch_events = journal_max_batch_events;
  result.coordinator.max_batch_bytes = journal_max_batch_bytes;
  result.coordinator.own_thread = journal_commit_thread == "own";
  result.aggregates.snapshot_every = aggregates_snapshot_every;
  result.aggregates.stash_capacity = aggregates_stash_capacity;
  result.aggregates.recovery_chunk = aggregates_recovery_chunk;
  result.registry.passivate_after = aggregates_passivate_after;
  result.registry.max_active = aggregates_max_active;
  result.cluster = cluster_settings();
  result.metrics.enabled = metrics_port >= 0;
  result.metrics.port = static_cast<uint16_t>(std::max(metrics_port, 0));
  result.metrics.address = metrics_address;
  result.log_level = log::parse_level(log_level).value_or(log::level::warning);
  return result;
}

caf::expected<std::vector<cluster_node>> config::cluster_members() const {
  std::vector<cluster_node> result;
  for (auto& str : cluster_nodes) {
    auto node = cluster::parse_member(str);
    if (!node)
      return make_error(errc::bad_config, "cluster.nodes: entry "
                                            + context_of(node.error())
                                            + "; ports are in 1..65535");
    result.push_back(std::move(*node));
  }
  return result;
}

} // namespace cairn
