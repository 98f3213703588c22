#include "cairn/journal/codec.hpp"

#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include <cereal/types/array.hpp>
#include <cereal/types/set.hpp>

using namespace cairn;
using namespace cairn::journal;

namespace {

struct item_added {
  std::string description;
  int64_t cents = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(description, cents);
  }
};

// Version 1 of invoice_sent had no currency.
struct invoice_sent_v1 {
  std::string address;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(address);
  }
};

struct invoice_sent {
  std::string address;
  std::string currency;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(address, currency);
  }
};

stored_event stored(event_record rec, std::string stream = "invoice-1",
                    uint64_t version = 4) {
  stored_event ev;
  ev.stream = std::move(stream);
  ev.version = version;
  ev.position = 10;
  ev.record = std::move(rec);
  return ev;
}

codec make_codec() {
  codec c;
  c.add<item_added>("item_added");
  c.add<invoice_sent>("invoice_sent", 2);
  c.add_upcaster<invoice_sent_v1, invoice_sent>(
    "invoice_sent", 1, [](invoice_sent_v1 old) {
      return invoice_sent{std::move(old.address), "EUR"};
    });
  return c;
}

/// A type that uses every kind of field cereal writes: arithmetic values,
/// strings, containers of arithmetic values (written as one block),
/// containers of classes, maps, optionals, arrays and nested classes.
struct every_field {
  bool flag = true;
  char letter = 'x';
  uint16_t small = 0xbeef;
  int64_t cents = -123456789;
  double ratio = 0.25;
  std::string name = "order-7";
  std::string empty;
  std::vector<int32_t> numbers{1, -2, 3};
  std::vector<item_added> items{{"tea", 350}, {"", 0}};
  std::map<std::string, uint32_t> counts{{"a", 1}, {"b", 2}};
  std::optional<std::string> note = std::string{"fragile"};
  std::optional<int> absent;
  std::array<char, 5> code{{'c', 'a', 'i', 'r', 'n'}};
  std::set<uint64_t> ids{7, 9};
  template <class Archive>
  void serialize(Archive& ar) {
    ar(flag, letter, small, cents, ratio, name, empty, numbers, items, counts,
       note, absent, code, ids);
  }
};

} // namespace

TEST_CASE("to_bytes writes the bytes of cereal's binary archive") {
  auto check = [](const auto& x) {
    std::ostringstream os;
    {
      cereal::BinaryOutputArchive ar{os};
      ar(x);
    }
    auto bytes = to_bytes(x);
    CHECK(bytes == os.str());
    return bytes;
  };
  every_field x;
  auto bytes = check(x);
  CHECK(bytes.size() > 100);
  x.flag = false;
  x.name.assign(1000, 'n');
  x.numbers.clear();
  x.note.reset();
  check(x);
  check(std::string{});
  check(uint64_t{42});
  // And it reads back with the decoder of stored events.
  auto y = from_bytes<every_field>(to_bytes(x));
  REQUIRE(y);
  CHECK(y->name == x.name);
  CHECK(y->items.size() == 2);
  CHECK(y->counts == x.counts);
  CHECK(!y->note);
  CHECK(y->code == x.code);
  CHECK(y->ids == x.ids);
}

TEST_CASE("an event encodes with its registered name and version") {
  auto c = make_codec();
  auto rec = c.encode(item_added{"coffee", 350});
  CHECK(rec.type == "item_added");
  CHECK(rec.schema_version == 1);
  auto back = c.decode<item_added>(stored(rec));
  REQUIRE(back);
  CHECK(back->description == "coffee");
  CHECK(back->cents == 350);
  CHECK(c.name_of<invoice_sent>() == "invoice_sent");
  CHECK(c.version_of("invoice_sent") == 2);
  CHECK(c.version_of("nope") == 0);
}

TEST_CASE("an upcaster raises an old version at read time") {
  auto c = make_codec();
  event_record old;
  old.type = "invoice_sent";
  old.schema_version = 1;
  old.payload = to_bytes(invoice_sent_v1{"Main Street 1"});
  auto x = c.decode<invoice_sent>(stored(old));
  REQUIRE(x);
  CHECK(x->address == "Main Street 1");
  CHECK(x->currency == "EUR");
}

TEST_CASE("decoding as a variant picks the stored type") {
  auto c = make_codec();
  auto v = c.decode_variant<item_added, invoice_sent>(
    stored(c.encode(invoice_sent{"Elm 2", "USD"})));
  REQUIRE(v);
  REQUIRE(std::holds_alternative<invoice_sent>(*v));
  CHECK(std::get<invoice_sent>(*v).currency == "USD");
}

TEST_CASE("an unknown type name gives unknown_event_type naming the event") {
  auto c = make_codec();
  event_record rec;
  rec.type = "invoice_voided";
  rec.payload = "abc";
  auto x = c.decode<item_added>(stored(rec, "invoice-9", 7));
  REQUIRE(!x);
  CHECK(code_of(x.error()) == errc::unknown_event_type);
  CHECK(describe(x.error()).find("invoice-9 version 7") != std::string::npos);
  auto v = c.decode_variant<item_added>(stored(rec));
  REQUIRE(!v);
  CHECK(code_of(v.error()) == errc::unknown_event_type);
}

TEST_CASE("bytes that do not decode give corrupt_record, never a crash") {
  auto c = make_codec();
  auto good = c.encode(item_added{"tea", 200});
  SECTION("truncated payload") {
    auto rec = good;
    rec.payload.resize(rec.payload.size() / 2);
    auto x = c.decode<item_added>(stored(rec, "invoice-3", 2));
    REQUIRE(!x);
    CHECK(code_of(x.error()) == errc::corrupt_record);
    CHECK(describe(x.error()).find("invoice-3 version 2") != std::string::npos);
  }
  SECTION("trailing bytes") {
    auto rec = good;
    rec.payload += "junk";
    auto x = c.decode<item_added>(stored(rec));
    REQUIRE(!x);
    CHECK(code_of(x.error()) == errc::corrupt_record);
    CHECK(describe(x.error()).find("trailing") != std::string::npos);
  }
  SECTION("a huge length prefix") {
    event_record rec = good;
    rec.payload = std::string(8, '\xff');
    auto x = c.decode<item_added>(stored(rec));
    REQUIRE(!x);
    CHECK(code_of(x.error()) == errc::corrupt_record);
  }
  SECTION("a length prefix far beyond the payload") {
    event_record rec = good;
    uint64_t huge = uint64_t{1} << 33; // 8 GiB: must not be allocated
    rec.payload.assign(reinterpret_cast<const char*>(&huge), 8);
    rec.payload += "short";
    auto x = c.decode<item_added>(stored(rec));
    REQUIRE(!x);
    CHECK(code_of(x.error()) == errc::corrupt_record);
    CHECK(describe(x.error()).find("exceeds") != std::string::npos);
  }
  SECTION("a stored version newer than the registered one") {
    auto rec = good;
    rec.schema_version = 9;
    auto x = c.decode<item_added>(stored(rec));
    REQUIRE(!x);
    CHECK(code_of(x.error()) == errc::corrupt_record);
    CHECK(describe(x.error()).find("newer") != std::string::npos);
  }
  SECTION("another registered type than the one asked for") {
    auto x = c.decode<invoice_sent>(stored(good));
    REQUIRE(!x);
    CHECK(code_of(x.error()) == errc::corrupt_record);
  }
}

TEST_CASE("registering a name or a type twice is a programming error") {
  codec c;
  c.add<item_added>("item_added");
  CHECK_THROWS_AS(c.add<item_added>("item_added_again"), std::logic_error);
  CHECK_THROWS_AS(c.add<invoice_sent>("item_added"), std::logic_error);
  CHECK_THROWS_AS(c.add<invoice_sent_v1>(""), std::logic_error);
  CHECK_THROWS_AS(c.encode(invoice_sent{}), std::logic_error);
}

namespace {

struct slot_first {
  int64_t x = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(x);
  }
};

struct slot_second {
  std::string y;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(y);
  }
};

} // namespace

TEST_CASE("each codec finds only the types it registered, whichever types "
          "other codecs registered, and a copy finds the same") {
  // Types are numbered once per program, in the order first seen; a codec
  // keeps its entries by those numbers.
  auto first = detail::type_slot<slot_first>();
  auto second = detail::type_slot<slot_second>();
  REQUIRE(first != second);
  CHECK(detail::type_slot<slot_first>() == first);
  codec both;
  both.add<slot_first>("first").add<slot_second>("second", 3);
  codec only_second;
  only_second.add<slot_second>("other_second");
  CHECK(both.name_of<slot_first>() == "first");
  CHECK(both.name_of<slot_second>() == "second");
  CHECK(only_second.name_of<slot_second>() == "other_second");
  // The entries of `only_second` cover the number of `slot_first` when it
  // is the lower one, yet it does not know that type.
  CHECK_THROWS_AS(only_second.name_of<slot_first>(), std::logic_error);
  CHECK_THROWS_AS(only_second.encode(slot_first{7}), std::logic_error);
  codec none;
  CHECK_THROWS_AS(none.name_of<slot_second>(), std::logic_error);
  auto copy = both;
  both = codec{};
  auto rec = copy.encode(slot_second{"kept"});
  CHECK(rec.type == "second");
  CHECK(rec.schema_version == 3);
  auto back = copy.decode<slot_second>(stored(rec));
  REQUIRE(back);
  CHECK(back->y == "kept");
  // A record of the other type is refused as before.
  auto wrong = copy.decode<slot_first>(stored(rec));
  REQUIRE(!wrong);
  CHECK(wrong.error() == make_error(errc::corrupt_record));
}

namespace {

struct order_lines {
  std::string order;
  std::vector<item_added> lines;
  std::map<std::string, int64_t> totals;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(order, lines, totals);
  }
};

/// Caps the address space of this process at its current size plus
/// `extra` bytes while alive, so that a decoder that believed a forged
/// length fails instead of taking the machine's memory.
class address_space_cap {
public:
  explicit address_space_cap(size_t extra) {
    getrlimit(RLIMIT_AS, &old_);
    size_t pages = 0;
    std::ifstream{"/proc/self/statm"} >> pages;
    rlimit cap = old_;
    cap.rlim_cur = pages * 4096 + extra;
    setrlimit(RLIMIT_AS, &cap);
  }

  ~address_space_cap() {
    setrlimit(RLIMIT_AS, &old_);
  }

private:
  rlimit old_;
};

/// Bytes of a u64 little-endian length, as cereal writes it.
std::string length_bytes(uint64_t n) {
  return std::string(reinterpret_cast<const char*>(&n), 8);
}

template <class T>
void check_forged(const std::string& bytes) {
  auto start = std::chrono::steady_clock::now();
  caf::expected<T> x{caf::error{}};
  {
    address_space_cap cap{size_t{256} << 20};
    x = from_bytes<T>(bytes, "forged value");
  }
  REQUIRE(!x);
  CHECK(code_of(x.error()) == errc::corrupt_record);
  CHECK_THAT(describe(x.error()),
             Catch::Contains("forged value") && Catch::Contains("exceeds the"));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds{1});
}

} // namespace

TEST_CASE("a forged container length fails the decode without allocating "
          "it") {
  SECTION("a vector of structs of 2^40 elements") {
    check_forged<std::vector<item_added>>(length_bytes(uint64_t{1} << 40)
                                          + "abc");
  }
  SECTION("a vector of structs of 2^26 elements, which would fit in "
          "virtual memory") {
    check_forged<std::vector<item_added>>(length_bytes(uint64_t{1} << 26)
                                          + "abc");
  }
  SECTION("a vector of integers") {
    check_forged<std::vector<int64_t>>(length_bytes(uint64_t{1} << 28)
                                       + "12345678");
  }
  SECTION("a map") {
    check_forged<std::map<std::string, int64_t>>(length_bytes(uint64_t{1} << 40)
                                                 + length_bytes(1) + "k");
  }
  SECTION("a set") {
    check_forged<std::set<int64_t>>(length_bytes(uint64_t{1} << 30) + "x");
  }
  SECTION("a vector inside a struct") {
    auto bytes = to_bytes(std::string{"order-1"})
                 + length_bytes(uint64_t{1} << 27) + "abc";
    check_forged<order_lines>(bytes);
  }
  SECTION("an honest value still decodes") {
    order_lines x{"order-1", {{"tea", 200}, {"cake", 350}}, {{"eur", 550}}};
    auto y = from_bytes<order_lines>(to_bytes(x));
    REQUIRE(y);
    CHECK(y->lines.size() == 2);
    CHECK(y->lines[1].description == "cake");
    CHECK(y->totals.at("eur") == 550);
  }
}

namespace {

struct flagged {
  std::string id;
  bool urgent = false;
  std::optional<std::string> note;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(id, urgent, note);
  }
};

} // namespace

TEST_CASE("a stored bool other than 0 or 1 gives corrupt_record") {
  flagged x{"order-1", true, std::string{"n"}};
  auto bytes = to_bytes(x);
  auto urgent_at = to_bytes(x.id).size();
  auto note_flag_at = urgent_at + 1;
  SECTION("0 and 1 decode") {
    auto y = from_bytes<flagged>(bytes);
    REQUIRE(y);
    CHECK(y->urgent);
    CHECK(y->note == std::optional<std::string>{"n"});
  }
  SECTION("a bool field") {
    bytes[urgent_at] = 2;
    auto y = from_bytes<flagged>(bytes);
    REQUIRE_FALSE(y);
    CHECK(code_of(y.error()) == errc::corrupt_record);
  }
  SECTION("the flag of an empty optional") {
    x.note = std::nullopt;
    bytes = to_bytes(x);
    REQUIRE(bytes.size() == note_flag_at + 1);
    bytes[note_flag_at] = 6;
    auto y = from_bytes<flagged>(bytes);
    REQUIRE_FALSE(y);
    CHECK(code_of(y.error()) == errc::corrupt_record);
  }
}
