#include "cairn/actors/cluster/detail/wire.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <sstream>

#include "caf/binary_deserializer.hpp"
#include "caf/binary_serializer.hpp"
#include "caf/sec.hpp"

#include "cairn/journal/errc.hpp"

namespace cairn::cluster::detail {

namespace {

std::string demangle(const char* name) {
  int status = 0;
  char* out = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  if (status != 0 || out == nullptr)
    return name;
  std::string result{out};
  std::free(out);
  return result;
}

} // namespace

any_response::any_response(std::function<void(caf::message&)> f)
  : f_(std::move(f)) {
  begin_ = nullptr;
  end_ = nullptr;
}

caf::match_case::result
any_response::invoke(caf::detail::invoke_result_visitor& visitor,
                     caf::type_erased_tuple& xs) {
  auto msg = caf::message::copy(xs);
  f_(msg);
  visitor();
  return caf::match_case::match;
}

caf::behavior any_message(std::function<void(caf::message&)> f) {
  caf::behavior::impl_ptr impl{caf::make_counted<any_response>(std::move(f))};
  return caf::behavior{std::move(impl)};
}

std::string unannounced_type(caf::actor_system& sys, const caf::message& msg,
                             size_t first) {
  auto& types = sys.types();
  for (size_t i = first; i < msg.size(); ++i) {
    auto rtti = msg.type(i);
    if (rtti.first != 0)
      continue; // one of CAF's builtin types
    if (types.portable_name(rtti) == types.default_type_name())
      return rtti.second != nullptr ? demangle(rtti.second->name())
                                    : "<unknown type>";
  }
  return {};
}

caf::error to_bytes(caf::execution_unit* ctx, const caf::message& msg,
                    std::vector<char>& buf) {
  buf.clear();
  // Checked first: CAF's serializer prints to stderr before it fails.
  if (auto name = unannounced_type(ctx->system(), msg); !name.empty())
    return make_error(errc::invalid_argument,
                      "the type " + name
                        + " is not announced, so it cannot travel to other "
                          "nodes: call cairn::announce<A>(cfg) on every node "
                          "before starting its actor system");
  caf::binary_serializer sink{ctx, buf};
  if (auto err = sink(const_cast<caf::message&>(msg))) {
    buf.clear();
    return make_error(errc::invalid_argument, "cannot serialize "
                                                + to_string(msg) + ": "
                                                + ctx->system().render(err));
  }
  return caf::none;
}

namespace {

caf::error unknown_type(const std::string& name) {
  return make_error(errc::invalid_argument,
                    "the type '" + name
                      + "' is not announced on this node: call "
                        "cairn::announce<A>(cfg) on every node before "
                        "starting its actor system");
}

/// Returns the first type name of the message in `buf` that this actor
/// system does not know, or an empty string.
std::string first_unknown(caf::execution_unit* ctx,
                          const std::vector<char>& buf) {
  caf::binary_deserializer source{ctx, buf};
  uint16_t zero = 0;
  std::string tname;
  if (source.begin_object(zero, tname) || zero != 0)
    return {};
  auto& types = ctx->system().types();
  std::string name;
  std::istringstream in{tname};
  std::getline(in, name, '+'); // "@<>"
  while (std::getline(in, name, '+'))
    if (types.make_value(name) == nullptr)
      return name;
  return {};
}

} // namespace

caf::error from_bytes(caf::execution_unit* ctx, const std::vector<char>& buf,
                      caf::message& msg) {
  caf::binary_deserializer source{ctx, buf};
  auto err = source(msg);
  // CAF 0.17.6 reads a message holding a type it does not know as an
  // empty message without an error: the type names say which.
  if (err || msg.empty())
    if (auto name = first_unknown(ctx, buf); !name.empty())
      return unknown_type(name);
  if (err) {
    if (err == caf::sec::unknown_type) {
      auto& what = err.context();
      return unknown_type(what.match_elements<std::string>()
                            ? what.get_as<std::string>(0)
                            : std::string{"<unknown type>"});
    }
    return make_error(errc::invalid_argument,
                      "cannot read a message of " + std::to_string(buf.size())
                        + " bytes: " + ctx->system().render(err));
  }
  return caf::none;
}

} // namespace cairn::cluster::detail
