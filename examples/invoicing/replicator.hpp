#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "caf/error.hpp"
#include "caf/expected.hpp"

#include "caf/actor.hpp"

#include <cairn/actors/runtime.hpp>
#include <cairn/journal/journal.hpp>

#include "examples/invoicing/invoice.hpp"

/// The invoice replicator (seed 004): rebuilds the invoice map of a source
/// process at another location, for eventually consistent reads.
///
/// A replica (`cairn-invoicing replica`) reads the source's log in log
/// order in one of two ways:
///
/// - **Over the cluster** (`--cluster.node-id` and `--cluster.nodes` set):
///   the replica is a node of the source's cluster and reads the source
///   node's `$all` through a remote subscription
///   (cairn/actors/cluster/remote_subscription.hpp, `replicate_remote`): it
///   catches up from the source's journal in chunks, then follows the
///   source's live feed; when the source is down it waits for the link and
///   resumes after the last event it applied.
/// - **Over HTTP** (a source that is not clustered): the source serves its
///   invoice events as a feed, `GET /log?after=P&limit=N`
///   (examples/invoicing/http_server.hpp), made by `replication_feed`, and
///   the replica asks it again and again:
///
/// ```
/// {"events": [{"position": 12, "id": "42", "version": 3,
///              "type": "item_added",
///              "data": {"description": "...", "cents": 1250}}, ...],
///  "next": 15, "last": 20}
/// ```
///
/// `next` is the position up to which the source scanned (ask again after
/// it), `last` the source's last position.
///
/// Either way the replica applies each batch the same way (`prepare`,
/// then one commit): it folds the events onto its invoices with the
/// aggregate's own `apply` functions, and writes the invoices it changed
/// **and its checkpoint in one commit** of its own journal. A batch counts
/// entirely or not at all, so a replica killed at any moment resumes after
/// its checkpoint, and events at or before the checkpoint (a batch
/// delivered twice) are skipped: nothing is applied twice. Positions are
/// those of the source's log, the same in both modes, under one checkpoint
/// (`invoice-replicator`): a replica may change modes. Its lag is
/// `last - position`, in positions, `last` being the source's last position
/// as its feed reported it last (`GET /log` in both modes).
namespace invoicing {

/// Largest `limit` of one feed request.
constexpr size_t max_feed_limit = 1000;

/// An event as the feed's `type` and `data`.
nlohmann::json event_to_json(const invoice::events::variant_type& ev);

/// The event of a feed entry. Errors: `errc::invalid_argument` naming what
/// is missing or unknown.
caf::expected<invoice::events::variant_type>
event_from_json(const nlohmann::json& entry);

/// An invoice as `to_json` wrote it, back as a state.
invoice_state state_from_json(const nlohmann::json& inv);

/// Up to `limit` invoice events of `j` after position `after`, as the feed.
caf::expected<nlohmann::json> replication_feed(const cairn::journal::journal& j,
                                               uint64_t after, size_t limit);

/// One event of the source's log as a replica applies it.
struct replica_entry {
  /// The event's position in the source's log.
  uint64_t position = 0;
  /// The invoice's id; empty for an event of another category.
  std::string id;
  /// The invoice event; none for an event of another category (it only
  /// moves the checkpoint).
  std::optional<invoice::events::variant_type> event;
};

/// The entries of events of a source's log (`$all` or the invoice
/// category), in their order. Errors: the codec's, for an invoice event
/// that does not decode.
caf::expected<std::vector<replica_entry>>
replica_entries(const std::vector<cairn::journal::stored_event>& events);

/// The invoices of a replica, in a journal of their own.
class invoice_replicator {
public:
  /// The checkpoint of the replica in its journal.
  static constexpr const char* checkpoint_name = "invoice-replicator";

  /// Opens (or creates) the replica's journal in `dir`.
  static caf::expected<std::unique_ptr<invoice_replicator>>
  open(const std::string& dir,
       cairn::journal::sync_mode sync = cairn::journal::sync_mode::full);

  /// A replica in `j`, a journal a runtime owns (its coordinator commits
  /// what `prepare` makes).
  static std::unique_ptr<invoice_replicator>
  over(std::shared_ptr<cairn::journal::journal> j);

  /// The source position up to which the replica has applied the log.
  caf::expected<uint64_t> position() const;

  /// Folds `entries`, in order, onto the invoices and returns the write
  /// group that stores the invoices they changed with the checkpoint
  /// `max(last position, next)`, or none when that is not past the current
  /// position. Entries at or before the current position are skipped.
  /// Errors: `errc::invalid_argument` for positions out of order, the
  /// journal's read errors. REQUIRES: the previous group is committed (or
  /// failed) before the next `prepare`.
  caf::expected<std::optional<cairn::journal::write_group>>
  prepare(const std::vector<replica_entry>& entries, uint64_t next) const;

  /// Applies one feed batch, in order, with the checkpoint, committing
  /// straight to the journal; returns the new position. Errors:
  /// `errc::invalid_argument` for a malformed batch or positions out of
  /// order (nothing applied), the journal's errors. REQUIRES: one caller at
  /// a time, and no other writer of the journal.
  caf::expected<uint64_t> apply(const nlohmann::json& feed);

  /// The invoice `id` (as `to_json`), or none.
  caf::expected<std::optional<nlohmann::json>> get(const std::string& id) const;

  /// A page of the invoices in creation order, in the shape of the source's
  /// `GET /invoices` (rows with the item count).
  caf::expected<nlohmann::json> list(int64_t offset, int64_t limit) const;

private:
  explicit invoice_replicator(std::shared_ptr<cairn::journal::journal> j);

  std::shared_ptr<cairn::journal::journal> j_;
};

/// Counters of a replica following a source over the cluster.
struct replica_counters {
  /// Batches committed, and commits that failed (and were tried again).
  std::atomic<uint64_t> commits{0};
  std::atomic<uint64_t> failed_commits{0};
  /// Events applied (of any category).
  std::atomic<uint64_t> events{0};
  /// The source position of the last event delivered.
  std::atomic<uint64_t> delivered{0};
};

/// Follows node `source`'s log (`$all`) into `r` through a remote
/// subscription on `rt`'s node, starting after `r.position()`: each batch
/// the subscription delivers is folded with `prepare` and committed, the
/// invoices with the checkpoint, through `rt`'s coordinator, one commit at
/// a time; its events are acknowledged once committed. A commit that fails
/// is tried again after a delay (up to a second); a journal that failed, a
/// batch the journal refuses, or an invoice event that does not decode (a
/// source of another version), ends the subscription with the error.
/// `r` must be `over(rt.journal())` and outlive the subscription;
/// `counters`, when not null, too. Errors: those of
/// `cairn::cluster::subscribe_remote`, `r`'s read errors.
caf::expected<caf::actor>
replicate_remote(cairn::runtime& rt, invoice_replicator& r,
                 const std::string& source,
                 replica_counters* counters = nullptr);

/// `cairn-invoicing replica --source=HOST:PORT [--path=DIR] [--port=N]
/// [--host=ADDR] [--source-node=ID] [--cluster.* ...]`: follows the
/// source's log and serves `GET /invoices`, `GET /invoices/{id}` (JSON or
/// HTML by Accept) and `GET /replica` (`{"position", "source_last", "lag",
/// "mode"}`), read-only (a POST is 405), until SIGINT or SIGTERM.
///
/// `--source` is the source's web interface. With `--cluster.node-id` (and
/// `--cluster.nodes`, `--cluster.port`, any other `cluster.*` key, or a
/// `--config-file` with them) the replica is a node of the source's
/// cluster and reads node `--source-node`'s log over the cluster (default:
/// the one other member); it asks `--source` only for the source's last
/// position. Without, it reads the source's `GET /log` feed. Prints
/// `cluster node ID: gateway on port N` (cluster mode), then `listening on
/// HOST:PORT`. Returns the exit code.
int run_replica(const std::vector<std::string>& args);

} // namespace invoicing
