#pragma once

#include <functional>
#include <string>
#include <vector>

#include "caf/actor_system.hpp"
#include "caf/behavior.hpp"
#include "caf/detail/behavior_impl.hpp"
#include "caf/error.hpp"
#include "caf/execution_unit.hpp"
#include "caf/message.hpp"

/// What the links and gateways share: a response handler for any reply,
/// and the binary form of the messages they batch.
namespace cairn::cluster::detail {

/// A response handler that takes any reply, whatever its types: links and
/// gateways pass on replies they cannot know (each aggregate has its own).
class any_response : public caf::detail::behavior_impl {
public:
  explicit any_response(std::function<void(caf::message&)> f);

  caf::match_case::result invoke(caf::detail::invoke_result_visitor& visitor,
                                 caf::type_erased_tuple& xs) override;

private:
  std::function<void(caf::message&)> f_;
};

/// Returns a behavior calling `f` with any message.
caf::behavior any_message(std::function<void(caf::message&)> f);

/// Returns the name of the first element of `msg` (from `first` on) whose
/// type `sys` cannot serialize, or an empty string.
std::string unannounced_type(caf::actor_system& sys, const caf::message& msg,
                             size_t first = 0);

/// Writes `msg` in CAF's binary format to `buf` (cleared first). `ctx` is
/// the calling actor's execution unit (`self->context()`).
///
/// Errors: `errc::invalid_argument` naming the first element type of
/// `msg` that the actor system does not know (nothing is written).
caf::error to_bytes(caf::execution_unit* ctx, const caf::message& msg,
                    std::vector<char>& buf);

/// Reads a message that `to_bytes` wrote.
///
/// Errors: `errc::invalid_argument` naming the type this actor system does
/// not know, or saying why the bytes do not decode.
caf::error from_bytes(caf::execution_unit* ctx, const std::vector<char>& buf,
                      caf::message& msg);

} // namespace cairn::cluster::detail
