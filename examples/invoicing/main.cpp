/// cairn-invoicing: invoices (seed 004) as persistent actors.
///
/// Usage: `cairn-invoicing [--journal.path=DIR] [other cairn::config flags]`
/// (default `./cairn-data`; `--help` lists the flags), or
/// `cairn-invoicing serve [--http.port=8080] [--http.host=127.0.0.1]
/// [flags]` for the web interface (examples/invoicing/http_server.hpp; port
/// 0 picks a free port; it prints `listening on HOST:PORT` and serves until
/// SIGINT or SIGTERM; with `--cluster.node-id=ID --cluster.port=N
/// --cluster.nodes=ID@HOST:PORT,...` it is also a node of a cluster, whose
/// gateway serves its log to replicas on other nodes, and it prints
/// `cluster node ID: gateway on port N` first), or `cairn-invoicing load
/// --url=http://HOST:PORT
/// [--clients=16] [--seconds=5]` to measure a running server
/// (examples/invoicing/load.hpp), or `cairn-invoicing replica
/// --source=HOST:PORT [--path=DIR] [--port=N] [--cluster.*]` for a
/// read-only replica of a server's invoices, over the cluster or over HTTP
/// (examples/invoicing/replicator.hpp).
///
/// Without a subcommand:
/// Each run first recovers the invoices earlier runs left in the journal
/// (by asking invoice 1, 2, ... for its state until one does not exist),
/// pays the ones still waiting for their payment, then drives three new
/// invoices through their life cycle: one paid at once, one sent and left
/// open for the next run, and one that shows invalid transitions being
/// refused. At the end it prints invoice statistics, a projection kept in
/// the same journal (examples/invoicing/statistics.hpp). Run it twice on the
/// same directory: the second run continues where the first stopped, and
/// its statistics go on from the first run's, counting nothing twice.

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "caf/actor_system.hpp"
#include "caf/scoped_actor.hpp"

#include "examples/invoicing/http_server.hpp"
#include "examples/invoicing/invoice.hpp"
#include "examples/invoicing/load.hpp"
#include "examples/invoicing/replicator.hpp"
#include "examples/invoicing/statistics.hpp"
#include <cairn/actors/config.hpp>
#include <cairn/actors/projection.hpp>
#include <cairn/actors/runtime.hpp>
#include <cairn/journal/errc.hpp>

using namespace invoicing;
using namespace std::chrono_literals;

namespace {

/// Sends commands to the invoice registry and waits for the replies.
class client {
public:
  client(caf::actor_system& sys, caf::actor invoices)
    : self_(sys), invoices_(std::move(invoices)) {
    // nop
  }

  /// Sends `cmd` to invoice `id`; returns its new state or its error.
  template <class Command>
  caf::expected<invoice_state> ask(int id, Command cmd) {
    caf::expected<invoice_state> result{caf::error{}};
    self_
      ->request(invoices_, 10s, cairn::entity_id{std::to_string(id)},
                std::move(cmd))
      .receive([&](invoice_state& st) { result = std::move(st); },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  /// Like `ask`, but a failure throws.
  template <class Command>
  invoice_state must(int id, Command cmd) {
    auto result = ask(id, std::move(cmd));
    if (!result)
      throw std::runtime_error("invoice " + std::to_string(id) + ": "
                               + self_->system().render(result.error()));
    return std::move(*result);
  }

  /// Sends `cmd`, expects a refusal and prints it.
  template <class Command>
  void refused(int id, const std::string& what, Command cmd) {
    auto result = ask(id, std::move(cmd));
    if (result)
      throw std::runtime_error("invoice " + std::to_string(id) + ": " + what
                               + " was accepted");
    std::cout << "invoice " << id << ": " << what
              << " -> refused: " << self_->system().render(result.error())
              << '\n';
  }

private:
  caf::scoped_actor self_;
  caf::actor invoices_;
};

/// One line about an invoice's state.
std::string summary(const invoice_state& st) {
  auto n = st.items.size();
  auto result = "for " + st.customer + ", " + std::to_string(n)
                + (n == 1 ? " item" : " items") + ", total " + money(st.total)
                + ", " + to_string(st.status);
  if (st.status == invoice_status::sent)
    result += " to " + st.address + ", waiting for payment";
  if (st.status == invoice_status::paid)
    result += " (" + money(st.paid) + ")";
  return result;
}

const char* customers[]
  = {"ACME Corp", "Globex", "Initech", "Umbrella", "Hooli"};

std::string customer(int id) {
  return customers[(id - 1) % 5];
}

std::string address(int id) {
  return customer(id) + ", " + std::to_string(id) + " Main Street";
}

/// Creates invoice `id` with the given items and sends it.
invoice_state create_and_send(client& c, int id,
                              const std::vector<item>& items) {
  c.must(id, create_invoice{customer(id)});
  std::cout << "invoice " << id << ": created for " << customer(id) << '\n';
  invoice_state st;
  for (auto& x : items) {
    st = c.must(id, add_item{x});
    std::cout << "invoice " << id << ": added " << x.description << ", "
              << money(x.cents) << " (total " << money(st.total) << ")\n";
  }
  st = c.must(id, send_invoice{address(id)});
  std::cout << "invoice " << id << ": sent to " << st.address << '\n';
  return st;
}

void pay(client& c, int id, int64_t cents, const char* note = "") {
  auto st = c.must(id, pay_invoice{cents});
  std::cout << "invoice " << id << ": paid " << money(st.paid) << note << '\n';
}

/// Throws for an error.
template <class T>
T must(caf::expected<T> x, const std::string& what) {
  if (!x)
    throw std::runtime_error(what + ": " + cairn::describe(x.error()));
  return std::move(*x);
}

/// Waits until the statistics have seen the whole journal, then prints them.
void print_statistics(caf::actor_system& sys, cairn::runtime& rt,
                      const caf::actor& stats) {
  auto last = must(rt.journal()->last_position(), "journal");
  must(cairn::await_caught_up(sys, stats, last, 10s), "statistics");
  cairn::projection_model model{rt.journal(), invoice_statistics::name};
  auto count = [&](const char* key) {
    return must(model.get_int("counts", key), "statistics");
  };
  std::cout << "statistics up to position " << last << ": " << count("created")
            << " invoices created, " << count("sent") << " sent, "
            << count("paid") << " paid; invoiced " << money(count("invoiced"))
            << ", paid " << money(count("paid_cents")) << '\n';
  auto customers = must(model.scan("invoiced_by_customer"), "statistics");
  for (auto& row : customers) {
    auto& customer = row.first;
    auto invoiced
      = must(model.get_int("invoiced_by_customer", customer), "statistics");
    auto paid = must(model.get_int("paid_by_customer", customer), "statistics");
    std::cout << "  " << customer << ": invoiced " << money(invoiced)
              << ", paid " << money(paid) << '\n';
  }
}

void run(caf::actor_system& sys, cairn::runtime& rt) {
  client c{sys, rt.registry<invoice>()};
  // Statistics: a projection that resumes after its checkpoint.
  auto stats
    = must(cairn::start_projection<invoice_statistics>(rt), "statistics");
  // Recover every invoice of earlier runs from the journal.
  std::vector<invoice_state> old;
  for (;;) {
    auto st = c.must(static_cast<int>(old.size()) + 1, get_invoice{});
    if (st.status == invoice_status::none)
      break;
    old.push_back(std::move(st));
  }
  std::cout << "recovered " << old.size() << " invoices from the journal\n";
  for (size_t i = 0; i < old.size(); ++i)
    std::cout << "  invoice " << i + 1 << " " << summary(old[i]) << '\n';
  // Continue where the last run stopped: pay what it left open.
  for (size_t i = 0; i < old.size(); ++i)
    if (old[i].status == invoice_status::sent)
      pay(c, static_cast<int>(i) + 1, old[i].total,
          " (sent in an earlier run)");
  // A new invoice, paid at once.
  auto id = static_cast<int>(old.size()) + 1;
  auto st = create_and_send(
    c, id, {{"design workshop", 120000}, {"3 days of consulting", 270000}});
  pay(c, id, st.total);
  // A new invoice, left open for the next run.
  ++id;
  create_and_send(c, id, {{"support contract, 1 year", 45000}});
  std::cout << "invoice " << id << ": left open for the next run\n";
  // A new invoice that shows invalid transitions being refused.
  ++id;
  c.must(id, create_invoice{customer(id)});
  std::cout << "invoice " << id << ": created for " << customer(id) << '\n';
  c.refused(id, "paying a draft", pay_invoice{100});
  c.refused(id, "sending it without items", send_invoice{address(id)});
  st = c.must(id, add_item{{"license", 99900}});
  std::cout << "invoice " << id << ": added license, " << money(99900) << '\n';
  c.refused(id, "sending it without an address", send_invoice{""});
  st = c.must(id, send_invoice{address(id)});
  std::cout << "invoice " << id << ": sent to " << st.address << '\n';
  c.refused(id, "adding an item after sending", add_item{{"extra", 100}});
  c.refused(id, "paying 10.00 of " + money(st.total), pay_invoice{1000});
  pay(c, id, st.total);
  c.refused(id, "paying it twice", pay_invoice{st.total});
  c.refused(id, "creating it again", create_invoice{"Nobody"});
  // What the journal now holds.
  int paid = 0;
  int sent = 0;
  for (int i = 1; i <= id; ++i) {
    auto x = c.must(i, get_invoice{});
    paid += x.status == invoice_status::paid ? 1 : 0;
    sent += x.status == invoice_status::sent ? 1 : 0;
  }
  std::cout << "done: " << id << " invoices, " << paid << " paid, " << sent
            << " waiting for payment\n";
  print_statistics(sys, rt, stats);
}

/// Cairn's configuration and the web interface's keys (group `http`).
class invoicing_config : public cairn::config {
public:
  invoicing_config() {
    // The invoicing example's cluster, unless `cluster.name` says another.
    cluster_name = "invoicing";
    caf::config_option_adder{custom_options_, "http"}
      .add(http.host, "host", "address the web interface listens on")
      .add(http.port, "port", "port of the web interface (0: any free one)")
      .add(http.threads, "threads", "threads serving HTTP connections")
      .add(http.max_body, "max-body", "largest request body, bytes");
  }

  http_settings http;
};

/// `cairn-invoicing serve`: the web interface until SIGINT or SIGTERM.
int serve(caf::actor_system& sys, cairn::runtime& rt,
          const invoicing_config& cfg, const sigset_t& signals) {
  auto& settings = cfg.http;
  if (!cfg.cluster_node_id.empty())
    std::cout << "cluster node " << cfg.cluster_node_id << ": gateway on port "
              << rt.cluster_port() << std::endl;
  http_server srv{sys, rt, settings};
  if (auto err = srv.start()) {
    std::cerr << "cairn-invoicing: " << sys.render(err) << '\n';
    return EXIT_FAILURE;
  }
  std::cout << "listening on " << settings.host << ':' << srv.port()
            << std::endl;
  int sig = 0;
  sigwait(&signals, &sig);
  std::cout << "cairn-invoicing: " << strsignal(sig) << ", stopping"
            << std::endl;
  srv.stop();
  return EXIT_SUCCESS;
}

} // namespace

int main(int argc, char** argv) {
  std::string command = argc > 1 && argv[1][0] != '-' ? argv[1] : "";
  if (command == "load")
    return run_load(std::vector<std::string>(argv + 2, argv + argc));
  if (command == "replica")
    return run_replica(std::vector<std::string>(argv + 2, argv + argc));
  if (!command.empty() && command != "serve") {
    std::cerr << "cairn-invoicing: unknown command '" << command
              << "' (expected serve, load or replica)\n";
    return EXIT_FAILURE;
  }
  // The signals that end `serve` wait for sigwait in every thread.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  if (command == "serve")
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  invoicing_config cfg;
  cfg.add_error_category(invoice_error_category, render_invoice_error);
  auto first = command.empty() ? 1 : 2;
  if (auto err
      = cfg.load(std::vector<std::string>(argv + first, argv + argc))) {
    std::cerr << "cairn-invoicing: " << cairn::describe(err) << '\n';
    return EXIT_FAILURE;
  }
  if (cfg.cli_helptext_printed)
    return EXIT_SUCCESS;
  if (!cfg.cluster_node_id.empty() && cfg.cluster_nodes.empty()) {
    // Without its members the node would never join, and no replica could
    // read its log.
    std::cerr << "cairn-invoicing: cluster.nodes: a clustered node needs the "
                 "members, \"id@host:port\" each, itself among them\n";
    return EXIT_FAILURE;
  }
  caf::actor_system sys{cfg};
  auto rt = cairn::runtime::start(sys, cfg.runtime_options());
  if (!rt) {
    std::cerr << "cairn-invoicing: cannot start on the journal in "
              << cfg.journal_path << ": " << sys.render(rt.error()) << '\n';
    return EXIT_FAILURE;
  }
  std::cout << "cairn-invoicing: journal in " << cfg.journal_path << '\n';
  auto rc = EXIT_SUCCESS;
  try {
    if (command == "serve")
      rc = serve(sys, **rt, cfg, signals);
    else
      run(sys, **rt);
  } catch (const std::exception& ex) {
    std::cerr << "cairn-invoicing: " << ex.what() << '\n';
    rc = EXIT_FAILURE;
  }
  (*rt)->stop(); // before `sys` goes out of scope, or it waits forever
  return rc;
}
