// Fuzzes the codec's decoding (cairn/journal/codec.hpp): event payloads of
// registered types, through the registry and its upcaster chains, and
// `from_bytes` of structs with strings, vectors, maps and optionals.
//
// Input: one byte picks the stored type name and schema version (registered
// or not, too old, too new), one byte how to decode, the rest is the
// payload. Invariants: a decode never throws; a failure is `corrupt_record`
// or `unknown_event_type`; what decodes encodes back to the same value.
// (Not to the same bytes: a map's entries may come in any order, and a
// repeated key keeps its first value, as cereal reads maps.)

#include "cairn/journal/codec.hpp"

#include "tests/fuzz/fuzz_support.hpp"

using namespace cairn;
using namespace cairn::journal;

namespace {

struct line {
  std::string sku;
  uint32_t quantity = 0;
  int64_t cents = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(sku, quantity, cents);
  }
  friend bool operator==(const line& x, const line& y) {
    return x.sku == y.sku && x.quantity == y.quantity && x.cents == y.cents;
  }
};

// Version 1 of order_placed listed bare SKUs.
struct order_placed_v1 {
  std::string id;
  std::vector<std::string> skus;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(id, skus);
  }
};

struct order_placed {
  std::string id;
  std::vector<line> lines;
  std::map<std::string, std::string> tags;
  std::optional<std::string> note;
  bool rush = false;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(id, lines, tags, note, rush);
  }
  friend bool operator==(const order_placed& x, const order_placed& y) {
    return x.id == y.id && x.lines == y.lines && x.tags == y.tags
           && x.note == y.note && x.rush == y.rush;
  }
};

struct order_cancelled {
  std::string reason;
  int64_t at = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(reason, at);
  }
  friend bool operator==(const order_cancelled& x, const order_cancelled& y) {
    return x.reason == y.reason && x.at == y.at;
  }
};

// order_tagged went through three versions: one tag, a list, counted tags.
struct order_tagged_v1 {
  std::string tag;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(tag);
  }
};

struct order_tagged_v2 {
  std::vector<std::string> tags;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(tags);
  }
};

struct order_tagged {
  std::map<std::string, uint32_t> tags;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(tags);
  }
  friend bool operator==(const order_tagged& x, const order_tagged& y) {
    return x.tags == y.tags;
  }
};

codec make_codec() {
  codec c;
  c.add<order_placed>("order_placed", 2);
  c.add_upcaster<order_placed_v1, order_placed>(
    "order_placed", 1, [](order_placed_v1 old) {
      order_placed x;
      x.id = std::move(old.id);
      for (auto& sku : old.skus)
        x.lines.push_back(line{std::move(sku), 1, 0});
      return x;
    });
  c.add<order_cancelled>("order_cancelled");
  c.add<order_tagged>("order_tagged", 3);
  c.add_upcaster<order_tagged_v1, order_tagged_v2>(
    "order_tagged", 1,
    [](order_tagged_v1 old) { return order_tagged_v2{{std::move(old.tag)}}; });
  c.add_upcaster<order_tagged_v2, order_tagged>("order_tagged", 2,
                                                [](order_tagged_v2 old) {
                                                  order_tagged x;
                                                  for (auto& tag : old.tags)
                                                    ++x.tags[tag];
                                                  return x;
                                                });
  return c;
}

const codec& the_codec() {
  static const codec c = make_codec();
  return c;
}

struct stored_kind {
  const char* type;
  uint32_t version;
};

// The type names and versions an input may claim.
constexpr stored_kind kinds[] = {
  {"order_placed", 2},
  {"order_placed", 1},
  {"order_cancelled", 1},
  {"order_tagged", 3},
  {"order_tagged", 2},
  {"order_tagged", 1},
  {"order_placed", 0},
  {"order_placed", 3},
  {"order_cancelled", 7},
  {"order_unknown", 1},
  {"", 1},
};

constexpr size_t num_kinds = sizeof(kinds) / sizeof(kinds[0]);

bool is_decode_error(const caf::error& err) {
  return err.category() == cairn_error_category
         && (err.code() == static_cast<uint8_t>(errc::corrupt_record)
             || err.code() == static_cast<uint8_t>(errc::unknown_event_type));
}

stored_event make_event(const stored_kind& kind, std::string payload) {
  stored_event ev;
  ev.stream = "order-7";
  ev.version = 3;
  ev.position = 11;
  ev.record.type = kind.type;
  ev.record.schema_version = kind.version;
  ev.record.payload = std::move(payload);
  return ev;
}

/// Checks that `x` encodes to a record that decodes to `x` again.
template <class T>
void check_round_trip(const T& x) {
  auto& c = the_codec();
  auto rec = c.encode(x);
  stored_event ev;
  ev.stream = "order-7";
  ev.record = std::move(rec);
  auto y = c.decode<T>(ev);
  CAIRN_FUZZ_CHECK(static_cast<bool>(y));
  CAIRN_FUZZ_CHECK(*y == x);
}

void fuzz_registry(const stored_kind& kind, std::string_view payload) {
  auto& c = the_codec();
  auto ev = make_event(kind, std::string{payload});
  auto x = c.decode_variant<order_placed, order_cancelled, order_tagged>(ev);
  if (!x) {
    CAIRN_FUZZ_CHECK(is_decode_error(x.error()));
    return;
  }
  CAIRN_FUZZ_CHECK(c.knows(kind.type));
  std::visit([&](const auto& y) { check_round_trip(y); }, *x);
  // Decoding as a type the event does not hold is an error, not a cast.
  if (!std::holds_alternative<order_cancelled>(*x)) {
    auto wrong = c.decode<order_cancelled>(ev);
    CAIRN_FUZZ_CHECK(!wrong && is_decode_error(wrong.error()));
  }
}

template <class T>
void fuzz_from_bytes(std::string_view bytes) {
  std::string in{bytes};
  auto x = from_bytes<T>(in, "fuzz input");
  if (!x) {
    CAIRN_FUZZ_CHECK(x.error().category() == cairn_error_category);
    CAIRN_FUZZ_CHECK(x.error().code()
                     == static_cast<uint8_t>(errc::corrupt_record));
    return;
  }
  check_round_trip(*x);
}

std::string with_header(uint8_t kind, uint8_t mode, const std::string& body) {
  std::string result;
  result += static_cast<char>(kind);
  result += static_cast<char>(mode);
  result += body;
  return result;
}

} // namespace

namespace cairn::fuzz {

void init() {
  the_codec();
}

std::vector<std::string> seeds() {
  order_placed placed;
  placed.id = "order-7";
  placed.lines = {{"sku-1", 2, 1999}, {"sku-2", 1, 500}};
  placed.tags = {{"channel", "web"}, {"region", "eu"}};
  placed.note = "leave at the door";
  placed.rush = true;
  order_placed_v1 placed_v1{"order-8", {"sku-3", "sku-4"}};
  order_cancelled cancelled{"out of stock", 1700000000};
  order_tagged tagged;
  tagged.tags = {{"gift", 2}, {"vip", 1}};
  order_tagged_v1 tagged_v1{"gift"};
  order_tagged_v2 tagged_v2{{"gift", "gift", "vip"}};
  return {
    with_header(0, 0, to_bytes(placed)),
    with_header(1, 0, to_bytes(placed_v1)),
    with_header(2, 0, to_bytes(cancelled)),
    with_header(3, 0, to_bytes(tagged)),
    with_header(4, 0, to_bytes(tagged_v2)),
    with_header(5, 0, to_bytes(tagged_v1)),
    with_header(0, 1, to_bytes(placed)),
    with_header(0, 2, to_bytes(cancelled)),
    with_header(0, 3, to_bytes(tagged)),
  };
}

} // namespace cairn::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto in = fuzz::as_view(data, size);
  auto kind = fuzz::take_byte(in);
  auto mode = fuzz::take_byte(in);
  switch (mode % 4) {
    case 0:
      fuzz_registry(kinds[kind % num_kinds], in);
      break;
    case 1:
      fuzz_from_bytes<order_placed>(in);
      break;
    case 2:
      fuzz_from_bytes<order_cancelled>(in);
      break;
    default:
      fuzz_from_bytes<order_tagged>(in);
  }
  return 0;
}
