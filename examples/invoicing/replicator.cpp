#include "examples/invoicing/replicator.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>
#include <variant>

#include <httplib.h>

#include <cairn/actors/aggregate.hpp>
#include <cairn/journal/errc.hpp>

#include "examples/invoicing/html.hpp"
#include "examples/invoicing/http_util.hpp"
#include "examples/invoicing/invoice_list.hpp"

namespace invoicing {

using nlohmann::json;

namespace {

constexpr const char* invoices_table = "replica.invoices";
constexpr const char* order_table = "replica.order";

caf::error bad_feed(const std::string& what) {
  return cairn::make_error(cairn::errc::invalid_argument, "feed: " + what);
}

std::string order_key(uint64_t position) {
  char key[24];
  std::snprintf(key, sizeof(key), "%020llu",
                static_cast<unsigned long long>(position));
  return key;
}

template <class T>
T get_or(const json& obj, const char* key, T fallback) {
  auto i = obj.find(key);
  if (i == obj.end())
    return fallback;
  try {
    return i->get<T>();
  } catch (const std::exception&) {
    return fallback;
  }
}

} // namespace

// -- the feed -----------------------------------------------------------------

json event_to_json(const invoice::events::variant_type& ev) {
  return std::visit(
    [](const auto& e) -> json {
      using type = std::decay_t<decltype(e)>;
      json data;
      if constexpr (std::is_same_v<type, invoice_created>)
        data = {{"customer", e.customer}};
      else if constexpr (std::is_same_v<type, item_added>)
        data = {{"description", e.added.description}, {"cents", e.added.cents}};
      else if constexpr (std::is_same_v<type, invoice_sent>)
        data = {{"address", e.address}};
      else
        data = {{"cents", e.cents}};
      return {{"type", type::event_name}, {"data", data}};
    },
    ev);
}

caf::expected<invoice::events::variant_type>
event_from_json(const json& entry) {
  if (!entry.is_object() || !entry.contains("type")
      || !entry["type"].is_string() || !entry.contains("data")
      || !entry["data"].is_object())
    return bad_feed("an event without type or data");
  auto type = entry["type"].get<std::string>();
  auto& d = entry["data"];
  try {
    if (type == invoice_created::event_name)
      return invoice_created{d.at("customer").get<std::string>()};
    if (type == item_added::event_name)
      return item_added{
        {d.at("description").get<std::string>(), d.at("cents").get<int64_t>()}};
    if (type == invoice_sent::event_name)
      return invoice_sent{d.at("address").get<std::string>()};
    if (type == invoice_paid::event_name)
      return invoice_paid{d.at("cents").get<int64_t>()};
  } catch (const std::exception& ex) {
    return bad_feed(type + ": " + ex.what());
  }
  return bad_feed("unknown event type '" + type + "'");
}

invoice_state state_from_json(const json& inv) {
  invoice_state st;
  auto state = get_or<std::string>(inv, "state", "none");
  st.status = state == "draft"  ? invoice_status::draft
              : state == "sent" ? invoice_status::sent
              : state == "paid" ? invoice_status::paid
                                : invoice_status::none;
  st.customer = get_or<std::string>(inv, "customer", "");
  auto items = inv.find("items");
  if (items != inv.end() && items->is_array())
    for (auto& x : *items)
      st.items.push_back({get_or<std::string>(x, "description", ""),
                          get_or<int64_t>(x, "cents", 0)});
  st.total = get_or<int64_t>(inv, "total", 0);
  st.address = get_or<std::string>(inv, "address", "");
  st.paid = get_or<int64_t>(inv, "paid", 0);
  return st;
}

caf::expected<json> replication_feed(const cairn::journal::journal& j,
                                     uint64_t after, size_t limit) {
  limit = std::max<size_t>(1, std::min(limit, max_feed_limit));
  auto last = j.last_position();
  if (!last)
    return std::move(last.error());
  auto slice = j.read_all(after + 1, limit, invoice::category);
  if (!slice)
    return std::move(slice.error());
  auto& codec = cairn::codec_of<invoice>();
  json events = json::array();
  for (auto& ev : slice->events) {
    auto x = codec.decode_variant<invoice_created, item_added, invoice_sent,
                                  invoice_paid>(ev);
    if (!x)
      return std::move(x.error());
    auto entry = event_to_json(*x);
    entry["position"] = ev.position;
    entry["id"] = invoice_id_of(ev.stream);
    entry["version"] = ev.version;
    events.push_back(std::move(entry));
  }
  // The slice scanned up to next_position - 1, never past the last event.
  auto next = std::max(after, std::min(*last, slice->next_position - 1));
  return json{{"events", events}, {"next", next}, {"last", *last}};
}

// -- the replica --------------------------------------------------------------

invoice_replicator::invoice_replicator(
  std::shared_ptr<cairn::journal::journal> j)
  : j_(std::move(j)) {
  // nop
}

caf::expected<std::unique_ptr<invoice_replicator>>
invoice_replicator::open(const std::string& dir,
                         cairn::journal::sync_mode sync) {
  cairn::journal::options opts;
  opts.sync = sync;
  auto j = cairn::journal::journal::open(dir, opts);
  if (!j)
    return std::move(j.error());
  std::shared_ptr<cairn::journal::journal> shared{std::move(*j)};
  return std::unique_ptr<invoice_replicator>{
    new invoice_replicator(std::move(shared))};
}

caf::expected<uint64_t> invoice_replicator::position() const {
  auto cp = j_->checkpoint(checkpoint_name);
  if (!cp)
    return std::move(cp.error());
  return cp->value_or(0);
}

caf::expected<uint64_t> invoice_replicator::apply(const json& feed) {
  auto pos = position();
  if (!pos)
    return pos;
  if (!feed.is_object() || !feed.contains("events")
      || !feed["events"].is_array() || !feed.contains("next")
      || !feed["next"].is_number_unsigned())
    return bad_feed("expected {\"events\": [...], \"next\": N}");
  // Fold the batch onto the invoices it touches, in order.
  std::map<std::string, invoice_state> changed;
  cairn::journal::write_group group;
  uint64_t applied = *pos;
  for (auto& entry : feed["events"]) {
    if (!entry.contains("position") || !entry["position"].is_number_unsigned()
        || !entry.contains("id") || !entry["id"].is_string())
      return bad_feed("an event without position or id");
    auto p = entry["position"].get<uint64_t>();
    if (p <= *pos)
      continue; // applied before: a batch asked again after a restart
    if (p <= applied)
      return bad_feed("position " + std::to_string(p) + " after "
                      + std::to_string(applied));
    auto ev = event_from_json(entry);
    if (!ev)
      return std::move(ev.error());
    auto id = entry["id"].get<std::string>();
    auto i = changed.find(id);
    if (i == changed.end()) {
      invoice_state st;
      auto row = j_->table_get(invoices_table, id);
      if (!row)
        return std::move(row.error());
      if (*row)
        st = state_from_json(json::parse(**row, nullptr, false));
      i = changed.emplace(id, std::move(st)).first;
    }
    if (std::holds_alternative<invoice_created>(*ev))
      group.tables.push_back({order_table, order_key(p), id, false});
    i->second = std::visit(
      [&](const auto& e) { return invoice::apply(std::move(i->second), e); },
      *ev);
    applied = p;
  }
  auto next = std::max(applied, feed["next"].get<uint64_t>());
  if (next <= *pos)
    return *pos; // nothing new
  for (auto& [id, st] : changed)
    group.tables.push_back({invoices_table, id, to_json(id, st).dump(), false});
  group.checkpoints.emplace_back(checkpoint_name, next);
  auto receipt = j_->commit(group);
  if (!receipt)
    return std::move(receipt.error());
  return next;
}

caf::expected<std::optional<json>>
invoice_replicator::get(const std::string& id) const {
  auto row = j_->table_get(invoices_table, id);
  if (!row)
    return std::move(row.error());
  if (!*row)
    return std::optional<json>{};
  return std::optional<json>{json::parse(**row, nullptr, false)};
}

caf::expected<json> invoice_replicator::list(int64_t offset,
                                             int64_t limit) const {
  auto order = j_->table_scan(order_table);
  if (!order)
    return std::move(order.error());
  auto pos = position();
  if (!pos)
    return std::move(pos.error());
  json rows = json::array();
  auto count = static_cast<int64_t>(order->size());
  for (auto i = offset; i < count && i < offset + limit; ++i) {
    auto inv = get((*order)[i].second);
    if (!inv)
      return std::move(inv.error());
    if (!*inv)
      continue;
    auto row = **inv;
    row["items"] = row["items"].size();
    rows.push_back(std::move(row));
  }
  return json{{"invoices", rows},
              {"offset", offset},
              {"limit", limit},
              {"count", count},
              {"position", *pos}};
}

// -- the replica process ------------------------------------------------------

namespace {

struct replica_args {
  std::string source_host;
  uint16_t source_port = 0;
  std::string path = "cairn-replica";
  std::string host = "127.0.0.1";
  uint16_t port = 8081;
};

std::optional<replica_args>
parse_replica_args(const std::vector<std::string>& args, std::string& error) {
  replica_args result;
  auto parse_port = [](const std::string& str, bool zero_ok) {
    size_t used = 0;
    auto x = std::stoul(str, &used);
    if (used != str.size() || x > 65535 || (x == 0 && !zero_ok))
      throw std::invalid_argument("not a port");
    return static_cast<uint16_t>(x);
  };
  for (auto& arg : args) {
    auto eq = arg.find('=');
    auto key = arg.substr(0, eq);
    auto val = eq == std::string::npos ? std::string{} : arg.substr(eq + 1);
    try {
      if (key == "--source") {
        auto colon = val.rfind(':');
        if (colon == std::string::npos || colon == 0)
          throw std::invalid_argument("expected HOST:PORT");
        result.source_host = val.substr(0, colon);
        result.source_port = parse_port(val.substr(colon + 1), false);
      } else if (key == "--path" && !val.empty()) {
        result.path = val;
      } else if (key == "--host" && !val.empty()) {
        result.host = val;
      } else if (key == "--port") {
        result.port = parse_port(val, true);
      } else {
        error = "unknown argument '" + arg
                + "' (expected --source, --path, --host, --port)";
        return std::nullopt;
      }
    } catch (const std::exception& ex) {
      error = key + ": '" + val + "': " + ex.what();
      return std::nullopt;
    }
  }
  if (result.source_port == 0) {
    error = "missing --source=HOST:PORT";
    return std::nullopt;
  }
  return result;
}

} // namespace

int run_replica(const std::vector<std::string>& args) {
  using namespace http_util;
  std::string error;
  auto opts = parse_replica_args(args, error);
  if (!opts) {
    std::cerr << "cairn-invoicing replica: " << error << '\n';
    return EXIT_FAILURE;
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  auto rep = invoice_replicator::open(opts->path);
  if (!rep) {
    std::cerr << "cairn-invoicing replica: cannot open " << opts->path << ": "
              << cairn::describe(rep.error()) << '\n';
    return EXIT_FAILURE;
  }
  auto& r = **rep;
  std::atomic<uint64_t> source_last{0};
  // Read-only resources.
  httplib::Server svr;
  using req_t = const httplib::Request&;
  using res_t = httplib::Response&;
  svr.Get("/invoices", [&](req_t req, res_t res) {
    guarded(req, res, [&] {
      auto [offset, limit] = paging_of(req);
      auto page = must(r.list(offset, limit));
      answer(req, res, 200, page,
             [&] { return html::index(page, json::object()); });
    });
  });
  svr.Get(R"(/invoices/([^/]+))", [&](req_t req, res_t res) {
    guarded(req, res, [&] {
      auto id = req.matches[1].str();
      auto inv = must(r.get(id));
      if (!inv)
        throw bad_request(404, "no invoice " + id + " (yet)");
      answer(req, res, 200, *inv, [&] { return html::invoice_page(*inv); });
    });
  });
  svr.Get("/replica", [&](req_t req, res_t res) {
    guarded(req, res, [&] {
      auto pos = must(r.position());
      uint64_t last = source_last;
      json body{{"position", pos},
                {"source_last", last},
                {"lag", last > pos ? last - pos : 0}};
      answer(req, res, 200, body, [&] {
        return html::head("Replica") + "<p>position " + std::to_string(pos)
               + ", lag " + body["lag"].dump() + "</p></body></html>\n";
      });
    });
  });
  svr.Post(R"(/.*)", [](req_t req, res_t res) {
    res.set_header("Allow", "GET");
    fail(req, res, 405, "a replica is read-only: POST to the source");
  });
  svr.set_error_handler([](req_t req, res_t res) {
    if (res.body.empty())
      fail(req, res, res.status,
           res.status == 404
             ? "no such resource: " + req.method + " " + req.path
             : "HTTP error " + std::to_string(res.status));
  });
  svr.set_tcp_nodelay(true);
  int port = opts->port;
  if (port == 0)
    port = svr.bind_to_any_port(opts->host);
  else if (!svr.bind_to_port(opts->host, port))
    port = -1;
  if (port <= 0) {
    std::cerr << "cairn-invoicing replica: cannot bind " << opts->host << ':'
              << opts->port << '\n';
    return EXIT_FAILURE;
  }
  std::thread listener{[&] { svr.listen_after_bind(); }};
  while (!svr.is_running()) // stop() only stops a server that runs
    std::this_thread::yield();
  // The follower: asks the source's feed after its checkpoint, applies,
  // and asks again; waits a little when there is nothing new or the source
  // does not answer.
  std::mutex mtx;
  std::condition_variable cv;
  bool stopping = false;
  std::thread follower{[&] {
    httplib::Client cli{opts->source_host, opts->source_port};
    cli.set_keep_alive(true);
    cli.set_tcp_nodelay(true);
    cli.set_connection_timeout(2, 0);
    cli.set_read_timeout(10, 0);
    for (;;) {
      bool idle = true;
      auto pos = r.position();
      if (pos) {
        auto res = cli.Get(("/log?after=" + std::to_string(*pos)
                            + "&limit=" + std::to_string(max_feed_limit))
                             .c_str());
        if (res && res->status == 200) {
          auto feed = json::parse(res->body, nullptr, false);
          if (feed.is_object() && feed.contains("last")
              && feed["last"].is_number_unsigned())
            source_last = feed["last"].get<uint64_t>();
          auto next = r.apply(feed);
          if (!next)
            std::cerr << "cairn-invoicing replica: "
                      << cairn::describe(next.error()) << '\n';
          else if (*next > *pos)
            idle = false;
        }
      }
      std::unique_lock<std::mutex> guard{mtx};
      if (idle)
        cv.wait_for(guard, std::chrono::milliseconds{100},
                    [&] { return stopping; });
      if (stopping)
        return;
    }
  }};
  std::cout << "listening on " << opts->host << ':' << port << std::endl;
  int sig = 0;
  sigwait(&signals, &sig);
  std::cout << "cairn-invoicing replica: " << strsignal(sig) << ", stopping"
            << std::endl;
  {
    std::lock_guard<std::mutex> guard{mtx};
    stopping = true;
  }
  cv.notify_all();
  follower.join();
  svr.stop();
  listener.join();
  return EXIT_SUCCESS;
}

} // namespace invoicing
