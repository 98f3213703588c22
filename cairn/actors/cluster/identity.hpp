#pragma once

#include <functional>
#include <string>

#include "caf/error.hpp"

#include "cairn/journal/journal.hpp"

/// A journal's cluster identity: the node id and the cluster digest it was
/// first started with, stored in the journal's application table
/// `cairn.cluster` (keys `node-id` and `digest`).
///
/// A node's journal holds the streams of the entities the node owns under
/// one membership. Started under another node id, or under a membership
/// with another digest (which may place its entities elsewhere), the node
/// would serve entities whose history is in another journal; so it refuses
/// to start instead.
namespace cairn::cluster {

/// The table holding the identity.
constexpr const char* identity_table = "cairn.cluster";

/// Records `node_id` and `digest` in `j` if it has no identity yet;
/// otherwise checks that they are the recorded ones.
///
/// REQUIRES: no other thread writes `j` (call it before the coordinator
/// starts).
///
/// Errors: `errc::bad_config` naming the recorded and the given node id
/// (`cluster.node-id`) or digest (`cluster.name`, `cluster.shards` and
/// `cluster.nodes` make it); the journal's write and read errors.
caf::error claim_identity(journal::journal& j, const std::string& node_id,
                          const std::string& digest);

/// Like `claim_identity` above, writing through `commit` (the runtime's
/// coordinator, when the journal has a writer already) instead of `j`.
caf::error claim_identity(
  const journal::journal& j, const std::string& node_id,
  const std::string& digest,
  const std::function<caf::error(const journal::write_group&)>& commit);

} // namespace cairn::cluster
