// Fuzzes the decoding of outbox rows (cairn/actors/outbox.hpp): the dispatcher
// reads each `cairn.outbox` table value with `from_bytes<outbox_entry>`,
// the target aggregate decodes the command inside it with
// `detail::decode_remote_command`, and the outcome comes back as a
// `remote_outcome` event. The dispatcher itself is an actor; these are the
// functions it and the aggregate call on the stored bytes.
//
// Input: a mode byte (row, or outcome event), the rest is the value.
// Invariants: decoding never throws; a failure is `corrupt_record` (or
// `invalid_argument` for a command index the aggregate does not have); what
// decodes encodes back to the same bytes (a command: to bytes that decode
// and encode to themselves).

#include "cairn/actors/outbox.hpp"

#include "tests/fuzz/fuzz_support.hpp"

using namespace cairn;

namespace {

struct reserve_stock {
  std::string sku;
  uint32_t quantity = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(sku, quantity);
  }
};

struct release_stock {
  std::vector<std::string> skus;
  std::map<std::string, int64_t> amounts;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(skus, amounts);
  }
};

// A command without `serialize`: it cannot travel through the outbox.
struct local_only {
  int x = 0;
};

using commands = std::variant<reserve_stock, release_stock, local_only>;

bool has_code(const caf::error& err, errc code) {
  return err.category() == cairn_error_category
         && err.code() == static_cast<uint8_t>(code);
}

void fuzz_row(const std::string& bytes) {
  auto entry = journal::from_bytes<outbox_entry>(bytes, "outbox row");
  if (!entry) {
    CAIRN_FUZZ_CHECK(has_code(entry.error(), errc::corrupt_record));
    return;
  }
  CAIRN_FUZZ_CHECK(journal::to_bytes(*entry) == bytes);
  auto cmd = detail::decode_command_at<commands>(entry->index, entry->bytes);
  if (!cmd) {
    CAIRN_FUZZ_CHECK(has_code(cmd.error(), errc::corrupt_record)
                     || has_code(cmd.error(), errc::invalid_argument));
    CAIRN_FUZZ_CHECK(entry->index < 2
                     || has_code(cmd.error(), errc::invalid_argument));
    return;
  }
  CAIRN_FUZZ_CHECK(cmd->index() == entry->index);
  std::visit(
    [&](const auto& x) {
      using T = std::decay_t<decltype(x)>;
      if constexpr (detail::is_cereal_serializable_v<T>) {
        // Encoding is a fixpoint after one decode (the input itself may
        // list a map's entries in another order, or repeat a key).
        auto bytes = journal::to_bytes(x);
        auto again = detail::decode_command_at<commands>(entry->index, bytes);
        CAIRN_FUZZ_CHECK(static_cast<bool>(again));
        CAIRN_FUZZ_CHECK(journal::to_bytes(std::get<T>(*again)) == bytes);
      } else {
        fuzz::fail("a command without serialize decoded", __FILE__, __LINE__);
      }
    },
    *cmd);
}

void fuzz_outcome(const std::string& bytes) {
  journal::codec c;
  c.add<remote_outcome>(remote_outcome::event_name);
  journal::stored_event ev;
  ev.stream = std::string{outcome_category} + "-orders-7";
  ev.record = c.encode(remote_outcome{});
  ev.record.payload = bytes;
  auto x = c.decode<remote_outcome>(ev);
  if (!x) {
    CAIRN_FUZZ_CHECK(has_code(x.error(), errc::corrupt_record));
    return;
  }
  CAIRN_FUZZ_CHECK(journal::to_bytes(*x) == bytes);
}

template <class Cmd>
std::string row_seed(const Cmd& cmd, uint32_t index) {
  outbox_entry entry;
  entry.manager = "order_saga";
  entry.instance = "order-7";
  entry.category = "stock";
  entry.entity = "sku-1";
  entry.index = index;
  entry.bytes = journal::to_bytes(cmd);
  return std::string{'\0'} + journal::to_bytes(entry);
}

} // namespace

namespace cairn::fuzz {

void init() {
  // nop
}

std::vector<std::string> seeds() {
  remote_outcome accepted{"order_saga/order-7/3/0",
                          "order_saga",
                          "order-7",
                          "stock",
                          "sku-1",
                          true,
                          ""};
  remote_outcome rejected{"order_saga/order-7/4/1",
                          "order_saga",
                          "order-7",
                          "stock",
                          "sku-2",
                          false,
                          "out of stock"};
  release_stock release{{"sku-1", "sku-2"}, {{"sku-1", 3}, {"sku-2", -1}}};
  return {
    row_seed(reserve_stock{"sku-1", 2}, 0),
    row_seed(release, 1),
    row_seed(reserve_stock{"sku-1", 2}, 2),
    std::string{'\1'} + journal::to_bytes(accepted),
    std::string{'\1'} + journal::to_bytes(rejected),
  };
}

} // namespace cairn::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto in = fuzz::as_view(data, size);
  auto mode = fuzz::take_byte(in);
  if (mode % 2 == 0)
    fuzz_row(std::string{in});
  else
    fuzz_outcome(std::string{in});
  return 0;
}
