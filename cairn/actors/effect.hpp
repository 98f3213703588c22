#pragma once

#include <functional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "caf/error.hpp"
#include "caf/make_message.hpp"
#include "caf/message.hpp"

#include "cairn/journal/errc.hpp"

/// Effects: what a command handler decides, as a value.
///
/// A command handler is a pure function `(const State&, const Command&) ->
/// effect<Aggregate>`. It returns one of:
///
/// - `persist(events...).then_reply(f)`: store the events; once they are
///   committed, apply them and reply `f(new_state)`;
/// - `reply(x)`: reply `x`, store nothing;
/// - `reject(code, "why")`: reply an error, store nothing;
/// - `none()`: store nothing, reply with an empty acknowledgement.
///
/// `persist(...)` alone is not an effect: a handler that forgets
/// `.then_reply(...)` does not compile.
namespace cairn {

template <class Aggregate>
class effect;

namespace detail {

/// Marker base of the effect builders below.
struct effect_builder {};

} // namespace detail

/// A persist effect with its reply function; converts to any `effect<A>`
/// whose event variant holds the events and whose state `F` accepts.
template <class F, class... Events>
struct persist_then_reply : detail::effect_builder {
  std::tuple<Events...> events;
  F reply_fn;
};

/// The result of `persist(events...)`: call `.then_reply(f)` on it.
template <class... Events>
struct persist_builder {
  std::tuple<Events...> events;

  /// Replies `f(new_state)` after the events have committed. `f` may return
  /// any message type, or `caf::message`.
  template <class F>
  persist_then_reply<F, Events...> then_reply(F f) && {
    return {{}, std::move(events), std::move(f)};
  }

  /// Replies with an empty acknowledgement after the events have committed.
  auto then_ack() && {
    auto f = [](const auto&) { return caf::message{}; };
    return persist_then_reply<decltype(f), Events...>{{}, std::move(events),
                                                      f};
  }
};

/// Stores `events` (one or more) when the command's effect runs.
template <class... Events>
persist_builder<std::decay_t<Events>...> persist(Events&&... events) {
  static_assert(sizeof...(Events) > 0, "persist needs at least one event");
  return {std::make_tuple(std::forward<Events>(events)...)};
}

/// Replies a value without storing anything.
struct reply_effect : detail::effect_builder {
  caf::message msg;
};

/// Replies `x` (any inspectable type) without storing anything.
template <class T>
reply_effect reply(T&& x) {
  if constexpr (std::is_same_v<std::decay_t<T>, caf::message>)
    return {{}, std::forward<T>(x)};
  else
    return {{}, caf::make_message(std::forward<T>(x))};
}

/// Refuses the command with an error.
struct reject_effect : detail::effect_builder {
  caf::error err;
};

/// Refuses the command with `errc::rejected` and the reason `why`.
inline reject_effect reject(std::string why) {
  return {{}, make_error(errc::rejected, std::move(why))};
}

/// Refuses the command with `code` (a `cairn::errc` or a domain error enum
/// with a `make_error(code, std::string)` found by ADL) and the reason `why`.
template <class Code>
reject_effect reject(Code code, std::string why) {
  return {{}, make_error(code, std::move(why))};
}

/// Refuses the command with a ready error.
inline reject_effect reject(caf::error err) {
  return {{}, std::move(err)};
}

/// Does nothing; the reply is an empty acknowledgement.
struct none_effect : detail::effect_builder {};

inline none_effect none() {
  return {};
}

/// What a command handler of `Aggregate` returns. `Aggregate` names its
/// `state` type and its event types as `using events = event_list<...>`.
template <class Aggregate>
class effect {
public:
  // -- member types ----------------------------------------------------------

  using state_type = typename Aggregate::state;
  using event_type = typename Aggregate::events::variant_type;
  using reply_fn = std::function<caf::message(const state_type&)>;

  enum class kind {
    /// Store events, then reply with `reply_fn` applied to the new state.
    persist,
    /// Reply `message()` at once.
    reply,
    /// Reply `error()` at once.
    reject,
    /// Store nothing, reply an empty acknowledgement.
    none,
  };

  // -- construction from the builders ---------------------------------------

  template <class F, class... Events>
  effect(persist_then_reply<F, Events...> x) : kind_(kind::persist) {
    static_assert((std::is_constructible_v<event_type, Events> && ...),
                  "persist: an event is not one of the aggregate's events");
    std::apply(
      [this](auto&... es) {
        events_.reserve(sizeof...(es));
        (events_.emplace_back(std::move(es)), ...);
      },
      x.events);
    reply_fn_ = [f = std::move(x.reply_fn)](const state_type& st) {
      using result = decltype(f(st));
      if constexpr (std::is_same_v<std::decay_t<result>, caf::message>)
        return f(st);
      else
        return caf::make_message(f(st));
    };
  }

  effect(reply_effect x) : kind_(kind::reply), msg_(std::move(x.msg)) {
    // nop
  }

  effect(reject_effect x) : kind_(kind::reject), err_(std::move(x.err)) {
    // nop
  }

  effect(none_effect) : kind_(kind::none) {
    // nop
  }

  // -- properties ------------------------------------------------------------

  kind what() const noexcept {
    return kind_;
  }

  std::vector<event_type>& events() noexcept {
    return events_;
  }

  const reply_fn& on_persisted() const noexcept {
    return reply_fn_;
  }

  caf::message& message() noexcept {
    return msg_;
  }

  caf::error& error() noexcept {
    return err_;
  }

private:
  kind kind_;
  std::vector<event_type> events_;
  reply_fn reply_fn_;
  caf::message msg_;
  caf::error err_;
};

} // namespace cairn
