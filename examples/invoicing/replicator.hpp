#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "caf/error.hpp"
#include "caf/expected.hpp"

#include <cairn/journal/journal.hpp>

#include "examples/invoicing/invoice.hpp"

/// The invoice replicator (seed 004): rebuilds the invoice map of a source
/// process at another location, for eventually consistent reads.
///
/// The source serves its invoice events in log order as a feed,
/// `GET /log?after=P&limit=N` (examples/invoicing/http_server.hpp), made by
/// `replication_feed`:
///
/// ```
/// {"events": [{"position": 12, "id": "42", "version": 3,
///              "type": "item_added",
///              "data": {"description": "...", "cents": 1250}}, ...],
///  "next": 15, "last": 20}
/// ```
///
/// `next` is the position up to which the source scanned (ask again after
/// it), `last` the source's last position. The replica (`cairn-invoicing
/// replica --source=HOST:PORT`) applies each batch with `apply`: it folds
/// the events onto its invoices with the aggregate's own `apply` functions,
/// and writes the invoices it changed **and its checkpoint in one commit**
/// of its own journal. A batch counts entirely or not at all, so a replica
/// killed at any moment resumes after its checkpoint, and events at or
/// before the checkpoint (a feed asked twice) are skipped: nothing is
/// applied twice. Its lag is `last - position`, in positions.
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

/// The invoices of a replica, in a journal of their own.
class invoice_replicator {
public:
  /// The checkpoint of the replica in its journal.
  static constexpr const char* checkpoint_name = "invoice-replicator";

  /// Opens (or creates) the replica's journal in `dir`.
  static caf::expected<std::unique_ptr<invoice_replicator>>
  open(const std::string& dir,
       cairn::journal::sync_mode sync = cairn::journal::sync_mode::full);

  /// The source position up to which the replica has applied the log.
  caf::expected<uint64_t> position() const;

  /// Applies one feed batch, in order, with the checkpoint; returns the new
  /// position. Errors: `errc::invalid_argument` for a malformed batch or
  /// positions out of order (nothing applied), the journal's errors.
  /// REQUIRES: one caller at a time.
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

/// `cairn-invoicing replica --source=HOST:PORT [--path=DIR] [--port=N]
/// [--host=ADDR]`: follows the source's feed and serves `GET /invoices`,
/// `GET /invoices/{id}` (JSON or HTML by Accept) and `GET /replica`
/// (`{"position", "source_last", "lag"}`), read-only (a POST is 405), until
/// SIGINT or SIGTERM. Prints `listening on HOST:PORT`. Returns the exit code.
int run_replica(const std::vector<std::string>& args);

} // namespace invoicing
