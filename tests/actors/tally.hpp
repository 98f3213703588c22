#pragma once

#include <cstdint>
#include <string>

#include <cereal/types/string.hpp>

#include "caf/make_message.hpp"
#include "caf/meta/type_name.hpp"

#include "cairn/actors/aggregate.hpp"
#include "cairn/actors/effect.hpp"

/// A tally used by the aggregate crash test: every `add` command stores one
/// `added` event naming the command, so that the journal alone tells which
/// commands took effect, in which order, and what each entity's state is.
namespace cairn::test {

// -- events -------------------------------------------------------------------

struct added {
  static constexpr const char* event_name = "added";
  std::string cmd_id;
  int64_t amount = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(cmd_id, amount);
  }
};

// -- commands -----------------------------------------------------------------

/// Adds `amount`; replies `(uint64_t count, int64_t sum)` after the commit.
struct add {
  std::string cmd_id;
  int64_t amount = 0;
};

/// Replies `(uint64_t count, int64_t sum, std::string last_cmd_id)`.
struct read_tally {};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, add& x) {
  return f(caf::meta::type_name("test.add"), x.cmd_id, x.amount);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, read_tally&) {
  return f(caf::meta::type_name("test.read_tally"));
}

// -- the aggregate ------------------------------------------------------------

struct tally_state {
  uint64_t count = 0;
  int64_t sum = 0;
  std::string last_cmd_id;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(count, sum, last_cmd_id);
  }
  friend bool operator==(const tally_state& x, const tally_state& y) {
    return x.count == y.count && x.sum == y.sum
           && x.last_cmd_id == y.last_cmd_id;
  }
  friend bool operator!=(const tally_state& x, const tally_state& y) {
    return !(x == y);
  }
};

struct tally {
  static constexpr const char* category = "tally";
  using state = tally_state;
  using events = event_list<added>;
  using commands = command_list<add, read_tally>;

  static state apply(state s, const added& e) {
    ++s.count;
    s.sum += e.amount;
    s.last_cmd_id = e.cmd_id;
    return s;
  }

  static effect<tally> handle(const state&, const add& c) {
    if (c.cmd_id.empty())
      return reject("a command id is required");
    return persist(added{c.cmd_id, c.amount}).then_reply([](const state& n) {
      return caf::make_message(n.count, n.sum);
    });
  }

  static effect<tally> handle(const state& s, const read_tally&) {
    return reply(caf::make_message(s.count, s.sum, s.last_cmd_id));
  }
};

/// Renders a tally for messages: `"count=3 sum=12 last=0-1-2"`.
inline std::string to_string(const tally_state& x) {
  return "count=" + std::to_string(x.count) + " sum=" + std::to_string(x.sum)
         + " last=" + x.last_cmd_id;
}

} // namespace cairn::test
