#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <cereal/types/string.hpp>

#include "caf/meta/type_name.hpp"

#include <cairn/actors/aggregate.hpp>
#include <cairn/actors/effect.hpp>
#include <cairn/actors/process_manager.hpp>
#include "examples/sagas/common.hpp"

/// The catering match of seed 002: a process that waits for two events.
///
/// Operations offers a customer a menu from a caterer (`menu_offered`,
/// stream `operations-<order>`), with a time by which both must answer. The
/// customer and the caterer confirm the menu in whichever order
/// (`customer_confirmed_menu` on `customer-<order>`,
/// `caterer_confirmed_menu` on `caterer-<order>`). A process per order
/// (stream `cateringmatch-<order>`) notes each confirmation; once both
/// confirmed the offered menu it confirms the catering order. A caterer
/// that never answers does not leave the process waiting forever: a
/// deadline, scheduled with the offer, expires the order. Deadlines are
/// events of the process's stream, so one survives a restart and fires at
/// start if it came due while nothing ran.
namespace catering {

using cairn::persist;
using cairn::reject;

// -- the catering order -------------------------------------------------------

enum class order_status : uint8_t { open, confirmed, expired };

inline std::string to_string(order_status x) {
  const char* names[] = {"open", "confirmed", "expired"};
  return names[static_cast<uint8_t>(x)];
}

struct order_confirmed {
  static constexpr const char* event_name = "catering.order_confirmed";
  std::string menu;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(menu);
  }
};

struct order_expired {
  static constexpr const char* event_name = "catering.order_expired";
  std::string reason;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(reason);
  }
};

// `serialize` as well as `inspect`: a match's command to an order on
// another node waits in the outbox, in the journal.

struct confirm_order {
  std::string menu;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(menu);
  }
};

struct expire_order {
  std::string reason;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(reason);
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, confirm_order& x) {
  return f(caf::meta::type_name("catering.confirm_order"), x.menu);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, expire_order& x) {
  return f(caf::meta::type_name("catering.expire_order"), x.reason);
}

struct order_state {
  order_status status = order_status::open;
  std::string menu;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(status, menu);
  }
};

/// A catering order: open until it is confirmed with a menu or expires.
struct order {
  static constexpr const char* category = "cateringorder";
  using state = order_state;
  using events = cairn::event_list<order_confirmed, order_expired>;
  using commands = cairn::command_list<confirm_order, expire_order>;

  static state apply(state s, const order_confirmed& e) {
    s.status = order_status::confirmed;
    s.menu = e.menu;
    return s;
  }
  static state apply(state s, const order_expired&) {
    s.status = order_status::expired;
    return s;
  }

  static cairn::effect<order> handle(const state& s, const confirm_order& c) {
    if (s.status != order_status::open)
      return reject("the order is " + to_string(s.status));
    return persist(order_confirmed{c.menu}).then_ack();
  }
  static cairn::effect<order> handle(const state& s, const expire_order& c) {
    if (s.status != order_status::open)
      return reject("the order is " + to_string(s.status));
    return persist(order_expired{c.reason}).then_ack();
  }
};

// -- the inputs ---------------------------------------------------------------

/// Operations offered `menu` of `caterer` for `order`; both sides answer
/// within `answer_within_ms` milliseconds.
struct menu_offered {
  static constexpr const char* event_name = "catering.menu_offered";
  std::string order;
  std::string menu;
  std::string caterer;
  int64_t answer_within_ms = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(order, menu, caterer, answer_within_ms);
  }
};

struct customer_confirmed_menu {
  static constexpr const char* event_name = "catering.customer_confirmed_menu";
  std::string order;
  std::string menu;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(order, menu);
  }
};

struct caterer_confirmed_menu {
  static constexpr const char* event_name = "catering.caterer_confirmed_menu";
  std::string order;
  std::string menu;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(order, menu);
  }
};

// -- the process manager ------------------------------------------------------

/// The name of the process's one deadline.
constexpr const char* answer_deadline = "answers";

enum class match_stage : uint8_t {
  /// Waiting for the offer and both confirmations.
  waiting,
  /// Both confirmed: waiting for the order to be confirmed.
  confirming,
  /// Out of time: waiting for the order to be expired.
  expiring,
  /// Done.
  closed,
};

struct match_opened {
  static constexpr const char* event_name = "catering.match_opened";
  std::string menu;
  std::string caterer;
  int64_t answer_within_ms = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(menu, caterer, answer_within_ms);
  }
};

struct customer_agreed {
  static constexpr const char* event_name = "catering.customer_agreed";
  std::string menu;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(menu);
  }
};

struct caterer_agreed {
  static constexpr const char* event_name = "catering.caterer_agreed";
  std::string menu;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(menu);
  }
};

struct match_found {
  static constexpr const char* event_name = "catering.match_found";
  std::string menu;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(menu);
  }
};

struct match_timed_out {
  static constexpr const char* event_name = "catering.match_timed_out";
  /// Who did not confirm: "the caterer", "the customer" or both.
  std::string missing;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(missing);
  }
};

struct match_closed {
  static constexpr const char* event_name = "catering.match_closed";
  std::string result;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(result);
  }
};

struct match_state {
  match_stage stage = match_stage::waiting;
  /// The offered menu; empty until the offer arrives.
  std::string menu;
  std::string customer_menu;
  std::string caterer_menu;

  /// Whether both sides confirmed the offered menu.
  bool matched() const {
    return !menu.empty() && customer_menu == menu && caterer_menu == menu;
  }

  template <class Archive>
  void serialize(Archive& ar) {
    ar(stage, menu, customer_menu, caterer_menu);
  }
};

/// The process manager: one instance per catering order.
struct catering_match {
  static constexpr const char* category = "cateringmatch";
  using state = match_state;
  using events
    = cairn::event_list<match_opened, customer_agreed, caterer_agreed,
                        match_found, match_timed_out, match_closed>;
  using inputs = cairn::event_list<menu_offered, customer_confirmed_menu,
                                   caterer_confirmed_menu>;

  static std::string correlate(const menu_offered& e) {
    return e.order;
  }
  static std::string correlate(const customer_confirmed_menu& e) {
    return e.order;
  }
  static std::string correlate(const caterer_confirmed_menu& e) {
    return e.order;
  }

  static state apply(state s, const match_opened& e) {
    s.menu = e.menu;
    return s;
  }
  static state apply(state s, const customer_agreed& e) {
    s.customer_menu = e.menu;
    return s;
  }
  static state apply(state s, const caterer_agreed& e) {
    s.caterer_menu = e.menu;
    return s;
  }
  static state apply(state s, const match_found&) {
    s.stage = match_stage::confirming;
    return s;
  }
  static state apply(state s, const match_timed_out&) {
    s.stage = match_stage::expiring;
    return s;
  }
  static state apply(state s, const match_closed&) {
    s.stage = match_stage::closed;
    return s;
  }

  /// The offer opens the match and starts the clock.
  static cairn::step<catering_match> react(const state& s,
                                           const menu_offered& e) {
    if (!s.menu.empty())
      return {}; // offered before
    match_opened opened{e.menu, e.caterer, e.answer_within_ms};
    auto st = note(s, e.order, opened);
    if (!apply(s, opened).matched())
      st.schedule(answer_deadline,
                  std::chrono::milliseconds{e.answer_within_ms});
    return st;
  }

  static cairn::step<catering_match> react(const state& s,
                                           const customer_confirmed_menu& e) {
    return note(s, e.order, customer_agreed{e.menu});
  }

  static cairn::step<catering_match> react(const state& s,
                                           const caterer_confirmed_menu& e) {
    return note(s, e.order, caterer_agreed{e.menu});
  }

  /// Out of time: expire the order.
  static cairn::step<catering_match> react(const state& s,
                                           const cairn::deadline& d) {
    if (s.stage != match_stage::waiting)
      return {};
    std::string missing;
    if (s.caterer_menu.empty() || s.caterer_menu != s.menu)
      missing = "the caterer";
    if (s.customer_menu.empty() || s.customer_menu != s.menu)
      missing += missing.empty() ? "the customer" : " and the customer";
    return cairn::step<catering_match>{}
      .emit(match_timed_out{missing})
      .send<order>(d.instance, expire_order{missing + " did not confirm"});
  }

  /// The order confirmed or expired: the process is done.
  static cairn::step<catering_match> react(const state& s,
                                           const cairn::command_result& r) {
    std::string result;
    if (!r.accepted)
      result = "the order refused: " + sagas::reason_of(r.why);
    else if (s.stage == match_stage::confirming)
      result = "the order is confirmed";
    else
      result = "the order is expired";
    return cairn::step<catering_match>{}.emit(match_closed{result}).complete();
  }

  /// Records `e`; once both sides confirmed the offered menu, confirms the
  /// order.
  template <class Event>
  static cairn::step<catering_match> note(const state& s, const std::string& id,
                                          Event e) {
    auto next = apply(s, e);
    cairn::step<catering_match> st;
    st.emit(std::move(e));
    if (s.stage != match_stage::waiting || !next.matched())
      return st;
    st.emit(match_found{next.menu});
    if (!s.menu.empty()) // the clock runs since the offer
      st.cancel(answer_deadline);
    st.send<order>(id, confirm_order{next.menu});
    return st;
  }
};

// -- in words, for the program's account --------------------------------------

inline std::string describe(const menu_offered& e) {
  return "operations offers menu '" + e.menu + "' by " + e.caterer
         + " for order " + e.order + ", answers due within "
         + std::to_string(e.answer_within_ms) + "ms";
}

inline std::string describe(const customer_confirmed_menu& e) {
  return "the customer confirms menu '" + e.menu + "'";
}

inline std::string describe(const caterer_confirmed_menu& e) {
  return "the caterer confirms menu '" + e.menu + "'";
}

inline std::string describe(const match_opened& e) {
  return "wait for the customer and " + e.caterer + " to confirm '" + e.menu
         + "'";
}

inline std::string describe(const customer_agreed&) {
  return "note: the customer agreed";
}

inline std::string describe(const caterer_agreed&) {
  return "note: the caterer agreed";
}

inline std::string describe(const match_found& e) {
  return "both agreed on '" + e.menu + "': confirm the order";
}

inline std::string describe(const match_timed_out& e) {
  return "TIMED OUT waiting for " + e.missing + ": expire the order";
}

inline std::string describe(const match_closed& e) {
  return "done: " + e.result;
}

} // namespace catering
