#include "cairn/actors/cluster/placement.hpp"

namespace cairn::cluster {

namespace {

constexpr uint64_t fnv_offset = 0xcbf29ce484222325ULL;
constexpr uint64_t fnv_prime = 0x100000001b3ULL;

uint64_t fnv1a(uint64_t h, std::string_view bytes) noexcept {
  for (auto c : bytes) {
    h ^= static_cast<uint8_t>(c);
    h *= fnv_prime;
  }
  return h;
}

} // namespace

uint64_t mix64(uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

uint64_t stable_hash(std::string_view bytes) noexcept {
  return mix64(fnv1a(fnv_offset, bytes));
}

uint64_t entity_hash(std::string_view category, std::string_view id) noexcept {
  auto h = fnv1a(fnv_offset, category);
  h = fnv1a(h, std::string_view{"\0", 1});
  return mix64(fnv1a(h, id));
}

uint32_t shard_of(std::string_view category, std::string_view id,
                  uint32_t shards) noexcept {
  return static_cast<uint32_t>(entity_hash(category, id) % shards);
}

uint64_t rendezvous_weight(std::string_view member, uint32_t shard) noexcept {
  // The member's hash plus the shard times the golden ratio, mixed, then
  // mixed again with the member's hash: the weights of one member for
  // neighbouring shards are independent.
  auto h = stable_hash(member);
  return mix64(mix64(h + 0x9e3779b97f4a7c15ULL * (uint64_t{shard} + 1)) ^ h);
}

size_t owner_of(uint32_t shard, const std::vector<std::string>& members) {
  auto best = members.size();
  uint64_t best_weight = 0;
  for (size_t i = 0; i < members.size(); ++i) {
    auto w = rendezvous_weight(members[i], shard);
    if (best == members.size() || w > best_weight
        || (w == best_weight && members[i] < members[best])) {
      best = i;
      best_weight = w;
    }
  }
  return best;
}

} // namespace cairn::cluster
