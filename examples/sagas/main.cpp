/// cairn-sagas: the process managers of seeds 001-003 on an embedded journal.
///
/// Usage: `cairn-sagas [--journal.path=DIR] [--deadline=500ms]
/// [other cairn::config flags]` (default `./cairn-data`; `--help` lists the
/// flags). `--deadline` is how long the catering example gives customer and
/// caterer to confirm a menu.
///
/// Each run numbers itself from a counter in the journal (`sagas-runs`),
/// starts the three process managers, publishes inputs for new processes
/// with ids of that run (`r1-ann`, `r2-ann`, ...) and waits for each
/// process's completion, which it learns from the subscription hub. Then it
/// tells, from the journal, every step of every new process: what the step
/// reacted to (an input, the outcome of a command, a deadline), what it
/// decided, and the outcome of its commands.
///
/// - order saga (seed 001): `ann`'s order goes the happy path; `bob` wants a
///   kettle the warehouse does not have, so the warehouse refuses the
///   reservation and the saga compensates: it cancels the order and
///   discards the payment;
/// - group checkout (seeds 001/003): group `smith` has a guest with an
///   unsettled balance and fails listing that guest; group `jones`
///   completes;
/// - catering match (seed 002): the customer confirms first for `wedding`,
///   the caterer first for `gala`, and the caterer of `picnic` never
///   answers, so its deadline expires the order.
///
/// Run it again on the same journal: the managers recover, their routers
/// read the log again from their checkpoints, the instances of earlier runs
/// ignore inputs they handled, and the program shows that every earlier
/// process is complete with exactly the events it had.

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <cereal/types/string.hpp>

#include "caf/actor_system.hpp"
#include "caf/scoped_actor.hpp"

#include <cairn/actors/config.hpp>
#include <cairn/actors/process_instance.hpp>
#include <cairn/actors/runtime.hpp>
#include "examples/sagas/catering.hpp"
#include "examples/sagas/group_checkout.hpp"
#include "examples/sagas/narrator.hpp"
#include "examples/sagas/order_saga.hpp"
#include <cairn/journal/codec.hpp>
#include <cairn/journal/errc.hpp>

using namespace std::chrono_literals;

namespace {

// -- configuration ------------------------------------------------------------

/// Cairn's configuration plus the catering example's answer time.
class sagas_config : public cairn::config {
public:
  /// `--deadline`: how long customer and caterer have to confirm a menu.
  caf::timespan deadline = std::chrono::milliseconds{500};

  sagas_config() {
    opt_group{custom_options_, "global"}.add(
      deadline, "deadline",
      "time customer and caterer have to confirm a menu (default 500ms)");
  }
};

/// Each run appends one of these to stream `sagas-runs`.
struct run_started {
  static constexpr const char* event_name = "sagas.run_started";
  uint64_t run = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(run);
  }
};

constexpr const char* runs_stream = "sagas-runs";

/// How long a process may take before the program gives up on it.
constexpr auto process_timeout = std::chrono::seconds{60};

// -- talking to the runtime ---------------------------------------------------

/// What the examples share: the runtime, a blocking actor to talk to it, and
/// the prefix of this run's ids.
struct context {
  cairn::runtime& rt;
  caf::scoped_actor self;
  std::string run; // "r1"
  caf::timespan deadline;

  const cairn::journal::journal& journal() const {
    return *rt.journal();
  }

  std::string render(const caf::error& err) {
    return self->system().render(err);
  }

  /// Commits `e` as event `version + 1` of `stream`: this is how another
  /// module publishes an event that process managers consume.
  template <class E>
  void publish(const std::string& stream, const E& e, uint64_t version = 0) {
    cairn::journal::codec c;
    c.add<E>(E::event_name);
    cairn::journal::append a;
    a.stream = stream;
    a.expected = cairn::journal::expected_version::exact(version);
    a.events.push_back(c.encode(e));
    cairn::journal::write_group g;
    g.appends.push_back(std::move(a));
    caf::error failure;
    self
      ->request(rt.coordinator(), 10s, cairn::commit_atom::value, std::move(g))
      .receive([](cairn::journal::group_receipt&) {},
               [&](caf::error& err) { failure = std::move(err); });
    if (failure)
      throw std::runtime_error("publishing on " + stream + ": "
                               + render(failure));
  }

  /// Sends `cmd` to entity `id` of aggregate `A` and waits for its answer.
  template <class A, class Cmd>
  void tell(const std::string& id, Cmd cmd) {
    caf::error failure;
    self->request(rt.registry<A>(), 10s, cairn::entity_id{id}, std::move(cmd))
      .receive([] {}, [&](caf::error& err) { failure = std::move(err); });
    if (failure)
      throw std::runtime_error(cairn::stream_of<A>(id) + ": "
                               + render(failure));
  }

  /// Waits until processes `ids` of manager `P` have completed, as the
  /// subscription hub's live feed of `P`'s streams tells. It subscribes
  /// first and then reads the journal, so a completion committed before the
  /// subscription is not missed.
  template <class P>
  void await_completion(const std::vector<std::string>& ids) {
    caf::scoped_actor sub{rt.system()};
    caf::error failure;
    sub
      ->request(rt.hub(), 10s, cairn::subscribe_atom::value, caf::actor{sub},
                std::string{P::category})
      .receive([](uint64_t) {},
               [&](caf::error& err) { failure = std::move(err); });
    if (failure)
      throw std::runtime_error("subscribing: " + render(failure));
    std::set<std::string> waiting;
    for (auto& id : ids) {
      auto s = sagas::summarize<P>(journal(), id);
      if (!s)
        throw std::runtime_error(render(s.error()));
      if (!s->complete)
        waiting.insert(cairn::stream_of<P>(id));
    }
    auto until = std::chrono::steady_clock::now() + process_timeout;
    while (!waiting.empty()) {
      auto now = std::chrono::steady_clock::now();
      if (now >= until)
        throw std::runtime_error(
          "still running after " + std::to_string(process_timeout.count())
          + "s: " + sagas::join({waiting.begin(), waiting.end()}));
      sub->receive(
        [&](cairn::events_atom,
            std::vector<cairn::journal::stored_event>& evs) {
          for (auto& ev : evs)
            if (ev.record.type == cairn::process_completed::event_name)
              waiting.erase(ev.stream);
        },
        caf::after(until - now) >>
          [] {
            // nop: the loop checks the time
          });
    }
    sub->send(rt.hub(), cairn::unsubscribe_atom::value, caf::actor{sub});
  }

  /// Prints the steps of the processes `ids` of `P`.
  template <class P>
  void narrate(const std::vector<std::string>& ids) {
    for (auto& id : ids) {
      std::cout << '\n' << cairn::stream_of<P>(id) << ":\n";
      if (auto err = sagas::narrate<P>(journal(), id, std::cout))
        throw std::runtime_error(render(err));
    }
  }
};

/// Appends this run to `sagas-runs` and returns its number.
uint64_t count_run(context& ctx) {
  auto version = ctx.journal().stream_version(runs_stream);
  if (!version)
    throw std::runtime_error(ctx.render(version.error()));
  auto run = *version + 1;
  ctx.publish(runs_stream, run_started{run}, *version);
  return run;
}

// -- the examples -------------------------------------------------------------

/// Seed 001: a happy order and one the warehouse cannot serve.
std::vector<std::string> order_example(context& ctx) {
  using namespace shop;
  std::cout << "\n== order saga (seed 001) ==\n";
  ctx.tell<warehouse>(warehouse_id, add_stock{"tea", 3});
  ctx.tell<warehouse>(warehouse_id, add_stock{"teapot", 1});
  std::cout << "warehouse " << warehouse_id
            << " stocked: 3 x tea, 1 x teapot (never any kettle)\n";
  auto ann = ctx.run + "-ann";
  auto bob = ctx.run + "-bob";
  ctx.publish(
    "cart-" + ann,
    cart_confirmed{ann, "ann", {{"tea", 2, 450}, {"teapot", 1, 2200}}});
  ctx.publish(
    "cart-" + bob,
    cart_confirmed{bob, "bob", {{"tea", 1, 450}, {"kettle", 1, 3900}}});
  std::cout << "carts " << ann << " and " << bob << " confirmed\n";
  std::vector<std::string> ids{ann, bob};
  ctx.await_completion<order_saga>(ids);
  ctx.narrate<order_saga>(ids);
  return ids;
}

/// Seeds 001/003: a group with an unsettled account and one without.
std::vector<std::string> checkout_example(context& ctx) {
  using namespace hotel;
  std::cout << "\n== group checkout (seeds 001, 003) ==\n";
  struct guest {
    std::string room;
    std::string name;
    int64_t charged;
    int64_t paid;
  };
  auto stay = [&](const std::string& group, std::vector<guest> guests) {
    auto id = ctx.run + "-" + group;
    std::vector<std::string> accounts;
    for (auto& g : guests) {
      auto account = ctx.run + "-" + g.room;
      ctx.tell<guest_account>(account, check_in{g.name});
      if (g.charged > 0)
        ctx.tell<guest_account>(account, charge{"room and bar", g.charged});
      if (g.paid > 0)
        ctx.tell<guest_account>(account, pay{g.paid});
      std::cout << "account " << account << ": " << g.name << " charged "
                << sagas::money(g.charged) << ", paid " << sagas::money(g.paid)
                << '\n';
      accounts.push_back(account);
    }
    ctx.publish("frontdesk-" + id, group_checkout_requested{id, accounts});
    std::cout << "group " << id << ": checkout requested\n";
    return id;
  };
  std::vector<std::string> ids;
  ids.push_back(stay("smith", {{"101", "Ann Smith", 12000, 12000},
                               {"102", "Ben Smith", 4000, 0},
                               {"103", "Cid Smith", 0, 0}}));
  ids.push_back(stay(
    "jones", {{"201", "Dan Jones", 8000, 8000}, {"202", "Eve Jones", 0, 0}}));
  ctx.await_completion<group_checkout>(ids);
  ctx.narrate<group_checkout>(ids);
  return ids;
}

/// Seed 002: confirmations in both orders, and a caterer that never answers.
std::vector<std::string> catering_example(context& ctx) {
  using namespace catering;
  std::cout << "\n== catering match (seed 002) ==\n";
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(ctx.deadline)
              .count();
  enum class confirms { customer_first, caterer_first, customer_only };
  auto offer = [&](const std::string& name, const std::string& menu,
                   const std::string& caterer, confirms who) {
    auto id = ctx.run + "-" + name;
    ctx.publish("operations-" + id, menu_offered{id, menu, caterer, ms});
    auto customer = [&] {
      ctx.publish("customer-" + id, customer_confirmed_menu{id, menu});
    };
    auto by_caterer = [&] {
      ctx.publish("caterer-" + id, caterer_confirmed_menu{id, menu});
    };
    switch (who) {
      case confirms::customer_first:
        customer();
        by_caterer();
        std::cout << "order " << id << ": customer, then caterer confirm\n";
        break;
      case confirms::caterer_first:
        by_caterer();
        customer();
        std::cout << "order " << id << ": caterer, then customer confirm\n";
        break;
      case confirms::customer_only:
        customer();
        std::cout << "order " << id
                  << ": the customer confirms, the caterer never answers\n";
        break;
    }
    return id;
  };
  std::vector<std::string> ids;
  ids.push_back(
    offer("wedding", "vegan", "Green Kitchen", confirms::customer_first));
  ids.push_back(offer("gala", "fish", "Sea Breeze", confirms::caterer_first));
  ids.push_back(
    offer("picnic", "sandwiches", "Silent Sam", confirms::customer_only));
  ctx.await_completion<catering_match>(ids);
  ctx.narrate<catering_match>(ids);
  return ids;
}

// -- what the journal holds ---------------------------------------------------

/// The processes of one manager type, by id, with their summaries.
using summaries = std::map<std::string, sagas::process_summary>;

/// Streams that several processes command: left out of the summaries.
const std::set<std::string> shared_streams{
  cairn::stream_of<shop::warehouse>(shop::warehouse_id)};

template <class P>
sagas::process_summary summary_of(context& ctx, const std::string& id) {
  auto s = sagas::summarize<P>(ctx.journal(), id, shared_streams);
  if (!s)
    throw std::runtime_error(ctx.render(s.error()));
  return std::move(*s);
}

/// Returns the processes of `P` the journal holds.
template <class P>
summaries processes_in_journal(context& ctx) {
  auto streams = ctx.journal().streams();
  if (!streams)
    throw std::runtime_error(ctx.render(streams.error()));
  summaries result;
  for (auto& info : *streams)
    if (cairn::journal::category_of(info.name) == P::category) {
      auto id = info.name.substr(info.name.find('-') + 1);
      result.emplace(id, summary_of<P>(ctx, id));
    }
  return result;
}

/// Prints one line per process of `ids`.
template <class P>
void print_summaries(context& ctx, const std::vector<std::string>& ids) {
  for (auto& id : ids)
    std::cout << "  " << cairn::stream_of<P>(id) << ": "
              << summary_of<P>(ctx, id).to_string() << '\n';
}

/// Prints each earlier process of `P` with its summary now, compared with
/// `before`; returns how many changed.
template <class P>
int compare_earlier(context& ctx, const summaries& before) {
  int changed = 0;
  for (auto& [id, old] : before) {
    auto now = summary_of<P>(ctx, id);
    std::cout << "  " << cairn::stream_of<P>(id) << ": " << now.to_string();
    if (now == old) {
      std::cout << " -- unchanged\n";
    } else {
      std::cout << " -- CHANGED, was: " << old.to_string() << '\n';
      ++changed;
    }
    if (!now.complete)
      ++changed;
  }
  return changed;
}

/// Prints where the router of `P` resumes reading the log.
template <class P>
void print_checkpoint(context& ctx) {
  auto cp = ctx.journal().checkpoint(cairn::router_checkpoint_of(P::category));
  if (!cp)
    throw std::runtime_error(ctx.render(cp.error()));
  std::cout << "  " << P::category << ": ";
  if (*cp)
    std::cout << "after position " << **cp << '\n';
  else
    std::cout << "from the start\n";
}

/// One run of the program; returns its exit code.
int run(caf::actor_system& sys, cairn::runtime& rt, caf::timespan deadline) {
  context ctx{rt, caf::scoped_actor{sys}, {}, deadline};
  auto last = ctx.journal().last_position();
  if (!last)
    throw std::runtime_error(ctx.render(last.error()));
  auto number = count_run(ctx);
  ctx.run = "r" + std::to_string(number);
  std::cout << "run " << number << " (ids of this run start with " << ctx.run
            << "-)\n";
  // Before any manager runs: what earlier runs left.
  auto earlier_orders = processes_in_journal<shop::order_saga>(ctx);
  auto earlier_checkouts = processes_in_journal<hotel::group_checkout>(ctx);
  auto earlier_caterings = processes_in_journal<catering::catering_match>(ctx);
  std::cout << "earlier runs left " << *last << " events in the log; the "
            << "managers' routers read it from their checkpoints:\n";
  print_checkpoint<shop::order_saga>(ctx);
  print_checkpoint<hotel::group_checkout>(ctx);
  print_checkpoint<catering::catering_match>(ctx);
  cairn::start_process_manager<shop::order_saga>(rt);
  cairn::start_process_manager<hotel::group_checkout>(rt);
  cairn::start_process_manager<catering::catering_match>(rt);
  auto orders = order_example(ctx);
  auto checkouts = checkout_example(ctx);
  auto caterings = catering_example(ctx);
  std::cout << "\n== the processes of this run ==\n";
  print_summaries<shop::order_saga>(ctx, orders);
  print_summaries<hotel::group_checkout>(ctx, checkouts);
  print_summaries<catering::catering_match>(ctx, caterings);
  auto n = earlier_orders.size() + earlier_checkouts.size()
           + earlier_caterings.size();
  std::cout << "\n== the processes of earlier runs: " << n << " ==\n";
  auto changed
    = compare_earlier<shop::order_saga>(ctx, earlier_orders)
      + compare_earlier<hotel::group_checkout>(ctx, earlier_checkouts)
      + compare_earlier<catering::catering_match>(ctx, earlier_caterings);
  if (changed > 0) {
    std::cout << changed << " earlier processes ran again or are not "
              << "complete\n";
    return EXIT_FAILURE;
  }
  if (n > 0)
    std::cout << "all complete, none ran again\n";
  return EXIT_SUCCESS;
}

} // namespace

int main(int argc, char** argv) {
  sagas_config cfg;
  if (auto err = cfg.load(argc, argv)) {
    std::cerr << "cairn-sagas: " << cairn::describe(err) << '\n';
    return EXIT_FAILURE;
  }
  if (cfg.cli_helptext_printed)
    return EXIT_SUCCESS;
  caf::actor_system sys{cfg};
  auto rt = cairn::runtime::start(sys, cfg.runtime_options());
  if (!rt) {
    std::cerr << "cairn-sagas: cannot open the journal in " << cfg.journal_path
              << ": " << sys.render(rt.error()) << '\n';
    return EXIT_FAILURE;
  }
  std::cout << "cairn-sagas: journal in " << cfg.journal_path << '\n';
  auto rc = EXIT_FAILURE;
  try {
    rc = run(sys, **rt, cfg.deadline);
  } catch (const std::exception& ex) {
    std::cerr << "cairn-sagas: " << ex.what() << '\n';
  }
  (*rt)->stop(); // before `sys` goes out of scope, or it waits forever
  return rc;
}
