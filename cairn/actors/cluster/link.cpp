#include "cairn/actors/cluster/link.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <unordered_map>

#include "caf/all.hpp"
#include "caf/io/middleman.hpp"

#include "cairn/actors/aggregate.hpp"
#include "cairn/actors/cluster/messages.hpp"
#include "cairn/journal/errc.hpp"

namespace cairn::cluster {

namespace {

using namespace std::chrono_literals;

/// A response handler that takes any reply, whatever its types: the link
/// forwards replies it cannot know (each aggregate has its own).
class any_response : public caf::detail::behavior_impl {
public:
  explicit any_response(std::function<void(caf::message&)> f)
    : f_(std::move(f)) {
    begin_ = nullptr;
    end_ = nullptr;
  }

  caf::match_case::result invoke(caf::detail::invoke_result_visitor& visitor,
                                 caf::type_erased_tuple& xs) override {
    auto msg = caf::message::copy(xs);
    f_(msg);
    visitor();
    return caf::match_case::match;
  }

private:
  std::function<void(caf::message&)> f_;
};

/// Bounds the wait for a reply to a forwarded command, so that the
/// handler does not stay forever when the reply is lost; clients time out
/// long before.
constexpr caf::timespan forward_timeout = std::chrono::minutes{10};

constexpr caf::timespan first_backoff = 50ms;

struct link_actor_state {
  member peer;
  link_settings cfg;
  link_state st = link_state::connecting;
  caf::actor remote;
  std::string why_down = "not connected yet";
  caf::timespan backoff = first_backoff;
  /// Counts connection attempts: replies to an older attempt are stale.
  uint64_t attempt = 0;
  bool retry_scheduled = false;
  uint64_t next_id = 0;
  std::unordered_map<uint64_t, caf::response_promise> pending;
  static inline const char* name = "cairn.cluster.link";

  std::string node() const {
    return "node '" + peer.id + "' (" + peer.host + ":"
           + std::to_string(peer.port) + ")";
  }
};

using pointer = caf::stateful_actor<link_actor_state>*;

void fail_pending(pointer self, const std::string& why) {
  auto& st = self->state;
  auto pending = std::move(st.pending);
  st.pending.clear();
  for (auto& [id, rp] : pending)
    rp.deliver(make_error(errc::entity_unavailable,
                          st.node() + " " + why
                            + ": the outcome of the command is unknown"));
}

void schedule_retry(pointer self) {
  auto& st = self->state;
  if (st.retry_scheduled)
    return;
  st.retry_scheduled = true;
  self->delayed_send(self, st.backoff, reconnect_atom::value);
  st.backoff = std::min(st.backoff * 2, st.cfg.connection_timeout);
}

void go_down(pointer self, std::string why) {
  auto& st = self->state;
  if (st.remote) {
    self->demonitor(st.remote);
    st.remote = nullptr;
  }
  st.st = link_state::down;
  st.why_down = std::move(why);
  ++st.attempt;
  fail_pending(self, "went down (" + st.why_down + ")");
  schedule_retry(self);
}

void say_hello(pointer self, caf::actor gw, uint64_t attempt) {
  auto& st = self->state;
  self->monitor(gw);
  st.remote = gw;
  self
    ->request(gw, st.cfg.connection_timeout, hello_atom::value, st.cfg.self_id,
              st.cfg.description)
    .then(
      [self, attempt](hello_atom, const std::string& peer_id) {
        auto& st = self->state;
        if (attempt != st.attempt)
          return;
        if (peer_id != st.peer.id) {
          go_down(self, "the node at " + st.peer.host + ":"
                          + std::to_string(st.peer.port) + " is '" + peer_id
                          + "', not '" + st.peer.id + "'");
          return;
        }
        st.st = link_state::up;
        st.backoff = first_backoff;
      },
      [self, attempt](caf::error& err) {
        auto& st = self->state;
        if (attempt != st.attempt)
          return;
        go_down(self, "hello refused: " + describe(err));
      });
}

void connect(pointer self, uint64_t attempt) {
  auto& st = self->state;
  auto mm = self->system().middleman().actor_handle();
  self
    ->request(mm, st.cfg.connection_timeout, caf::connect_atom::value,
              st.peer.host, st.peer.port)
    .then(
      [self, attempt](caf::node_id&, caf::strong_actor_ptr& ptr,
                      std::set<std::string>&) {
        auto& st = self->state;
        if (attempt != st.attempt)
          return;
        if (!ptr) {
          go_down(self, "no gateway is published on its port");
          return;
        }
        say_hello(self, caf::actor_cast<caf::actor>(ptr), attempt);
      },
      [self, attempt](caf::error& err) {
        if (attempt != self->state.attempt)
          return;
        go_down(self, "connect failed: " + self->system().render(err));
      });
}

void start_attempt(pointer self) {
  auto& st = self->state;
  st.retry_scheduled = false;
  if (st.st == link_state::up)
    return;
  auto attempt = ++st.attempt;
  if (st.st != link_state::down)
    st.st = link_state::connecting;
  // The probe blocks a thread of its own, never the middleman.
  auto host = st.peer.host;
  auto port = st.peer.port;
  auto timeout = std::min(st.cfg.connection_timeout, caf::timespan{1s});
  caf::actor me = caf::actor_cast<caf::actor>(self);
  self->spawn<caf::detached>(
    [me, host, port, timeout, attempt](caf::blocking_actor* b) {
      std::string why;
      auto ok = probe(host, port, timeout, why);
      b->send(me, probe_atom::value, attempt, ok, why);
    });
}

caf::behavior link_impl(pointer self, member peer, link_settings cfg) {
  auto& st = self->state;
  st.peer = std::move(peer);
  st.cfg = std::move(cfg);
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    if (!st.remote || msg.source != st.remote.address())
      return;
    go_down(self, "connection lost: " + self->system().render(msg.reason));
  });
  self->set_exit_handler([self](caf::exit_msg& msg) {
    fail_pending(self, "is no longer reachable: this node is stopping");
    self->quit(std::move(msg.reason));
  });
  start_attempt(self);
  return {
    [self](reconnect_atom) { start_attempt(self); },
    [self](probe_atom, uint64_t attempt, bool ok, std::string& why) {
      auto& st = self->state;
      if (attempt != st.attempt || st.st == link_state::up)
        return;
      if (!ok) {
        go_down(self, "unreachable: " + why);
        return;
      }
      connect(self, attempt);
    },
    [self](link_state_atom) { return std::string{to_string(self->state.st)}; },
    [self](forward_atom fwd, std::string& category, entity_id& id,
           caf::message& cmd) {
      auto& st = self->state;
      auto rp = self->make_response_promise();
      if (st.st != link_state::up) {
        rp.deliver(make_error(errc::entity_unavailable,
                              st.node() + " is " + to_string(st.st) + " ("
                                + st.why_down + "): the command was not sent"));
        return;
      }
      auto key = st.next_id++;
      st.pending.emplace(key, rp);
      auto hdl
        = self->request(st.remote, forward_timeout, fwd, std::move(category),
                        std::move(id), std::move(cmd));
      auto f = [self, key](caf::message& reply) {
        auto& st = self->state;
        auto i = st.pending.find(key);
        if (i == st.pending.end())
          return; // failed when the peer went down
        auto rp = std::move(i->second);
        st.pending.erase(i);
        rp.deliver(std::move(reply));
      };
      caf::behavior::impl_ptr impl{caf::make_counted<any_response>(f)};
      self->add_multiplexed_response_handler(hdl.id(),
                                             caf::behavior{std::move(impl)});
    },
  };
}

} // namespace

caf::actor spawn_link(caf::actor_system& sys, member peer, link_settings cfg) {
  return sys.spawn(link_impl, std::move(peer), std::move(cfg));
}

bool probe(const std::string& host, uint16_t port, caf::timespan timeout,
           std::string& why) {
  addrinfo hints;
  std::memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  auto service = std::to_string(port);
  if (auto rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res)) {
    why = std::string{"cannot resolve "} + host + ": " + gai_strerror(rc);
    return false;
  }
  auto ms = static_cast<int>(
    std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count());
  bool ok = false;
  why = "no address";
  for (auto ai = res; ai != nullptr && !ok; ai = ai->ai_next) {
    int fd
      = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                 ai->ai_protocol);
    if (fd < 0) {
      why = std::strerror(errno);
      continue;
    }
    auto rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc == 0) {
      ok = true;
    } else if (errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      auto n = ::poll(&p, 1, ms);
      if (n == 0) {
        why = "no answer within " + std::to_string(ms) + " ms";
      } else if (n > 0) {
        int err = 0;
        socklen_t len = sizeof(err);
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err == 0)
          ok = true;
        else
          why = std::strerror(err);
      } else {
        why = std::strerror(errno);
      }
    } else {
      why = std::strerror(errno);
    }
    ::close(fd);
  }
  freeaddrinfo(res);
  if (ok)
    why.clear();
  return ok;
}

} // namespace cairn::cluster
