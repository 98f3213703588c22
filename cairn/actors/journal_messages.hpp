#pragma once

#include <cstdint>

#include "caf/error.hpp"
#include "caf/meta/load_callback.hpp"
#include "caf/meta/type_name.hpp"

#include "cairn/journal/event_record.hpp"
#include "cairn/journal/write_group.hpp"

/// CAF `inspect` overloads for the journal's value types, so that they can
/// travel in actor messages (and across nodes). They live here, not in
/// cairn/journal/, which stays free of actor code.
namespace cairn::journal {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, event_record& x) {
  return f(caf::meta::type_name("cairn.event_record"), x.type,
           x.schema_version, x.timestamp_ns, x.correlation_id, x.causation_id,
           x.metadata, x.payload);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stored_event& x) {
  return f(caf::meta::type_name("cairn.stored_event"), x.stream, x.version,
           x.position, x.record);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, expected_version& x) {
  auto k = static_cast<uint8_t>(x.what());
  auto v = x.value();
  auto load = caf::meta::load_callback([&]() -> caf::error {
    x = expected_version::from_parts(static_cast<expected_version::kind>(k),
                                     v);
    return caf::none;
  });
  return f(caf::meta::type_name("cairn.expected_version"), k, v, load);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, append& x) {
  return f(caf::meta::type_name("cairn.append"), x.stream, x.expected,
           x.events);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, snapshot& x) {
  return f(caf::meta::type_name("cairn.snapshot"), x.stream, x.version, x.type,
           x.payload);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, table_write& x) {
  return f(caf::meta::type_name("cairn.table_write"), x.table, x.key, x.value,
           x.erase);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, write_group& x) {
  return f(caf::meta::type_name("cairn.write_group"), x.appends,
           x.checkpoints, x.dedup_keys, x.snapshots, x.tables);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, append_result& x) {
  return f(caf::meta::type_name("cairn.append_result"), x.stream,
           x.first_version, x.last_version, x.first_position);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, group_receipt& x) {
  return f(caf::meta::type_name("cairn.group_receipt"), x.appends);
}

} // namespace cairn::journal
