#pragma once

#include <cstdint>
#include <string>

#include <cairn/actors/projection.hpp>
#include "examples/invoicing/invoice.hpp"

/// Invoice statistics (seed 004) as a projection: how many invoices were
/// created, sent and paid, the amounts invoiced and paid, and both amounts
/// per customer. The read model lives in the journal's tables and moves
/// with its checkpoint in one write group: a second run continues the
/// figures, it does not count anything twice.
namespace invoicing {

struct invoice_statistics {
  static constexpr const char* name = "invoice-statistics";
  static constexpr const char* category = "invoice";
  using events = cairn::event_list<invoice_created, item_added, invoice_sent,
                                   invoice_paid>;

  // Tables: "counts" (created, sent, paid, invoiced, paid_cents),
  // "invoiced_by_customer", "paid_by_customer", and per invoice stream
  // "customer_of" and "open_total" (the items of a draft).

  static void apply(cairn::projection_view& v, const invoice_created& e) {
    v.add("counts", "created", 1);
    v.put("customer_of", v.event().stream, e.customer);
  }

  static void apply(cairn::projection_view& v, const item_added& e) {
    v.add("open_total", v.event().stream, e.added.cents);
  }

  static void apply(cairn::projection_view& v, const invoice_sent&) {
    auto& stream = v.event().stream;
    auto total = v.get_int("open_total", stream);
    v.erase("open_total", stream);
    v.add("counts", "sent", 1);
    v.add("counts", "invoiced", total);
    v.add("invoiced_by_customer", customer_of(v), total);
  }

  static void apply(cairn::projection_view& v, const invoice_paid& e) {
    v.add("counts", "paid", 1);
    v.add("counts", "paid_cents", e.cents);
    v.add("paid_by_customer", customer_of(v), e.cents);
  }

  static std::string customer_of(cairn::projection_view& v) {
    return v.get("customer_of", v.event().stream).value_or("(unknown)");
  }
};

} // namespace invoicing
