#include "cairn/actors/cluster/identity.hpp"

#include "cairn/journal/errc.hpp"

namespace cairn::cluster {

caf::error claim_identity(journal::journal& j, const std::string& node_id,
                          const std::string& digest) {
  return claim_identity(j, node_id, digest,
                        [&j](const journal::write_group& g) -> caf::error {
                          if (auto receipt = j.commit(g); !receipt)
                            return std::move(receipt.error());
                          return caf::none;
                        });
}

caf::error claim_identity(
  const journal::journal& j, const std::string& node_id,
  const std::string& digest,
  const std::function<caf::error(const journal::write_group&)>& commit) {
  auto old_id = j.table_get(identity_table, "node-id");
  if (!old_id)
    return std::move(old_id.error());
  auto old_digest = j.table_get(identity_table, "digest");
  if (!old_digest)
    return std::move(old_digest.error());
  if (!*old_id) {
    journal::write_group g;
    g.tables.push_back({identity_table, "node-id", node_id, false});
    g.tables.push_back({identity_table, "digest", digest, false});
    return commit(g);
  }
  if (**old_id != node_id)
    return make_error(errc::bad_config, "cluster.node-id: the journal at "
                                          + j.path() + " belongs to node '"
                                          + **old_id + "', not '" + node_id
                                          + "'");
  auto recorded = old_digest->value_or(std::string{});
  if (recorded != digest)
    return make_error(errc::bad_config,
                      "cluster.nodes: the journal at " + j.path()
                        + " was started in the cluster with digest " + recorded
                        + ", this configuration has digest " + digest
                        + " (cluster.name, cluster.shards and cluster.nodes "
                          "differ); its entities may be placed elsewhere");
  return caf::none;
}

} // namespace cairn::cluster
