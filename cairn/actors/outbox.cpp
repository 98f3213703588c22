#include "cairn/actors/outbox.hpp"

#include <algorithm>
#include <iostream>
#include <map>

#include "caf/all.hpp"

#include "cairn/actors/aggregate.hpp"
#include "cairn/actors/atoms.hpp"
#include "cairn/journal/log.hpp"

namespace cairn {

namespace {

struct dispatcher_state {
  std::shared_ptr<journal::journal> j;
  coordinator_actor coordinator;
  remote_resolver resolve;
  outbox_settings settings;
  /// Rows being delivered or waiting for a retry, by key.
  std::map<std::string, outbox_entry> busy;
  uint64_t delivered = 0;
  uint64_t duplicates = 0;
  uint64_t retries = 0;
  uint64_t corrupt = 0;
  static inline const char* name = "cairn.outbox_dispatcher";
};

using pointer = caf::stateful_actor<dispatcher_state>*;

/// Whether a delivery that failed with `err` should be tried again, rather
/// than recorded as a rejection.
bool transient(const caf::error& err) {
  if (err.category() == caf::atom("system"))
    return true; // CAF's own: timeout, peer down, unreachable
  switch (code_of(err)) {
    case errc::overloaded:
    case errc::timeout:
    case errc::entity_unavailable:
    case errc::storage_error:
    case errc::journal_failed:
    case errc::conflict:
      return true;
    default:
      return false; // a rejection, or an error of the user's domain
  }
}

void retry(pointer self, const std::string& key, caf::timespan delay) {
  ++self->state.retries;
  auto next = std::min(delay * 2, self->state.settings.max_retry);
  self->delayed_send(self, delay, tick_atom::value, key, next);
}

/// Commits the outcome with the erasure of the outbox row.
void record(pointer self, const std::string& key, bool accepted,
            std::string why) {
  auto& st = self->state;
  auto& entry = st.busy.at(key);
  journal::write_group g;
  g.tables.push_back(journal::table_write{outbox_table, key, {}, true});
  g.dedup_keys.push_back(std::string{outcome_category} + ":" + key);
  journal::append a;
  a.stream = std::string{outcome_category} + "-" + entry.manager + "-"
             + entry.instance;
  journal::event_record rec;
  rec.type = remote_outcome::event_name;
  rec.payload = journal::to_bytes(
    remote_outcome{key, entry.manager, entry.instance, entry.category,
                   entry.entity, accepted, std::move(why)});
  a.events.push_back(std::move(rec));
  g.appends.push_back(std::move(a));
  auto done = [self, key] { self->state.busy.erase(key); };
  self->request(st.coordinator, caf::infinite, commit_atom::value, g)
    .then(
      [self, done](journal::group_receipt&) {
        ++self->state.delivered;
        done();
      },
      [self, key, done](caf::error& err) {
        if (code_of(err) == errc::duplicate) {
          // The outcome was recorded before (the row survived a crash):
          // only the row is left to erase.
          journal::write_group erase;
          erase.tables.push_back(
            journal::table_write{outbox_table, key, {}, true});
          self
            ->request(self->state.coordinator, caf::infinite,
                      commit_atom::value, erase)
            .then([done](journal::group_receipt&) { done(); },
                  [done](caf::error&) { done(); });
          return;
        }
        // The journal failed: the row stays, and the next start delivers
        // it again.
        log::error("outbox", "cannot record the outcome of " + key + ": "
                               + describe(err));
        done();
      });
}

/// Delivers the row `key` of `busy` (again).
void deliver(pointer self, const std::string& key, caf::timespan delay) {
  auto& st = self->state;
  auto i = st.busy.find(key);
  if (i == st.busy.end())
    return;
  auto& entry = i->second;
  auto target = st.resolve(entry.category);
  if (!target) {
    // Not routed (yet): keep the row and try again later.
    retry(self, key, delay);
    return;
  }
  auto msg = caf::make_message(entity_id{entry.entity}, deliver_atom::value,
                               key, entry.index, entry.bytes);
  self->request(target, st.settings.delivery_timeout, std::move(msg))
    .then([self, key](caf::message&) { record(self, key, true, {}); },
          [self, key, delay](caf::error& err) {
            if (err == caf::sec::unexpected_response) {
              // The target answered with a value. CAF 0.17 has no catch-all
              // response handler: the handler above does not take a reply
              // such as `(int64_t)`, which arrives here instead. Taken as a
              // failure, it would be delivered again: no second effect
              // where the target stored the key, but one more round trip
              // each time, and an answer that stores nothing would be
              // retried for ever.
              record(self, key, true, {});
            } else if (code_of(err) == errc::duplicate
                       && context_of(err).find(key) != std::string::npos) {
              // This very command took effect at an earlier delivery: the
              // target found its key.
              ++self->state.duplicates;
              record(self, key, true, {});
            } else if (transient(err)) {
              retry(self, key, delay);
            } else {
              record(self, key, false, describe(err));
            }
          });
}

void start_delivery(pointer self, std::string key, const std::string& bytes) {
  auto& st = self->state;
  if (st.busy.count(key) > 0)
    return;
  auto entry = journal::from_bytes<outbox_entry>(bytes, "outbox row " + key);
  if (!entry) {
    // Left in the table for inspection; the others go on.
    ++st.corrupt;
    log::warning("outbox", describe(entry.error()));
    return;
  }
  st.busy.emplace(key, std::move(*entry));
  deliver(self, key, st.settings.first_retry);
}

caf::behavior dispatcher_impl(pointer self, std::shared_ptr<journal::journal> j,
                              coordinator_actor coordinator,
                              remote_resolver resolve,
                              outbox_settings settings) {
  auto& st = self->state;
  st.j = std::move(j);
  st.coordinator = std::move(coordinator);
  st.resolve = std::move(resolve);
  st.settings = settings;
  // Commands committed by an earlier run and not yet delivered.
  if (auto rows = st.j->table_scan(outbox_table)) {
    for (auto& [key, bytes] : *rows)
      start_delivery(self, key, bytes);
  }
  return {
    [self](outbox_atom, std::string& key, std::string& bytes) {
      start_delivery(self, std::move(key), bytes);
    },
    [self](tick_atom, const std::string& key, caf::timespan next) {
      deliver(self, key, next);
    },
    [self](stats_atom) {
      auto& st = self->state;
      return caf::make_message(st.delivered, st.duplicates, st.retries,
                               static_cast<uint64_t>(st.busy.size()),
                               st.corrupt);
    },
  };
}

} // namespace

caf::actor spawn_outbox_dispatcher(caf::actor_system& sys,
                                   std::shared_ptr<journal::journal> j,
                                   coordinator_actor coordinator,
                                   remote_resolver resolve,
                                   outbox_settings settings) {
  return sys.spawn(dispatcher_impl, std::move(j), std::move(coordinator),
                   std::move(resolve), settings);
}

} // namespace cairn
