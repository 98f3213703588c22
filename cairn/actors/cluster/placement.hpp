#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

/// Placement: where an entity lives in a cluster, as pure functions.
///
/// Every node computes the same answer from the same membership, without a
/// coordinator and without talking to the others:
///
/// - `shard_of(category, id, shards)`: a stable 64-bit hash of the entity's
///   category and id, modulo the number of shards (`cluster.shards`);
/// - `owner_of(shard, members)`: rendezvous (highest random weight) hashing
///   of the shard over the member ids: every member gets a weight per
///   shard, the highest weight owns it.
///
/// Rendezvous hashing moves only the shards the new member wins when a
/// member is added (about `1 / (n + 1)` of them), and only the shards of
/// the removed member when one leaves.
///
/// The hash is FNV-1a over the bytes, finished with the SplitMix64 mixer so
/// that its low bits (the shard) are as good as its high bits. It depends
/// on the bytes only: the same on every platform, compiler and build. The
/// functions are part of the cluster's on-disk contract: changing them
/// moves entities away from their journals.
namespace cairn::cluster {

/// FNV-1a 64 of `bytes`, finished with SplitMix64's mixer.
uint64_t stable_hash(std::string_view bytes) noexcept;

/// SplitMix64's finalizer: a bijective mix of the 64 bits of `x`.
uint64_t mix64(uint64_t x) noexcept;

/// Returns the hash of entity `id` of `category`: the stable hash of
/// `category`, a zero byte and `id`.
uint64_t entity_hash(std::string_view category, std::string_view id) noexcept;

/// Returns the shard of entity `id` of `category`.
///
/// REQUIRES: `shards > 0`.
uint32_t shard_of(std::string_view category, std::string_view id,
                  uint32_t shards) noexcept;

/// Returns the weight of `member` for `shard` in rendezvous hashing.
uint64_t rendezvous_weight(std::string_view member, uint32_t shard) noexcept;

/// Returns the index in `members` of the owner of `shard`: the member with
/// the highest weight (ties, which need a 64-bit collision, go to the
/// smaller id). Returns `members.size()` when `members` is empty.
size_t owner_of(uint32_t shard, const std::vector<std::string>& members);

} // namespace cairn::cluster
