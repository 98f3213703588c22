#include "cairn/journal/detail/value_format.hpp"

#include <cstring>

#include "cairn/journal/detail/bytes.hpp"
#include "cairn/journal/detail/crc32c.hpp"

namespace cairn::journal::detail {

namespace {

uint32_t checksum(std::string_view key, const char* data,
                  size_t size) noexcept {
  return crc32c(data, size, crc32c(key.data(), key.size()));
}

} // namespace

std::string encode_snapshot(const snapshot& s) {
  std::string buf;
  buf.resize(snapshot_header_size + s.type.size() + s.payload.size());
  auto out = buf.data();
  out[0] = static_cast<char>(snapshot_layout);
  put_be64(out + 5, s.version);
  put_le<uint32_t>(out + 13, s.schema_version);
  put_le<uint16_t>(out + 17, static_cast<uint16_t>(s.type.size()));
  std::memcpy(out + snapshot_header_size, s.type.data(), s.type.size());
  std::memcpy(out + snapshot_header_size + s.type.size(), s.payload.data(),
              s.payload.size());
  put_le<uint32_t>(out + 1, checksum(s.stream, out + 5, buf.size() - 5));
  return buf;
}

std::string decode_snapshot(std::string_view stream, std::string_view bytes,
                            snapshot& out) {
  if (bytes.empty())
    return "empty value";
  auto data = bytes.data();
  if (static_cast<uint8_t>(data[0]) == 0) {
    // The layout of earlier builds, without checksum.
    if (bytes.size() < 10)
      return "too short";
    auto type_len = get_le<uint16_t>(data + 8);
    if (bytes.size() < 10u + type_len)
      return "type name runs past the end";
    out.version = get_be64(data);
    out.schema_version = 1;
    out.type.assign(data + 10, type_len);
    out.payload.assign(data + 10 + type_len, bytes.size() - 10 - type_len);
    return {};
  }
  if (static_cast<uint8_t>(data[0]) != snapshot_layout)
    return "unknown layout " + std::to_string(static_cast<uint8_t>(data[0]));
  if (bytes.size() < snapshot_header_size)
    return "too short";
  auto stored = get_le<uint32_t>(data + 1);
  if (checksum(stream, data + 5, bytes.size() - 5) != stored)
    return "checksum mismatch";
  auto type_len = get_le<uint16_t>(data + 17);
  if (bytes.size() < snapshot_header_size + type_len)
    return "type name runs past the end";
  out.version = get_be64(data + 5);
  out.schema_version = get_le<uint32_t>(data + 13);
  out.type.assign(data + snapshot_header_size, type_len);
  auto rest = snapshot_header_size + type_len;
  out.payload.assign(data + rest, bytes.size() - rest);
  return {};
}

bool snapshot_version(std::string_view stream, std::string_view bytes,
                      uint64_t& out) noexcept {
  if (bytes.empty())
    return false;
  auto data = bytes.data();
  if (static_cast<uint8_t>(data[0]) == snapshot_layout) {
    if (bytes.size() < snapshot_header_size
        || checksum(stream, data + 5, bytes.size() - 5)
             != get_le<uint32_t>(data + 1)
        || bytes.size() < snapshot_header_size + get_le<uint16_t>(data + 17))
      return false;
    out = get_be64(data + 5);
    return true;
  }
  if (static_cast<uint8_t>(data[0]) != 0 || bytes.size() < 10
      || bytes.size() < 10u + get_le<uint16_t>(data + 8))
    return false;
  out = get_be64(data);
  return true;
}

std::string encode_table_value(std::string_view key, std::string_view value) {
  std::string buf;
  buf.resize(table_value_header_size + value.size());
  std::memcpy(buf.data() + table_value_header_size, value.data(), value.size());
  put_le<uint32_t>(buf.data(), checksum(key, value.data(), value.size()));
  return buf;
}

std::string decode_table_value(std::string_view key, std::string_view stored,
                               std::string_view& value) {
  if (stored.size() < table_value_header_size)
    return "too short";
  value = stored.substr(table_value_header_size);
  if (checksum(key, value.data(), value.size())
      != get_le<uint32_t>(stored.data()))
    return "checksum mismatch";
  return {};
}

} // namespace cairn::journal::detail
