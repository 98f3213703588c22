#include "cairn/journal/detail/record_format.hpp"

#include <cstring>
#include <limits>

#include "cairn/journal/detail/bytes.hpp"
#include "cairn/journal/detail/crc32c.hpp"

namespace cairn::journal::detail {

size_t encoded_size(const event_record& rec) noexcept {
  constexpr size_t max16 = std::numeric_limits<uint16_t>::max();
  constexpr size_t max32 = std::numeric_limits<uint32_t>::max();
  if (rec.type.size() > max16 || rec.correlation_id.size() > max16
      || rec.causation_id.size() > max16 || rec.metadata.size() > max32
      || rec.payload.size() > max32)
    return 0;
  return record_header_size + rec.type.size() + rec.correlation_id.size()
         + rec.causation_id.size() + rec.metadata.size() + rec.payload.size();
}

namespace {

template <class Len>
char* put_field(char* out, const std::string& str) noexcept {
  put_le<Len>(out, static_cast<Len>(str.size()));
  out += sizeof(Len);
  std::memcpy(out, str.data(), str.size());
  return out + str.size();
}

} // namespace

void encode_record(const event_record& rec, uint64_t position,
                   int64_t timestamp_ns, char* out) noexcept {
  char* p = out + 4;
  *p++ = static_cast<char>(record_format);
  put_le<uint64_t>(p, position);
  p += 8;
  put_le<int64_t>(p, timestamp_ns);
  p += 8;
  put_le<uint32_t>(p, rec.schema_version);
  p += 4;
  p = put_field<uint16_t>(p, rec.type);
  p = put_field<uint16_t>(p, rec.correlation_id);
  p = put_field<uint16_t>(p, rec.causation_id);
  p = put_field<uint32_t>(p, rec.metadata);
  p = put_field<uint32_t>(p, rec.payload);
  put_le<uint32_t>(out, crc32c(out + 4, static_cast<size_t>(p - out - 4)));
}

namespace {

class reader {
public:
  reader(const char* data, size_t size) : pos_(data), end_(data + size) {
    // nop
  }

  template <class T>
  bool read(T& x) noexcept {
    if (static_cast<size_t>(end_ - pos_) < sizeof(T))
      return false;
    x = get_le<T>(pos_);
    pos_ += sizeof(T);
    return true;
  }

  template <class Len>
  bool read_field(std::string& out) {
    Len len;
    if (!read(len) || static_cast<size_t>(end_ - pos_) < len)
      return false;
    out.assign(pos_, len);
    pos_ += len;
    return true;
  }

  template <class Len>
  bool read_field(std::string_view& out) {
    Len len;
    if (!read(len) || static_cast<size_t>(end_ - pos_) < len)
      return false;
    out = std::string_view{pos_, len};
    pos_ += len;
    return true;
  }

  bool at_end() const noexcept {
    return pos_ == end_;
  }

private:
  const char* pos_;
  const char* end_;
};

} // namespace

namespace {

/// Decodes into an `event_record` or a `record_view`: the same checks.
template <class Record>
std::string decode_any(const char* data, size_t size, Record& out,
                       uint64_t& position) {
  if (size < record_header_size)
    return "record of " + std::to_string(size) + " bytes is shorter than "
           + std::to_string(record_header_size);
  auto stored_crc = get_le<uint32_t>(data);
  auto actual_crc = crc32c(data + 4, size - 4);
  if (stored_crc != actual_crc)
    return "checksum mismatch";
  reader r{data + 4, size - 4};
  uint8_t fmt = 0;
  r.read(fmt);
  if (fmt != record_format)
    return "unknown record format " + std::to_string(fmt);
  if (!r.read(position) || !r.read(out.timestamp_ns)
      || !r.read(out.schema_version) || !r.read_field<uint16_t>(out.type)
      || !r.read_field<uint16_t>(out.correlation_id)
      || !r.read_field<uint16_t>(out.causation_id)
      || !r.read_field<uint32_t>(out.metadata)
      || !r.read_field<uint32_t>(out.payload))
    return "a field length runs past the end of the record";
  if (!r.at_end())
    return "trailing bytes after the payload";
  return {};
}

} // namespace

std::string decode_record(const char* data, size_t size, event_record& out,
                          uint64_t& position) {
  return decode_any(data, size, out, position);
}

std::string decode_record(const char* data, size_t size, record_view& out,
                          uint64_t& position) {
  return decode_any(data, size, out, position);
}

// -- log values --------------------------------------------------------------

namespace {

constexpr uint64_t max16 = std::numeric_limits<uint16_t>::max();
constexpr uint64_t max32 = std::numeric_limits<uint32_t>::max();

/// Bytes of `x` as a varint.
size_t varint_size(uint64_t x) noexcept {
  size_t n = 1;
  while (x >= 0x80) {
    x >>= 7;
    ++n;
  }
  return n;
}

/// The checksum and the format byte: what precedes the varints.
constexpr size_t compact_fixed = 1 + 4;

/// Reads a varint written as `put_varint` writes it: a longer encoding of
/// the same number (trailing zero groups) is refused, so that a value that
/// decodes is the one encoding of what it holds. A multi-byte encoding is
/// the shortest exactly when its last byte is not 0.
inline bool get_canonical(const char*& pos, const char* end,
                          uint64_t& x) noexcept {
  if (pos != end && static_cast<uint8_t>(*pos) < 0x80) {
    x = static_cast<uint8_t>(*pos++);
    return true;
  }
  return get_varint(pos, end, x) && pos[-1] != 0;
}

void assign(std::string& out, const char* data, size_t size) {
  out.assign(data, size);
}

void assign(std::string_view& out, const char* data, size_t size) {
  out = std::string_view{data, size};
}

/// Reads a varint length of at most `limit` and that many bytes.
template <class Str>
bool get_field(const char*& pos, const char* end, uint64_t limit, Str& out) {
  uint64_t len = 0;
  if (!get_canonical(pos, end, len) || len > limit
      || len > static_cast<uint64_t>(end - pos))
    return false;
  assign(out, pos, static_cast<size_t>(len));
  pos += len;
  return true;
}

template <class Record>
std::string decode_compact(const char* data, size_t size, uint64_t& id,
                           uint64_t& seq, Record& out, uint64_t& position) {
  if (size < compact_fixed)
    return "log value of " + std::to_string(size)
           + " bytes is shorter than its header";
  if (get_le<uint32_t>(data + 1) != crc32c(data + 5, size - 5))
    return "checksum mismatch";
  auto pos = data + compact_fixed;
  auto end = data + size;
  if (!get_canonical(pos, end, id) || !get_canonical(pos, end, seq)
      || !get_canonical(pos, end, position))
    return "a bad stream id, version or position in the record";
  if (end - pos < 8)
    return "the record ends before its timestamp";
  out.timestamp_ns = get_le<int64_t>(pos);
  pos += 8;
  uint64_t schema = 0;
  if (!get_canonical(pos, end, schema) || schema > max32)
    return "a bad schema version in the record";
  out.schema_version = static_cast<uint32_t>(schema);
  if (!get_field(pos, end, max16, out.type)
      || !get_field(pos, end, max16, out.correlation_id)
      || !get_field(pos, end, max16, out.causation_id)
      || !get_field(pos, end, max32, out.metadata))
    return "a field length runs past the end of the record";
  if (static_cast<uint64_t>(end - pos) > max32)
    return "a payload over 4 GiB";
  assign(out.payload, pos, static_cast<size_t>(end - pos));
  return {};
}

template <class Record>
std::string decode_any_value(const char* data, size_t size, uint64_t& id,
                             uint64_t& seq, Record& out, uint64_t& position) {
  if (size == 0)
    return "empty log value";
  auto layout = static_cast<uint8_t>(data[0]);
  if (layout == compact_record_format)
    return decode_compact(data, size, id, seq, out, position);
  if (layout != 0)
    return "unknown log value format " + std::to_string(layout);
  if (size < prefixed_value_header)
    return "log value of " + std::to_string(size)
           + " bytes is shorter than its stream prefix";
  id = get_be64(data);
  seq = get_be64(data + 8);
  return decode_record(data + prefixed_value_header,
                       size - prefixed_value_header, out, position);
}

} // namespace

size_t log_value_size(const event_record& rec, uint64_t id, uint64_t seq,
                      uint64_t position) noexcept {
  if (rec.type.size() > max16 || rec.correlation_id.size() > max16
      || rec.causation_id.size() > max16 || rec.metadata.size() > max32
      || rec.payload.size() > max32)
    return 0;
  return compact_fixed + varint_size(id) + varint_size(seq)
         + varint_size(position) + 8 + varint_size(rec.schema_version)
         + varint_size(rec.type.size()) + rec.type.size()
         + varint_size(rec.correlation_id.size()) + rec.correlation_id.size()
         + varint_size(rec.causation_id.size()) + rec.causation_id.size()
         + varint_size(rec.metadata.size()) + rec.metadata.size()
         + rec.payload.size();
}

void encode_log_value(const event_record& rec, uint64_t id, uint64_t seq,
                      uint64_t position, int64_t timestamp_ns,
                      char* out) noexcept {
  out[0] = static_cast<char>(compact_record_format);
  char* p = out + compact_fixed;
  p = put_varint(p, id);
  p = put_varint(p, seq);
  p = put_varint(p, position);
  put_le<int64_t>(p, timestamp_ns);
  p += 8;
  p = put_varint(p, rec.schema_version);
  for (auto str : {&rec.type, &rec.correlation_id, &rec.causation_id,
                   &rec.metadata}) {
    p = put_varint(p, str->size());
    std::memcpy(p, str->data(), str->size());
    p += str->size();
  }
  std::memcpy(p, rec.payload.data(), rec.payload.size());
  p += rec.payload.size();
  put_le<uint32_t>(out + 1, crc32c(out + compact_fixed,
                                   static_cast<size_t>(p - out)
                                     - compact_fixed));
}

bool log_value_key(const char* data, size_t size, uint64_t& id,
                   uint64_t& seq) noexcept {
  if (size == 0)
    return false;
  auto layout = static_cast<uint8_t>(data[0]);
  if (layout == compact_record_format) {
    if (size < compact_fixed)
      return false;
    auto pos = data + compact_fixed;
    auto end = data + size;
    return get_canonical(pos, end, id) && get_canonical(pos, end, seq);
  }
  if (layout != 0 || size < prefixed_value_header)
    return false;
  id = get_be64(data);
  seq = get_be64(data + 8);
  return true;
}

std::string decode_log_value(const char* data, size_t size, uint64_t& id,
                             uint64_t& seq, event_record& out,
                             uint64_t& position) {
  return decode_any_value(data, size, id, seq, out, position);
}

std::string decode_log_value(const char* data, size_t size, uint64_t& id,
                             uint64_t& seq, record_view& out,
                             uint64_t& position) {
  return decode_any_value(data, size, id, seq, out, position);
}

} // namespace cairn::journal::detail
