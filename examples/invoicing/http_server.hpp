#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "caf/actor_system.hpp"
#include "caf/error.hpp"
#include "caf/timespan.hpp"

#include <cairn/actors/runtime.hpp>

/// The web interface of the invoicing example (seed 004): invoices and
/// statistics over HTTP, as JSON or HTML by the Accept header.
///
/// Resources (JSON bodies; HTML forms may POST the same fields as
/// `application/x-www-form-urlencoded` and get `303 See Other` to `/`):
/// - `POST /invoices` `{"id": "42", "customer": "ACME"}` -> 201, the invoice;
/// - `POST /invoices/{id}/items` `{"description": "...", "cents": 1250}`;
/// - `POST /invoices/{id}/send` `{"address": "..."}`;
/// - `POST /invoices/{id}/payments` `{"cents": 1250}` (the whole total);
/// - `GET /invoices/{id}` -> the invoice with its items;
/// - `GET /invoices?offset=0&limit=20` or `?page=1&size=20` -> a page of
///   the invoice list (the `invoice-list` projection, creation order;
///   `limit`/`size` at most 100, default 20);
/// - `GET /statistics` -> the `invoice-statistics` projection;
/// - `GET /` -> the HTML page: the list, the statistics, the forms;
/// - `GET /log?after=P&limit=N` -> the invoice events after position P in
///   log order, the feed of replicas (examples/invoicing/replicator.hpp).
///
/// The invoices live in the runtime's own journal (its local registry),
/// also when the runtime is a cluster node: there the cluster carries the
/// log to replicas on other nodes (examples/invoicing/replicator.hpp), and
/// does not shard the invoices over the members.
///
/// A POST answers once the entity has replied, and an entity replies after
/// its events are durable in the journal. A GET answers JSON unless the
/// Accept header names `text/html` before any `application/json`.
///
/// Errors, as `{"error": "...", "status": N}` (an HTML page for HTML
/// clients and forms):
/// - 400: a body that is not JSON, a missing or mistyped field, a bad id or
///   paging parameter; the text names the field;
/// - 404: an unknown invoice or resource;
/// - 409: a refusal of the invoice's state (`not_draft: the invoice is
///   sent`, `not_sent`, `already_exists`);
/// - 422: a refusal of the command's values (`wrong_amount`,
///   `empty_invoice`, `missing_address`);
/// - 413: a body over `max_body` bytes (16 KiB by default);
/// - 503 with `Retry-After: 1`: the entity is overloaded (its stash is
///   full), unavailable, or did not answer in time;
/// - 500: the journal failed.
/// A refused request writes nothing.
///
/// Threads: cpp-httplib serves each connection on a thread of its own pool;
/// a handler reaches an entity through a `caf::scoped_actor` of its own
/// thread (a blocking actor that does not run on CAF's scheduler), and reads
/// the projections straight from the journal (LMDB read transactions). No
/// handler blocks one of CAF's worker threads.
namespace invoicing {

/// Settings of the HTTP server.
struct http_settings {
  /// The address to listen on.
  std::string host = "127.0.0.1";
  /// The port to listen on; 0 picks a free one (see `http_server::port`).
  uint16_t port = 8080;
  /// Threads serving connections (one per open connection at a time).
  size_t threads = 32;
  /// Largest request body, bytes; a larger one is refused with 413.
  size_t max_body = 16 * 1024;
  /// How long a handler waits for an entity's reply.
  caf::timespan timeout = std::chrono::seconds{10};
};

/// The HTTP status of an error and its text.
struct http_error {
  int status = 500;
  std::string text;
};

/// Maps an error of an entity or of Cairn to its HTTP status and text.
http_error http_error_of(const caf::error& err);

/// Whether an Accept header asks for HTML rather than JSON.
bool wants_html(const std::string& accept);

/// Whether `id` is a valid invoice id: 1 to 64 of `A-Z a-z 0-9 . _ ~ -`.
bool valid_invoice_id(const std::string& id);

/// The web interface, serving the invoices of one runtime.
class http_server {
public:
  /// Prepares a server for the invoices of `rt`; `start` listens.
  http_server(caf::actor_system& sys, cairn::runtime& rt,
              http_settings settings);

  /// Stops the server if it still runs.
  ~http_server();

  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  /// Starts the projections it reads, binds and serves on a thread of its
  /// own. Errors: `errc::invalid_argument` when the address cannot be
  /// bound, the projections' errors.
  caf::error start();

  /// The port it listens on (after `start`).
  uint16_t port() const noexcept;

  /// Stops listening and waits for the handlers to end. Idempotent.
  void stop();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace invoicing
