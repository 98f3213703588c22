#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "caf/error.hpp"
#include "caf/expected.hpp"
#include "caf/timespan.hpp"

/// Static membership of a cluster, from configuration.
///
/// A cluster is a name, a fixed number of shards and a list of members
/// `id@host:port`. Every node of a cluster has the same three; they make
/// the cluster's digest, which CAF's BASP handshake compares as the app
/// identifier and which the gateways compare again at hello. A node whose
/// configuration differs is refused, with an error naming the difference.
namespace cairn::cluster {

/// One member: `id@host:port`.
struct member {
  std::string id;
  std::string host;
  uint16_t port = 0;

  /// Renders `id@host:port` (IPv6 hosts in brackets).
  std::string to_string() const;
};

inline bool operator==(const member& x, const member& y) {
  return x.id == y.id && x.host == y.host && x.port == y.port;
}

inline bool operator!=(const member& x, const member& y) {
  return !(x == y);
}

/// Parses `"id@host:port"` or `"id@[v6-address]:port"`, with a port in
/// 1..65535 and an id of letters, digits, `-`, `_` and `.`.
///
/// Errors: `errc::bad_config` saying what is wrong with `str`.
caf::expected<member> parse_member(std::string_view str);

/// The `cluster.*` configuration keys.
struct settings {
  /// `cluster.name`: the cluster's name, part of the digest.
  std::string name;
  /// `cluster.node-id`: this node's id, one of the members' ids.
  std::string node_id;
  /// `cluster.port`: the port this node's gateway listens on (0: chosen by
  /// the OS; then the members' list gives the port others connect to).
  uint16_t port = 0;
  /// The address the gateway listens on; empty: every interface. Not a
  /// configuration key (tests listen on 127.0.0.1 only).
  std::string listen_address;
  /// `cluster.nodes`: the members, as `"id@host:port"`.
  std::vector<std::string> nodes;
  /// `cluster.shards`: fixed number of shards, at least 1.
  uint32_t shards = 1024;
  /// `cluster.heartbeat-interval`: BASP heartbeats (> 0).
  caf::timespan heartbeat_interval = std::chrono::milliseconds{500};
  /// `cluster.connection-timeout`: a peer silent this long is down
  /// (> heartbeat-interval).
  caf::timespan connection_timeout = std::chrono::seconds{3};

  /// Whether the node runs in a cluster: `cluster.node-id` is set. With
  /// `cluster.nodes` empty, the node listens and joins later
  /// (`runtime::join`).
  bool enabled() const noexcept {
    return !node_id.empty();
  }
};

/// A validated membership: the members sorted by id, this node among them.
class membership {
public:
  /// Checks `cfg` and builds the membership.
  ///
  /// Errors: `errc::bad_config` naming the key: `cluster.nodes` (an entry
  /// that is not `id@host:port`, a duplicate id or address),
  /// `cluster.node-id` (empty or not a member), `cluster.name` (empty),
  /// `cluster.shards` (0), `cluster.heartbeat-interval` (not positive),
  /// `cluster.connection-timeout` (not above the heartbeat interval).
  static caf::expected<membership> make(const settings& cfg);

  const std::string& name() const noexcept {
    return name_;
  }

  uint32_t shards() const noexcept {
    return shards_;
  }

  /// The members, sorted by id.
  const std::vector<member>& members() const noexcept {
    return members_;
  }

  /// The members' ids, sorted.
  const std::vector<std::string>& ids() const noexcept {
    return ids_;
  }

  /// This node.
  const member& self() const noexcept {
    return members_[self_];
  }

  /// The cluster's digest: 16 hex digits of a stable hash of the name, the
  /// shards and the sorted members.
  const std::string& digest() const noexcept {
    return digest_;
  }

  /// Returns the member that owns entity `id` of `category`.
  const member& owner(std::string_view category, std::string_view id) const;

  /// Returns whether this node owns entity `id` of `category`.
  bool owns(std::string_view category, std::string_view id) const {
    return &owner(category, id) == &self();
  }

  /// Returns the member with id `id`, or null.
  const member* find(std::string_view id) const noexcept;

  /// The description compared at hello: `name`, `shards`, then one
  /// `id@host:port` per member, sorted.
  std::vector<std::string> describe() const;

private:
  membership() = default;

  std::string name_;
  uint32_t shards_ = 0;
  std::vector<member> members_;
  std::vector<std::string> ids_;
  size_t self_ = 0;
  std::string digest_;
};

/// Computes the digest of a membership description (see `describe`).
std::string digest_of(const std::vector<std::string>& description);

/// Names the differences between the description `here` (this node's) and
/// `there` (a peer's), e.g. `"cluster.shards: 1024 here, 512 at the peer"`
/// or `"cluster.nodes: c@10.0.0.3:4242 here only"`. Empty when they are
/// equal.
std::string difference(const std::vector<std::string>& here,
                       const std::vector<std::string>& there);

} // namespace cairn::cluster
