#pragma once

#include <set>
#include <string>
#include <vector>

#include <cereal/types/set.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include "cairn/actors/process_manager.hpp"
#include "tests/actors/account.hpp"

/// The group checkout of seeds 001/003 as a process manager, for tests:
/// checking out a group checks out each guest's account; an account with an
/// unsettled balance fails; the group completes when every guest is done.
namespace cairn::test {

/// Input: the front desk asked to check out a group (stream frontdesk-<g>).
struct group_checkout_requested {
  static constexpr const char* event_name = "group_checkout_requested";
  std::string group;
  std::vector<std::string> guests;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(group, guests);
  }
};

struct checkout_started {
  static constexpr const char* event_name = "checkout_started";
  std::vector<std::string> guests;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(guests);
  }
};

struct guest_done {
  static constexpr const char* event_name = "guest_done";
  std::string guest;
  bool ok = false;
  std::string why;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(guest, ok, why);
  }
};

struct group_finished {
  static constexpr const char* event_name = "group_finished";
  std::vector<std::string> failures;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(failures);
  }
};

struct checkout_state {
  std::set<std::string> pending;
  std::vector<std::string> failures;
  bool started = false;
  bool finished = false;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(pending, failures, started, finished);
  }
};

struct group_checkout {
  static constexpr const char* category = "checkout";
  using state = checkout_state;
  using events = event_list<checkout_started, guest_done, group_finished>;
  using inputs = event_list<group_checkout_requested>;

  static std::string correlate(const group_checkout_requested& e) {
    return e.group;
  }

  static state apply(state s, const checkout_started& e) {
    s.started = true;
    s.pending.insert(e.guests.begin(), e.guests.end());
    return s;
  }
  static state apply(state s, const guest_done& e) {
    s.pending.erase(e.guest);
    if (!e.ok)
      s.failures.push_back(e.guest);
    return s;
  }
  static state apply(state s, const group_finished&) {
    s.finished = true;
    return s;
  }

  static step<group_checkout> react(const state& s,
                                    const group_checkout_requested& e) {
    if (s.started)
      return {};
    step<group_checkout> st;
    st.emit(checkout_started{e.guests});
    for (auto& g : e.guests)
      st.send<account>(g, check_out{});
    return st;
  }

  static step<group_checkout> react(const state& s, const command_result& r) {
    guest_done done{r.entity, r.accepted, r.why};
    step<group_checkout> st;
    st.emit(done);
    auto after = apply(s, done);
    if (after.pending.empty())
      st.emit(group_finished{after.failures}).complete();
    return st;
  }
};

} // namespace cairn::test
