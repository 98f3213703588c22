#include "cairn/actors/cluster/projection.hpp"

#include "caf/all.hpp"

#include "cairn/actors/atoms.hpp"
#include "cairn/actors/cluster/remote_subscription.hpp"

namespace cairn::cluster {

std::string projection_checkpoint(const std::string& projection,
                                  const std::string& node) {
  return remote_checkpoint(cairn::projection_checkpoint(projection), node);
}

caf::expected<uint64_t> await_caught_up(caf::actor_system& sys,
                                        const caf::actor& proj,
                                        const std::string& node,
                                        uint64_t position,
                                        caf::timespan timeout) {
  caf::scoped_actor self{sys};
  caf::expected<uint64_t> result{caf::error{}};
  self->request(proj, timeout, caught_up_atom::value, node, position)
    .receive([&](uint64_t pos) { result = pos; },
             [&](caf::error& err) {
               if (err == caf::sec::request_timeout)
                 result = make_error(errc::timeout,
                                     "projection not caught up to position "
                                       + std::to_string(position) + " of node '"
                                       + node + "'");
               else
                 result = std::move(err);
             });
  return result;
}

} // namespace cairn::cluster
