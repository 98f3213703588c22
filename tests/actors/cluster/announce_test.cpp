#include "cairn/actors/cluster/announce.hpp"

#include <string>
#include <typeinfo>

#include <catch2/catch.hpp>

#include "caf/all.hpp"

#include "tests/actors/account.hpp"

using namespace cairn;
using namespace cairn::test;

namespace {

template <class T>
std::string name_in(caf::actor_system& sys) {
  return sys.types().portable_name(0, &typeid(T));
}

/// A reply type named by an aggregate's `replies`.
struct receipt {
  int32_t n = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, receipt& x) {
  return f(caf::meta::type_name("test.receipt"), x.n);
}

/// The command of `receipt_desk`.
struct ask_receipt {};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ask_receipt&) {
  return f(caf::meta::type_name("test.ask_receipt"));
}

struct receipt_printed {
  static constexpr const char* event_name = "receipt_printed";
  template <class Archive>
  void serialize(Archive&) {
    // nop
  }
};

/// An aggregate that declares its replies.
struct receipt_desk {
  static constexpr const char* category = "receiptdesk";
  struct state {
    template <class Archive>
    void serialize(Archive&) {
      // nop
    }
  };
  using events = event_list<receipt_printed>;
  using commands = command_list<ask_receipt>;
  using replies = command_list<receipt>;
  static state apply(state s, const receipt_printed&) {
    return s;
  }
  static effect<receipt_desk> handle(const state&, const ask_receipt&) {
    return reply(receipt{1});
  }
};

} // namespace

TEST_CASE("announce adds an aggregate's commands under their wire names and "
          "lets gateways find its category") {
  caf::actor_system_config cfg;
  announce<account>(cfg);
  caf::actor_system sys{cfg};
  CHECK(name_in<open_account>(sys) == "test.open_account");
  CHECK(name_in<charge>(sys) == "test.charge");
  CHECK(name_in<pay>(sys) == "test.pay");
  CHECK(name_in<check_out>(sys) == "test.check_out");
  CHECK(name_in<get_balance>(sys) == "test.get_balance");
  CHECK(detail::registered_category("account") != nullptr);
  CHECK(detail::registered_category("no-such-category") == nullptr);
}

TEST_CASE("announce adds the replies an aggregate declares") {
  caf::actor_system_config cfg;
  announce<receipt_desk>(cfg);
  caf::actor_system sys{cfg};
  CHECK(name_in<ask_receipt>(sys) == "test.ask_receipt");
  CHECK(name_in<receipt>(sys) == "test.receipt");
  CHECK(detail::registered_category("receiptdesk") != nullptr);
}

TEST_CASE("the wire name of a type is its caf::meta::type_name") {
  CHECK(detail::wire_name_of<charge>() == "test.charge");
  CHECK(detail::wire_name_of<receipt>() == "test.receipt");
}
