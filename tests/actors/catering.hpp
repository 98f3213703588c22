#pragma once

#include <string>

#include <cereal/types/string.hpp>

#include "caf/meta/type_name.hpp"

#include "cairn/actors/aggregate.hpp"
#include "cairn/actors/effect.hpp"
#include "cairn/actors/process_manager.hpp"

/// The catering match of seed 002, for tests: an order is confirmed once
/// the customer and the caterer confirmed the same menu, in either order;
/// if the caterer never answers, a deadline expires the order.
namespace cairn::test {

// -- the order aggregate ---------------------------------------------------------

struct order_confirmed {
  static constexpr const char* event_name = "catering_order_confirmed";
  std::string menu;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(menu);
  }
};

struct order_expired {
  static constexpr const char* event_name = "catering_order_expired";
  template <class Archive>
  void serialize(Archive&) {
    // nop
  }
};

struct confirm_order {
  std::string menu;
};

struct expire_order {};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, confirm_order& x) {
  return f(caf::meta::type_name("test.confirm_order"), x.menu);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, expire_order&) {
  return f(caf::meta::type_name("test.expire_order"));
}

struct catering_order_state {
  std::string status = "open";
  template <class Archive>
  void serialize(Archive& ar) {
    ar(status);
  }
};

struct catering_order {
  static constexpr const char* category = "cateringorder";
  using state = catering_order_state;
  using events = event_list<order_confirmed, order_expired>;
  using commands = command_list<confirm_order, expire_order>;
  static state apply(state s, const order_confirmed&) {
    s.status = "confirmed";
    return s;
  }
  static state apply(state s, const order_expired&) {
    s.status = "expired";
    return s;
  }
  static effect<catering_order> handle(const state& s,
                                       const confirm_order& c) {
    if (s.status != "open")
      return reject("order is " + s.status);
    return persist(order_confirmed{c.menu}).then_ack();
  }
  static effect<catering_order> handle(const state& s, const expire_order&) {
    if (s.status != "open")
      return reject("order is " + s.status);
    return persist(order_expired{}).then_ack();
  }
};

// -- inputs ---------------------------------------------------------------------

struct customer_confirmed_menu {
  static constexpr const char* event_name = "customer_confirmed_menu";
  std::string order_id;
  std::string menu;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(order_id, menu);
  }
};

struct caterer_confirmed_menu {
  static constexpr const char* event_name = "caterer_confirmed_menu";
  std::string order_id;
  std::string menu;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(order_id, menu);
  }
};

// -- the process manager ----------------------------------------------------------

struct match_noted {
  static constexpr const char* event_name = "match_noted";
  bool customer = false; // else the caterer
  std::string menu;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(customer, menu);
  }
};

struct match_state {
  std::string customer_menu;
  std::string caterer_menu;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(customer_menu, caterer_menu);
  }
};

/// How long the match waits for the other side; tests set it.
inline std::chrono::milliseconds& catering_timeout() {
  static std::chrono::milliseconds value{60000};
  return value;
}

struct catering_match {
  static constexpr const char* category = "cateringmatch";
  using state = match_state;
  using events = event_list<match_noted>;
  using inputs = event_list<customer_confirmed_menu, caterer_confirmed_menu>;

  static std::string correlate(const customer_confirmed_menu& e) {
    return e.order_id;
  }
  static std::string correlate(const caterer_confirmed_menu& e) {
    return e.order_id;
  }

  static state apply(state s, const match_noted& e) {
    (e.customer ? s.customer_menu : s.caterer_menu) = e.menu;
    return s;
  }

  static step<catering_match> note(const state& s, const std::string& id,
                                   bool customer, const std::string& menu) {
    step<catering_match> st;
    st.emit(match_noted{customer, menu});
    auto after = apply(s, match_noted{customer, menu});
    if (!after.customer_menu.empty()
        && after.customer_menu == after.caterer_menu)
      st.send<catering_order>(id, confirm_order{menu})
        .cancel("answer")
        .complete();
    else
      st.schedule("answer", catering_timeout());
    return st;
  }

  static step<catering_match> react(const state& s,
                                    const customer_confirmed_menu& e) {
    return note(s, e.order_id, true, e.menu);
  }
  static step<catering_match> react(const state& s,
                                    const caterer_confirmed_menu& e) {
    return note(s, e.order_id, false, e.menu);
  }
  static step<catering_match> react(const state&, const deadline& d) {
    step<catering_match> st;
    st.send<catering_order>(d.instance, expire_order{}).complete();
    return st;
  }
};

} // namespace cairn::test
