#include "cairn/actors/projection.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <iostream>

#include "caf/all.hpp"

#include "cairn/actors/atoms.hpp"
#include "cairn/journal/errc.hpp"
#include "cairn/journal/log.hpp"

namespace cairn {

namespace {

/// Parses a stored integer; none if `text` is not one.
std::optional<int64_t> parse_int(const std::string& text) {
  if (text.empty())
    return std::nullopt;
  size_t used = 0;
  try {
    auto x = std::stoll(text, &used);
    if (used == text.size())
      return x;
  } catch (const std::exception&) {
    // not a number
  }
  return std::nullopt;
}

caf::error not_an_integer(const std::string& table, const std::string& key,
                          const std::string& value) {
  return make_error(errc::corrupt_record, "projection table " + table + ", key "
                                            + key
                                            + ": not an integer: " + value);
}

} // namespace

std::string projection_table(const std::string& projection,
                             const std::string& table) {
  return "cairn.projection." + projection + "." + table;
}

std::string projection_checkpoint(const std::string& projection) {
  return "cairn.projection." + projection;
}

// -- projection_view ----------------------------------------------------------

projection_view::projection_view(const journal::journal& j,
                                 std::string projection)
  : j_(j), projection_(std::move(projection)) {
  // nop
}

std::optional<std::string> projection_view::get(const std::string& table,
                                                const std::string& key) {
  if (auto i = writes_.find({table, key}); i != writes_.end())
    return i->second;
  auto x = j_.table_get(projection_table(projection_, table), key);
  if (!x) {
    if (!error_)
      error_ = std::move(x.error());
    return std::nullopt;
  }
  return std::move(*x);
}

int64_t projection_view::get_int(const std::string& table,
                                 const std::string& key) {
  auto x = get(table, key);
  if (!x)
    return 0;
  if (auto n = parse_int(*x))
    return *n;
  if (!error_)
    error_ = not_an_integer(projection_table(projection_, table), key, *x);
  return 0;
}

bool projection_view::check(const std::string& table, const std::string& key) {
  auto name = projection_table(projection_, table);
  caf::error err;
  if (name.size() > journal::max_table_name_size)
    err = make_error(errc::invalid_argument,
                     "projection table name " + name + " is "
                       + std::to_string(name.size())
                       + " bytes long, over the maximum of "
                       + std::to_string(journal::max_table_name_size)
                       + " (max_table_name_size)");
  else if (key.size() > journal::max_table_key_size)
    err = make_error(errc::invalid_argument,
                     "a key of projection table " + name + " is "
                       + std::to_string(key.size())
                       + " bytes long, over the maximum of "
                       + std::to_string(journal::max_table_key_size)
                       + " (max_table_key_size)");
  if (!err)
    return true;
  if (!error_)
    error_ = std::move(err);
  return false;
}

void projection_view::put(const std::string& table, const std::string& key,
                          std::string value) {
  if (check(table, key))
    writes_[{table, key}] = std::move(value);
}

void projection_view::erase(const std::string& table, const std::string& key) {
  if (check(table, key))
    writes_[{table, key}] = std::nullopt;
}

int64_t projection_view::add(const std::string& table, const std::string& key,
                             int64_t delta) {
  auto x = get_int(table, key) + delta;
  put(table, key, std::to_string(x));
  return x;
}

std::vector<journal::table_write> projection_view::take_writes() {
  std::vector<journal::table_write> result;
  result.reserve(writes_.size());
  for (auto& [where, value] : writes_) {
    journal::table_write w;
    w.table = projection_table(projection_, where.first);
    w.key = where.second;
    if (value)
      w.value = std::move(*value);
    else
      w.erase = true;
    result.push_back(std::move(w));
  }
  writes_.clear();
  return result;
}

// -- projection_model ---------------------------------------------------------

projection_model::projection_model(std::shared_ptr<journal::journal> j,
                                   std::string projection)
  : j_(std::move(j)), projection_(std::move(projection)) {
  // nop
}

caf::expected<std::optional<std::string>>
projection_model::get(const std::string& table, const std::string& key) const {
  return j_->table_get(projection_table(projection_, table), key);
}

caf::expected<int64_t> projection_model::get_int(const std::string& table,
                                                 const std::string& key) const {
  auto x = get(table, key);
  if (!x)
    return std::move(x.error());
  if (!*x)
    return int64_t{0};
  if (auto n = parse_int(**x))
    return *n;
  return not_an_integer(projection_table(projection_, table), key, **x);
}

caf::expected<std::vector<std::pair<std::string, std::string>>>
projection_model::scan(const std::string& table) const {
  return j_->table_scan(projection_table(projection_, table));
}

caf::expected<uint64_t> projection_model::checkpoint() const {
  auto cp = j_->checkpoint(projection_checkpoint(projection_));
  if (!cp)
    return std::move(cp.error());
  return cp->value_or(0);
}

// -- the projection's actor ---------------------------------------------------

namespace detail {

namespace {

/// What a projection adds to its subscription.
struct projection_core {
  std::string name;
  projection_apply apply;
  projection_settings settings;
  /// Delivered events not yet committed, in position order; the first
  /// `committing` of them are in the group with the coordinator.
  std::deque<journal::stored_event> pending;
  size_t committing = 0;
  /// Consecutive failed commits, for the retry delay.
  uint32_t failures = 0;
  bool retry_scheduled = false;
  projection_stats stats;
};

using core_ptr = std::shared_ptr<projection_core>;

void flush(subscription_context ctx, const core_ptr& core);

void on_committed(subscription_context ctx, const core_ptr& core,
                  uint64_t applied, uint64_t passed, uint64_t undecodable) {
  auto n = core->committing;
  core->committing = 0;
  core->failures = 0;
  ++core->stats.commits;
  core->stats.applied += applied;
  core->stats.passed += passed;
  core->stats.undecodable += undecodable;
  std::vector<uint64_t> done;
  done.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    done.push_back(core->pending.front().position);
    core->pending.pop_front();
  }
  for (auto pos : done)
    ctx.ack(pos);
  flush(ctx, core);
}

void on_failed(subscription_context ctx, const core_ptr& core, caf::error err) {
  core->committing = 0;
  ++core->stats.failed_commits;
  auto self = ctx.self();
  if (code_of(err) == errc::journal_failed || ctx.journal()->failed()) {
    // Fail-stop: nothing commits until the journal is reopened.
    self->quit(std::move(err));
    return;
  }
  if (code_of(err) == errc::invalid_argument) {
    // The journal refused the group itself: retrying the same batch would
    // be refused again, forever.
    log::error("projection." + core->name,
               "stopping, the journal refused a batch: " + describe(err));
    self->quit(std::move(err));
    return;
  }
  auto delay = std::chrono::milliseconds{std::min(
    int64_t{10} << std::min(core->failures, uint32_t{7}), int64_t{1000})};
  ++core->failures;
  core->retry_scheduled = true;
  self->delayed_send(self, delay, flush_atom::value);
}

/// Applies the next batch of pending events and commits it with the
/// checkpoint, unless a commit runs.
void flush(subscription_context ctx, const core_ptr& core) {
  if (core->committing > 0 || core->retry_scheduled || core->pending.empty())
    return;
  auto& j = *ctx.journal();
  projection_view view{j, core->name};
  auto n = std::min(core->pending.size(), core->settings.max_batch_events);
  uint64_t applied = 0;
  uint64_t passed = 0;
  uint64_t undecodable = 0;
  for (size_t i = 0; i < n; ++i) {
    auto& ev = core->pending[i];
    view.current(ev);
    auto r = core->apply(view, ev);
    if (!r) {
      ++undecodable;
      log::warning("projection." + core->name,
                   "skipping event " + ev.stream + " version "
                     + std::to_string(ev.version) + " (" + ev.record.type
                     + "): " + describe(r.error()));
    } else if (*r) {
      ++applied;
    } else {
      ++passed;
    }
    if (view.error()) {
      // A write the journal would refuse, or a read that failed: the batch
      // cannot commit, and a retry would fail the same way.
      log::error("projection." + core->name,
                 "stopping at event " + ev.stream + " version "
                   + std::to_string(ev.version) + " (position "
                   + std::to_string(ev.position)
                   + "): " + describe(view.error()));
      ctx.self()->quit(view.error());
      return;
    }
  }
  journal::write_group g;
  g.tables = view.take_writes();
  g.checkpoints.emplace_back(projection_checkpoint(core->name),
                             core->pending[n - 1].position);
  core->committing = n;
  ctx.self()
    ->request(ctx.coordinator(), caf::infinite, commit_atom::value,
              std::move(g))
    .then(
      [ctx, core, applied, passed, undecodable](journal::group_receipt&) {
        on_committed(ctx, core, applied, passed, undecodable);
      },
      [ctx, core](caf::error& err) { on_failed(ctx, core, std::move(err)); });
}

} // namespace

caf::error check_projection(const std::string& name,
                            const projection_settings& settings) {
  if (name.empty())
    return make_error(errc::invalid_argument, "a projection needs a name");
  // Its checkpoint and its tables are named after it; a one-byte table name
  // must fit.
  if (projection_checkpoint(name).size() > journal::max_checkpoint_name_size
      || projection_table(name, "t").size() > journal::max_table_name_size)
    return make_error(errc::invalid_argument,
                      "projection name " + name + " is "
                        + std::to_string(name.size())
                        + " bytes long, over the maximum of "
                        + std::to_string(max_projection_name_size)
                        + " (its tables' names must fit "
                          "max_table_name_size)");
  if (settings.max_in_flight == 0 || settings.read_chunk == 0
      || settings.max_batch_events == 0)
    return make_error(errc::invalid_argument,
                      "projection " + name
                        + ": max_in_flight, read_chunk and max_batch_events "
                          "must be at least 1");
  return caf::none;
}

caf::expected<caf::actor> spawn_projection(runtime& rt, std::string name,
                                           std::string category,
                                           projection_apply fn,
                                           projection_settings settings) {
  if (auto err = check_projection(name, settings))
    return err;
  subscription_settings ss;
  ss.checkpoint = projection_checkpoint(name);
  ss.store_checkpoint = false; // in the group of each batch
  ss.category = std::move(category);
  ss.max_in_flight = settings.max_in_flight;
  ss.read_chunk = settings.read_chunk;
  auto core = std::make_shared<projection_core>();
  core->name = std::move(name);
  core->apply = std::move(fn);
  core->settings = settings;
  return spawn_subscription(
    rt.system(), rt.journal(), rt.hub(), rt.coordinator(), std::move(ss),
    [core](subscription_context& ctx) {
      subscription_handler h;
      h.deliver = [ctx, core](std::vector<journal::stored_event>& events) {
        for (auto& ev : events)
          core->pending.push_back(std::move(ev));
        flush(ctx, core);
      };
      h.extra = caf::message_handler{
        [ctx, core](stats_atom) {
          auto result = core->stats;
          result.subscription = ctx.stats();
          return result;
        },
        [ctx, core](flush_atom) {
          core->retry_scheduled = false;
          flush(ctx, core);
        },
      };
      return h;
    });
}

} // namespace detail

} // namespace cairn
