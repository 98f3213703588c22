/// cairn-cluster-demo: three cairn-node processes on 127.0.0.1 serving
/// invoices and running order sagas; one is killed and restarted while the
/// others serve.
///
/// Usage: `cairn-cluster-demo [--dir=DIR]` (default: a fresh directory
/// under $TMPDIR or /tmp, removed at the end). It finds `cairn-node` next to
/// itself.
///
/// What it shows:
/// 1. three nodes start on ports the OS picks and join one cluster;
/// 2. invoices are created and extended through every node, each stored by
///    the node that owns it (placement by rendezvous hashing);
/// 3. carts are confirmed on one node each; their order sagas run on the
///    nodes that own them and command the order, payment, warehouse and
///    shipment of the shop wherever they live: on their own node in the
///    step's transaction, on the others through the outbox; one cart asks
///    for a product the warehouse never had and its saga compensates;
/// 4. the group checkout (guest accounts spread over the nodes, one with a
///    balance left) and the catering match, whose three inputs come from
///    three nodes' logs; a caterer that never answers lets the match's
///    deadline expire the order;
/// 5. one node is SIGKILLed: commands for its invoices fail at once, with
///    an error naming the node, while the others go on serving;
/// 6. it restarts on its port and journal: the links reconnect and its
///    invoices are back with their totals;
/// 7. node a runs the invoice statistics of examples/invoicing over the
///    logs of all three nodes, with a checkpoint per node;
/// 8. a table of what each node owns and served; every node stops cleanly.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <cairn/actors/cluster/membership.hpp>

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

/// One cairn-node child: commands through a FIFO, answers through a pipe.
class node_process {
public:
  node_process(std::string exe, std::string id, std::string dir)
    : exe_(std::move(exe)), id_(std::move(id)), dir_(std::move(dir)) {
    fifo_ = dir_ + "/" + id_ + ".fifo";
    ::mkfifo(fifo_.c_str(), 0600);
  }

  ~node_process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    close_fds();
  }

  const std::string& id() const {
    return id_;
  }

  uint16_t port() const {
    return port_;
  }

  void start(uint16_t port) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
      throw std::runtime_error("pipe2 failed");
    std::vector<std::string> args{exe_,
                                  "--journal.path=" + dir_ + "/" + id_,
                                  "--cluster.name=demo",
                                  "--cluster.node-id=" + id_,
                                  "--cluster.port=" + std::to_string(port),
                                  "--cluster.heartbeat-interval=200ms",
                                  "--cluster.connection-timeout=1s",
                                  "--node.control=" + fifo_,
                                  "--node.listen=127.0.0.1"};
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], STDOUT_FILENO);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    out_ = fds[0];
    buffer_.clear();
    auto deadline = clock_type::now() + 10s;
    while ((in_ = ::open(fifo_.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC))
           < 0) {
      if (errno != ENXIO || clock_type::now() > deadline)
        throw std::runtime_error("node " + id_ + " did not start");
      std::this_thread::sleep_for(5ms);
    }
    ::fcntl(in_, F_SETFL, ::fcntl(in_, F_GETFL) & ~O_NONBLOCK);
    auto line = expect("listening");
    port_ = static_cast<uint16_t>(std::stoi(line.substr(10)));
  }

  void kill() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    close_fds();
  }

  void send(const std::string& line) {
    auto text = line + '\n';
    if (::write(in_, text.data(), text.size())
        != static_cast<ssize_t>(text.size()))
      throw std::runtime_error("node " + id_ + " does not read commands");
  }

  /// The next line starting with `prefix` + ' ', within 10 seconds.
  std::string expect(const std::string& prefix) {
    auto deadline = clock_type::now() + 10s;
    for (;;) {
      auto nl = buffer_.find('\n');
      while (nl != std::string::npos) {
        auto line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        if (line.compare(0, prefix.size() + 1, prefix + " ") == 0)
          return line;
        nl = buffer_.find('\n');
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - clock_type::now())
                    .count();
      pollfd p{out_, POLLIN, 0};
      if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0)
        throw std::runtime_error("node " + id_ + ": no answer '" + prefix
                                 + "'");
      char buf[4096];
      auto n = ::read(out_, buf, sizeof(buf));
      if (n <= 0)
        throw std::runtime_error("node " + id_ + " ended");
      buffer_.append(buf, static_cast<size_t>(n));
    }
  }

  /// Sends `TAG command` and returns the answer after the tag.
  std::string ask(const std::string& command) {
    auto tag = "q" + std::to_string(next_++);
    send(tag + " " + command);
    return expect(tag).substr(tag.size() + 1);
  }

  void wait_peers(const std::string& want) {
    auto deadline = clock_type::now() + 10s;
    while (ask("peers").find("peers " + want) == std::string::npos) {
      if (clock_type::now() > deadline)
        throw std::runtime_error("node " + id_ + ": peers not " + want);
      std::this_thread::sleep_for(10ms);
    }
  }

  std::string stop() {
    send("stop");
    auto line = expect("stopped");
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    close_fds();
    return line;
  }

private:
  void close_fds() {
    if (in_ >= 0)
      ::close(in_);
    if (out_ >= 0)
      ::close(out_);
    in_ = out_ = -1;
  }

  std::string exe_;
  std::string id_;
  std::string dir_;
  std::string fifo_;
  pid_t pid_ = -1;
  int in_ = -1;
  int out_ = -1;
  uint16_t port_ = 0;
  int next_ = 0;
  std::string buffer_;
};

/// `"ok 1 1500 us=812"` -> `"total 15.00 (812 us)"`; errors as they are.
std::string render(const std::string& answer) {
  std::istringstream in{answer};
  std::string word;
  in >> word;
  if (word == "error") {
    std::string code;
    std::string us;
    in >> code >> us;
    std::string text;
    std::getline(in >> std::ws, text);
    return "FAILED in " + us.substr(3) + " us: " + text;
  }
  if (word != "ok")
    return answer;
  int status = 0;
  long cents = 0;
  std::string us;
  in >> status >> cents >> us;
  std::ostringstream out;
  out << "total " << cents / 100 << '.' << std::setw(2) << std::setfill('0')
      << cents % 100 << " (" << us.substr(3) << " us)";
  return out.str();
}

int run(const std::string& exe, const std::string& dir) {
  std::vector<std::unique_ptr<node_process>> nodes;
  for (auto id : {"a", "b", "c"}) {
    nodes.push_back(std::make_unique<node_process>(exe, id, dir));
    nodes.back()->start(0);
  }
  std::vector<std::string> members;
  std::string list;
  for (auto& n : nodes) {
    members.push_back(n->id() + "@127.0.0.1:" + std::to_string(n->port()));
    list += (list.empty() ? "" : ",") + members.back();
  }
  std::cout << "== 1. three nodes: " << list << '\n';
  for (auto& n : nodes) {
    n->send("join " + list);
    std::cout << "node " << n->id() << ": " << n->expect("joined") << '\n';
  }
  nodes[0]->wait_peers("b=up c=up");
  nodes[1]->wait_peers("a=up c=up");
  nodes[2]->wait_peers("a=up b=up");
  cairn::cluster::settings s;
  s.name = "demo";
  s.node_id = "a";
  s.nodes = members;
  auto placement = cairn::cluster::membership::make(s);
  if (!placement)
    throw std::runtime_error("membership");
  std::map<std::string, int> owns;
  std::map<std::string, int> served;
  std::cout << "\n== 2. twelve invoices, created and extended through every "
               "node\n";
  for (int i = 1; i <= 12; ++i) {
    auto id = std::to_string(i);
    auto owner = placement->owner("invoice", id).id;
    ++owns[owner];
    auto& via = *nodes[static_cast<size_t>(i) % 3];
    auto& other = *nodes[static_cast<size_t>(i + 1) % 3];
    via.ask("create " + id + " customer-" + id);
    auto added = other.ask("add " + id + " " + std::to_string(i * 250));
    served[via.id()] += 1;
    served[other.id()] += 1;
    std::cout << "invoice " << std::setw(2) << i << " owned by " << owner
              << ": created via " << via.id() << ", item added via "
              << other.id() << ": " << render(added) << '\n';
  }
  auto node_of = [&](const std::string& id) -> node_process& {
    for (auto& n : nodes)
      if (n->id() == id)
        return *n;
    throw std::runtime_error("no node " + id);
  };
  // Asks the owner of process `id` of `category` until the process is
  // complete: "STEPS TEXT" of its last status.
  auto await_process = [&](const std::string& category,
                           const std::string& id) {
    auto owner = placement->owner(category, id).id;
    auto deadline = clock_type::now() + 10s;
    for (;;) {
      auto status = node_of(owner).ask("process " + category + " " + id);
      if (status.compare(0, 18, "process completed ") == 0)
        return status.substr(18);
      if (status.compare(0, 8, "process ") != 0)
        throw std::runtime_error(category + " " + id + ": " + status);
      if (clock_type::now() > deadline)
        throw std::runtime_error(category + " " + id + " still at '" + status
                                 + "' after 10 s");
      std::this_thread::sleep_for(10ms);
    }
  };
  auto must = [](const std::string& what, const std::string& answer) {
    if (answer.compare(0, 2, "ok") != 0)
      throw std::runtime_error(what + ": " + answer);
  };
  std::map<std::string, int> sagas;
  std::cout << "\n== 3. order sagas: each cart confirmed on one node, each "
               "saga on the node that owns it\n";
  {
    auto& warehouse = placement->owner("warehouse", "central").id;
    for (auto stock : {"tea 6", "teapot 2"}) {
      auto answer = nodes[0]->ask(std::string{"stock "} + stock);
      if (answer.compare(0, 2, "ok") != 0)
        throw std::runtime_error("stock " + std::string{stock} + ": " + answer);
    }
    std::cout << "warehouse central (node " << warehouse
              << ") stocked via a: 6 x tea, 2 x teapot\n";
    struct cart {
      std::string id;
      std::string client;
      std::string lines;
      std::string text;
    };
    std::vector<cart> carts{
      {"o1", "ann", "tea:2:450,teapot:1:2200", "2 x tea, 1 x teapot"},
      {"o2", "bob", "tea:1:450,kettle:1:3900", "1 x tea, 1 x kettle"},
      {"o3", "cem", "tea:3:450", "3 x tea"}};
    auto t0 = clock_type::now();
    std::map<std::string, std::string> confirmed_via;
    for (size_t i = 0; i < carts.size(); ++i) {
      auto& c = carts[i];
      auto& via = *nodes[(i + 1) % nodes.size()];
      must("cart " + c.id,
           via.ask("cart " + c.id + " " + c.client + " " + c.lines));
      confirmed_via[c.id] = via.id();
      ++sagas[placement->owner("ordersaga", c.id).id];
    }
    for (auto& c : carts) {
      auto owner = placement->owner("ordersaga", c.id).id;
      std::string status;
      auto deadline = clock_type::now() + 10s;
      for (;;) {
        status = node_of(owner).ask("saga " + c.id);
        if (status.find("saga completed") == 0
            || status.find("saga cancelled") == 0
            || status.find("saga failed") == 0)
          break;
        if (clock_type::now() > deadline)
          throw std::runtime_error("saga " + c.id + " still at '" + status
                                   + "' after 10 s");
        std::this_thread::sleep_for(10ms);
      }
      // "saga STAGE steps=N [REASON]"
      std::istringstream words{status.substr(5)};
      std::string stage;
      std::string steps;
      words >> stage >> steps;
      std::string reason;
      std::getline(words >> std::ws, reason);
      std::cout << "cart " << c.id << " of " << c.client << ", " << c.text
                << ": " << stage << " in " << steps.substr(6) << " steps"
                << (reason.empty() ? "" : " (" + reason + ")") << '\n'
                << "   confirmed via " << confirmed_via[c.id] << ", saga on "
                << owner << "; order on "
                << placement->owner("order", c.id).id << ", payment on "
                << placement->owner("payment", c.id).id << ", warehouse on "
                << warehouse << ", shipment on "
                << placement->owner("shipment", c.id).id << '\n';
    }
    std::cout << "three sagas done in "
              << std::chrono::duration_cast<std::chrono::milliseconds>(
                   clock_type::now() - t0)
                   .count()
              << " ms\n";
  }
  std::cout << "\n== 4. group checkouts and catering matches, inputs from "
               "any node\n";
  {
    struct guest {
      std::string account;
      std::string name;
      int charged;
      int paid;
    };
    std::vector<guest> guests{{"101", "ann-smith", 12000, 12000},
                              {"102", "ben-smith", 4000, 0},
                              {"103", "cid-smith", 0, 0},
                              {"201", "dan-jones", 8000, 8000},
                              {"202", "eve-jones", 0, 0}};
    for (size_t i = 0; i < guests.size(); ++i) {
      auto& g = guests[i];
      must("guest " + g.account,
           nodes[i % nodes.size()]->ask(
             "guest " + g.account + " " + g.name + " "
             + std::to_string(g.charged) + " " + std::to_string(g.paid)));
      std::cout << "account " << g.account << " of " << g.name << " (node "
                << placement->owner("guestaccount", g.account).id
                << "): charged " << g.charged / 100 << ".00, paid "
                << g.paid / 100 << ".00\n";
    }
    auto t0 = clock_type::now();
    struct group {
      std::string id;
      std::string accounts;
      node_process* via;
    };
    std::vector<group> groups{{"smith", "101,102,103", nodes[0].get()},
                              {"jones", "201,202", nodes[1].get()}};
    for (auto& g : groups) {
      must("checkout " + g.id, g.via->ask("checkout " + g.id + " " + g.accounts));
      ++sagas[placement->owner("groupcheckout", g.id).id];
    }
    for (auto& g : groups) {
      auto status = await_process("groupcheckout", g.id);
      auto text = status.substr(status.find(' ') + 1);
      std::cout << "group " << g.id << " (accounts " << g.accounts
                << "): requested via " << g.via->id() << ", checkout on "
                << placement->owner("groupcheckout", g.id).id << ": " << text
                << '\n';
    }
    // Each input of a match on another node's log: the instance, on the
    // node that owns it, reads all three.
    struct match {
      std::string id;
      std::string menu;
      std::string caterer;
      std::vector<std::string> order; // "offer", "customer", "caterer"
    };
    std::vector<match> matches{
      {"wedding", "vegan", "green-kitchen", {"offer", "customer", "caterer"}},
      {"gala", "fish", "sea-breeze", {"offer", "caterer", "customer"}},
      {"picnic", "sandwiches", "silent-sam", {"offer", "customer"}}};
    for (size_t m = 0; m < matches.size(); ++m) {
      auto& x = matches[m];
      std::string story;
      for (size_t k = 0; k < x.order.size(); ++k) {
        auto& via = *nodes[(m + k) % nodes.size()];
        auto& what = x.order[k];
        auto cmd = what + " " + x.id + " " + x.menu;
        if (what == "offer")
          cmd += " " + x.caterer + " 300";
        must(what + " " + x.id, via.ask(cmd));
        story += (story.empty() ? "" : ", ") + what + " via " + via.id();
      }
      ++sagas[placement->owner("cateringmatch", x.id).id];
      std::cout << "match " << x.id << ": " << story
                << (x.order.size() < 3 ? ", the caterer never answers" : "")
                << '\n';
    }
    for (auto& x : matches) {
      auto status = await_process("cateringmatch", x.id);
      std::cout << "match " << x.id << " on "
                << placement->owner("cateringmatch", x.id).id << ": "
                << status.substr(status.find(' ') + 1) << '\n';
    }
    std::cout << "two checkouts and three matches done in "
              << std::chrono::duration_cast<std::chrono::milliseconds>(
                   clock_type::now() - t0)
                   .count()
              << " ms (the picnic waits for its 300 ms deadline)\n";
  }
  std::cout << "\n== 5. node c is killed (SIGKILL)\n";
  nodes[2]->kill();
  nodes[0]->wait_peers("b=up c=down");
  nodes[1]->wait_peers("a=up c=down");
  for (int i = 1; i <= 12; ++i) {
    auto id = std::to_string(i);
    auto& via = *nodes[static_cast<size_t>(i) % 2];
    auto answer = via.ask("get " + id);
    if (answer.compare(0, 2, "ok") == 0)
      ++served[via.id()];
    std::cout << "invoice " << std::setw(2) << i << " via " << via.id() << ": "
              << render(answer) << '\n';
  }
  std::cout << "\n== 6. node c restarts on port " << nodes[2]->port()
            << " with its journal\n";
  nodes[2]->start(nodes[2]->port());
  nodes[2]->send("join " + list);
  nodes[2]->expect("joined");
  auto t0 = clock_type::now();
  nodes[0]->wait_peers("b=up c=up");
  nodes[1]->wait_peers("a=up c=up");
  std::cout << "links up again after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                 clock_type::now() - t0)
                 .count()
            << " ms\n";
  for (int i = 1; i <= 12; ++i) {
    auto id = std::to_string(i);
    if (placement->owner("invoice", id).id != "c")
      continue;
    auto answer = nodes[0]->ask("get " + id);
    ++served["a"];
    std::cout << "invoice " << std::setw(2) << i << " via a: " << render(answer)
              << '\n';
  }
  std::cout << "\n== 7. invoice statistics on node a, over the logs of a, b "
               "and c\n";
  {
    // The projection starts with the first question and catches up with
    // each node's log: asked again until it counts the twelve invoices.
    auto t0 = clock_type::now();
    std::string answer;
    for (;;) {
      answer = nodes[0]->ask("stats");
      if (answer.find("created=12 ") != std::string::npos)
        break;
      if (answer.compare(0, 6, "stats ") != 0 || clock_type::now() - t0 > 10s)
        throw std::runtime_error("statistics: " + answer);
      std::this_thread::sleep_for(10ms);
    }
    std::map<std::string, std::string> fields;
    std::istringstream words{answer.substr(6)};
    for (std::string w; words >> w;)
      if (auto eq = w.find('='); eq != std::string::npos)
        fields[w.substr(0, eq)] = w.substr(eq + 1);
    std::cout << "node a counts " << fields["created"]
              << " invoices created on every node (" << owns["a"] << " on a, "
              << owns["b"] << " on b, " << owns["c"] << " on c) in "
              << std::chrono::duration_cast<std::chrono::milliseconds>(
                   clock_type::now() - t0)
                   .count()
              << " ms\n"
              << "checkpoints in a's journal: a up to position " << fields["a"]
              << ", b up to " << fields["b"] << ", c up to " << fields["c"]
              << '\n';
  }
  std::cout << "\n== 8. what each node owns and served\n\n"
            << "node  owns  served  sagas\n";
  for (auto id : {"a", "b", "c"})
    std::cout << "   " << id << std::setw(6) << owns[id] << std::setw(8)
              << served[id] << std::setw(7) << sagas[id] << '\n';
  std::cout << "(owns, served: invoices; sagas: the process instances it "
               "ran: orders, checkouts, matches)\n";
  std::cout << '\n';
  for (auto& n : nodes)
    std::cout << "node " << n->id() << ": " << n->stop() << '\n';
  return EXIT_SUCCESS;
}

} // namespace

int main(int argc, char** argv) {
  std::string dir;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--dir=", 0) == 0) {
      dir = arg.substr(6);
    } else {
      std::cerr << "usage: cairn-cluster-demo [--dir=DIR]\n";
      return 2;
    }
  }
  ::signal(SIGPIPE, SIG_IGN);
  auto exe = fs::canonical("/proc/self/exe").parent_path() / "cairn-node";
  bool remove = dir.empty();
  if (remove) {
    auto base = std::getenv("TMPDIR");
    std::string tmpl
      = std::string{base ? base : "/tmp"} + "/cairn-cluster-demo-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
      std::cerr << "cairn-cluster-demo: cannot create " << tmpl << '\n';
      return EXIT_FAILURE;
    }
    dir = tmpl;
  } else {
    fs::create_directories(dir);
  }
  int rc = EXIT_FAILURE;
  try {
    rc = run(exe.string(), dir);
  } catch (std::exception& e) {
    std::cerr << "cairn-cluster-demo: " << e.what() << '\n';
  }
  if (remove)
    fs::remove_all(dir);
  return rc;
}
