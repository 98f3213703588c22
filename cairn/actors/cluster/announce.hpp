#pragma once

#include <cstdlib>
#include <functional>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <variant>

#include "caf/actor.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/detail/type_traits.hpp"
#include "caf/meta/type_name.hpp"
#include "caf/serializer.hpp"

#include "cairn/actors/aggregate.hpp"
#include "cairn/actors/runtime.hpp"

/// Announcing an aggregate's message types to the actor system, so that its
/// commands and replies can cross nodes.
namespace cairn {

namespace detail {

/// Reads the `caf::meta::type_name` annotation of an `inspect` overload.
struct type_name_reader {
  using result_type = void;
  static constexpr bool reads_state = true;
  static constexpr bool writes_state = false;

  std::string name;

  template <class... Ts>
  void operator()(Ts&&... xs) {
    (visit(xs), ...);
  }

  void visit(const caf::meta::type_name_t& x) {
    if (name.empty())
      name = x.value;
  }

  template <class T>
  void visit(const T&) {
    // nop
  }
};

/// Returns the name of `T` for the wire: its `caf::meta::type_name`.
template <class T>
std::string wire_name_of() {
  type_name_reader f;
  T x{};
  inspect(f, x);
  return f.name;
}

template <class T>
void announce_type(caf::actor_system_config& cfg) {
  auto name = wire_name_of<T>();
  static_assert(std::is_default_constructible_v<T>,
                "a message type must be default-constructible");
  if (name.empty())
    name = std::string{"cairn.unnamed."} + typeid(T).name();
  cfg.add_message_type<T>(std::move(name));
}

template <class... Ts>
void announce_commands(caf::actor_system_config& cfg, command_list<Ts...>) {
  static_cast<void>(cfg);
  (announce_type<Ts>(cfg), ...);
}

template <class A, class = void>
struct replies_of {
  using type = std::conditional_t<
    caf::detail::is_inspectable<caf::serializer, typename A::state>::value,
    command_list<typename A::state>, command_list<>>;
};

template <class A>
struct replies_of<A, std::void_t<typename A::replies>> {
  using type = typename A::replies;
};

/// Finds (or spawns) the local registry of an aggregate type in a runtime.
using local_registry_fn = caf::actor (*)(runtime_state&);

/// Remembers how to find the local registry of `category`; the gateways of
/// every runtime of the process use it for forwarded commands.
void register_category(const std::string& category, local_registry_fn f);

/// The function registered for `category`, or null.
local_registry_fn registered_category(const std::string& category);

} // namespace detail

/// Announces aggregate type `A` for the cluster: adds its commands
/// (`A::commands`) and its replies (`A::replies` as a
/// `cairn::command_list<...>` when `A` declares it, else `A::state` when
/// it has an `inspect` overload; CAF's own types need no announcing) to
/// `cfg`'s message types under their `caf::meta::type_name`, and lets this
/// node's gateway deliver commands for `A`'s category. Call it on every
/// node, before the actor system starts. Each type needs an `inspect`
/// overload with a `caf::meta::type_name`; a type without one does not
/// compile into a message at all.
///
/// A command whose type is not announced is refused by the router before
/// it is sent, with an error naming the type.
template <class A>
void announce(caf::actor_system_config& cfg) {
  detail::announce_commands(cfg, typename A::commands{});
  detail::announce_commands(cfg, typename detail::replies_of<A>::type{});
  detail::register_category(
    A::category, [](detail::runtime_state& st) { return st.registry<A>(); });
}

} // namespace cairn
