#pragma once

#include <cstdint>
#include <deque>
#include <ostream>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "caf/error.hpp"
#include "caf/expected.hpp"

#include <cairn/actors/aggregate.hpp>
#include <cairn/actors/process_manager.hpp>
#include <cairn/actors/step_messages.hpp>
#include "examples/sagas/common.hpp"
#include <cairn/journal/codec.hpp>
#include <cairn/journal/journal.hpp>

/// Tells what a process manager did, from its stream in the journal.
///
/// A manager's stream holds, per step: the manager's own events, the
/// built-in events of deadlines and completion, and last a step record
/// (`cairn::step_record`) with the outcome of each command of the step. The
/// step reacted to an input (the record names its position in the global
/// log), to the outcome of an earlier command (`cairn::outcome_reacted`),
/// or to a deadline (`cairn::deadline_cleared` with `fired`). Reading the
/// stream back therefore gives the whole story, and the same story after a
/// restart: nothing here keeps state in memory.
///
/// Events and inputs are put in words by `describe(const E&)` functions
/// found by argument-dependent lookup (each example defines them next to its
/// types).
namespace sagas {

/// What one process left in the journal: whether it completed and the
/// event count of its stream and of the streams it commanded.
struct process_summary {
  bool complete = false;
  std::vector<std::pair<std::string, uint64_t>> streams;

  /// `"complete; events: ordersaga-7=30 order-7=4"`.
  std::string to_string() const {
    std::string result = complete ? "complete" : "NOT complete";
    result += "; events:";
    for (auto& [name, count] : streams)
      result += " " + name + "=" + std::to_string(count);
    return result;
  }

  friend bool operator==(const process_summary& x, const process_summary& y) {
    return x.complete == y.complete && x.streams == y.streams;
  }
};

namespace detail {

template <class... Ts>
cairn::journal::codec codec_for(cairn::event_list<Ts...>) {
  cairn::journal::codec c;
  (c.add<Ts>(Ts::event_name), ...);
  return c;
}

template <class... Ts>
caf::expected<std::variant<Ts...>>
decode_as(const cairn::journal::codec& c,
          const cairn::journal::stored_event& ev, cairn::event_list<Ts...>) {
  return c.decode_variant<Ts...>(ev);
}

/// Puts event `ev` of `List` in words with `describe`.
template <class List>
std::string in_words(const cairn::journal::stored_event& ev) {
  static const auto c = codec_for(List{});
  auto x = decode_as(c, ev, List{});
  if (!x)
    return ev.record.type + " (" + cairn::describe(x.error()) + ")";
  return std::visit([](const auto& e) { return describe(e); }, *x);
}

inline std::string outcome_text(const cairn::command_outcome& o) {
  if (o.accepted)
    return o.stream + " accepted";
  return o.stream + " REJECTED: " + reason_of(o.why);
}

/// Reads a whole stream.
inline caf::expected<std::vector<cairn::journal::stored_event>>
read_whole(const cairn::journal::journal& j, const std::string& stream) {
  std::vector<cairn::journal::stored_event> result;
  for (;;) {
    auto chunk = j.read_stream(stream, result.size() + 1, 1024);
    if (!chunk)
      return std::move(chunk.error());
    if (chunk->empty())
      return result;
    for (auto& ev : *chunk)
      result.push_back(std::move(ev));
  }
}

} // namespace detail

/// Prints the steps of process `id` of manager `P`: for each step what it
/// reacted to, what it decided, and the outcome of its commands.
template <class P>
caf::error narrate(const cairn::journal::journal& j, const std::string& id,
                   std::ostream& out) {
  using namespace cairn;
  auto evs = detail::read_whole(j, stream_of<P>(id));
  if (!evs)
    return std::move(evs.error());
  journal::codec builtin;
  builtin.add<step_record>(step_record::event_name);
  builtin.add<deadline_scheduled>(deadline_scheduled::event_name);
  builtin.add<deadline_cleared>(deadline_cleared::event_name);
  std::deque<command_outcome> unanswered; // outcomes not reacted to yet
  std::string cause;
  std::vector<std::string> decided;
  int n = 0;
  for (auto& ev : *evs) {
    auto& type = ev.record.type;
    if (type == outcome_reacted::event_name) {
      if (!unanswered.empty()) {
        cause = "outcome: " + detail::outcome_text(unanswered.front());
        unanswered.pop_front();
      }
    } else if (type == deadline_scheduled::event_name) {
      auto d = builtin.decode<deadline_scheduled>(ev);
      if (!d)
        return std::move(d.error());
      decided.push_back("deadline '" + d->name + "' set");
    } else if (type == deadline_cleared::event_name) {
      auto d = builtin.decode<deadline_cleared>(ev);
      if (!d)
        return std::move(d.error());
      if (d->fired)
        cause = "DEADLINE '" + d->name + "' came due";
      else
        decided.push_back("deadline '" + d->name + "' cancelled");
    } else if (type == process_completed::event_name) {
      decided.push_back("(process complete)");
    } else if (type == step_record::event_name) {
      auto rec = builtin.decode<step_record>(ev);
      if (!rec)
        return std::move(rec.error());
      if (rec->input_position > 0) {
        auto in = j.read_all(rec->input_position, 1);
        if (!in)
          return std::move(in.error());
        if (in->events.empty())
          cause = "input #" + std::to_string(rec->input_position);
        else
          cause = "input: "
                  + detail::in_words<typename P::inputs>(in->events.front());
      }
      out << "  step " << ++n << " on " << cause << '\n';
      for (auto& x : decided)
        out << "         -> " << x << '\n';
      for (auto& o : rec->outcomes) {
        out << "            " << detail::outcome_text(o) << '\n';
        unanswered.push_back(o);
      }
      cause.clear();
      decided.clear();
    } else {
      decided.push_back(detail::in_words<typename P::events>(ev));
    }
  }
  return caf::none;
}

/// Returns whether process `id` of `P` completed and how many events its
/// stream and the streams it commanded hold; `shared` names streams that
/// other processes command too (they are left out).
template <class P>
caf::expected<process_summary>
summarize(const cairn::journal::journal& j, const std::string& id,
          const std::set<std::string>& shared = {}) {
  using namespace cairn;
  auto own = stream_of<P>(id);
  auto evs = detail::read_whole(j, own);
  if (!evs)
    return std::move(evs.error());
  journal::codec builtin;
  builtin.add<step_record>(step_record::event_name);
  process_summary result;
  result.streams.emplace_back(own, evs->size());
  std::set<std::string> seen{own};
  for (auto& ev : *evs) {
    if (ev.record.type == process_completed::event_name)
      result.complete = true;
    if (ev.record.type != step_record::event_name)
      continue;
    auto rec = builtin.decode<step_record>(ev);
    if (!rec)
      return std::move(rec.error());
    for (auto& o : rec->outcomes) {
      if (shared.count(o.stream) > 0 || !seen.insert(o.stream).second)
        continue;
      auto version = j.stream_version(o.stream);
      if (!version)
        return std::move(version.error());
      result.streams.emplace_back(o.stream, *version);
    }
  }
  return result;
}

} // namespace sagas
