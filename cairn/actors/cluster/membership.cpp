#include "cairn/actors/cluster/membership.hpp"

#include <algorithm>
#include <cstdio>
#include <set>

#include "cairn/actors/cluster/placement.hpp"
#include "cairn/journal/errc.hpp"

namespace cairn::cluster {

namespace {

caf::error bad(std::string_view key, std::string what) {
  std::string text{key};
  text += ": ";
  text += what;
  return make_error(errc::bad_config, std::move(text));
}

bool is_id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
         || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

/// Reads `id@host:port` into `out`; returns null on success, else why not.
const char* read_member(std::string_view str, member& out) {
  auto at = str.find('@');
  if (at == std::string_view::npos)
    return "no id: write id@host:port";
  auto id = str.substr(0, at);
  if (id.empty())
    return "empty id";
  if (!std::all_of(id.begin(), id.end(), is_id_char))
    return "the id has a character other than letters, digits, '-', '_' "
           "and '.'";
  auto addr = str.substr(at + 1);
  auto colon = addr.rfind(':');
  if (colon == std::string_view::npos)
    return "no port";
  auto host = addr.substr(0, colon);
  auto port = addr.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  else if (host.find(':') != std::string_view::npos)
    return "write an IPv6 address in brackets, as a@[::1]:4242";
  if (host.empty())
    return "empty host";
  auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  if (port.empty() || port.size() > 5
      || !std::all_of(port.begin(), port.end(), is_digit))
    return "the port is not a number in 1..65535";
  auto num = std::stoul(std::string{port});
  if (num < 1 || num > 65535)
    return "the port is not a number in 1..65535";
  out.id = std::string{id};
  out.host = std::string{host};
  out.port = static_cast<uint16_t>(num);
  return nullptr;
}

std::string hex16(uint64_t x) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx",
                static_cast<unsigned long long>(x));
  return buf;
}

} // namespace

std::string member::to_string() const {
  auto result = id;
  result += '@';
  if (host.find(':') != std::string::npos) {
    result += '[';
    result += host;
    result += ']';
  } else {
    result += host;
  }
  result += ':';
  result += std::to_string(port);
  return result;
}

caf::expected<member> parse_member(std::string_view str) {
  member result;
  if (auto why = read_member(str, result)) {
    std::string what = "'";
    what += str;
    what += "' is not an \"id@host:port\": ";
    what += why;
    return make_error(errc::bad_config, std::move(what));
  }
  return result;
}

caf::expected<membership> membership::make(const settings& cfg) {
  membership result;
  if (cfg.name.empty())
    return bad("cluster.name", "empty; every node of a cluster names it");
  if (cfg.shards == 0)
    return bad("cluster.shards", "'0' is not a positive integer");
  if (cfg.heartbeat_interval.count() <= 0)
    return bad("cluster.heartbeat-interval", "must be a positive timespan");
  if (cfg.connection_timeout <= cfg.heartbeat_interval)
    return bad("cluster.connection-timeout",
               "must be longer than cluster.heartbeat-interval");
  if (cfg.nodes.empty())
    return bad("cluster.nodes", "empty; list the members as id@host:port");
  std::set<std::string> addresses;
  for (auto& str : cfg.nodes) {
    member m;
    if (auto why = read_member(str, m))
      return bad("cluster.nodes", "entry '" + str
                                    + "' is not an \"id@host:port\" with a "
                                      "port in 1..65535 ("
                                    + why + ")");
    for (auto& other : result.members_)
      if (other.id == m.id)
        return bad("cluster.nodes", "the id '" + m.id + "' is listed twice");
    auto addr = m.host + ":" + std::to_string(m.port);
    if (!addresses.insert(addr).second)
      return bad("cluster.nodes", "the address " + addr + " is listed twice");
    result.members_.push_back(std::move(m));
  }
  std::sort(result.members_.begin(), result.members_.end(),
            [](const member& x, const member& y) { return x.id < y.id; });
  if (cfg.node_id.empty())
    return bad("cluster.node-id", "empty; name this node, one of the ids "
                                  "of cluster.nodes");
  auto self
    = std::find_if(result.members_.begin(), result.members_.end(),
                   [&](const member& m) { return m.id == cfg.node_id; });
  if (self == result.members_.end())
    return bad("cluster.node-id", "'" + cfg.node_id
                                    + "' is not one of the ids of "
                                      "cluster.nodes");
  result.self_ = static_cast<size_t>(self - result.members_.begin());
  result.name_ = cfg.name;
  result.shards_ = cfg.shards;
  for (auto& m : result.members_)
    result.ids_.push_back(m.id);
  result.digest_ = digest_of(result.describe());
  return result;
}

const member& membership::owner(std::string_view category,
                                std::string_view id) const {
  return members_[owner_of(shard_of(category, id, shards_), ids_)];
}

const member* membership::find(std::string_view id) const noexcept {
  for (auto& m : members_)
    if (m.id == id)
      return &m;
  return nullptr;
}

std::vector<std::string> membership::describe() const {
  std::vector<std::string> result;
  result.push_back(name_);
  result.push_back(std::to_string(shards_));
  for (auto& m : members_)
    result.push_back(m.to_string());
  return result;
}

std::string digest_of(const std::vector<std::string>& description) {
  std::string bytes;
  for (auto& x : description) {
    bytes += x;
    bytes += '\n';
  }
  return hex16(stable_hash(bytes));
}

std::string difference(const std::vector<std::string>& here,
                       const std::vector<std::string>& there) {
  std::string result;
  auto add = [&](std::string x) {
    if (!result.empty())
      result += "; ";
    result += x;
  };
  if (here.size() < 2 || there.size() < 2) {
    if (here != there)
      add("malformed membership description");
    return result;
  }
  if (here[0] != there[0])
    add("cluster.name: '" + here[0] + "' here, '" + there[0] + "' at the peer");
  if (here[1] != there[1])
    add("cluster.shards: " + here[1] + " here, " + there[1] + " at the peer");
  std::set<std::string> a(here.begin() + 2, here.end());
  std::set<std::string> b(there.begin() + 2, there.end());
  for (auto& x : a)
    if (b.count(x) == 0)
      add("cluster.nodes: " + x + " here only");
  for (auto& x : b)
    if (a.count(x) == 0)
      add("cluster.nodes: " + x + " at the peer only");
  return result;
}

} // namespace cairn::cluster
