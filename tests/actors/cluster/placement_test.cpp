#include "cairn/actors/cluster/placement.hpp"

#include <algorithm>
#include <iostream>
#include <map>

#include <catch2/catch.hpp>

using namespace cairn::cluster;

TEST_CASE("the stable hash is FNV-1a 64 finished with SplitMix64") {
  // FNV-1a 64 of "" and of "a" are published test vectors.
  CHECK(stable_hash("") == mix64(0xcbf29ce484222325ULL));
  CHECK(stable_hash("a") == mix64(0xaf63dc4c8601ec8cULL));
  CHECK(stable_hash("foobar") == mix64(0x85944171f73967e8ULL));
  // The category and the id are separated by a zero byte, so that
  // ("ab", "c") and ("a", "bc") differ.
  CHECK(entity_hash("ab", "c") != entity_hash("a", "bc"));
  CHECK(entity_hash("a", "bc") == stable_hash(std::string_view{"a\0bc", 4}));
}

TEST_CASE("shards and owners match fixed vectors on every platform") {
  // Pinned values: a change here moves entities away from their journals.
  CHECK(entity_hash("invoice", "1") == 0x3c962a5fc675825eULL);
  CHECK(shard_of("invoice", "1", 1024) == 606);
  CHECK(shard_of("invoice", "42", 1024) == 51);
  CHECK(shard_of("order", "42", 1024) == 733);
  CHECK(rendezvous_weight("a", 0) == 0x255f2a3904cbd415ULL);
  std::vector<std::string> abc{"a", "b", "c"};
  std::vector<size_t> owners;
  for (uint32_t shard = 0; shard < 12; ++shard)
    owners.push_back(owner_of(shard, abc));
  CHECK(owners == std::vector<size_t>{2, 0, 2, 2, 1, 1, 2, 1, 0, 1, 1, 2});
}

TEST_CASE("the owner does not depend on the order of the members") {
  std::vector<std::string> x{"a", "b", "c", "d"};
  std::vector<std::string> y{"d", "b", "a", "c"};
  for (uint32_t shard = 0; shard < 1024; ++shard)
    CHECK(x[owner_of(shard, x)] == y[owner_of(shard, y)]);
  CHECK(owner_of(7, {}) == 0);
  CHECK(owner_of(7, {"only"}) == 0);
}

TEST_CASE("shards and entities spread evenly over three members") {
  std::vector<std::string> members{"node-a", "node-b", "node-c"};
  constexpr uint32_t shards = 1024;
  std::vector<size_t> shard_count(3);
  for (uint32_t s = 0; s < shards; ++s)
    ++shard_count[owner_of(s, members)];
  std::vector<size_t> entity_count(3);
  std::vector<size_t> per_shard(shards);
  constexpr size_t entities = 100000;
  for (size_t i = 0; i < entities; ++i) {
    auto s = shard_of("invoice", std::to_string(i), shards);
    ++per_shard[s];
    ++entity_count[owner_of(s, members)];
  }
  auto [lo, hi] = std::minmax_element(shard_count.begin(), shard_count.end());
  auto [elo, ehi]
    = std::minmax_element(entity_count.begin(), entity_count.end());
  auto [slo, shi] = std::minmax_element(per_shard.begin(), per_shard.end());
  std::cout << "placement: 1024 shards over 3 members: " << shard_count[0]
            << " / " << shard_count[1] << " / " << shard_count[2]
            << "; 100000 entities: " << entity_count[0] << " / "
            << entity_count[1] << " / " << entity_count[2]
            << "; entities per shard " << *slo << ".." << *shi << '\n';
  // A fair share is 341.3 shards and 33,333 entities; allow 10%.
  CHECK(*lo >= 307);
  CHECK(*hi <= 376);
  CHECK(*elo >= 30000);
  CHECK(*ehi <= 36667);
  // 97.7 entities per shard on average: no shard is empty or doubled.
  CHECK(*slo >= 50);
  CHECK(*shi <= 150);
}

TEST_CASE("adding a member moves only the shards it wins") {
  std::vector<std::string> three{"node-a", "node-b", "node-c"};
  std::vector<std::string> four{"node-a", "node-b", "node-c", "node-d"};
  constexpr uint32_t shards = 1024;
  size_t moved = 0;
  for (uint32_t s = 0; s < shards; ++s) {
    auto before = three[owner_of(s, three)];
    auto after = four[owner_of(s, four)];
    if (before != after) {
      ++moved;
      // A shard moves only to the new member, never between old ones.
      CHECK(after == "node-d");
    }
  }
  std::cout << "placement: adding a 4th member moves " << moved << " of "
            << shards << " shards (" << (100.0 * moved / shards)
            << "%; ideal 25%)\n";
  CHECK(moved >= 200);
  CHECK(moved <= 312);
  // Removing it again moves them back: ownership is a function of the
  // membership alone.
  for (uint32_t s = 0; s < shards; ++s)
    if (four[owner_of(s, four)] != "node-d")
      CHECK(three[owner_of(s, three)] == four[owner_of(s, four)]);
}
