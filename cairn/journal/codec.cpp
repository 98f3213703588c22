#include "cairn/journal/codec.hpp"

#include <atomic>
#include <stdexcept>

namespace cairn::journal {

size_t detail::next_type_slot() noexcept {
  static std::atomic<size_t> next{0};
  return next.fetch_add(1, std::memory_order_relaxed);
}

void codec::add_entry(std::type_index type, const std::string& name,
                      uint32_t version) {
  if (name.empty())
    throw std::logic_error("codec: an event type name must not be empty");
  if (version == 0)
    throw std::logic_error("codec: schema versions start at 1 (" + name + ")");
  if (by_type_.count(type) > 0)
    throw std::logic_error("codec: type already registered as "
                           + by_type_.at(type).name + ", cannot add as "
                           + name);
  if (versions_.count(name) > 0)
    throw std::logic_error("codec: name " + name
                           + " is already taken by another type");
  by_type_.emplace(type, entry{name, version});
  versions_.emplace(name, version);
}

void codec::add_upcaster_fn(const std::string& name, uint32_t from_version,
                            upcaster fn) {
  auto key = std::make_pair(name, from_version);
  if (upcasters_.count(key) > 0)
    throw std::logic_error("codec: an upcaster for " + name + " version "
                           + std::to_string(from_version) + " exists");
  upcasters_.emplace(std::move(key), std::move(fn));
}

const codec::entry& codec::entry_of(std::type_index type) const {
  auto i = by_type_.find(type);
  if (i == by_type_.end())
    throw std::logic_error(std::string{"codec: type "} + type.name()
                           + " is not registered");
  return i->second;
}

bool codec::knows(const std::string& name) const {
  return versions_.count(name) > 0;
}

uint32_t codec::version_of(const std::string& name) const {
  auto i = versions_.find(name);
  return i == versions_.end() ? 0 : i->second;
}

std::string codec::where(const stored_event& ev) {
  return "stream " + ev.stream + " version " + std::to_string(ev.version);
}

caf::error codec::unknown_type(const stored_event& ev) {
  return make_error(errc::unknown_event_type,
                    where(ev) + ": event type '" + ev.record.type
                      + "' is not registered");
}

caf::expected<std::string> codec::upcast(const stored_event& ev) const {
  auto i = versions_.find(ev.record.type);
  if (i == versions_.end())
    return unknown_type(ev);
  auto current = i->second;
  auto v = ev.record.schema_version;
  if (v > current)
    return make_error(errc::corrupt_record,
                      where(ev) + ": " + ev.record.type + " has schema version "
                        + std::to_string(v) + ", newer than the registered "
                        + std::to_string(current));
  if (v == 0)
    return make_error(errc::corrupt_record,
                      where(ev) + ": schema version 0 is invalid");
  std::string bytes = ev.record.payload;
  for (; v < current; ++v) {
    auto j = upcasters_.find(std::make_pair(ev.record.type, v));
    if (j == upcasters_.end())
      return make_error(errc::corrupt_record,
                        where(ev) + ": no upcaster for " + ev.record.type
                          + " from version " + std::to_string(v));
    auto next = j->second(bytes, where(ev));
    if (!next)
      return std::move(next.error());
    bytes = std::move(*next);
  }
  return bytes;
}

} // namespace cairn::journal
