/// cairn-node: one node of a Cairn cluster, hosting the invoice aggregate
/// of examples/invoicing and the three process managers of examples/sagas
/// with their aggregates: the order saga (order, payment, warehouse,
/// shipment), the group checkout (guest accounts) and the catering match
/// (catering orders). Each process instance lives on the node that owns
/// it, and takes its inputs from the logs of every node.
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
/// - `TAG stock PRODUCT QUANTITY` adds stock to the shop's warehouse,
///   wherever it lives; answers `TAG ok us=N` or `TAG error CODE us=N TEXT`;
/// - `TAG cart ID CLIENT PRODUCT:QUANTITY:CENTS,...` confirms a cart: the
///   input of order saga ID, published on stream `cart-ID` of this node's
///   journal (any node: the instance runs on the node that owns
///   `ordersaga-ID` and reads this node's log). Its steps command the
///   order, payment, warehouse and shipment wherever they live (through
///   the outbox for other nodes). Answers `TAG ok us=N` or
///   `TAG error CODE us=N TEXT` (a cart confirmed before on this node is
///   refused with `version_conflict`);
/// - `TAG saga ID` answers `TAG saga STAGE steps=N [REASON]`: where order
///   saga ID stands in this node's journal (`none` before it started;
///   `completed`, `cancelled` and `failed` are final; ask the owner node);
/// - `TAG guest ACCOUNT NAME CHARGED PAID` checks guest NAME in on guest
///   account ACCOUNT, charges CHARGED cents and pays PAID, wherever the
///   account lives (0: no charge, no payment); answers `TAG ok us=N` once
///   the last command is durable, or the first error;
/// - `TAG checkout GROUP ACCOUNT,...` asks to check out a group: the input
///   of group checkout GROUP, on stream `frontdesk-GROUP` of this node;
/// - `TAG offer ORDER MENU CATERER MS`, `TAG customer ORDER MENU`,
///   `TAG caterer ORDER MENU`: the three inputs of catering match ORDER
///   (the offer with its answer time in milliseconds, and each side's
///   confirmation), on streams `operations-ORDER`, `customer-ORDER` and
///   `caterer-ORDER` of this node; each may be sent to a different node;
/// - `TAG process CATEGORY ID` answers `TAG process STATE steps=N TEXT`:
///   where instance ID of the manager of CATEGORY (`ordersaga`,
///   `groupcheckout`, `cateringmatch`) stands in this node's journal:
///   STATE is `none`, `running` or `completed`, TEXT the last of its own
///   events in words;
/// - `TAG stats` starts, on first use, the invoice statistics of
///   examples/invoicing on this node over the logs of every node of the
///   cluster (cairn/actors/cluster/projection.hpp), and answers `TAG stats
///   created=N sent=N paid=N invoiced=CENTS paid_cents=CENTS ID=POS ...`: the
///   committed figures, and up to which position of each node's log they
///   count;
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
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"

#include <cairn/actors/atoms.hpp>
#include <cairn/actors/process_instance.hpp>
#include <cairn/actors/step_messages.hpp>
#include <cairn/journal/codec.hpp>

#include "examples/invoicing/invoice.hpp"
#include "examples/invoicing/statistics.hpp"
#include "examples/sagas/catering.hpp"
#include "examples/sagas/group_checkout.hpp"
#include "examples/sagas/narrator.hpp"
#include "examples/sagas/order_saga.hpp"
#include <cairn/actors/cluster/announce.hpp>
#include <cairn/actors/cluster/node.hpp>
#include <cairn/actors/cluster/projection.hpp>
#include <cairn/actors/config.hpp>
#include <cairn/actors/runtime.hpp>
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
    cairn::announce<shop::order>(*this);
    cairn::announce<shop::payment>(*this);
    cairn::announce<shop::warehouse>(*this);
    cairn::announce<shop::shipment>(*this);
    cairn::announce<hotel::guest_account>(*this);
    cairn::announce<catering::order>(*this);
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

/// Microseconds since `t0`, as text.
std::string us_since(std::chrono::steady_clock::time_point t0) {
  return std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::steady_clock::now() - t0)
                          .count());
}

/// Sends `cmd` to invoice `id` without blocking the control loop; prints
/// the answer when it comes.
template <class Command>
void ask(caf::actor_system& sys, caf::actor invoices, std::string tag,
         std::string id, Command cmd) {
  auto t0 = std::chrono::steady_clock::now();
  sys.spawn([=](caf::event_based_actor* self) {
    self->request(invoices, 30s, cairn::entity_id{id}, cmd)
      .then(
        [=](invoice_state& st) {
          emit(tag + " ok " + std::to_string(static_cast<int>(st.status)) + " "
               + std::to_string(st.total) + " us=" + us_since(t0));
        },
        [=](caf::error& err) {
          emit(tag + " error " + code_name(err) + " us=" + us_since(t0) + " "
               + self->system().render(err));
        });
  });
}

/// Sends `msg` to `dest` without blocking the control loop; prints `TAG ok`
/// or the error when the answer comes (an empty answer).
void tell(caf::actor_system& sys, caf::actor dest, std::string tag,
          caf::message msg) {
  auto t0 = std::chrono::steady_clock::now();
  sys.spawn([=](caf::event_based_actor* self) {
    self->request(dest, 30s, msg)
      .then([=]() { emit(tag + " ok us=" + us_since(t0)); },
            [=](caf::error& err) {
              emit(tag + " error " + code_name(err) + " us=" + us_since(t0)
                   + " " + self->system().render(err));
            });
  });
}

/// `tea:2:450,teapot:1:2200` -> the lines of a cart.
bool parse_lines(const std::string& text, std::vector<shop::line>& out) {
  std::istringstream items{text};
  for (std::string x; std::getline(items, x, ',');) {
    auto c1 = x.find(':');
    auto c2 = c1 == std::string::npos ? c1 : x.find(':', c1 + 1);
    if (c2 == std::string::npos)
      return false;
    shop::line l;
    l.product = x.substr(0, c1);
    l.quantity = std::atoi(x.substr(c1 + 1, c2 - c1 - 1).c_str());
    l.unit_cents = std::atoll(x.substr(c2 + 1).c_str());
    if (l.product.empty() || l.quantity <= 0 || l.unit_cents < 0)
      return false;
    out.push_back(std::move(l));
  }
  return !out.empty();
}

/// Commits `ev` as the first event of `stream` in this node's journal (a
/// process input); answers `TAG ok` once it is durable.
template <class Event>
void publish(cairn::runtime& rt, std::string tag, std::string stream,
             Event ev) {
  auto t0 = std::chrono::steady_clock::now();
  cairn::journal::codec c;
  c.add<Event>(Event::event_name);
  cairn::journal::append a;
  a.stream = std::move(stream);
  a.expected = cairn::journal::expected_version::no_stream();
  a.events.push_back(c.encode(ev));
  cairn::journal::write_group g;
  g.appends.push_back(std::move(a));
  auto coordinator = rt.coordinator();
  rt.system().spawn([=](caf::event_based_actor* self) {
    self->request(coordinator, 30s, cairn::commit_atom::value, g)
      .then(
        [=](cairn::journal::group_receipt&) {
          emit(tag + " ok us=" + us_since(t0));
        },
        [=](caf::error& err) {
          emit(tag + " error " + code_name(err) + " us=" + us_since(t0) + " "
               + self->system().render(err));
        });
  });
}

/// Sends message `i` of `msgs` to `dest`, and the next once it is answered;
/// prints `TAG ok` after the last or the first error.
void tell_in_turn(caf::event_based_actor* self, caf::actor dest,
                  std::string tag,
                  std::shared_ptr<const std::vector<caf::message>> msgs,
                  size_t i, std::chrono::steady_clock::time_point t0) {
  if (i == msgs->size()) {
    emit(tag + " ok us=" + us_since(t0));
    return;
  }
  self->request(dest, 30s, (*msgs)[i])
    .then([=]() { tell_in_turn(self, dest, tag, msgs, i + 1, t0); },
          [=](caf::error& err) {
            emit(tag + " error " + code_name(err) + " us=" + us_since(t0) + " "
                 + self->system().render(err));
          });
}

/// Sends `msgs` to `dest` one after the other, each once the one before is
/// answered, without blocking the control loop.
void tell_in_turn(caf::actor_system& sys, caf::actor dest, std::string tag,
                  std::vector<caf::message> msgs) {
  auto t0 = std::chrono::steady_clock::now();
  auto shared
    = std::make_shared<const std::vector<caf::message>>(std::move(msgs));
  sys.spawn([=](caf::event_based_actor* self) {
    tell_in_turn(self, dest, tag, shared, 0, t0);
  });
}

/// `TAG process STATE steps=N TEXT`: instance `id` of manager `P` in this
/// node's journal.
template <class P>
std::string process_status(const cairn::journal::journal& j,
                           const std::string& id) {
  auto evs = sagas::detail::read_whole(j, cairn::stream_of<P>(id));
  if (!evs)
    return "error " + code_name(evs.error()) + " us=0 "
           + cairn::describe(evs.error());
  static const auto own = sagas::detail::codec_for(typename P::events{});
  bool complete = false;
  int steps = 0;
  std::string last;
  for (auto& ev : *evs) {
    auto& type = ev.record.type;
    if (type == cairn::step_record::event_name)
      ++steps;
    else if (type == cairn::process_completed::event_name)
      complete = true;
    else if (own.knows(type))
      last = sagas::detail::in_words<typename P::events>(ev);
  }
  std::string state = evs->empty() ? "none" : complete ? "completed" : "running";
  return "process " + state + " steps=" + std::to_string(steps)
         + (last.empty() ? "" : " " + last);
}

const char* stage_name(shop::order_stage x) {
  using shop::order_stage;
  switch (x) {
    case order_stage::none:
      return "none";
    case order_stage::initialising:
      return "initialising";
    case order_stage::requesting_payment:
      return "requesting_payment";
    case order_stage::finalising_payment:
      return "finalising_payment";
    case order_stage::recording_payment:
      return "recording_payment";
    case order_stage::reserving:
      return "reserving";
    case order_stage::shipping:
      return "shipping";
    case order_stage::completing:
      return "completing";
    case order_stage::cancelling:
      return "cancelling";
    case order_stage::discarding_payment:
      return "discarding_payment";
    case order_stage::completed:
      return "completed";
    case order_stage::cancelled:
      return "cancelled";
    default:
      return "failed";
  }
}

/// `saga STAGE steps=N [REASON]`: order saga `id` in this node's journal.
std::string saga_status(const cairn::journal::journal& j,
                        const std::string& id) {
  cairn::journal::codec c;
  c.add<shop::order_stage_entered>(shop::order_stage_entered::event_name);
  auto stage = shop::order_stage::none;
  std::string reason;
  int steps = 0;
  uint64_t next = 1;
  auto stream = cairn::stream_of<shop::order_saga>(id);
  for (;;) {
    auto chunk = j.read_stream(stream, next, 256);
    if (!chunk)
      return "saga error " + cairn::describe(chunk.error());
    if (chunk->empty())
      break;
    for (auto& ev : *chunk) {
      ++next;
      if (ev.record.type == cairn::step_record::event_name)
        ++steps;
      if (ev.record.type == shop::order_process_started::event_name
          && stage == shop::order_stage::none)
        stage = shop::order_stage::initialising;
      if (ev.record.type != shop::order_stage_entered::event_name)
        continue;
      auto e = c.decode<shop::order_stage_entered>(ev);
      if (!e)
        return "saga error " + cairn::describe(e.error());
      stage = e->stage;
      if (!e->reason.empty())
        reason = e->reason;
    }
  }
  auto result = std::string{"saga "} + stage_name(stage)
                + " steps=" + std::to_string(steps);
  if (!reason.empty())
    result += " " + reason;
  return result;
}

/// The invoice statistics over the cluster, started on first use: the
/// figures and each node's checkpoint.
std::string statistics(cairn::runtime& rt) {
  auto proj = cairn::cluster::start_projection<invoice_statistics>(rt);
  if (!proj)
    return "error " + code_name(proj.error()) + " us=0 "
           + cairn::describe(proj.error());
  std::string name = invoice_statistics::name;
  cairn::projection_model model{rt.journal(), name};
  std::string result = "stats";
  for (auto key : {"created", "sent", "paid", "invoiced", "paid_cents"}) {
    auto x = model.get_int("counts", key);
    result += std::string{" "} + key + "=" + (x ? std::to_string(*x) : "?");
  }
  auto m = rt.shared()->cluster->members();
  for (auto& id : m->ids()) {
    auto cp = rt.journal()->checkpoint(
      id == m->self().id ? cairn::projection_checkpoint(name)
                         : cairn::cluster::projection_checkpoint(name, id));
    result += " " + id + "="
              + (cp ? std::to_string(cp->value_or(0)) : std::string{"?"});
  }
  return result;
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
  // The process managers: each instance lives on the node that owns it,
  // takes its inputs from every node's log and commands the aggregates
  // wherever they live.
  cairn::start_process_manager<shop::order_saga>(**rt);
  cairn::start_process_manager<hotel::group_checkout>(**rt);
  cairn::start_process_manager<catering::catering_match>(**rt);
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
    } else if (verb == "stats") {
      emit(tag + " " + statistics(**rt));
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
    } else if (verb == "stock") {
      int64_t quantity = 0;
      words >> quantity;
      tell(sys, (*rt)->registry<shop::warehouse>(), tag,
           caf::make_message(cairn::entity_id{shop::warehouse_id},
                             shop::add_stock{id, quantity}));
    } else if (verb == "cart") {
      std::string client;
      std::string lines;
      words >> client >> lines;
      std::vector<shop::line> parsed;
      if (!parse_lines(lines, parsed))
        emit(tag + " error invalid_argument us=0 expected "
                   "PRODUCT:QUANTITY:CENTS,..., got '"
             + lines + "'");
      else
        publish(**rt, tag, "cart-" + id,
                shop::cart_confirmed{id, client, std::move(parsed)});
    } else if (verb == "saga") {
      emit(tag + " " + saga_status(*(*rt)->journal(), id));
    } else if (verb == "guest") {
      std::string name;
      int64_t charged = -1;
      int64_t paid = -1;
      words >> name >> charged >> paid;
      if (name.empty() || charged < 0 || paid < 0) {
        emit(tag + " error usage us=0 expected guest ACCOUNT NAME CHARGED PAID");
        continue;
      }
      std::vector<caf::message> msgs;
      msgs.push_back(
        caf::make_message(cairn::entity_id{id}, hotel::check_in{name}));
      if (charged > 0)
        msgs.push_back(caf::make_message(cairn::entity_id{id},
                                         hotel::charge{"stay", charged}));
      if (paid > 0)
        msgs.push_back(
          caf::make_message(cairn::entity_id{id}, hotel::pay{paid}));
      tell_in_turn(sys, (*rt)->registry<hotel::guest_account>(), tag,
                   std::move(msgs));
    } else if (verb == "checkout") {
      std::string list;
      words >> list;
      std::vector<std::string> accounts;
      std::istringstream items{list};
      for (std::string x; std::getline(items, x, ',');)
        if (!x.empty())
          accounts.push_back(x);
      if (accounts.empty())
        emit(tag + " error usage us=0 expected checkout GROUP ACCOUNT,...");
      else
        publish(**rt, tag, "frontdesk-" + id,
                hotel::group_checkout_requested{id, std::move(accounts)});
    } else if (verb == "offer") {
      std::string menu;
      std::string caterer;
      int64_t ms = 0;
      words >> menu >> caterer >> ms;
      if (menu.empty() || caterer.empty() || ms <= 0)
        emit(tag + " error usage us=0 expected offer ORDER MENU CATERER MS");
      else
        publish(**rt, tag, "operations-" + id,
                catering::menu_offered{id, menu, caterer, ms});
    } else if (verb == "customer" || verb == "caterer") {
      std::string menu;
      words >> menu;
      if (menu.empty())
        emit(tag + " error usage us=0 expected " + verb + " ORDER MENU");
      else if (verb == "customer")
        publish(**rt, tag, "customer-" + id,
                catering::customer_confirmed_menu{id, menu});
      else
        publish(**rt, tag, "caterer-" + id,
                catering::caterer_confirmed_menu{id, menu});
    } else if (verb == "process") {
      // `TAG process CATEGORY ID`: `id` holds the category.
      std::string instance;
      words >> instance;
      auto& j = *(*rt)->journal();
      if (id == shop::order_saga::category)
        emit(tag + " " + process_status<shop::order_saga>(j, instance));
      else if (id == hotel::group_checkout::category)
        emit(tag + " " + process_status<hotel::group_checkout>(j, instance));
      else if (id == catering::catering_match::category)
        emit(tag + " " + process_status<catering::catering_match>(j, instance));
      else
        emit(tag + " error usage us=0 unknown process category '" + id
             + "' (ordersaga, groupcheckout, cateringmatch)");
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
