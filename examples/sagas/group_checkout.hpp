#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <cereal/types/set.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include "caf/meta/type_name.hpp"

#include <cairn/actors/aggregate.hpp>
#include <cairn/actors/effect.hpp>
#include <cairn/actors/process_manager.hpp>
#include "examples/sagas/common.hpp"

/// The group checkout of seeds 001 and 003: a batch operation.
///
/// The front desk selects the accounts of a group of guests and clicks
/// "check out" (`group_checkout_requested`, stream `frontdesk-<group>`). A
/// process (stream `groupcheckout-<group>`) checks out every account in one
/// step; the guest accounts decide for themselves, and an account whose
/// balance is not settled refuses. The process records each guest's
/// outcome and, once every guest is done, finishes the group: checked out,
/// or failed with the list of guests to look at. There is nothing to
/// compensate: the front desk settles the balances and checks out the rest
/// again.
namespace hotel {

using cairn::persist;
using cairn::reject;

// -- the guest account --------------------------------------------------------

struct guest_checked_in {
  static constexpr const char* event_name = "hotel.guest_checked_in";
  std::string guest;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(guest);
  }
};

struct guest_charged {
  static constexpr const char* event_name = "hotel.guest_charged";
  std::string what;
  int64_t cents = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(what, cents);
  }
};

struct guest_paid {
  static constexpr const char* event_name = "hotel.guest_paid";
  int64_t cents = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(cents);
  }
};

struct guest_checked_out {
  static constexpr const char* event_name = "hotel.guest_checked_out";

  template <class Archive>
  void serialize(Archive&) {
    // nop
  }
};

// Each command has `serialize` as well as `inspect`: a process step's
// command to an account on another node waits in the outbox, in the journal.

struct check_in {
  std::string guest;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(guest);
  }
};

struct charge {
  std::string what;
  int64_t cents = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(what, cents);
  }
};

struct pay {
  int64_t cents = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(cents);
  }
};

struct check_out {
  template <class Archive>
  void serialize(Archive&) {
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, check_in& x) {
  return f(caf::meta::type_name("hotel.check_in"), x.guest);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, charge& x) {
  return f(caf::meta::type_name("hotel.charge"), x.what, x.cents);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pay& x) {
  return f(caf::meta::type_name("hotel.pay"), x.cents);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, check_out&) {
  return f(caf::meta::type_name("hotel.check_out"));
}

enum class account_status : uint8_t { none, open, checked_out };

struct guest_account_state {
  account_status status = account_status::none;
  std::string guest;
  /// What the guest owes, in cents.
  int64_t balance = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(status, guest, balance);
  }
};

/// A guest's account for one stay: charges raise the balance, payments
/// lower it, and only a settled account checks out.
struct guest_account {
  static constexpr const char* category = "guestaccount";
  using state = guest_account_state;
  using events = cairn::event_list<guest_checked_in, guest_charged, guest_paid,
                                   guest_checked_out>;
  using commands = cairn::command_list<check_in, charge, pay, check_out>;

  static state apply(state s, const guest_checked_in& e) {
    s.status = account_status::open;
    s.guest = e.guest;
    return s;
  }
  static state apply(state s, const guest_charged& e) {
    s.balance += e.cents;
    return s;
  }
  static state apply(state s, const guest_paid& e) {
    s.balance -= e.cents;
    return s;
  }
  static state apply(state s, const guest_checked_out&) {
    s.status = account_status::checked_out;
    return s;
  }

  static cairn::effect<guest_account> handle(const state& s,
                                             const check_in& c) {
    if (s.status != account_status::none)
      return reject("the guest checked in before");
    return persist(guest_checked_in{c.guest}).then_ack();
  }
  static cairn::effect<guest_account> handle(const state& s, const charge& c) {
    if (s.status != account_status::open)
      return reject("the account is not open");
    if (c.cents <= 0)
      return reject("a charge is more than 0");
    return persist(guest_charged{c.what, c.cents}).then_ack();
  }
  static cairn::effect<guest_account> handle(const state& s, const pay& c) {
    if (s.status != account_status::open)
      return reject("the account is not open");
    if (c.cents <= 0 || c.cents > s.balance)
      return reject("a payment is more than 0 and at most the balance");
    return persist(guest_paid{c.cents}).then_ack();
  }
  static cairn::effect<guest_account> handle(const state& s, const check_out&) {
    if (s.status != account_status::open)
      return reject("the account is not open");
    if (s.balance != 0)
      return reject("unsettled balance of " + sagas::money(s.balance));
    return persist(guest_checked_out{}).then_ack();
  }
};

// -- the input ----------------------------------------------------------------

/// Input of the process: the front desk asked to check out a group of guest
/// accounts. Published on stream `frontdesk-<group>`.
struct group_checkout_requested {
  static constexpr const char* event_name = "hotel.group_checkout_requested";
  std::string group;
  std::vector<std::string> accounts;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(group, accounts);
  }
};

// -- the process manager ------------------------------------------------------

struct group_checkout_started {
  static constexpr const char* event_name = "hotel.group_checkout_started";
  std::vector<std::string> accounts;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(accounts);
  }
};

struct guest_checkout_completed {
  static constexpr const char* event_name = "hotel.guest_checkout_completed";
  std::string account;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(account);
  }
};

struct guest_checkout_failed {
  static constexpr const char* event_name = "hotel.guest_checkout_failed";
  std::string account;
  std::string why;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(account, why);
  }
};

struct group_checkout_completed {
  static constexpr const char* event_name = "hotel.group_checkout_completed";

  template <class Archive>
  void serialize(Archive&) {
    // nop
  }
};

struct group_checkout_failed {
  static constexpr const char* event_name = "hotel.group_checkout_failed";
  std::vector<std::string> failures;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(failures);
  }
};

struct group_checkout_state {
  bool started = false;
  /// Accounts whose outcome the process waits for.
  std::set<std::string> pending;
  /// Accounts that refused to check out.
  std::vector<std::string> failures;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(started, pending, failures);
  }
};

/// The process manager: one instance per group checkout.
struct group_checkout {
  static constexpr const char* category = "groupcheckout";
  using state = group_checkout_state;
  using events
    = cairn::event_list<group_checkout_started, guest_checkout_completed,
                        guest_checkout_failed, group_checkout_completed,
                        group_checkout_failed>;
  using inputs = cairn::event_list<group_checkout_requested>;

  static std::string correlate(const group_checkout_requested& e) {
    return e.group;
  }

  static state apply(state s, const group_checkout_started& e) {
    s.started = true;
    s.pending.insert(e.accounts.begin(), e.accounts.end());
    return s;
  }
  static state apply(state s, const guest_checkout_completed& e) {
    s.pending.erase(e.account);
    return s;
  }
  static state apply(state s, const guest_checkout_failed& e) {
    s.pending.erase(e.account);
    s.failures.push_back(e.account);
    return s;
  }
  static state apply(state s, const group_checkout_completed&) {
    return s;
  }
  static state apply(state s, const group_checkout_failed&) {
    return s;
  }

  /// Checks out every account of the group in one step.
  static cairn::step<group_checkout> react(const state& s,
                                           const group_checkout_requested& e) {
    if (s.started)
      return {}; // the group was requested twice
    // Each account once: an account listed twice is checked out once.
    std::set<std::string> accounts{e.accounts.begin(), e.accounts.end()};
    cairn::step<group_checkout> st;
    st.emit(group_checkout_started{{accounts.begin(), accounts.end()}});
    for (auto& id : accounts)
      st.send<guest_account>(id, check_out{});
    return st;
  }

  /// One account's outcome; the last one finishes the group.
  static cairn::step<group_checkout> react(const state& s,
                                           const cairn::command_result& r) {
    cairn::step<group_checkout> st;
    auto next = s;
    if (r.accepted) {
      guest_checkout_completed done{r.entity};
      next = apply(std::move(next), done);
      st.emit(std::move(done));
    } else {
      guest_checkout_failed failed{r.entity, sagas::reason_of(r.why)};
      next = apply(std::move(next), failed);
      st.emit(std::move(failed));
    }
    if (!next.pending.empty())
      return st;
    if (next.failures.empty())
      st.emit(group_checkout_completed{});
    else
      st.emit(group_checkout_failed{next.failures});
    st.complete();
    return st;
  }
};

// -- in words, for the program's account --------------------------------------

inline std::string describe(const group_checkout_requested& e) {
  return "the front desk asks to check out group " + e.group + ": "
         + sagas::join(e.accounts);
}

inline std::string describe(const group_checkout_started& e) {
  return "check out " + std::to_string(e.accounts.size()) + " accounts at once";
}

inline std::string describe(const guest_checkout_completed& e) {
  return "account " + e.account + " is checked out";
}

inline std::string describe(const guest_checkout_failed& e) {
  return "account " + e.account + " FAILED: " + e.why;
}

inline std::string describe(const group_checkout_completed&) {
  return "done: the group is checked out";
}

inline std::string describe(const group_checkout_failed& e) {
  return "done: the group checkout FAILED for " + sagas::join(e.failures);
}

} // namespace hotel
