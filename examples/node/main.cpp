/// cairn-node: one node of a Cairn cluster, hosting the invoice aggregate
/// of examples/invoicing.
///
/// Usage: `cairn-node [--config-file=FILE] [cairn::config flags]
/// [--node.control=PATH] [--node.listen=ADDRESS]`
///
/// The node reads the `cluster.*` keys (config/cairn.ini): a config file
/// listing the members (`cluster.nodes`) is all a real deployment needs;
/// the same file on three machines, each with its own `cluster.node-id`:
///
/// ```
/// [cluster]
/// name = "shop"
/// node-id = "a"                ; "b", "c" on the other machines
/// port = 4242
/// nodes = ["a@10.0.0.1:4242", "b@10.0.0.2:4242", "c@10.0.0.3:4242"]
/// ```
///
/// It prints `listening PORT` once its gateway is published, then reads
/// commands, one per line, from the control file (`--node.control`, a FIFO
/// or a file; default: standard input) and answers each on standard
/// output:
///
/// - `join a@host:port,b@host:port,...` joins a cluster whose members were
///   not configured (ports chosen by the OS); answers `joined DIGEST`;
/// - `TAG create ID CUSTOMER`, `TAG add ID CENTS`, `TAG get ID` command
///   invoice ID, wherever it lives; answer `TAG ok STATUS TOTAL us=N` or
///   `TAG error CODE us=N TEXT` (N: microseconds until the answer);
/// - `TAG peers` answers `TAG peers ID=STATE ...`;
/// - `stop`, or the end of the control input, stops the node cleanly and
///   prints `stopped ID=STATE ...` (the peers' states at the stop).
///
/// `--node.listen=127.0.0.1` makes the gateway listen on one address only.

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"

#include <cairn/actors/cluster/announce.hpp>
#include <cairn/actors/cluster/node.hpp>
#include <cairn/actors/config.hpp>
#include <cairn/actors/runtime.hpp>
#include "examples/invoicing/invoice.hpp"
#include <cairn/journal/errc.hpp>

using namespace invoicing;
using namespace std::chrono_literals;

namespace {

/// cairn::config plus the program's own keys.
struct node_config : cairn::config {
  node_config() {
    opt_group{custom_options_, "node"}
      .add(control, "control", "file to read commands from (default stdin)")
      .add(listen, "listen", "address the gateway listens on (default all)");
    cairn::announce<invoice>(*this);
    add_error_category(invoice_error_category, render_invoice_error);
  }

  std::string control;
  std::string listen;
};

/// Prints whole lines, one write each, from any thread.
void emit(const std::string& line) {
  static std::mutex mtx;
  std::lock_guard<std::mutex> guard{mtx};
  auto text = line + '\n';
  auto rc = ::write(STDOUT_FILENO, text.data(), text.size());
  static_cast<void>(rc);
}

std::string code_name(const caf::error& err) {
  if (err.category() == cairn::cairn_error_category)
    return cairn::to_string(cairn::code_of(err));
  if (err.category() == invoice_error_category)
    return "invoice." + to_string(static_cast<invoice_error>(err.code()));
  return to_string(err.category());
}

std::string states(const std::map<std::string, std::string>& peers) {
  std::string result;
  for (auto& [id, st] : peers)
    result += " " + id + "=" + st;
  return result;
}

/// Sends `cmd` to invoice `id` without blocking the control loop; prints
/// the answer when it comes.
template <class Command>
void ask(caf::actor_system& sys, caf::actor invoices, std::string tag,
         std::string id, Command cmd) {
  auto t0 = std::chrono::steady_clock::now();
  sys.spawn([=](caf::event_based_actor* self) {
    auto us = [t0] {
      return std::to_string(
        std::chrono::duration_cast<std::chrono::microseconds>(
          std::chrono::steady_clock::now() - t0)
          .count());
    };
    self->request(invoices, 30s, cairn::entity_id{id}, cmd)
      .then(
        [=](invoice_state& st) {
          emit(tag + " ok " + std::to_string(static_cast<int>(st.status)) + " "
               + std::to_string(st.total) + " us=" + us());
        },
        [=](caf::error& err) {
          emit(tag + " error " + code_name(err) + " us=" + us() + " "
               + self->system().render(err));
        });
  });
}

int run(node_config& cfg) {
  auto opts = cfg.runtime_options();
  opts.cluster.listen_address = cfg.listen;
  if (!opts.cluster.enabled()) {
    std::cerr << "cairn-node: cluster.node-id is not set\n";
    return EXIT_FAILURE;
  }
  caf::actor_system sys{cfg};
  auto rt = cairn::runtime::start(sys, opts);
  if (!rt) {
    std::cerr << "cairn-node: " << sys.render(rt.error()) << '\n';
    return EXIT_FAILURE;
  }
  emit("listening " + std::to_string((*rt)->cluster_port()));
  std::ifstream file;
  if (!cfg.control.empty() && cfg.control != "-") {
    file.open(cfg.control);
    if (!file) {
      std::cerr << "cairn-node: cannot open " << cfg.control << '\n';
      (*rt)->stop();
      return EXIT_FAILURE;
    }
  }
  std::istream& in
    = file.is_open() ? static_cast<std::istream&>(file) : std::cin;
  // The router: the same protocol as the local registry.
  auto invoices = (*rt)->registry<invoice>();
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words{line};
    std::string first;
    words >> first;
    if (first.empty())
      continue;
    if (first == "stop")
      break;
    if (first == "join") {
      std::string list;
      words >> list;
      std::vector<std::string> nodes;
      std::istringstream items{list};
      for (std::string x; std::getline(items, x, ',');)
        nodes.push_back(x);
      if (auto err = (*rt)->join(nodes)) {
        emit("join error " + sys.render(err));
        continue;
      }
      emit("joined " + (*rt)->shared()->cluster->members()->digest());
      continue;
    }
    auto& tag = first;
    std::string verb;
    std::string id;
    words >> verb >> id;
    if (verb == "peers") {
      emit(tag + " peers" + states((*rt)->peers()));
    } else if (verb == "create") {
      std::string customer;
      std::getline(words >> std::ws, customer);
      ask(sys, invoices, tag, id, create_invoice{customer});
    } else if (verb == "add") {
      int64_t cents = 0;
      words >> cents;
      ask(sys, invoices, tag, id, add_item{item{"item", cents}});
    } else if (verb == "get") {
      ask(sys, invoices, tag, id, get_invoice{});
    } else {
      emit(tag + " error usage us=0 unknown command '" + verb + "'");
    }
  }
  auto peers = (*rt)->stop();
  emit("stopped" + states(peers));
  return EXIT_SUCCESS;
}

} // namespace

int main(int argc, char** argv) {
  node_config cfg;
  if (auto err = cfg.load(argc, argv)) {
    std::cerr << "cairn-node: " << cairn::describe(err) << '\n';
    return EXIT_FAILURE;
  }
  if (cfg.cli_helptext_printed)
    return EXIT_SUCCESS;
  return run(cfg);
}
