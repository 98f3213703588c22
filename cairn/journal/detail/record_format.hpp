#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "cairn/journal/event_record.hpp"

/// Encoding and decoding of stored event records (format documented in
/// cairn/journal/event_record.hpp).
namespace cairn::journal::detail {

/// Size of the fixed part of an encoded record.
constexpr size_t record_header_size = 4 + 1 + 8 + 8 + 4 + 2 + 2 + 2 + 4 + 4;

/// The record format byte this build writes.
constexpr uint8_t record_format = 1;

/// Returns the encoded size of `rec`, or 0 if a field exceeds its length
/// field (a type name or id over 65535 bytes, metadata or payload over 4 GiB).
size_t encoded_size(const event_record& rec) noexcept;

/// Encodes `rec` at `out`, which has room for `encoded_size(rec)` bytes,
/// with global position `position` and timestamp `timestamp_ns`.
void encode_record(const event_record& rec, uint64_t position,
                   int64_t timestamp_ns, char* out) noexcept;

/// Decodes `size` bytes at `data` into `out` and `position`. Checks the CRC,
/// the format byte and every length against `size`; never reads out of
/// bounds. Returns an empty string on success, else what was wrong.
std::string decode_record(const char* data, size_t size, event_record& out,
                          uint64_t& position);

/// Like `decode_record`, with the same checks, into views of `data`.
std::string decode_record(const char* data, size_t size, record_view& out,
                          uint64_t& position);

} // namespace cairn::journal::detail
