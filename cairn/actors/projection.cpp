#include "cairn/actors/projection.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <iostream>

#include "caf/all.hpp"

#include "cairn/actors/atoms.hpp"
#include "cairn/actors/cluster/node.hpp"
#include "cairn/actors/cluster/projection.hpp"
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

/// What a projection adds to its sources: the events delivered and not yet
/// committed, and how to commit them.
struct projection_core {
  std::string name;
  projection_apply apply;
  projection_settings settings;
  /// The actor that applies and commits, its journal and coordinator.
  caf::event_based_actor* self = nullptr;
  std::shared_ptr<journal::journal> j;
  coordinator_actor coordinator;
  /// The checkpoint of each source (one for a local projection, one per
  /// node of the cluster for a cluster projection).
  std::vector<std::string> checkpoints;
  /// Acknowledges the event at `position` of source `source`, committed.
  std::function<void(size_t source, uint64_t position)> ack;
  /// Delivered events not yet committed, with their source, in delivery
  /// order; the first `committing` of them are in the group with the
  /// coordinator.
  std::deque<std::pair<size_t, journal::stored_event>> pending;
  size_t committing = 0;
  /// Consecutive failed commits, for the retry delay.
  uint32_t failures = 0;
  bool retry_scheduled = false;
  projection_stats stats;
};

using core_ptr = std::shared_ptr<projection_core>;

void flush(const core_ptr& core);

void on_committed(const core_ptr& core, uint64_t applied, uint64_t passed,
                  uint64_t undecodable) {
  auto n = core->committing;
  core->committing = 0;
  core->failures = 0;
  ++core->stats.commits;
  core->stats.applied += applied;
  core->stats.passed += passed;
  core->stats.undecodable += undecodable;
  std::vector<std::pair<size_t, uint64_t>> done;
  done.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    done.emplace_back(core->pending.front().first,
                      core->pending.front().second.position);
    core->pending.pop_front();
  }
  for (auto [source, pos] : done)
    core->ack(source, pos);
  flush(core);
}

void on_failed(const core_ptr& core, caf::error err) {
  core->committing = 0;
  ++core->stats.failed_commits;
  auto self = core->self;
  if (code_of(err) == errc::journal_failed || core->j->failed()) {
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
/// checkpoint of each source it holds events of, unless a commit runs.
void flush(const core_ptr& core) {
  if (core->committing > 0 || core->retry_scheduled || core->pending.empty())
    return;
  projection_view view{*core->j, core->name};
  auto n = std::min(core->pending.size(), core->settings.max_batch_events);
  uint64_t applied = 0;
  uint64_t passed = 0;
  uint64_t undecodable = 0;
  std::map<size_t, uint64_t> last; // per source
  for (size_t i = 0; i < n; ++i) {
    auto& [source, ev] = core->pending[i];
    last[source] = ev.position;
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
      core->self->quit(view.error());
      return;
    }
  }
  journal::write_group g;
  g.tables = view.take_writes();
  for (auto [source, pos] : last)
    g.checkpoints.emplace_back(core->checkpoints[source], pos);
  core->committing = n;
  core->self
    ->request(core->coordinator, caf::infinite, commit_atom::value,
              std::move(g))
    .then(
      [core, applied, passed, undecodable](journal::group_receipt&) {
        on_committed(core, applied, passed, undecodable);
      },
      [core](caf::error& err) { on_failed(core, std::move(err)); });
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
      core->self = ctx.self();
      core->j = ctx.journal();
      core->coordinator = ctx.coordinator();
      core->checkpoints = {ctx.settings().checkpoint};
      core->ack
        = [ctx](size_t, uint64_t position) mutable { ctx.ack(position); };
      subscription_handler h;
      h.deliver = [core](std::vector<journal::stored_event>& events) {
        for (auto& ev : events)
          core->pending.emplace_back(0, std::move(ev));
        flush(core);
      };
      h.extra = caf::message_handler{
        [ctx, core](stats_atom) {
          auto result = core->stats;
          result.subscription = ctx.stats();
          return result;
        },
        [core](flush_atom) {
          core->retry_scheduled = false;
          flush(core);
        },
      };
      return h;
    });
}

namespace {

/// The handler of a cluster projection's source `index`: sends each batch to
/// the projection's actor `proj` as a request `(events_atom, index,
/// events)` and acknowledges it once committed (the empty answer). Quits
/// when `proj` terminates or answers with an error.
subscription_factory feed_projection(caf::actor proj, uint64_t index) {
  return cairn::detail::deliver_to(
    std::move(proj), [index](std::vector<journal::stored_event> events) {
      return caf::make_message(events_atom::value, index, std::move(events));
    });
}

/// Where a cluster projection's source reads: a member's id, and the link
/// to it (invalid for the projection's own node).
struct projection_source {
  std::string node;
  caf::actor link;
};

/// The sources of a cluster projection's actor, and each source's batches
/// waiting for their commit (last position, promise).
struct cluster_projection_state {
  std::vector<projection_source> sources;
  std::vector<caf::actor> subs;
  std::vector<std::deque<std::pair<uint64_t, caf::response_promise>>> batches;
};

caf::behavior cluster_projection_impl(caf::event_based_actor* self,
                                      core_ptr core,
                                      std::vector<projection_source> sources,
                                      subscription_hub_actor hub,
                                      std::string category) {
  auto st = std::make_shared<cluster_projection_state>();
  st->sources = std::move(sources);
  st->batches.resize(st->sources.size());
  core->self = self;
  core->ack = [st](size_t source, uint64_t position) {
    auto& q = st->batches[source];
    while (!q.empty() && q.front().first <= position) {
      q.front().second.deliver(caf::unit);
      q.pop_front();
    }
  };
  auto me = caf::actor_cast<caf::actor>(self);
  for (size_t i = 0; i < st->sources.size(); ++i) {
    subscription_settings ss;
    ss.checkpoint = core->checkpoints[i];
    ss.store_checkpoint = false; // in the group of each batch
    ss.category = category;
    ss.max_in_flight = core->settings.max_in_flight;
    ss.read_chunk = core->settings.read_chunk;
    auto& src = st->sources[i];
    auto f = feed_projection(me, i);
    auto sub = src.link ? spawn_remote_subscription(
                 self->system(), core->j, core->coordinator, std::move(ss),
                 remote_source{src.node, src.link}, std::move(f))
                        : spawn_subscription(self->system(), core->j, hub,
                                             core->coordinator, std::move(ss),
                                             std::move(f));
    if (!sub) {
      for (auto& x : st->subs)
        self->send_exit(x, caf::exit_reason::user_shutdown);
      self->quit(std::move(sub.error()));
      return {};
    }
    self->monitor(*sub);
    st->subs.push_back(std::move(*sub));
  }
  self->set_down_handler([self, core](caf::down_msg& msg) {
    // A source ended with an error (a read that failed): so does the
    // projection. Sources end normally only when the projection does.
    if (msg.reason && msg.reason != caf::exit_reason::user_shutdown) {
      log::error("projection." + core->name,
                 "stopping, a source failed: "
                   + self->system().render(msg.reason));
      self->quit(msg.reason);
    }
  });
  self->set_exit_handler([self, st](caf::exit_msg& msg) {
    if (!msg.reason)
      return; // as CAF's default handler
    for (auto& x : st->subs)
      self->send_exit(x, msg.reason);
    self->quit(std::move(msg.reason));
  });
  auto caught_up
    = [self, st](size_t i, uint64_t position) -> caf::result<uint64_t> {
    auto rp = self->make_response_promise();
    self->request(st->subs[i], caf::infinite, caught_up_atom::value, position)
      .then([rp](uint64_t x) mutable { rp.deliver(x); },
            [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
    return rp;
  };
  return {
    [self, core,
     st](events_atom, uint64_t source,
         std::vector<journal::stored_event>& events) -> caf::result<void> {
      if (source >= st->batches.size())
        return make_error(errc::invalid_argument, "projection " + core->name
                                                    + " has no source "
                                                    + std::to_string(source));
      if (events.empty())
        return caf::unit;
      auto last = events.back().position;
      for (auto& ev : events)
        core->pending.emplace_back(source, std::move(ev));
      auto rp = self->make_response_promise();
      st->batches[source].emplace_back(last, rp);
      flush(core);
      return rp;
    },
    [core](flush_atom) {
      core->retry_scheduled = false;
      flush(core);
    },
    [core](stats_atom) {
      // Its sources read several logs: their positions do not add up.
      auto result = core->stats;
      result.subscription.delivered
        = result.applied + result.passed + result.undecodable;
      return result;
    },
    [st, caught_up](caught_up_atom, uint64_t position) {
      size_t i = 0;
      while (st->sources[i].link)
        ++i;
      return caught_up(i, position);
    },
    [core, st, caught_up](caught_up_atom, const std::string& node,
                          uint64_t position) -> caf::result<uint64_t> {
      for (size_t i = 0; i < st->sources.size(); ++i)
        if (st->sources[i].node == node)
          return caught_up(i, position);
      return make_error(errc::invalid_argument,
                        "projection " + core->name + ": node '" + node
                          + "' is not a member of the cluster");
    },
  };
}

} // namespace

caf::expected<caf::actor>
spawn_cluster_projection(runtime& rt, std::string name, std::string category,
                         projection_apply fn, projection_settings settings) {
  if (auto err = check_projection(name, settings))
    return err;
  auto& node = rt.shared()->cluster;
  if (!node)
    return make_error(errc::invalid_argument,
                      "cluster projection " + name
                        + ": the runtime is not clustered (no "
                          "cluster.node-id); use cairn::start_projection");
  auto m = node->members();
  if (!m)
    return make_error(errc::invalid_argument,
                      "cluster projection " + name
                        + ": this node has not joined its cluster yet "
                          "(runtime::join)");
  auto core = std::make_shared<projection_core>();
  core->name = name;
  core->apply = std::move(fn);
  core->settings = settings;
  core->j = rt.journal();
  core->coordinator = rt.coordinator();
  std::vector<projection_source> sources;
  for (auto& id : m->ids()) {
    if (id == m->self().id) {
      core->checkpoints.push_back(projection_checkpoint(name));
      sources.push_back({id, {}});
      continue;
    }
    auto cp = cluster::projection_checkpoint(name, id);
    if (cp.size() > journal::max_checkpoint_name_size)
      return make_error(errc::invalid_argument,
                        "cluster projection " + name + ": checkpoint name " + cp
                          + " is " + std::to_string(cp.size())
                          + " bytes long, over the maximum of "
                          + std::to_string(journal::max_checkpoint_name_size)
                          + " (max_checkpoint_name_size)");
    auto link = node->link(id);
    if (!link)
      return make_error(errc::entity_unavailable, "cluster projection " + name
                                                    + ": node '" + m->self().id
                                                    + "' is stopping");
    core->checkpoints.push_back(std::move(cp));
    sources.push_back({id, std::move(link)});
  }
  return rt.system().spawn(cluster_projection_impl, std::move(core),
                           std::move(sources), rt.hub(), std::move(category));
}

} // namespace detail

} // namespace cairn
