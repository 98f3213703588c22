#pragma once

#include <string>
#include <typeindex>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"
#include "caf/expected.hpp"
#include "caf/timespan.hpp"

#include "cairn/actors/projection.hpp"
#include "cairn/actors/runtime.hpp"
#include "cairn/journal/errc.hpp"

/// Projections across nodes: one read model, on one node, over the logs of
/// every node of the cluster.
///
/// ```
/// auto proj = cairn::cluster::start_projection<invoice_statistics>(rt);
/// cairn::cluster::await_caught_up(sys, *proj, "b", last_position_of_b, 10s);
/// cairn::projection_model model{rt.journal(), invoice_statistics::name};
/// ```
///
/// The projection type is the one of cairn/actors/projection.hpp, unchanged.
/// Its actor reads every member's log (`$all`, or `P::category`): its own
/// node's through a local subscription, each other node's through a remote
/// subscription (cairn/actors/cluster/remote_subscription.hpp) that catches
/// up in chunks and follows that node's live feed. One actor applies the
/// events of every source, in the order they arrive (each source's in its
/// log's order), and commits each batch's table writes **with the
/// checkpoint of every source the batch holds events of, in one write
/// group** of its own node's journal: every event of every node counts
/// exactly once, across restarts of any node and failed commits.
///
/// Checkpoints: the own node's log under `cairn::projection_checkpoint(name)`
/// (the same as a local projection's, so a node that ran `P` alone goes on
/// from where it was), each other node's under
/// `cluster::projection_checkpoint(name, node)`. While a node is down, its
/// events wait in its journal; the other nodes' flow on; once it is back
/// the projection resumes it after its checkpoint.
///
/// The projection's actor answers:
/// - `(caught_up_atom, std::string node, uint64_t position)` -> the position
///   of `node`'s log up to which the committed model reflects it, once it
///   is at least `position` (a position of `node`'s log, of any
///   category). Errors: `errc::invalid_argument`
///   naming a node that is not a member.
/// - `(caught_up_atom, uint64_t position)`: the same for its own node.
/// - `(stats_atom)` -> `projection_stats` (over all sources; its
///   `subscription` member stays empty).
///
/// Its errors end it as a local projection's do (fail-stop journal, a
/// refused write); a source that quits with an error ends it with that
/// error.
namespace cairn::cluster {

/// Name of the checkpoint of projection `projection` for the log of node
/// `node`, another node than its own:
/// `cairn.projection.<projection>@<node>`.
std::string projection_checkpoint(const std::string& projection,
                                  const std::string& node);

/// Starts projection type `P` on the node of `rt`, over the logs of every
/// member of the cluster (idempotent: a second call, or a call of
/// `cairn::start_projection<P>`, returns the same actor); `rt.stop()` stops
/// it.
///
/// Errors: those of `cairn::start_projection`; `errc::invalid_argument`
/// when `rt` is not clustered or has not joined, or when a checkpoint name
/// with its `@node` is over `journal::max_checkpoint_name_size`;
/// `errc::entity_unavailable` when the runtime is stopping.
template <class P>
caf::expected<caf::actor> start_projection(runtime& rt,
                                           projection_settings settings = {}) {
  caf::error err;
  auto hdl = rt.find_or_spawn(std::type_index{typeid(P)}, [&] {
    auto r = detail::spawn_cluster_projection(
      rt, P::name, detail::projection_category<P>::get(),
      detail::make_projection_apply<P>(), settings);
    if (!r) {
      err = std::move(r.error());
      return caf::actor{};
    }
    // Under the runtime's lock, as `find_or_spawn` runs this function.
    rt.shared()->watched.push_back({"cluster_projection", P::name, *r});
    return std::move(*r);
  });
  if (err)
    return err;
  if (!hdl)
    return make_error(errc::entity_unavailable,
                      std::string{"projection "} + P::name
                        + ": the runtime is stopping");
  return hdl;
}

/// Waits until cluster projection `proj` has committed every event of node
/// `node`'s log up to `position`; returns the position it reached, or an
/// error (`errc::timeout` after `timeout`, `errc::invalid_argument` for a
/// node that is not a member, or why `proj` is gone). Blocks the calling
/// thread: for programs and tests, not for actors.
caf::expected<uint64_t> await_caught_up(caf::actor_system& sys,
                                        const caf::actor& proj,
                                        const std::string& node,
                                        uint64_t position,
                                        caf::timespan timeout);

} // namespace cairn::cluster
