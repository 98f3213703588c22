#pragma once

#include <cstdint>
#include <string>

#include <cereal/types/string.hpp>

#include "caf/meta/type_name.hpp"

#include "cairn/actors/aggregate.hpp"
#include "cairn/actors/effect.hpp"

/// A guest account (seeds 001/003) used by the actor tests: charges raise
/// the balance, payments lower it, and checking out requires a settled
/// balance.
namespace cairn::test {

// -- events --------------------------------------------------------------------

struct account_opened {
  static constexpr const char* event_name = "account_opened";
  std::string guest;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(guest);
  }
};

struct charged {
  static constexpr const char* event_name = "charged";
  int64_t cents = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(cents);
  }
};

struct paid {
  static constexpr const char* event_name = "paid";
  int64_t cents = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(cents);
  }
};

struct checked_out {
  static constexpr const char* event_name = "checked_out";
  template <class Archive>
  void serialize(Archive&) {
    // nop
  }
};

// -- commands ------------------------------------------------------------------

struct open_account {
  std::string guest;
};

struct charge {
  int64_t cents = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(cents);
  }
};

struct pay {
  int64_t cents = 0;
};

struct check_out {};

struct get_balance {};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, open_account& x) {
  return f(caf::meta::type_name("test.open_account"), x.guest);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, charge& x) {
  return f(caf::meta::type_name("test.charge"), x.cents);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pay& x) {
  return f(caf::meta::type_name("test.pay"), x.cents);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, check_out&) {
  return f(caf::meta::type_name("test.check_out"));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, get_balance&) {
  return f(caf::meta::type_name("test.get_balance"));
}

// -- the aggregate -------------------------------------------------------------

struct account_state {
  bool open = false;
  bool closed = false;
  std::string guest;
  int64_t balance = 0;
  uint64_t charges = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(open, closed, guest, balance, charges);
  }
  friend bool operator==(const account_state& x, const account_state& y) {
    return x.open == y.open && x.closed == y.closed && x.guest == y.guest
           && x.balance == y.balance && x.charges == y.charges;
  }
};

struct account {
  static constexpr const char* category = "account";
  using state = account_state;
  using events = event_list<account_opened, charged, paid, checked_out>;
  using commands = command_list<open_account, charge, pay, check_out,
                                get_balance>;

  static state apply(state s, const account_opened& e) {
    s.open = true;
    s.guest = e.guest;
    return s;
  }
  static state apply(state s, const charged& e) {
    s.balance += e.cents;
    ++s.charges;
    return s;
  }
  static state apply(state s, const paid& e) {
    s.balance -= e.cents;
    return s;
  }
  static state apply(state s, const checked_out&) {
    s.closed = true;
    return s;
  }

  static effect<account> handle(const state& s, const open_account& c) {
    if (s.open)
      return reject("account is already open");
    return persist(account_opened{c.guest}).then_ack();
  }
  static effect<account> handle(const state& s, const charge& c) {
    if (!s.open || s.closed)
      return reject("account is not open");
    return persist(charged{c.cents}).then_reply([](const state& n) {
      return n.balance;
    });
  }
  static effect<account> handle(const state& s, const pay& c) {
    if (c.cents <= 0 || c.cents > s.balance)
      return reject(errc::invalid_argument, "payment exceeds the balance");
    return persist(paid{c.cents}).then_reply([](const state& n) {
      return n.balance;
    });
  }
  static effect<account> handle(const state& s, const check_out&) {
    if (s.balance != 0)
      return reject("unsettled balance of " + std::to_string(s.balance));
    return persist(checked_out{}).then_ack();
  }
  static effect<account> handle(const state& s, const get_balance&) {
    return reply(s.balance);
  }
};

} // namespace cairn::test
