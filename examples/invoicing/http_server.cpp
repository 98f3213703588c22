#include "examples/invoicing/http_server.hpp"

#include <algorithm>
#include <cctype>
#include <exception>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "caf/scoped_actor.hpp"
#include "caf/sec.hpp"

#include <cairn/actors/metrics.hpp>
#include <cairn/actors/projection.hpp>
#include <cairn/journal/errc.hpp>

#include "examples/invoicing/html.hpp"
#include "examples/invoicing/http_util.hpp"
#include "examples/invoicing/invoice.hpp"
#include "examples/invoicing/invoice_list.hpp"
#include "examples/invoicing/replicator.hpp"
#include "examples/invoicing/statistics.hpp"

namespace invoicing {

using nlohmann::json;
using namespace http_util;

// -- free functions -----------------------------------------------------------

http_error http_error_of(const caf::error& err) {
  if (err.category() == invoice_error_category) {
    auto text = render_invoice_error(err.code(), err.category(), err.context());
    auto code = static_cast<invoice_error>(err.code());
    // A command for an invoice that was never created is refused by its
    // state, "none": the resource does not exist.
    auto ctx = err.context();
    if ((code == invoice_error::not_draft || code == invoice_error::not_sent)
        && ctx.size() == 1 && ctx.match_element<std::string>(0)
        && ctx.get_as<std::string>(0)
             == "the invoice is " + to_string(invoice_status::none))
      return {404, text};
    switch (code) {
      case invoice_error::already_exists:
      case invoice_error::not_draft:
      case invoice_error::not_sent:
        return {409, text};
      default:
        return {422, text};
    }
  }
  if (err.category() == cairn::cairn_error_category) {
    auto text = cairn::describe(err);
    switch (cairn::code_of(err)) {
      case cairn::errc::overloaded:
      case cairn::errc::entity_unavailable:
      case cairn::errc::timeout:
        return {503, text};
      case cairn::errc::invalid_argument:
        return {400, text};
      case cairn::errc::rejected:
        return {422, text};
      case cairn::errc::not_found:
        return {404, text};
      default:
        return {500, text};
    }
  }
  if (err == caf::sec::request_timeout)
    return {503, "timeout: the invoice did not answer in time"};
  return {500, cairn::describe(err)};
}

bool wants_html(const std::string& accept) {
  auto html = accept.find("text/html");
  if (html == std::string::npos)
    return false;
  auto js = accept.find("application/json");
  return js == std::string::npos || html < js;
}

bool valid_invoice_id(const std::string& id) {
  if (id.empty() || id.size() > 64)
    return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_'
           || c == '~' || c == '-';
  });
}

// -- the server ---------------------------------------------------------------

struct http_server::impl {
  caf::actor_system& sys;
  cairn::runtime& rt;
  http_settings settings;
  caf::actor registry;
  caf::actor list;
  caf::actor stats;
  httplib::Server svr;
  std::thread listener;
  uint16_t port = 0;
  bool started = false;

  impl(caf::actor_system& sys, cairn::runtime& rt, http_settings settings)
    : sys(sys), rt(rt), settings(std::move(settings)) {
    // nop
  }

  // -- answers ---------------------------------------------------------------

  // -- entities --------------------------------------------------------------

  /// Sends `cmd` to invoice `id` from a blocking actor of this thread.
  template <class Command>
  caf::expected<invoice_state> ask(const std::string& id, Command cmd) {
    caf::expected<invoice_state> result{caf::error{}};
    caf::scoped_actor self{sys};
    self
      ->request(registry, settings.timeout, cairn::entity_id{id},
                std::move(cmd))
      .receive([&](invoice_state& st) { result = std::move(st); },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  /// Answers a command's result: the invoice, or 303 to the page for a
  /// form, or the error.
  void command_answer(const httplib::Request& req, httplib::Response& res,
                      const std::string& id,
                      caf::expected<invoice_state> result, int status) {
    if (!result) {
      auto e = http_error_of(result.error());
      fail(req, res, e.status, e.text);
      return;
    }
    if (is_form(req)) {
      // The page reads the invoice list and the statistics: let them see
      // this write first (a read model late beyond the timeout shows the
      // page as it is).
      if (auto last = rt.journal()->last_position())
        for (auto& model : {list, stats})
          static_cast<void>(
            cairn::await_caught_up(sys, model, *last, settings.timeout));
      res.status = 303;
      res.set_header("Location", "/");
      res.set_content("See /\n", "text/plain");
      return;
    }
    if (status == 201)
      res.set_header("Location", "/invoices/" + id);
    res.status = status;
    res.set_content(to_json(id, *result).dump() + "\n", "application/json");
  }

  static std::string id_of(const httplib::Request& req) {
    auto id = req.matches[1].str();
    if (!valid_invoice_id(id))
      throw bad_request(400, "id: expected 1 to 64 letters, digits or . _ ~ -"
                             ", got '"
                               + id.substr(0, 80) + "'");
    return id;
  }

  // -- read models -----------------------------------------------------------

  json list_page(int64_t offset, int64_t limit) {
    cairn::projection_model model{rt.journal(), invoice_list::name};
    auto order = must(model.scan("order"));
    json rows = json::array();
    auto count = static_cast<int64_t>(order.size());
    for (auto i = offset; i < count && i < offset + limit; ++i) {
      auto row = must(model.get("invoices", order[i].second));
      if (row)
        rows.push_back(json::parse(*row, nullptr, false));
    }
    return {{"invoices", rows},
            {"offset", offset},
            {"limit", limit},
            {"count", count},
            {"position", must(model.checkpoint())}};
  }

  json statistics() {
    cairn::projection_model model{rt.journal(), invoice_statistics::name};
    auto count
      = [&](const char* key) { return must(model.get_int("counts", key)); };
    json customers = json::array();
    for (auto& row : must(model.scan("invoiced_by_customer")))
      customers.push_back(
        {{"customer", row.first},
         {"invoiced_cents",
          must(model.get_int("invoiced_by_customer", row.first))},
         {"paid_cents", must(model.get_int("paid_by_customer", row.first))}});
    return {{"created", count("created")},
            {"sent", count("sent")},
            {"paid", count("paid")},
            {"invoiced_cents", count("invoiced")},
            {"paid_cents", count("paid_cents")},
            {"customers", customers},
            {"position", must(model.checkpoint())}};
  }

  // -- routes ----------------------------------------------------------------

  void routes() {
    using req_t = const httplib::Request&;
    using res_t = httplib::Response&;
    svr.Get("/", [this](req_t req, res_t res) {
      guarded(req, res, [&] {
        auto [offset, limit] = paging_of(req);
        res.set_content(html::index(list_page(offset, limit), statistics()),
                        "text/html; charset=utf-8");
      });
    });
    svr.Get("/invoices", [this](req_t req, res_t res) {
      guarded(req, res, [&] {
        auto [offset, limit] = paging_of(req);
        auto page = list_page(offset, limit);
        answer(req, res, 200, page,
               [&] { return html::index(page, statistics()); });
      });
    });
    // Cairn's Prometheus metrics (cairn/actors/metrics.hpp), served here so
    // that one port answers both; `--metrics.port` would open a second one.
    svr.Get("/metrics", [this](req_t req, res_t res) {
      guarded(req, res, [&] {
        res.set_content(cairn::render_metrics(rt.shared()),
                        "text/plain; version=0.0.4; charset=utf-8");
      });
    });
    svr.Get("/statistics", [this](req_t req, res_t res) {
      guarded(req, res, [&] {
        auto stats = statistics();
        answer(req, res, 200, stats, [&] {
          return html::head("Statistics") + html::statistics(stats)
                 + "<p><a href=\"/\">All invoices</a></p></body></html>\n";
        });
      });
    });
    svr.Get(R"(/invoices/([^/]+))", [this](req_t req, res_t res) {
      guarded(req, res, [&] {
        auto id = id_of(req);
        auto st = ask(id, get_invoice{});
        if (!st) {
          auto e = http_error_of(st.error());
          fail(req, res, e.status, e.text);
        } else if (st->status == invoice_status::none) {
          fail(req, res, 404, "no invoice " + id);
        } else {
          auto inv = to_json(id, *st);
          answer(req, res, 200, inv, [&] { return html::invoice_page(inv); });
        }
      });
    });
    svr.Get("/log", [this](req_t req, res_t res) {
      guarded(req, res, [&] {
        auto number = [&](const char* name, uint64_t fallback) -> uint64_t {
          if (!req.has_param(name))
            return fallback;
          auto str = req.get_param_value(name);
          try {
            size_t used = 0;
            auto x = std::stoull(str, &used);
            if (used == str.size())
              return x;
          } catch (const std::exception&) {
            // below
          }
          throw bad_request(400, std::string{"parameter "} + name
                                   + ": expected a position or count");
        };
        auto feed = must(replication_feed(*rt.journal(), number("after", 0),
                                          number("limit", max_feed_limit)));
        res.set_content(feed.dump() + "\n", "application/json");
      });
    });
    svr.Post("/invoices", [this](req_t req, res_t res) {
      guarded(req, res, [&] {
        auto body = body_of(req);
        auto id = string_field(body, "id");
        if (!valid_invoice_id(id))
          throw bad_request(400, "field id: expected 1 to 64 letters, digits"
                                 " or . _ ~ -");
        auto customer = string_field(body, "customer");
        if (customer.empty())
          throw bad_request(400, "field customer: must not be empty");
        command_answer(req, res, id, ask(id, create_invoice{customer}), 201);
      });
    });
    svr.Post(R"(/invoices/([^/]+)/items)", [this](req_t req, res_t res) {
      guarded(req, res, [&] {
        auto id = id_of(req);
        auto body = body_of(req);
        item x{string_field(body, "description"), cents_field(body, "cents")};
        command_answer(req, res, id, ask(id, add_item{std::move(x)}), 200);
      });
    });
    svr.Post(R"(/invoices/([^/]+)/send)", [this](req_t req, res_t res) {
      guarded(req, res, [&] {
        auto id = id_of(req);
        auto body = body_of(req);
        auto address = string_field(body, "address");
        command_answer(req, res, id, ask(id, send_invoice{address}), 200);
      });
    });
    svr.Post(R"(/invoices/([^/]+)/payments)", [this](req_t req, res_t res) {
      guarded(req, res, [&] {
        auto id = id_of(req);
        auto body = body_of(req);
        auto cents = cents_field(body, "cents");
        command_answer(req, res, id, ask(id, pay_invoice{cents}), 200);
      });
    });
    // Unknown routes (404), bodies over the limit (413), and whatever else
    // cpp-httplib refuses by itself get a body in the same format.
    svr.set_error_handler([](req_t req, res_t res) {
      if (!res.body.empty())
        return;
      std::string text;
      switch (res.status) {
        case 404:
          text = "no such resource: " + req.method + " " + req.path;
          break;
        case 413:
          text = "the body is over the limit";
          break;
        default:
          text = "HTTP error " + std::to_string(res.status);
      }
      fail(req, res, res.status, text);
    });
    svr.set_exception_handler([](req_t req, res_t res, std::exception_ptr ep) {
      std::string text = "internal error";
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& ex) {
        text = ex.what();
      } catch (...) {
        // keep the text
      }
      fail(req, res, 500, text);
    });
  }
};

http_server::http_server(caf::actor_system& sys, cairn::runtime& rt,
                         http_settings settings)
  : impl_(std::make_unique<impl>(sys, rt, std::move(settings))) {
  // nop
}

http_server::~http_server() {
  stop();
}

caf::error http_server::start() {
  auto& d = *impl_;
  if (d.started)
    return cairn::make_error(cairn::errc::invalid_argument,
                             "the HTTP server runs already");
  // The invoices of this server live in its own journal, also on a
  // clustered runtime: the cluster carries its log to replicas
  // (examples/invoicing/replicator.hpp), it does not shard its invoices.
  d.registry = d.rt.local_registry<invoice>();
  auto list = cairn::start_projection<invoice_list>(d.rt);
  if (!list)
    return std::move(list.error());
  d.list = std::move(*list);
  auto stats = cairn::start_projection<invoice_statistics>(d.rt);
  if (!stats)
    return std::move(stats.error());
  d.stats = std::move(*stats);
  d.routes();
  auto threads = std::max<size_t>(1, d.settings.threads);
  d.svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  d.svr.set_payload_max_length(d.settings.max_body);
  d.svr.set_keep_alive_max_count(100000);
  d.svr.set_tcp_nodelay(true);
  http_util::listen_socket sock{d.svr};
  if (d.settings.port == 0) {
    auto port = d.svr.bind_to_any_port(d.settings.host);
    if (port <= 0)
      return cairn::make_error(cairn::errc::invalid_argument,
                               "http: cannot bind " + d.settings.host);
    d.port = static_cast<uint16_t>(port);
  } else {
    if (!d.svr.bind_to_port(d.settings.host, d.settings.port))
      return cairn::make_error(cairn::errc::invalid_argument,
                               "http: cannot bind " + d.settings.host + ":"
                                 + std::to_string(d.settings.port));
    d.port = d.settings.port;
  }
  if (auto why = sock.widen_backlog(); !why.empty())
    return cairn::make_error(cairn::errc::storage_error,
                             "http: cannot widen the listen backlog of "
                               + d.settings.host + ":" + std::to_string(d.port)
                               + ": " + why);
  d.started = true;
  d.listener = std::thread{[&d] { d.svr.listen_after_bind(); }};
  // stop() only stops a server that runs: wait until it does.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
  while (!d.svr.is_running()) {
    if (std::chrono::steady_clock::now() > deadline) {
      stop();
      return cairn::make_error(cairn::errc::timeout,
                               "http: the server did not start in 10 s");
    }
    std::this_thread::yield();
  }
  return {};
}

uint16_t http_server::port() const noexcept {
  return impl_->port;
}

void http_server::stop() {
  auto& d = *impl_;
  if (!d.started)
    return;
  d.started = false;
  d.svr.stop();
  if (d.listener.joinable())
    d.listener.join();
}

} // namespace invoicing
