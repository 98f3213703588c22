#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "cairn/journal/write_group.hpp"

/// Encoding and decoding of the checked values of the `snapshots` and
/// `tables` databases.
namespace cairn::journal::detail {

// -- snapshots ----------------------------------------------------------------
//
// A `snapshots` value, keyed by the stream name:
//
// | bytes | field                                                        |
// |-------|--------------------------------------------------------------|
// | 1     | layout, `snapshot_layout`                                    |
// | 4     | CRC32C (u32 LE) of the stream name, then of all bytes after it |
// | 8     | version (u64 BE)                                             |
// | 4     | schema version of the state type (u32 LE)                    |
// | 2     | type name length n (u16 LE)                                  |
// | n     | type name                                                    |
// | rest  | payload                                                      |
//
// Journals of earlier builds stored `version (u64 BE), n (u16 LE), type,
// payload` without a checksum. Their first byte, the high byte of the
// version, is 0, so the layouts cannot be confused; such values still read,
// with schema version 1.

/// The first byte of a checked snapshot value.
constexpr uint8_t snapshot_layout = 0x81;

/// Size of the fixed part of a checked snapshot value.
constexpr size_t snapshot_header_size = 1 + 4 + 8 + 4 + 2;

/// Encodes `s` as the `snapshots` value of `s.stream`.
/// REQUIRES: `s.type.size()` fits in 16 bits.
std::string encode_snapshot(const snapshot& s);

/// Decodes the `snapshots` value `bytes` of `stream` into `out` (all fields
/// but `out.stream`). Checks the layout, every length and the checksum;
/// never reads out of bounds. Returns an empty string on success, else what
/// is wrong.
std::string decode_snapshot(std::string_view stream, std::string_view bytes,
                            snapshot& out);

/// Reads the version of the `snapshots` value `bytes` of `stream`, checking
/// its checksum (without copying type or payload). False if the value is
/// malformed or fails its checksum.
bool snapshot_version(std::string_view stream, std::string_view bytes,
                      uint64_t& out) noexcept;

// -- tables -------------------------------------------------------------------
//
// A `tables` value is a CRC32C (u32 LE) of its key (table, 0, key), then of
// the application's value, followed by that value. Journals of earlier
// builds stored the bare value; `journal::open` rewrites such values once
// (see `table_values_key`).

/// Size of the checksum before a table value.
constexpr size_t table_value_header_size = 4;

/// Encodes `value` as the `tables` value of `key` (the full `tables` key).
std::string encode_table_value(std::string_view key, std::string_view value);

/// Checks the `tables` value `stored` of `key` and stores the application's
/// value in `value` (a view into `stored`). Returns an empty string on
/// success, else what is wrong.
std::string decode_table_value(std::string_view key, std::string_view stored,
                               std::string_view& value);

} // namespace cairn::journal::detail
