#pragma once

#include <cstddef>
#include <cstdint>

namespace cairn::journal::detail {

/// Computes CRC32C (Castagnoli) of `size` bytes at `data`, continuing from
/// `crc` (0 for a fresh checksum). Uses SSE4.2 when the CPU has it.
uint32_t crc32c(const void* data, size_t size, uint32_t crc = 0) noexcept;

/// Computes the same as `crc32c` with tables only, without SSE4.2.
uint32_t crc32c_portable(const void* data, size_t size,
                         uint32_t crc = 0) noexcept;

} // namespace cairn::journal::detail
