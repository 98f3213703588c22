#include "examples/invoicing/invoice.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <variant>
#include <vector>

#include "cairn/journal/codec.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace invoicing;
using namespace cairn::test;
using Catch::Matchers::Contains;

namespace {

using event = invoice::events::variant_type;
using kind = invoice::effect::kind;

/// Folds `events` over an empty invoice, as recovery does.
invoice_state fold(const std::vector<event>& events) {
  invoice_state st;
  for (auto& ev : events)
    st = std::visit([&](auto& e) { return invoice::apply(std::move(st), e); },
                    ev);
  return st;
}

/// Runs `cmd` against `st` and applies the events it persists.
template <class Command>
invoice_state decide(const invoice_state& st, const Command& cmd) {
  auto eff = invoice::handle(st, cmd);
  REQUIRE(eff.what() == kind::persist);
  auto next = st;
  for (auto& ev : eff.events())
    next = std::visit([&](auto& e) { return invoice::apply(next, e); }, ev);
  caf::message msg = eff.on_persisted()(next);
  REQUIRE(msg.match_elements<invoice_state>());
  CHECK(msg.get_as<invoice_state>(0).status == next.status);
  return next;
}

/// Runs `cmd` against `st`, expects a refusal and returns its text.
template <class Command>
std::string refusal(const invoice_state& st, const Command& cmd,
                    invoice_error code) {
  auto eff = invoice::handle(st, cmd);
  REQUIRE(eff.what() == kind::reject);
  caf::error& err = eff.error();
  CHECK(err.category() == invoice_error_category);
  CHECK(err.code() == static_cast<uint8_t>(code));
  return render_invoice_error(err.code(), err.category(), err.context());
}

const item workshop{"workshop", 120000};

invoice_state draft() {
  return fold({invoice_created{"ACME"}, item_added{workshop}});
}

invoice_state sent() {
  return fold({invoice_created{"ACME"}, item_added{workshop},
               invoice_sent{"1 Main Street"}});
}

} // namespace

TEST_CASE("a draft invoice gets items and is sent to an address") {
  auto st = decide(invoice_state{}, create_invoice{"ACME"});
  CHECK(st.status == invoice_status::draft);
  CHECK(st.customer == "ACME");
  st = decide(st, add_item{workshop});
  st = decide(st, add_item{{"consulting", 30050}});
  CHECK(st.items.size() == 2);
  CHECK(st.total == 150050);
  st = decide(st, send_invoice{"1 Main Street"});
  CHECK(st.status == invoice_status::sent);
  CHECK(st.address == "1 Main Street");
}

TEST_CASE("a sent invoice is paid with its total, which it records") {
  auto st = decide(sent(), pay_invoice{120000});
  CHECK(st.status == invoice_status::paid);
  CHECK(st.paid == 120000);
}

TEST_CASE("invalid transitions are refused with domain errors") {
  CHECK(refusal(sent(), add_item{workshop}, invoice_error::not_draft)
        == "not_draft: the invoice is sent");
  CHECK(refusal(sent(), send_invoice{"x"}, invoice_error::not_draft)
        == "not_draft: the invoice is sent");
  CHECK(refusal(draft(), pay_invoice{120000}, invoice_error::not_sent)
        == "not_sent: the invoice is a draft");
  CHECK(refusal(invoice_state{}, add_item{workshop}, invoice_error::not_draft)
        == "not_draft: the invoice is not created");
  auto paid = fold({invoice_created{"ACME"}, item_added{workshop},
                    invoice_sent{"x"}, invoice_paid{120000}});
  CHECK(refusal(paid, pay_invoice{120000}, invoice_error::not_sent)
        == "not_sent: the invoice is paid");
  CHECK(refusal(draft(), create_invoice{"B"}, invoice_error::already_exists)
        == "already_exists: the invoice exists");
}

TEST_CASE("an invoice is sent only with items and an address") {
  auto empty = fold({invoice_created{"ACME"}});
  CHECK(refusal(empty, send_invoice{"x"}, invoice_error::empty_invoice)
        == "empty_invoice: the invoice has no items");
  CHECK(refusal(draft(), send_invoice{""}, invoice_error::missing_address)
        == "missing_address: no address to send to");
}

TEST_CASE("amounts are checked: items cost something, payments match") {
  CHECK(refusal(draft(), add_item{{"free lunch", 0}},
                invoice_error::wrong_amount)
        == "wrong_amount: an item costs more than 0");
  CHECK(refusal(sent(), pay_invoice{1000}, invoice_error::wrong_amount)
        == "wrong_amount: total 1200.00, paid 10.00");
}

TEST_CASE("get_invoice replies the state and stores nothing") {
  auto eff = invoice::handle(sent(), get_invoice{});
  REQUIRE(eff.what() == kind::reply);
  REQUIRE(eff.message().match_elements<invoice_state>());
  CHECK(eff.message().get_as<invoice_state>(0).address == "1 Main Street");
}

TEST_CASE("an invoice state survives a snapshot round trip") {
  auto st = sent();
  auto copy = cairn::journal::from_bytes<invoice_state>(
    cairn::journal::to_bytes(st));
  REQUIRE(copy);
  CHECK(copy->status == invoice_status::sent);
  CHECK(copy->items.size() == 1);
  CHECK(copy->items[0].description == "workshop");
  CHECK(copy->total == st.total);
  CHECK(copy->address == st.address);
}

TEST_CASE("money prints cents as units with two decimals") {
  CHECK(money(0) == "0.00");
  CHECK(money(5) == "0.05");
  CHECK(money(120050) == "1200.50");
  CHECK(money(-250) == "-2.50");
}

TEST_CASE("cairn-invoicing continues on its journal where the last run "
          "stopped") {
  temp_dir dir;
  // Snapshots every 3 events, so the second run also recovers from them.
  std::vector<std::string> argv{bin_path("cairn-invoicing"),
                                "--journal.path=" + dir.sub("journal"),
                                "--journal.sync=none",
                                "--aggregates.snapshot-every=3"};
  auto first = run(argv);
  INFO(first.output);
  REQUIRE(first.exit_code == 0);
  CHECK_THAT(first.output, Contains("recovered 0 invoices from the journal"));
  CHECK_THAT(first.output, Contains("invoice 1: created for ACME Corp"));
  CHECK_THAT(first.output, Contains("invoice 1: paid 3900.00"));
  CHECK_THAT(first.output, Contains("invoice 2: left open for the next run"));
  CHECK_THAT(first.output, Contains("invoice 3: adding an item after sending "
                                    "-> refused: not_draft: the invoice is "
                                    "sent"));
  CHECK_THAT(first.output,
             Contains("done: 3 invoices, 2 paid, 1 waiting for payment"));
  CHECK_THAT(first.output,
             Contains(": 3 invoices created, 3 sent, 2 paid; invoiced "
                      "5349.00, paid 4899.00"));
  CHECK_THAT(first.output, Contains("  ACME Corp: invoiced 3900.00, paid "
                                    "3900.00"));
  CHECK_THAT(first.output, Contains("  Globex: invoiced 450.00, paid 0.00"));
  auto second = run(argv);
  INFO(second.output);
  REQUIRE(second.exit_code == 0);
  CHECK_THAT(second.output,
             Contains("recovered 3 invoices from the journal"));
  CHECK_THAT(second.output, Contains("  invoice 1 for ACME Corp, 2 items, "
                                     "total 3900.00, paid (3900.00)"));
  CHECK_THAT(second.output, Contains("  invoice 2 for Globex, 1 item, total "
                                     "450.00, sent to Globex, 2 Main Street, "
                                     "waiting for payment"));
  CHECK_THAT(second.output,
             Contains("invoice 2: paid 450.00 (sent in an earlier run)"));
  CHECK_THAT(second.output, !Contains("invoice 1: created"));
  CHECK_THAT(second.output, Contains("invoice 4: created for Umbrella"));
  CHECK_THAT(second.output,
             Contains("done: 6 invoices, 5 paid, 1 waiting for payment"));
  // The statistics go on from the first run's: nothing counted twice.
  CHECK_THAT(second.output,
             Contains(": 6 invoices created, 6 sent, 5 paid; invoiced "
                      "10698.00, paid 10248.00"));
  CHECK_THAT(second.output, Contains("  ACME Corp: invoiced 4899.00, paid "
                                     "4899.00"));
  CHECK_THAT(second.output, Contains("  Globex: invoiced 450.00, paid "
                                     "450.00"));
  CHECK_THAT(second.output, Contains("  Hooli: invoiced 450.00, paid 0.00"));
}

TEST_CASE("cairn-invoicing refuses a bad flag naming the key") {
  temp_dir dir;
  auto result = run({bin_path("cairn-invoicing"),
                     "--journal.path=" + dir.sub("journal"),
                     "--journal.sync=fast"});
  CHECK(result.exit_code != 0);
  CHECK_THAT(result.output, Contains("journal.sync: 'fast' is not one of: "
                                     "full, no-meta-sync, none"));
}
