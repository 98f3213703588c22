#pragma once

#include <array>
#include <cstdint>

#include <cereal/types/array.hpp>

#include "caf/meta/type_name.hpp"

#include "cairn/actors/aggregate.hpp"
#include "cairn/actors/effect.hpp"

/// The aggregate of `cairn-bench persist` and `cairn-bench actor`: a counter
/// whose every increment stores one 200-byte event, and a read-only command
/// that stores nothing. Its state is two integers with no heap, so that
/// what an active entity costs beyond it is the runtime's own memory.
namespace cairn::bench {

// -- events -------------------------------------------------------------------

/// The event: 200 bytes as a cereal binary archive (8 + 4 + 4 + 184; an
/// array of `char` is written as raw bytes, without a length).
struct recorded {
  static constexpr const char* event_name = "bench.recorded";
  uint64_t seq = 0;
  uint32_t kind = 0;
  uint32_t flags = 0;
  std::array<char, 184> text{};

  template <class Archive>
  void serialize(Archive& ar) {
    ar(seq, kind, flags, text);
  }
};

/// Bytes of a `recorded` event as the codec encodes it.
constexpr size_t recorded_bytes = 200;

// -- commands -----------------------------------------------------------------

/// Stores one `recorded` event; replies the new count (`int64_t`). Its
/// `serialize` lets a process step send it to an entity of another node
/// (through the outbox).
struct record_event {
  uint64_t seq = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(seq);
  }
};

/// Replies the count (`int64_t`); stores nothing.
struct get_count {};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, record_event& x) {
  return f(caf::meta::type_name("bench.record_event"), x.seq);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, get_count&) {
  return f(caf::meta::type_name("bench.get_count"));
}

// -- the aggregate ------------------------------------------------------------

struct counter_state {
  int64_t count = 0;
  uint64_t last_seq = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(count, last_seq);
  }
};

/// Bytes of user state per entity: `sizeof(counter_state)`, no heap.
constexpr size_t counter_state_bytes = sizeof(counter_state);

struct counter {
  static constexpr const char* category = "bench";
  using state = counter_state;
  using events = event_list<recorded>;
  using commands = command_list<record_event, get_count>;

  static state apply(state s, const recorded& e) {
    ++s.count;
    s.last_seq = e.seq;
    return s;
  }

  static effect<counter> handle(const state&, const record_event& c) {
    recorded e;
    e.seq = c.seq;
    e.kind = 1;
    e.text.fill('x');
    return persist(e).then_reply([](const state& n) { return n.count; });
  }

  static effect<counter> handle(const state& s, const get_count&) {
    return reply(s.count);
  }
};

} // namespace cairn::bench
