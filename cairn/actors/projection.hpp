#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <typeindex>
#include <utility>
#include <variant>
#include <vector>

#include "caf/actor.hpp"
#include "caf/error.hpp"
#include "caf/expected.hpp"
#include "caf/meta/type_name.hpp"

#include "cairn/actors/aggregate.hpp"
#include "cairn/actors/runtime.hpp"
#include "cairn/actors/subscription.hpp"
#include "cairn/journal/codec.hpp"
#include "cairn/journal/journal.hpp"

/// Projections: read models kept in the journal's own LMDB environment,
/// updated exactly once per event.
///
/// A projection type is a struct with:
///
/// ```
/// struct invoice_totals {
///   static constexpr const char* name = "invoice-totals";  // unique
///   static constexpr const char* category = "invoice";     // optional
///   using events = cairn::event_list<invoice_created, invoice_paid>;
///   static void apply(cairn::projection_view& v, const invoice_created& e) {
///     v.add("counts", "created", 1);
///     v.put("customer_of", v.event().stream, e.customer);
///   }
///   static void apply(cairn::projection_view& v, const invoice_paid& e) {
///     auto customer = v.get("customer_of", v.event().stream).value_or("");
///     v.add("paid_by_customer", customer, e.cents);
///   }
/// };
///
/// auto proj = cairn::start_projection<invoice_totals>(rt);     // expected
/// cairn::await_caught_up(sys, *proj, last_position, 10s);
/// cairn::projection_model model{rt.journal(), invoice_totals::name};
/// auto created = model.get_int("counts", "created");           // expected
/// ```
///
/// `apply` is called once for each event of a listed type (of `category`,
/// if given), in position order; events of other types pass by. It reads
/// and writes the projection's tables through the view: named key/value
/// tables private to the projection; reads see the writes of the events
/// before in the same batch. The projection applies several events per
/// batch and commits their table writes **and its checkpoint in one write
/// group** through the coordinator, one batch at a time: a batch has its
/// effect entirely or not at all, so every event counts exactly once, across
/// restarts and failed commits. A batch that fails to commit on a healthy
/// journal is applied again and retried (after 10 ms, doubling up to 1 s);
/// when the journal is fail-stop (`errc::journal_failed`, a failed sync)
/// the projection's actor quits with the error, and the next runtime
/// resumes from the last committed checkpoint.
///
/// An event of a listed type that does not decode is skipped, counted in
/// `projection_stats::undecodable` and reported on standard error with its
/// stream and version. A corrupt record of the log is skipped the same way
/// (`subscription_stats::corrupt_records`, see cairn/actors/subscription.hpp).
///
/// Names are checked where they enter: a projection's name may have at most
/// `max_projection_name_size` bytes (its tables are named
/// `cairn.projection.<name>.<table>`, at most
/// `journal::max_table_name_size`); `projection_view::put`, `add` and
/// `erase` refuse a table name that makes the full name too long, or a key
/// over `journal::max_table_key_size`. Such a write — like a group the
/// journal refuses with `errc::invalid_argument` — would be refused again
/// on every retry, so the projection **stops** with the error, reported on
/// standard error with the event it was applying; its checkpoint stays
/// before that event, nothing of the batch is lost, and a fixed projection
/// resumes there.
///
/// The projection's actor speaks the subscription protocol (see
/// cairn/actors/subscription.hpp), with `(stats_atom)` -> `projection_stats`:
/// `(caught_up_atom, position)` answers once every event up to `position`
/// is in the committed model.
namespace cairn {

/// Settings of a projection.
struct projection_settings {
  /// Events read but not yet committed, at most.
  size_t max_in_flight = 4096;
  /// Events read from LMDB per chunk.
  size_t read_chunk = 512;
  /// Events applied per write group, at most.
  size_t max_batch_events = 1024;
};

/// Counters of a projection.
struct projection_stats {
  /// The projection's subscription.
  subscription_stats subscription;
  /// Write groups committed, and those that failed.
  uint64_t commits = 0;
  uint64_t failed_commits = 0;
  /// Committed events that `apply` consumed, that it does not consume, and
  /// that did not decode.
  uint64_t applied = 0;
  uint64_t passed = 0;
  uint64_t undecodable = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, projection_stats& x) {
  return f(caf::meta::type_name("cairn.projection_stats"), x.subscription,
           x.commits, x.failed_commits, x.applied, x.passed, x.undecodable);
}

/// Most bytes of a projection's name: `cairn.projection.<name>.<table>` must
/// fit `journal::max_table_name_size` with a one-byte table name.
constexpr size_t max_projection_name_size = journal::max_table_name_size - 19;

/// Name of the journal table that holds `table` of projection `projection`.
std::string projection_table(const std::string& projection,
                             const std::string& table);

/// Name of the checkpoint of projection `projection`.
std::string projection_checkpoint(const std::string& projection);

/// What `apply` reads and writes: the tables of one projection, as they
/// will be once the batch commits. Integer values are stored as decimal
/// text, so that `mdb_dump` shows them.
class projection_view {
public:
  projection_view(const journal::journal& j, std::string projection);

  /// Returns the value of `key` in `table`, or none.
  std::optional<std::string> get(const std::string& table,
                                 const std::string& key);

  /// Returns the integer value of `key` in `table`, 0 if none.
  int64_t get_int(const std::string& table, const std::string& key);

  /// Sets `key` in `table` to `value`. A table name or key over its limit is
  /// refused: the write is dropped and `error()` says why.
  void put(const std::string& table, const std::string& key, std::string value);

  /// Removes `key` from `table`.
  void erase(const std::string& table, const std::string& key);

  /// Adds `delta` to the integer value of `key` in `table` (0 if none);
  /// returns the new value.
  int64_t add(const std::string& table, const std::string& key, int64_t delta);

  /// The event being applied: its stream, version and position.
  const journal::stored_event& event() const noexcept {
    return *current_;
  }

  // -- for the projection's actor --------------------------------------------

  /// Makes `ev` the current event.
  void current(const journal::stored_event& ev) noexcept {
    current_ = &ev;
  }

  /// The first error a read met (`corrupt_record`, a value that is not an
  /// integer for `get_int`), if any; the batch must not commit then.
  const caf::error& error() const noexcept {
    return error_;
  }

  /// Moves the writes out, as table writes of a write group.
  std::vector<journal::table_write> take_writes();

private:
  /// Checks the size of a table name and key; records the error if over.
  bool check(const std::string& table, const std::string& key);

  const journal::journal& j_;
  std::string projection_;
  /// (table, key) -> value, or none for an erased key.
  std::map<std::pair<std::string, std::string>, std::optional<std::string>>
    writes_;
  const journal::stored_event* current_ = nullptr;
  caf::error error_;
};

/// Reads the committed model of a projection, outside of it. Thread-safe.
class projection_model {
public:
  projection_model(std::shared_ptr<journal::journal> j, std::string projection);

  /// Returns the value of `key` in `table`, or none.
  caf::expected<std::optional<std::string>> get(const std::string& table,
                                                const std::string& key) const;

  /// Returns the integer value of `key` in `table`, 0 if none. Errors:
  /// `errc::corrupt_record` when the value is not an integer.
  caf::expected<int64_t> get_int(const std::string& table,
                                 const std::string& key) const;

  /// Returns every key/value pair of `table`, key order.
  caf::expected<std::vector<std::pair<std::string, std::string>>>
  scan(const std::string& table) const;

  /// Returns the position up to which the model reflects the log.
  caf::expected<uint64_t> checkpoint() const;

private:
  std::shared_ptr<journal::journal> j_;
  std::string projection_;
};

namespace detail {

/// Applies one event: true if consumed, false if not of a listed type, an
/// error if it does not decode.
using projection_apply = std::function<caf::expected<bool>(
  projection_view&, const journal::stored_event&)>;

template <class P, class = void>
struct projection_category {
  static std::string get() {
    return {};
  }
};

template <class P>
struct projection_category<P, std::void_t<decltype(P::category)>> {
  static std::string get() {
    return P::category;
  }
};

template <class P>
const journal::codec& projection_codec_of() {
  static const journal::codec instance = [] {
    journal::codec c;
    register_events(c, typename P::events{});
    return c;
  }();
  return instance;
}

/// Checks the name and the settings of a projection.
caf::error check_projection(const std::string& name,
                            const projection_settings& settings);

/// Spawns the actor of a projection named `name`.
caf::expected<caf::actor> spawn_projection(runtime& rt, std::string name,
                                           std::string category,
                                           projection_apply fn,
                                           projection_settings settings);

/// Spawns the actor of a projection named `name` over the logs of every
/// member of `rt`'s cluster (see cairn/actors/cluster/projection.hpp).
caf::expected<caf::actor>
spawn_cluster_projection(runtime& rt, std::string name, std::string category,
                         projection_apply fn, projection_settings settings);

/// The function that applies one event to projection type `P`.
template <class P>
projection_apply make_projection_apply() {
  return [](projection_view& v,
            const journal::stored_event& ev) -> caf::expected<bool> {
    auto& c = projection_codec_of<P>();
    if (!c.knows(ev.record.type))
      return false;
    auto x = decode_event(c, ev, typename P::events{});
    if (!x)
      return std::move(x.error());
    std::visit([&v](const auto& e) { P::apply(v, e); }, *x);
    return true;
  };
}

} // namespace detail

/// Starts projection type `P` in `rt` (idempotent: the second call returns
/// the same actor); `rt.stop()` stops it. It resumes after its checkpoint.
///
/// Errors: `errc::invalid_argument` for an empty name, a name over
/// `max_projection_name_size` or a zero setting.
template <class P>
caf::expected<caf::actor> start_projection(runtime& rt,
                                           projection_settings settings = {}) {
  auto err = detail::check_projection(P::name, settings);
  if (err)
    return err;
  auto hdl = rt.find_or_spawn(std::type_index{typeid(P)}, [&] {
    auto r = detail::spawn_projection(
      rt, P::name, detail::projection_category<P>::get(),
      detail::make_projection_apply<P>(), settings);
    if (!r) {
      err = std::move(r.error());
      return caf::actor{};
    }
    // Under the runtime's lock, as `find_or_spawn` runs this function.
    rt.shared()->watched.push_back({"projection", P::name, *r});
    return std::move(*r);
  });
  if (err)
    return err;
  return hdl;
}

} // namespace cairn
