#include "cairn/journal/detail/record_format.hpp"

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

} // namespace cairn::journal::detail
