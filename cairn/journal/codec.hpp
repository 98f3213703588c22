#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <ostream>
#include <streambuf>
#include <string>
#include <typeindex>
#include <typeinfo>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include <cereal/archives/binary.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/optional.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include "caf/expected.hpp"

#include "cairn/journal/errc.hpp"
#include "cairn/journal/event_record.hpp"

/// The event codec: cereal binary payloads, a registry of stable type names
/// and schema versions, and upcasters.
///
/// An event type is any struct cereal can serialize (a `serialize` member or
/// free function). Register it once with a stable name and its current
/// schema version:
///
/// ```
/// codec c;
/// c.add<invoice_sent>("invoice_sent", 2);
/// c.add_upcaster<invoice_sent_v1, invoice_sent>(
///   "invoice_sent", 1, [](invoice_sent_v1 old) { return invoice_sent{...}; });
/// ```
///
/// Decoding an event stored at version 1 then reads it as `invoice_sent_v1`,
/// converts it and returns an `invoice_sent`. Decoding never throws: bytes
/// that do not decode give `errc::corrupt_record` and an unregistered type
/// name `errc::unknown_event_type`, both naming the stream and version.
/// Decoding never allocates more than the bytes it reads justify: every
/// length read from the bytes is bounded by the bytes left.
namespace cairn::journal {

namespace detail {

/// A cereal output archive that appends to a string, writing exactly the
/// bytes of `cereal::BinaryOutputArchive`: no std::ostream (whose
/// construction initializes a locale on every call), no virtual call per
/// field.
class string_output_archive
  : public cereal::OutputArchive<string_output_archive,
                                 cereal::AllowEmptyClassElision> {
public:
  explicit string_output_archive(std::string& out)
    : OutputArchive(this), out_(out) {
    // nop
  }

  void saveBinary(const void* data, std::streamsize size) {
    out_.append(static_cast<const char*>(data), static_cast<size_t>(size));
  }

private:
  std::string& out_;
};

template <class T>
std::enable_if_t<std::is_arithmetic<T>::value>
CEREAL_SAVE_FUNCTION_NAME(string_output_archive& ar, const T& t) {
  ar.saveBinary(std::addressof(t), sizeof(t));
}

template <class T>
void CEREAL_SERIALIZE_FUNCTION_NAME(string_output_archive& ar,
                                    cereal::NameValuePair<T>& t) {
  ar(t.value);
}

template <class T>
void CEREAL_SERIALIZE_FUNCTION_NAME(string_output_archive& ar,
                                    cereal::SizeTag<T>& t) {
  ar(t.size);
}

template <class T>
void CEREAL_SAVE_FUNCTION_NAME(string_output_archive& ar,
                               const cereal::BinaryData<T>& bd) {
  ar.saveBinary(bd.data, static_cast<std::streamsize>(bd.size));
}

/// A cereal input archive over a byte range, reading the format of
/// `cereal::BinaryOutputArchive` with a bounds-checked memcpy: no
/// std::istream, no virtual call per field.
class span_input_archive
  : public cereal::InputArchive<span_input_archive,
                                cereal::AllowEmptyClassElision> {
public:
  span_input_archive(const char* data, size_t size)
    : InputArchive(this), pos_(data), end_(data + size) {
    // nop
  }

  void loadBinary(void* out, std::streamsize size) {
    auto n = static_cast<size_t>(size);
    if (n > static_cast<size_t>(end_ - pos_))
      throw cereal::Exception("Failed to read " + std::to_string(n)
                              + " bytes from input stream! Read "
                              + std::to_string(end_ - pos_));
    std::memcpy(out, pos_, n);
    pos_ += n;
  }

  size_t remaining() const noexcept {
    return static_cast<size_t>(end_ - pos_);
  }

  /// Throws when a container announces more elements than bytes are left:
  /// every element takes at least one byte, so such a length is forged,
  /// and cereal would allocate it before reading the elements.
  void check_length(uint64_t size) const {
    if (size > remaining())
      throw cereal::Exception("length " + std::to_string(size) + " exceeds the "
                              + std::to_string(remaining()) + " bytes left");
  }

private:
  const char* pos_;
  const char* end_;
};

template <class T>
std::enable_if_t<std::is_arithmetic<T>::value>
CEREAL_LOAD_FUNCTION_NAME(span_input_archive& ar, T& t) {
  ar.loadBinary(std::addressof(t), sizeof(t));
}

/// A bool is one byte, 0 or 1 as cereal writes it: any other byte is
/// corrupt (and copying it into a bool would be undefined behaviour).
inline void CEREAL_LOAD_FUNCTION_NAME(span_input_archive& ar, bool& t) {
  uint8_t x = 0;
  ar.loadBinary(&x, 1);
  if (x > 1)
    throw cereal::Exception("bool of value " + std::to_string(x));
  t = x == 1;
}

template <class T>
void CEREAL_SERIALIZE_FUNCTION_NAME(span_input_archive& ar,
                                    cereal::NameValuePair<T>& t) {
  ar(t.value);
}

/// Every container length (vectors, maps, sets, strings, ...) is checked
/// against the bytes left before the container allocates, so a forged
/// length cannot ask for gigabytes. (Containers of empty classes, whose
/// elements take no bytes, are therefore limited to as many elements as
/// bytes follow.)
template <class T>
void CEREAL_SERIALIZE_FUNCTION_NAME(span_input_archive& ar,
                                    cereal::SizeTag<T>& t) {
  ar(t.size);
  ar.check_length(static_cast<uint64_t>(t.size));
}

template <class T>
void CEREAL_LOAD_FUNCTION_NAME(span_input_archive& ar,
                               cereal::BinaryData<T>& bd) {
  ar.loadBinary(bd.data, static_cast<std::streamsize>(bd.size));
}

/// Strings check their length against the bytes left before they allocate,
/// so a corrupt length cannot ask for gigabytes.
template <class CharT, class Traits, class Alloc>
void CEREAL_LOAD_FUNCTION_NAME(span_input_archive& ar,
                               std::basic_string<CharT, Traits, Alloc>& str) {
  cereal::size_type size = 0;
  ar(cereal::make_size_tag(size));
  if (size > ar.remaining() / sizeof(CharT))
    throw cereal::Exception("string length " + std::to_string(size)
                            + " exceeds the " + std::to_string(ar.remaining())
                            + " bytes left");
  str.resize(static_cast<size_t>(size));
  ar.loadBinary(const_cast<CharT*>(str.data()),
                static_cast<std::streamsize>(size * sizeof(CharT)));
}

} // namespace detail

/// Serializes `x` with cereal's binary archive.
template <class T>
std::string to_bytes(const T& x) {
  std::string result;
  detail::string_output_archive ar{result};
  ar(x);
  return result;
}

namespace detail {

/// Returns the next type slot of this program: 0, 1, 2, ...
size_t next_type_slot() noexcept;

/// Returns a number of `T`, the same for every call in this program and
/// different from every other type's: a codec finds a type's entry by it
/// without hashing the type's name.
template <class T>
size_t type_slot() noexcept {
  static const size_t slot = next_type_slot();
  return slot;
}

/// Deserializes `out` from all of `[data, data + size)`. Returns an empty
/// string on success, else why the bytes do not decode; builds no message on
/// the success path.
template <class T>
std::string decode_payload(const char* data, size_t size, T& out) {
  span_input_archive ar{data, size};
  try {
    ar(out);
  } catch (const std::exception& ex) {
    return std::string{"payload does not decode: "} + ex.what();
  }
  if (auto n = ar.remaining(); n > 0)
    return "payload has " + std::to_string(n) + " trailing bytes";
  return {};
}

} // namespace detail

/// Deserializes a `T` from all of `bytes`. Errors: `errc::corrupt_record`
/// with `what` and the reason when the bytes do not decode or are not used
/// up.
template <class T>
caf::expected<T> from_bytes(const std::string& bytes,
                            const std::string& what = "value") {
  T result{};
  auto why = detail::decode_payload(bytes.data(), bytes.size(), result);
  if (!why.empty())
    return make_error(errc::corrupt_record, what + ": " + why);
  return result;
}

/// Registry of event types. Register everything before use; after that a
/// codec is read-only and safe to share between threads.
class codec {
public:
  // -- member types ----------------------------------------------------------

  /// Converts a payload of one schema version into the next.
  using upcaster = std::function<caf::expected<std::string>(const std::string&,
                                                            const std::string&)>;

  // -- registration ----------------------------------------------------------

  /// Registers `T` under `name` at schema version `version`. Registering a
  /// second type under the same name, or `T` under a second name, throws
  /// `std::logic_error`: it is a programming error.
  template <class T>
  codec& add(const std::string& name, uint32_t version = 1) {
    add_entry(std::type_index{typeid(T)}, name, version);
    auto slot = detail::type_slot<T>();
    if (slot >= by_slot_.size())
      by_slot_.resize(slot + 1);
    by_slot_[slot] = slot_entry{&typeid(T), entry{name, version}};
    return *this;
  }

  /// Registers how to read payloads of `name` stored at `from_version`:
  /// decode them as `From`, convert with `f` (`From -> To`) and encode the
  /// result as version `from_version + 1`. Chains run until the current
  /// version of `name`.
  template <class From, class To, class F>
  codec& add_upcaster(const std::string& name, uint32_t from_version, F f) {
    add_upcaster_fn(name, from_version,
                    [f](const std::string& bytes,
                        const std::string& what) -> caf::expected<std::string> {
                      auto old = from_bytes<From>(bytes, what);
                      if (!old)
                        return std::move(old.error());
                      return to_bytes<To>(f(std::move(*old)));
                    });
    return *this;
  }

  // -- queries ---------------------------------------------------------------

  /// Returns whether `name` is registered.
  bool knows(const std::string& name) const;

  /// Returns the registered name of `T`; throws `std::logic_error` when `T`
  /// is not registered.
  template <class T>
  const std::string& name_of() const {
    return entry_of<T>().name;
  }

  /// Returns the current schema version of `name`, 0 if unknown.
  uint32_t version_of(const std::string& name) const;

  // -- encoding --------------------------------------------------------------

  /// Encodes `x` into a record with its type name, version and payload.
  /// Throws `std::logic_error` when `T` is not registered.
  template <class T>
  event_record encode(const T& x) const {
    auto& e = entry_of<T>();
    event_record rec;
    rec.type = e.name;
    rec.schema_version = e.version;
    rec.payload = to_bytes(x);
    return rec;
  }

  // -- decoding --------------------------------------------------------------

  /// Returns the payload of `ev` raised to the current version of its type.
  /// Errors: `unknown_event_type`, `corrupt_record` (also for a stored
  /// version newer than the registered one, or a missing upcaster).
  caf::expected<std::string> upcast(const stored_event& ev) const;

  /// Decodes `ev` as a `T`. Errors as `upcast`, and `corrupt_record` when
  /// `ev` holds another type.
  template <class T>
  caf::expected<T> decode(const stored_event& ev) const {
    auto& e = entry_of<T>();
    if (ev.record.type != e.name) {
      if (!knows(ev.record.type))
        return unknown_type(ev);
      return make_error(errc::corrupt_record,
                        where(ev) + ": holds " + ev.record.type
                          + ", expected " + e.name);
    }
    const std::string* bytes = &ev.record.payload;
    caf::expected<std::string> raised{std::string{}};
    if (ev.record.schema_version != e.version) {
      raised = upcast(ev);
      if (!raised)
        return std::move(raised.error());
      bytes = &*raised;
    }
    T result{};
    auto why = detail::decode_payload(bytes->data(), bytes->size(), result);
    if (!why.empty())
      return make_error(errc::corrupt_record, where(ev) + ": " + why);
    return result;
  }

  /// Decodes `ev` as whichever of `Ts...` its type name names.
  template <class... Ts>
  caf::expected<std::variant<Ts...>> decode_variant(const stored_event& ev)
    const {
    caf::expected<std::variant<Ts...>> result{caf::error{}};
    bool found = false;
    (try_alternative<Ts>(ev, result, found), ...);
    if (!found) {
      if (!knows(ev.record.type))
        return unknown_type(ev);
      return make_error(errc::corrupt_record,
                        where(ev) + ": type " + ev.record.type
                          + " is not one this reader handles");
    }
    return result;
  }

  /// Names an event for error messages: `"stream order-1 version 3"`.
  static std::string where(const stored_event& ev);

private:
  struct entry {
    std::string name;
    uint32_t version = 1;
  };

  template <class T, class Variant>
  void try_alternative(const stored_event& ev, caf::expected<Variant>& out,
                       bool& found) const {
    if (found)
      return;
    auto& e = entry_of<T>();
    if (e.name != ev.record.type)
      return;
    found = true;
    auto x = decode<T>(ev);
    if (x)
      out = Variant{std::move(*x)};
    else
      out = std::move(x.error());
  }

  void add_entry(std::type_index type, const std::string& name,
                 uint32_t version);

  void add_upcaster_fn(const std::string& name, uint32_t from_version,
                       upcaster fn);

  const entry& entry_of(std::type_index type) const;

  /// The entry of `T`: by `T`'s slot, without hashing its name; through the
  /// map when the slot holds another type (a slot is a number per program,
  /// and a library built apart may number its types apart) or none.
  template <class T>
  const entry& entry_of() const {
    auto slot = detail::type_slot<T>();
    if (slot < by_slot_.size()) {
      auto& x = by_slot_[slot];
      if (x.type != nullptr && *x.type == typeid(T))
        return x.value;
    }
    return entry_of(std::type_index{typeid(T)});
  }

  static caf::error unknown_type(const stored_event& ev);

  /// The registered types by slot (`detail::type_slot`), beside `by_type_`.
  struct slot_entry {
    const std::type_info* type = nullptr;
    entry value;
  };

  std::unordered_map<std::type_index, entry> by_type_;
  std::vector<slot_entry> by_slot_;
  std::unordered_map<std::string, uint32_t> versions_;
  std::map<std::pair<std::string, uint32_t>, upcaster> upcasters_;
};

} // namespace cairn::journal

CEREAL_REGISTER_ARCHIVE(cairn::journal::detail::span_input_archive)
CEREAL_REGISTER_ARCHIVE(cairn::journal::detail::string_output_archive)

namespace cereal::traits::detail {
template <>
struct get_output_from_input<cairn::journal::detail::span_input_archive> {
  using type = cereal::BinaryOutputArchive;
};
template <>
struct get_input_from_output<cairn::journal::detail::string_output_archive> {
  using type = cairn::journal::detail::span_input_archive;
};
} // namespace cereal::traits::detail
