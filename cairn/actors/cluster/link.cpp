#include "cairn/actors/cluster/link.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unordered_map>

#include "caf/all.hpp"
#include "caf/io/middleman.hpp"

#include "cairn/actors/aggregate.hpp"
#include "cairn/actors/cluster/detail/wire.hpp"
#include "cairn/actors/cluster/messages.hpp"
#include "cairn/journal/errc.hpp"
#include "cairn/journal/log.hpp"

namespace cairn::cluster {

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

/// Bounds the wait for the reply to a forwarded command, so that a promise
/// does not stay forever when its reply is lost; clients time out long
/// before. Checked every `sweep_interval` while requests wait.
constexpr caf::timespan forward_timeout = std::chrono::minutes{10};

constexpr caf::timespan sweep_interval = std::chrono::minutes{1};

constexpr caf::timespan first_backoff = 50ms;

/// A batch goes out when it holds this many commands or bytes, even before
/// the flush.
constexpr size_t max_batch_items = 1024;
constexpr size_t max_batch_bytes = size_t{1} << 20;

struct waiting {
  caf::response_promise rp;
  clock_type::time_point since;
};

/// A `link_watch_atom` request waiting for the link to be up.
struct up_waiter {
  caf::actor last;
  caf::response_promise rp;
};

/// Whether `x` and `y` are the same actor object: after a reconnect the
/// peer's gateway has a new proxy, equal to the dead one by (node, id).
bool same_actor(const caf::actor& x, const caf::actor& y) {
  if (!x || !y)
    return !x && !y;
  return caf::actor_cast<caf::abstract_actor*>(x)
         == caf::actor_cast<caf::abstract_actor*>(y);
}

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
  /// The promise of every command forwarded (or about to be), by key.
  std::unordered_map<uint64_t, waiting> pending;
  /// The commands of the next batch, and its size in bytes.
  std::vector<forward_item> batch;
  size_t batch_bytes = 0;
  bool flush_scheduled = false;
  bool sweep_scheduled = false;
  /// `link_watch_atom` requests waiting for the link to be up.
  std::vector<up_waiter> up_waiters;
  static inline const char* name = "cairn.cluster.link";

  std::string node() const {
    return "node '" + peer.id + "' (" + peer.host + ":"
           + std::to_string(peer.port) + ")";
  }
};

using pointer = caf::stateful_actor<link_actor_state>*;

void fail_pending(pointer self, const std::string& why) {
  auto& st = self->state;
  // The commands of the batch not yet sent: they never left this node.
  for (auto& x : st.batch) {
    auto i = st.pending.find(x.key);
    if (i == st.pending.end())
      continue;
    auto rp = std::move(i->second.rp);
    st.pending.erase(i);
    rp.deliver(
      make_error(errc::entity_unavailable,
                 st.node() + " " + why + ": the command was not sent"));
  }
  st.batch.clear();
  st.batch_bytes = 0;
  auto pending = std::move(st.pending);
  st.pending.clear();
  for (auto& [id, w] : pending)
    w.rp.deliver(make_error(errc::entity_unavailable,
                            st.node() + " " + why
                              + ": the outcome of the command is unknown"));
}

/// Sends the batch to the peer's gateway, in one message.
void flush(pointer self) {
  auto& st = self->state;
  if (st.batch.empty())
    return;
  if (st.st != link_state::up || !st.remote) {
    fail_pending(self, "is " + std::string{to_string(st.st)});
    return;
  }
  std::vector<forward_item> out;
  out.swap(st.batch);
  st.batch.reserve(out.size());
  st.batch_bytes = 0;
  self->send(st.remote, forward_batch_atom::value, std::move(out));
  if (!st.sweep_scheduled) {
    st.sweep_scheduled = true;
    self->delayed_send(self, sweep_interval, sweep_atom::value);
  }
}

/// Fails the requests that waited longer than `forward_timeout`.
void sweep(pointer self) {
  auto& st = self->state;
  st.sweep_scheduled = false;
  auto limit = clock_type::now() - forward_timeout;
  for (auto i = st.pending.begin(); i != st.pending.end();) {
    if (i->second.since < limit) {
      i->second.rp.deliver(
        make_error(errc::entity_unavailable,
                   st.node()
                     + " did not answer the command within 10 minutes: the "
                       "outcome of the command is unknown"));
      i = st.pending.erase(i);
    } else {
      ++i;
    }
  }
  if (!st.pending.empty()) {
    st.sweep_scheduled = true;
    self->delayed_send(self, sweep_interval, sweep_atom::value);
  }
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
  if (st.st == link_state::up)
    log::warning("cluster.link." + st.peer.id,
                 "down: " + why + "; its commands fail until it is back");
  else
    log::debug("cluster.link." + st.peer.id, "still down: " + why);
  st.st = link_state::down;
  st.why_down = std::move(why);
  ++st.attempt;
  fail_pending(self, "went down (" + st.why_down + ")");
  schedule_retry(self);
}

/// Answers the `link_watch_atom` requests that the link, up, can answer.
void answer_watchers(pointer self) {
  auto& st = self->state;
  if (st.st != link_state::up || !st.remote)
    return;
  auto i = std::partition(
    st.up_waiters.begin(), st.up_waiters.end(),
    [&](const up_waiter& w) { return same_actor(w.last, st.remote); });
  for (auto k = i; k != st.up_waiters.end(); ++k)
    k->rp.deliver(st.remote);
  st.up_waiters.erase(i, st.up_waiters.end());
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
        answer_watchers(self);
        log::info("cluster.link." + st.peer.id, "up (" + st.peer.host + ":"
                                                  + std::to_string(st.peer.port)
                                                  + ")");
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
    for (auto& w : self->state.up_waiters)
      w.rp.deliver(make_error(errc::entity_unavailable,
                              "the link to " + self->state.node()
                                + " stopped: this node is stopping"));
    self->state.up_waiters.clear();
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
    [self](link_watch_atom, caf::actor& last) -> caf::result<caf::actor> {
      auto& st = self->state;
      if (st.st == link_state::up && st.remote && !same_actor(last, st.remote))
        return st.remote;
      auto rp = self->make_response_promise();
      st.up_waiters.push_back(up_waiter{std::move(last), rp});
      return rp;
    },
    [self](forward_atom, std::string& category, caf::message& msg) {
      auto& st = self->state;
      auto rp = self->make_response_promise();
      if (st.st != link_state::up) {
        rp.deliver(make_error(errc::entity_unavailable,
                              st.node() + " is " + to_string(st.st) + " ("
                                + st.why_down + "): the command was not sent"));
        return;
      }
      forward_item item;
      if (auto err = detail::to_bytes(self->context(), msg, item.command)) {
        rp.deliver(std::move(err));
        return;
      }
      item.key = st.next_id++;
      item.category = std::move(category);
      st.batch_bytes += item.command.size() + item.category.size();
      st.pending.emplace(item.key, waiting{std::move(rp), clock_type::now()});
      st.batch.push_back(std::move(item));
      if (st.batch.size() >= max_batch_items
          || st.batch_bytes >= max_batch_bytes) {
        flush(self);
      } else if (!st.flush_scheduled) {
        // Behind every message already in the mailbox: what arrives
        // before it goes out in the same batch.
        st.flush_scheduled = true;
        self->send(self, flush_atom::value);
      }
    },
    [self](flush_atom) {
      self->state.flush_scheduled = false;
      flush(self);
    },
    [self](reply_batch_atom, std::vector<reply_item>& replies) {
      auto& st = self->state;
      for (auto& x : replies) {
        auto i = st.pending.find(x.key);
        if (i == st.pending.end())
          continue; // failed when the peer went down, or swept
        auto rp = std::move(i->second.rp);
        st.pending.erase(i);
        caf::message reply;
        if (auto err = detail::from_bytes(self->context(), x.reply, reply))
          rp.deliver(make_error(errc::invalid_argument,
                                "the reply from " + st.node()
                                  + " cannot be read: " + describe(err)));
        else
          rp.deliver(std::move(reply));
      }
    },
    [self](sweep_atom) { sweep(self); },
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
