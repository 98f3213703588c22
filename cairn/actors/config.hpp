#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "caf/actor_system_config.hpp"
#include "caf/error.hpp"
#include "caf/expected.hpp"
#include "caf/timespan.hpp"

#include "cairn/actors/cluster/membership.hpp"
#include "cairn/actors/runtime.hpp"
#include "cairn/journal/options.hpp"

namespace cairn {

/// One member of `cluster.nodes`: `id@host:port`.
using cluster_node = cluster::member;

/// Parses `"id@host:port"` or `"id@[v6-address]:port"` with a port in
/// 1..65535.
///
/// Errors: `errc::bad_config` saying what is wrong with `str`.
caf::expected<cluster_node> parse_cluster_node(std::string_view str);

/// Parses a byte count: a plain integer (`"1073741824"`) or an integer with
/// one of the units `B`, `KiB`, `MiB`, `GiB`, `TiB` (`"64MiB"`, `"1 GiB"`).
///
/// Errors: `errc::bad_config` for anything else, or a count over 2^64 - 1.
caf::expected<uint64_t> parse_byte_size(std::string_view str);

/// Cairn's configuration: CAF's own configuration system, with Cairn's keys
/// in the groups `journal`, `aggregates`, `cluster`, `metrics` and `log`.
///
/// Every key works in the config file and as a command-line flag; a flag
/// wins over the file, the file wins over the defaults below:
///
/// ```
/// [journal]
/// path = "/var/lib/cairn"          ; or: --journal.path=/var/lib/cairn
/// map-size = "4GiB"                ; or: --journal.map-size=4GiB
/// [aggregates]
/// passivate-after = 30s            ; or: --aggregates.passivate-after=30s
/// ```
///
/// `config/cairn.ini` documents every key. Use it like this:
///
/// ```
/// int main(int argc, char** argv) {
///   cairn::config cfg;
///   if (auto err = cfg.load(argc, argv)) {
///     std::cerr << cairn::describe(err) << '\n';
///     return EXIT_FAILURE;
///   }
///   if (cfg.cli_helptext_printed) // --help or --dump-config
///     return EXIT_SUCCESS;
///   caf::actor_system sys{cfg};
///   auto rt = cairn::runtime::start(sys, cfg.runtime_options());
///   ...
/// }
/// ```
///
/// # The config file
///
/// `load` reads the file named by `--config-file=PATH` (an error if it
/// cannot be opened), else `cairn.ini` in the working directory if it exists
/// (`config_file_path`, settable before `load`), else none. The syntax is
/// CAF 0.17's: `[group]` sections, `key = value`, strings in double quotes,
/// timespans as `500ms` or `2min`, lists as `["a", "b"]`, comments after
/// `;`.
///
/// # What `load` refuses
///
/// Every error is `errc::bad_config`, and its text names the key and what
/// it accepts, e.g. `journal.sync: 'fast' is not one of: full, no-meta-sync,
/// none`:
/// - a value of the wrong type, on the command line or in the file (CAF
///   itself drops a mistyped value of the file silently; `load` does not);
/// - a key in the groups `journal`, `aggregates`, `cluster`, `metrics` or
///   `log` that Cairn does not know, on the command line or in the file (CAF
///   keeps unknown keys of the file silently; `load` does not). Keys of other groups are
///   CAF's business: it refuses unknown flags and ignores unknown file keys;
/// - a Cairn flag after the first positional argument (CAF stops reading
///   flags there and leaves the rest in `remainder`);
/// - a syntax error of the file;
/// - a value out of its range (`validate`).
///
/// A `cairn::config` is not copyable or movable: CAF binds the options to
/// its members by address.
class config : public caf::actor_system_config {
public:
  // -- constants --------------------------------------------------------------

  /// The config file read when no `--config-file` is given, if it exists.
  static constexpr const char* default_file = "cairn.ini";

  // -- constructors, destructors, and assignment operators --------------------

  /// Declares Cairn's options and registers the renderer of Cairn's errors,
  /// so that `actor_system::render` prints them readably.
  config();

  config(const config&) = delete;
  config& operator=(const config&) = delete;

  // -- journal.* --------------------------------------------------------------

  /// `journal.path`: the journal's directory.
  std::string journal_path = "cairn-data";

  /// `journal.map-size`: initial size of LMDB's memory map, bytes.
  uint64_t journal_map_size = uint64_t{1} << 30;

  /// `journal.sync`: what a commit waits for.
  journal::sync_mode journal_sync = journal::sync_mode::full;

  /// `journal.max-batch-events`: events per commit at most.
  uint64_t journal_max_batch_events = 4096;

  /// `journal.max-batch-bytes`: bytes per commit at most.
  uint64_t journal_max_batch_bytes = uint64_t{16} << 20;

  /// `journal.commit-thread`: `"worker"` (commits run on the scheduler's
  /// workers) or `"own"` (on a thread of their own); see
  /// `coordinator_settings::own_thread`.
  std::string journal_commit_thread = "worker";

  // -- aggregates.* -----------------------------------------------------------

  /// `aggregates.snapshot-every`: events between snapshots (0: never).
  uint64_t aggregates_snapshot_every = 100;

  /// `aggregates.passivate-after`: idle time before an entity stops
  /// (0: never).
  caf::timespan aggregates_passivate_after = std::chrono::minutes{2};

  /// `aggregates.max-active`: entities in memory per type (0: unbounded).
  size_t aggregates_max_active = 100000;

  /// `aggregates.stash-capacity`: commands an entity holds while busy.
  size_t aggregates_stash_capacity = 1024;

  /// `aggregates.recovery-chunk`: events a recovering entity replays before
  /// it yields its thread; at least 1.
  size_t aggregates_recovery_chunk = 512;

  // -- cluster.* (see cairn/actors/cluster/membership.hpp) --------------------------

  /// `cluster.name`: the cluster's name, the same on every node.
  std::string cluster_name;

  /// `cluster.node-id`: this node's id, one of the ids of `cluster.nodes`.
  std::string cluster_node_id;

  /// `cluster.port`: the port this node listens on (0: chosen by the OS).
  uint16_t cluster_port = 0;

  /// `cluster.nodes`: the members, as `"id@host:port"`.
  std::vector<std::string> cluster_nodes;

  /// `cluster.shards`: fixed number of shards (default 1024).
  uint32_t cluster_shards = 1024;

  /// `cluster.heartbeat-interval`: heartbeats between nodes (default 500ms).
  caf::timespan cluster_heartbeat_interval = std::chrono::milliseconds{500};

  /// `cluster.connection-timeout`: a silent peer is down after this long
  /// (default 3s).
  caf::timespan cluster_connection_timeout = std::chrono::seconds{3};

  // -- metrics.* (see cairn/actors/metrics.hpp) -------------------------------

  /// `metrics.port`: the Prometheus endpoint's port; -1 (the default): no
  /// endpoint; 0: a port chosen by the OS (`runtime::metrics_port`).
  int32_t metrics_port = -1;

  /// `metrics.address`: the address the endpoint listens on.
  std::string metrics_address = "127.0.0.1";

  // -- log.* (see cairn/journal/log.hpp) --------------------------------------

  /// `log.level`: quiet, error, warning (the default), info or debug.
  std::string log_level = "warning";

  // -- loading ----------------------------------------------------------------

  /// Reads the config file and the flags of `argv` (flags win), then
  /// `validate()`s. Applies CAF's `scheduler.policy`, whose default here is
  /// `"cairn"`: Cairn's scheduler (cairn/actors/scheduler.hpp); `"stealing"`
  /// and `"sharing"` select CAF's own. With `cluster.node-id` set, prepares the actor system
  /// for the cluster (`cluster::configure`: CAF's middleman, heartbeats). With
  /// `--help` or `--dump-config`, CAF prints and sets `cli_helptext_printed`;
  /// the caller should then exit.
  ///
  /// Errors: `errc::bad_config`, see the class documentation.
  caf::error load(int argc, char** argv);

  /// Like `load(argc, argv)` for the arguments after the program name.
  caf::error load(std::vector<std::string> args);

  /// Checks the ranges of the values: `journal.path` not empty,
  /// `journal.map-size` at least 1 MiB, batch caps and
  /// `aggregates.stash-capacity` and `aggregates.recovery-chunk` above 0,
  /// `aggregates.passivate-after` not
  /// negative; with `cluster.nodes` set, a valid membership
  /// (`cluster::membership::make`).
  ///
  /// Errors: `errc::bad_config` naming the first offending key.
  caf::error validate() const;

  /// Returns the file that `load` read, or an empty string.
  const std::string& loaded_file() const noexcept {
    return loaded_file_;
  }

  // -- conversions ------------------------------------------------------------

  /// Returns the options for `runtime::start`.
  cairn::runtime_options runtime_options() const;

  /// Returns the journal's options.
  journal::options journal_options() const;

  /// Returns the `cluster.*` keys.
  cluster::settings cluster_settings() const;

  /// Returns the parsed `cluster.nodes`, in the order given.
  ///
  /// Errors: `errc::bad_config` for the first entry that is not an
  /// `id@host:port`.
  caf::expected<std::vector<cluster_node>> cluster_members() const;

private:
  caf::error check_file(const std::string& path) const;

  caf::error translate(const caf::error& err) const;

  std::string loaded_file_;
  bool cluster_configured_ = false;
  bool scheduler_applied_ = false;
};

} // namespace cairn
