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

#include <unistd.h>

#include <httplib.h>

#include "caf/all.hpp"

#include <cairn/actors/aggregate.hpp>
#include <cairn/actors/atoms.hpp>
#include <cairn/actors/cluster/node.hpp>
#include <cairn/actors/cluster/remote_subscription.hpp>
#include <cairn/actors/config.hpp>
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

caf::expected<std::vector<replica_entry>>
replica_entries(const std::vector<cairn::journal::stored_event>& events) {
  auto& codec = cairn::codec_of<invoice>();
  std::vector<replica_entry> result;
  result.reserve(events.size());
  for (auto& ev : events) {
    replica_entry entry;
    entry.position = ev.position;
    if (cairn::journal::category_of(ev.stream) == invoice::category) {
      auto x = codec.decode_variant<invoice_created, item_added, invoice_sent,
                                    invoice_paid>(ev);
      if (!x)
        return std::move(x.error());
      entry.id = invoice_id_of(ev.stream);
      entry.event = std::move(*x);
    }
    result.push_back(std::move(entry));
  }
  return result;
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

std::unique_ptr<invoice_replicator>
invoice_replicator::over(std::shared_ptr<cairn::journal::journal> j) {
  return std::unique_ptr<invoice_replicator>{
    new invoice_replicator(std::move(j))};
}

caf::expected<std::optional<cairn::journal::write_group>>
invoice_replicator::prepare(const std::vector<replica_entry>& entries,
                            uint64_t next) const {
  using result_type = std::optional<cairn::journal::write_group>;
  auto pos = position();
  if (!pos)
    return std::move(pos.error());
  // Fold the batch onto the invoices it touches, in order.
  std::map<std::string, invoice_state> changed;
  cairn::journal::write_group group;
  uint64_t applied = *pos;
  for (auto& entry : entries) {
    auto p = entry.position;
    if (p <= *pos)
      continue; // applied before: a batch delivered again after a restart
    if (p <= applied)
      return bad_feed("position " + std::to_string(p) + " after "
                      + std::to_string(applied));
    applied = p;
    if (!entry.event)
      continue; // another category: moves the checkpoint only
    auto& id = entry.id;
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
    if (std::holds_alternative<invoice_created>(*entry.event))
      group.tables.push_back({order_table, order_key(p), id, false});
    i->second = std::visit(
      [&](const auto& e) { return invoice::apply(std::move(i->second), e); },
      *entry.event);
  }
  next = std::max(applied, next);
  if (next <= *pos)
    return result_type{}; // nothing new
  for (auto& [id, st] : changed)
    group.tables.push_back({invoices_table, id, to_json(id, st).dump(), false});
  group.checkpoints.emplace_back(checkpoint_name, next);
  return result_type{std::move(group)};
}

caf::expected<uint64_t> invoice_replicator::apply(const json& feed) {
  auto pos = position();
  if (!pos)
    return pos;
  if (!feed.is_object() || !feed.contains("events")
      || !feed["events"].is_array() || !feed.contains("next")
      || !feed["next"].is_number_unsigned())
    return bad_feed("expected {\"events\": [...], \"next\": N}");
  std::vector<replica_entry> entries;
  for (auto& entry : feed["events"]) {
    if (!entry.contains("position") || !entry["position"].is_number_unsigned()
        || !entry.contains("id") || !entry["id"].is_string())
      return bad_feed("an event without position or id");
    auto p = entry["position"].get<uint64_t>();
    if (p <= *pos)
      continue; // applied before: a batch asked again after a restart
    auto ev = event_from_json(entry);
    if (!ev)
      return std::move(ev.error());
    entries.push_back({p, entry["id"].get<std::string>(), std::move(*ev)});
  }
  auto group = prepare(entries, feed["next"].get<uint64_t>());
  if (!group)
    return std::move(group.error());
  if (!*group)
    return *pos; // nothing new
  auto next = (*group)->checkpoints.back().second;
  auto receipt = j_->commit(**group);
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

// -- following a source over the cluster --------------------------------------

namespace {

/// Tells a follower to try its failed commit again.
using replica_retry_atom = caf::atom_constant<caf::atom("i_rretry")>;

/// What the handler of a remote subscription keeps between batches.
struct follower {
  follower(invoice_replicator& r, replica_counters* counters,
           cairn::subscription_context ctx)
    : r(r), counters(counters), ctx(ctx) {
    // nop
  }

  invoice_replicator& r;
  replica_counters* counters;
  cairn::subscription_context ctx;
  /// Delivered, waiting for the next commit.
  std::vector<cairn::journal::stored_event> pending;
  /// In the commit that runs (empty: none runs).
  std::vector<cairn::journal::stored_event> committing;
  uint32_t failures = 0;
  bool retry_scheduled = false;
};

using follower_ptr = std::shared_ptr<follower>;

void stop_following(const follower_ptr& f, caf::error err) {
  std::cerr << "cairn-invoicing replica: stopping: " << cairn::describe(err)
            << std::endl;
  f->ctx.self()->quit(std::move(err));
}

/// Commits the pending events, unless a commit runs or waits for a retry.
void flush(const follower_ptr& f) {
  if (!f->committing.empty() || f->retry_scheduled || f->pending.empty())
    return;
  f->committing.swap(f->pending);
  auto entries = replica_entries(f->committing);
  if (!entries)
    return stop_following(f, std::move(entries.error()));
  auto group = f->r.prepare(*entries, 0);
  if (!group)
    return stop_following(f, std::move(group.error()));
  auto done = [f] {
    auto batch = std::move(f->committing);
    f->committing.clear();
    if (f->counters) {
      f->counters->events += batch.size();
      f->counters->delivered = batch.back().position;
    }
    for (auto& ev : batch)
      f->ctx.ack(ev.position);
    flush(f);
  };
  if (!*group) // every event applied before (delivered again)
    return done();
  f->ctx.self()
    ->request(f->ctx.coordinator(), caf::infinite, cairn::commit_atom::value,
              std::move(**group))
    .then(
      [f, done](cairn::journal::group_receipt&) {
        f->failures = 0;
        if (f->counters)
          ++f->counters->commits;
        done();
      },
      [f](caf::error& err) {
        if (f->counters)
          ++f->counters->failed_commits;
        auto code = cairn::code_of(err);
        if (code == cairn::errc::journal_failed
            || code == cairn::errc::invalid_argument
            || f->ctx.journal()->failed())
          return stop_following(f, std::move(err));
        std::cerr << "cairn-invoicing replica: a commit failed, trying "
                     "again: "
                  << cairn::describe(err) << std::endl;
        // Back in front of what arrived meanwhile, in order.
        f->committing.insert(f->committing.end(),
                             std::make_move_iterator(f->pending.begin()),
                             std::make_move_iterator(f->pending.end()));
        f->pending = std::move(f->committing);
        f->committing.clear();
        auto delay = std::chrono::milliseconds{std::min(
          int64_t{10} << std::min(f->failures, uint32_t{7}), int64_t{1000})};
        ++f->failures;
        f->retry_scheduled = true;
        f->ctx.self()->delayed_send(f->ctx.self(), delay,
                                    replica_retry_atom::value);
      });
}

} // namespace

caf::expected<caf::actor> replicate_remote(cairn::runtime& rt,
                                           invoice_replicator& r,
                                           const std::string& source,
                                           replica_counters* counters) {
  auto pos = r.position();
  if (!pos)
    return std::move(pos.error());
  cairn::subscription_settings settings;
  // The replica stores its checkpoint with its invoices (`prepare`), and
  // starts after it: the subscription keeps none of its own.
  settings.store_checkpoint = false;
  settings.start = *pos;
  // One commit per chunk, the next chunk read once it committed: chunks
  // as large as the HTTP feed's batches.
  settings.read_chunk = max_feed_limit;
  settings.max_in_flight = max_feed_limit;
  auto factory = [&r, counters](cairn::subscription_context& ctx) {
    auto f = std::make_shared<follower>(r, counters, ctx);
    cairn::subscription_handler h;
    h.deliver = [f](std::vector<cairn::journal::stored_event>& events) {
      f->pending.insert(f->pending.end(),
                        std::make_move_iterator(events.begin()),
                        std::make_move_iterator(events.end()));
      flush(f);
    };
    h.extra = caf::message_handler{
      [f](replica_retry_atom) {
        f->retry_scheduled = false;
        flush(f);
      },
    };
    return h;
  };
  return cairn::cluster::subscribe_remote(rt, source, std::move(settings),
                                          std::move(factory));
}

// -- the replica process ------------------------------------------------------

namespace {

struct replica_args {
  std::string source_host;
  uint16_t source_port = 0;
  std::string path = "cairn-replica";
  std::string host = "127.0.0.1";
  uint16_t port = 8081;
  /// The source's node id (cluster mode; empty: the one other member).
  std::string source_node;
  /// The `--cluster.*` and `--config-file` flags, for `cairn::config`.
  std::vector<std::string> config_args;
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
      } else if (key == "--source-node" && !val.empty()) {
        result.source_node = val;
      } else if (key == "--path" && !val.empty()) {
        result.path = val;
      } else if (key == "--host" && !val.empty()) {
        result.host = val;
      } else if (key == "--port") {
        result.port = parse_port(val, true);
      } else if (key.rfind("--cluster.", 0) == 0 || key == "--config-file") {
        result.config_args.push_back(arg);
      } else {
        error = "unknown argument '" + arg
                + "' (expected --source, --path, --host, --port, "
                  "--source-node, --cluster.*, --config-file)";
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
  if (!result.source_node.empty() && result.config_args.empty()) {
    error = "--source-node needs the cluster mode (--cluster.node-id, "
            "--cluster.nodes)";
    return std::nullopt;
  }
  return result;
}

/// The node a clustered replica reads: `wanted`, or the one other member.
caf::expected<std::string> source_node_of(cairn::runtime& rt,
                                          const std::string& wanted) {
  if (!wanted.empty())
    return wanted; // subscribe_remote checks it
  auto m = rt.shared()->cluster->members();
  std::vector<std::string> others;
  for (auto& id : m->ids())
    if (id != m->self().id)
      others.push_back(id);
  if (others.size() == 1)
    return others.front();
  std::string ids;
  for (auto& id : m->ids())
    ids += (ids.empty() ? "" : ", ") + id;
  return cairn::make_error(cairn::errc::invalid_argument,
                           "the cluster has " + std::to_string(others.size())
                             + " other members than '" + m->self().id + "' ("
                             + ids
                             + "): name the source with --source-node=ID");
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
  auto give_up = [](const std::string& what) {
    std::cerr << "cairn-invoicing replica: " << what << '\n';
    return EXIT_FAILURE;
  };
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // Cluster mode: a node of the source's cluster, its journal the replica's.
  bool clustered = !opts->config_args.empty();
  std::unique_ptr<cairn::config> cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::unique_ptr<cairn::runtime> rt;
  std::unique_ptr<invoice_replicator> rep;
  std::string source_node;
  replica_counters counters;
  caf::actor sub;
  std::string sub_failure; // set before the SIGTERM that reports it
  std::mutex failure_mtx;
  if (clustered) {
    cfg = std::make_unique<cairn::config>();
    cfg->cluster_name = "invoicing"; // as `serve`'s, unless set
    if (auto err = cfg->load(opts->config_args))
      return give_up(cairn::describe(err));
    if (cfg->cli_helptext_printed)
      return EXIT_SUCCESS;
    if (cfg->cluster_node_id.empty())
      return give_up("cluster options need --cluster.node-id (this replica's "
                     "node id)");
    if (cfg->cluster_nodes.empty())
      return give_up("cluster.nodes: the replica needs the members, "
                     "\"id@host:port\" each, the source among them");
    cfg->journal_path = opts->path;
    sys = std::make_unique<caf::actor_system>(*cfg);
    auto started = cairn::runtime::start(*sys, cfg->runtime_options());
    if (!started)
      return give_up("cannot start the node on " + opts->path + ": "
                     + cairn::describe(started.error()));
    rt = std::move(*started);
    auto stop_all = [&](const std::string& what) {
      rt->stop();
      return give_up(what);
    };
    rep = invoice_replicator::over(rt->journal());
    auto node = source_node_of(*rt, opts->source_node);
    if (!node)
      return stop_all(cairn::describe(node.error()));
    source_node = *node;
    auto s = replicate_remote(*rt, *rep, source_node, &counters);
    if (!s)
      return stop_all(cairn::describe(s.error()));
    sub = *s;
    // A subscription that ends with an error ends the process.
    sys->spawn([&, sub = sub](caf::event_based_actor* self) {
      self->monitor(sub);
      self->set_down_handler([&, self](caf::down_msg& dm) {
        if (dm.reason && dm.reason.category() != caf::atom("exit")) {
          {
            std::lock_guard<std::mutex> guard{failure_mtx};
            sub_failure = cairn::describe(dm.reason);
          }
          ::kill(::getpid(), SIGTERM);
        }
        self->quit();
      });
    });
    std::cout << "cluster node " << cfg->cluster_node_id << ": gateway on port "
              << rt->cluster_port() << ", following node " << source_node
              << std::endl;
  } else {
    auto opened = invoice_replicator::open(opts->path);
    if (!opened)
      return give_up("cannot open " + opts->path + ": "
                     + cairn::describe(opened.error()));
    rep = std::move(*opened);
  }
  auto& r = *rep;
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
      // The source's last position as its feed said last; never below what
      // the replica has applied (that feed answer is older).
      uint64_t last = std::max<uint64_t>(source_last, pos);
      json body{{"position", pos},
                {"source_last", last},
                {"lag", last - pos},
                {"mode", clustered ? "cluster" : "http"}};
      if (clustered) {
        body["source_node"] = source_node;
        body["commits"] = counters.commits.load();
        body["failed_commits"] = counters.failed_commits.load();
        auto peers = rt->peers();
        auto i = peers.find(source_node);
        body["link"] = i == peers.end() ? "unknown" : i->second;
      }
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
  http_util::listen_socket sock{svr};
  int port = opts->port;
  if (port == 0)
    port = svr.bind_to_any_port(opts->host);
  else if (!svr.bind_to_port(opts->host, port))
    port = -1;
  if (port <= 0) {
    if (rt)
      rt->stop();
    return give_up("cannot bind " + opts->host + ':'
                   + std::to_string(opts->port));
  }
  if (auto why = sock.widen_backlog(); !why.empty()) {
    if (rt)
      rt->stop();
    return give_up("cannot widen the listen backlog of " + opts->host + ':'
                   + std::to_string(port) + ": " + why);
  }
  std::thread listener{[&] { svr.listen_after_bind(); }};
  while (!svr.is_running()) // stop() only stops a server that runs
    std::this_thread::yield();
  // The follower thread. Over HTTP: asks the source's feed after its
  // checkpoint, applies, and asks again; waits a little when there is
  // nothing new or the source does not answer. Over the cluster the remote
  // subscription applies the events: the thread only asks the feed for the
  // source's last position, for the lag.
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
        auto limit = clustered ? size_t{1} : max_feed_limit;
        auto res = cli.Get(("/log?after=" + std::to_string(*pos)
                            + "&limit=" + std::to_string(limit))
                             .c_str());
        if (res && res->status == 200) {
          auto feed = json::parse(res->body, nullptr, false);
          if (feed.is_object() && feed.contains("last")
              && feed["last"].is_number_unsigned())
            source_last = feed["last"].get<uint64_t>();
          if (!clustered) {
            auto next = r.apply(feed);
            if (!next)
              std::cerr << "cairn-invoicing replica: "
                        << cairn::describe(next.error()) << '\n';
            else if (*next > *pos)
              idle = false;
          }
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
  std::string failure;
  {
    std::lock_guard<std::mutex> guard{failure_mtx};
    failure = sub_failure;
  }
  if (failure.empty())
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
  if (rt)
    rt->stop(); // before the actor system goes
  if (!failure.empty())
    return give_up("the subscription of node " + source_node
                   + " ended: " + failure);
  return EXIT_SUCCESS;
}

} // namespace invoicing
