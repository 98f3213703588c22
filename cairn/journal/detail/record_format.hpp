#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "cairn/journal/event_record.hpp"

/// Encoding and decoding of stored event records and of the `log` values
/// that hold them (formats documented in cairn/journal/event_record.hpp).
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

// -- log values --------------------------------------------------------------

/// The first byte of a `log` value of journal format 5 and later: its
/// record format, the compact one. A value of formats 2 to 4 starts with
/// the high byte of its stream id, which is 0.
constexpr uint8_t compact_record_format = 2;

/// Size of the (stream id, version) prefix of a `log` value of formats 2
/// to 4, before its record of format 1.
constexpr size_t prefixed_value_header = 16;

/// Returns the size of the compact `log` value of `rec` as version `seq` of
/// stream `id` at log position `position`, or 0 if a field exceeds its
/// limit (the limits of `encoded_size`).
size_t log_value_size(const event_record& rec, uint64_t id, uint64_t seq,
                      uint64_t position) noexcept;

/// Encodes the compact `log` value of `rec` at `out`, which has room for
/// `log_value_size(rec, id, seq, position)` bytes.
void encode_log_value(const event_record& rec, uint64_t id, uint64_t seq,
                      uint64_t position, int64_t timestamp_ns,
                      char* out) noexcept;

/// Reads the stream id and version of a `log` value of either layout,
/// without checking its checksum (the decode does). False if the value is
/// too short for them or of an unknown layout.
bool log_value_key(const char* data, size_t size, uint64_t& id,
                   uint64_t& seq) noexcept;

/// Decodes a `log` value of either layout: the compact one of format 5,
/// or a 16-byte (stream id, version) prefix and a record of format 1.
/// Checks the checksum and every length; never reads out of bounds.
/// Returns an empty string on success, else what was wrong.
std::string decode_log_value(const char* data, size_t size, uint64_t& id,
                             uint64_t& seq, event_record& out,
                             uint64_t& position);

/// Like `decode_log_value`, with the same checks, into views of `data`.
std::string decode_log_value(const char* data, size_t size, uint64_t& id,
                             uint64_t& seq, record_view& out,
                             uint64_t& position);

} // namespace cairn::journal::detail
