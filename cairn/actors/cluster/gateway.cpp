#include "cairn/actors/cluster/gateway.hpp"

#include <algorithm>
#include <unordered_map>
#include <vector>

#include "caf/all.hpp"

#include "cairn/actors/aggregate.hpp"
#include "cairn/actors/cluster/detail/wire.hpp"
#include "cairn/actors/cluster/messages.hpp"
#include "cairn/actors/journal_messages.hpp"
#include "cairn/journal/errc.hpp"
#include "cairn/journal/log.hpp"

namespace cairn::cluster {

namespace {

/// The replies collected for one peer's link since the last flush.
struct outgoing {
  caf::actor dest;
  std::vector<reply_item> items;
};

struct gateway_state {
  std::shared_ptr<view> v;
  /// The local registry of each category, found on first use.
  std::unordered_map<std::string, caf::actor> registries;
  /// Replies to send, per peer link.
  std::vector<outgoing> out;
  bool flush_scheduled = false;
  /// The feeds of remote subscriptions: subscriptions on this node's log.
  std::vector<caf::actor> feeds;
  static inline const char* name = "cairn.cluster.gateway";
};

using pointer = caf::stateful_actor<gateway_state>*;

/// Checks that this node owns `category`-`id` and returns its local
/// registry; or the error to answer with.
caf::expected<caf::actor> owner_registry(pointer self,
                                         const std::string& category,
                                         const std::string& id) {
  auto& st = self->state;
  auto m = st.v->members();
  if (!m)
    return make_error(errc::entity_unavailable,
                      "the node has not joined its cluster yet");
  // Checked on every command: a node never runs an entity it does not
  // own, whatever its peers believe.
  auto& owner = m->owner(category, id);
  if (owner.id != m->self().id)
    return make_error(errc::entity_unavailable,
                      "node '" + m->self().id + "' does not own " + category
                        + "-" + id + ": node '" + owner.id + "' does");
  auto i = st.registries.find(category);
  if (i != st.registries.end())
    return i->second;
  auto reg = st.v->local(category);
  if (!reg)
    return make_error(errc::invalid_argument,
                      "node '" + m->self().id
                        + "' has no aggregate of category '" + category
                        + "': announce it with cairn::announce<A>(cfg)"
                          " and start it on every node");
  st.registries.emplace(category, reg);
  return reg;
}

/// A reply as it can travel back: an error naming the type when a type of
/// the reply is not announced (BASP would drop it and the command would
/// only time out at its sender).
caf::message checked_reply(pointer self, caf::message reply) {
  auto name = detail::unannounced_type(self->system(), reply);
  if (name.empty())
    return reply;
  return caf::make_message(make_error(
    errc::invalid_argument,
    "the reply type " + name + " is not announced on node '"
      + self->state.v->members()->self().id
      + "', so it cannot travel to other nodes: add it to A::replies and "
        "call cairn::announce<A>(cfg) on every node"));
}

void flush(pointer self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  std::vector<outgoing> out;
  out.swap(st.out);
  for (auto& x : out)
    self->send(x.dest, reply_batch_atom::value, std::move(x.items));
}

/// Queues the reply to command `key` of `dest`'s batch.
void reply(pointer self, const caf::actor& dest, uint64_t key,
           const caf::message& msg) {
  auto& st = self->state;
  reply_item item;
  item.key = key;
  if (auto err = detail::to_bytes(self->context(), msg, item.reply)) {
    // Only when the reply holds a type that checked_reply let pass.
    detail::to_bytes(self->context(), caf::make_message(std::move(err)),
                     item.reply);
  }
  // By identity: after a reconnect the peer's link has a new proxy here,
  // equal to the dead one by (node, id).
  auto ptr = caf::actor_cast<caf::abstract_actor*>(dest);
  auto i = std::find_if(st.out.begin(), st.out.end(), [&](const outgoing& x) {
    return caf::actor_cast<caf::abstract_actor*>(x.dest) == ptr;
  });
  if (i == st.out.end()) {
    st.out.push_back(outgoing{dest, {}});
    i = st.out.end() - 1;
  }
  i->items.push_back(std::move(item));
  if (!st.flush_scheduled) {
    // Behind every reply already in the mailbox: they go out together.
    st.flush_scheduled = true;
    self->send(self, flush_atom::value);
  }
}

/// Runs one command of `dest`'s batch.
void run(pointer self, const caf::actor& dest, forward_item& x) {
  caf::message cmd;
  if (auto err = detail::from_bytes(self->context(), x.command, cmd)) {
    reply(self, dest, x.key, caf::make_message(std::move(err)));
    return;
  }
  if (cmd.size() < 2 || !cmd.match_element<entity_id>(0)) {
    reply(self, dest, x.key,
          caf::make_message(make_error(errc::invalid_argument,
                                       "expected (entity_id, command), got "
                                         + to_string(cmd))));
    return;
  }
  auto reg = owner_registry(self, x.category, cmd.get_as<entity_id>(0).value);
  if (!reg) {
    reply(self, dest, x.key, caf::make_message(std::move(reg.error())));
    return;
  }
  auto hdl = self->request(*reg, caf::infinite, std::move(cmd));
  self->add_multiplexed_response_handler(
    hdl.id(), detail::any_message([self, dest, key = x.key](caf::message& m) {
      reply(self, dest, key, checked_reply(self, std::move(m)));
    }));
}

/// The handler of a feed: sends each batch to `dst`, a remote
/// subscription, as a request `(remote_events_atom, epoch, events)`, and
/// acknowledges the batch when `dst` answers. Quits when `dst` terminates
/// or its node is unreachable, or when it answers with an error.
subscription_factory forward_feed(caf::actor dst, uint64_t epoch) {
  return cairn::detail::deliver_to(
    std::move(dst), [epoch](std::vector<journal::stored_event> events) {
      return caf::make_message(remote_events_atom::value, epoch,
                               std::move(events));
    });
}

/// Most events a feed delivers before the remote subscription answers.
constexpr uint64_t max_feed_chunk = 65536;

caf::result<caf::actor> open_feed(pointer self, const std::string& category,
                                  uint64_t after, uint64_t chunk,
                                  uint64_t epoch) {
  auto& st = self->state;
  auto m = st.v->members();
  if (!m)
    return make_error(errc::entity_unavailable,
                      "the node has not joined its cluster yet");
  if (chunk == 0 || chunk > max_feed_chunk)
    return make_error(errc::invalid_argument,
                      "node '" + m->self().id
                        + "': a feed's chunk must be 1 to "
                        + std::to_string(max_feed_chunk) + " events, not "
                        + std::to_string(chunk));
  auto dst = caf::actor_cast<caf::actor>(self->current_sender());
  if (!dst)
    return make_error(errc::invalid_argument,
                      "node '" + m->self().id
                        + "': a feed needs a requester to send events to");
  subscription_settings ss;
  ss.store_checkpoint = false;
  ss.category = category;
  ss.start = after;
  ss.max_in_flight = chunk;
  ss.read_chunk = chunk;
  auto feed = st.v->spawn_feed(std::move(ss), forward_feed(dst, epoch));
  if (!feed)
    return std::move(feed.error());
  self->monitor(*feed);
  st.feeds.push_back(*feed);
  log::debug("cluster.gateway", "feed of "
                                  + (category.empty() ? "$all" : category)
                                  + " after position " + std::to_string(after)
                                  + " for " + to_string(dst.node()));
  return std::move(*feed);
}

caf::behavior gateway_impl(pointer self, std::shared_ptr<view> v) {
  self->state.v = std::move(v);
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& feeds = self->state.feeds;
    feeds.erase(std::remove_if(feeds.begin(), feeds.end(),
                               [&](const caf::actor& x) {
                                 return x.address() == msg.source;
                               }),
                feeds.end());
  });
  self->set_exit_handler([self](caf::exit_msg& msg) {
    if (!msg.reason)
      return; // as CAF's default handler
    // The feeds stop with the gateway: the node is stopping.
    for (auto& feed : self->state.feeds)
      self->send_exit(feed, msg.reason);
    self->state.feeds.clear();
    self->quit(std::move(msg.reason));
  });
  return {
    [self](remote_subscribe_atom, const std::string& category, uint64_t after,
           uint64_t chunk, uint64_t epoch) -> caf::result<caf::actor> {
      return open_feed(self, category, after, chunk, epoch);
    },
    [self](hello_atom, const std::string& from,
           const std::vector<std::string>& description)
      -> caf::result<hello_atom, std::string> {
      auto m = self->state.v->members();
      if (!m)
        return make_error(errc::entity_unavailable,
                          "the node has not joined its cluster yet");
      auto diff = difference(m->describe(), description);
      if (!diff.empty())
        return make_error(errc::bad_config,
                          "node '" + m->self().id + "' refuses node '" + from
                            + "': their cluster configurations differ "
                              "(here = "
                            + m->self().id + ", the peer = " + from
                            + "): " + diff);
      return {hello_atom::value, m->self().id};
    },
    [self](forward_batch_atom, std::vector<forward_item>& items) {
      auto dest = caf::actor_cast<caf::actor>(self->current_sender());
      if (!dest)
        return;
      for (auto& x : items)
        run(self, dest, x);
    },
    [self](flush_atom) { flush(self); },
    [self](forward_atom, const std::string& category, entity_id& id,
           caf::message& cmd) {
      auto rp = self->make_response_promise();
      auto reg = owner_registry(self, category, id.value);
      if (!reg) {
        rp.deliver(std::move(reg.error()));
        return;
      }
      auto full = caf::message::concat(caf::make_message(std::move(id)), cmd);
      auto hdl = self->request(*reg, caf::infinite, std::move(full));
      self->add_multiplexed_response_handler(
        hdl.id(), detail::any_message([self, rp](caf::message& m) mutable {
          rp.deliver(checked_reply(self, std::move(m)));
        }));
    },
  };
}

} // namespace

caf::actor spawn_gateway(caf::actor_system& sys, std::shared_ptr<view> v) {
  return sys.spawn(gateway_impl, std::move(v));
}

} // namespace cairn::cluster
