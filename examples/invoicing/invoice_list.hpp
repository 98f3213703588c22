#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "examples/invoicing/invoice.hpp"
#include <cairn/actors/projection.hpp>

/// The invoice list of the web interface (seed 004) as a projection: one row
/// per invoice with its customer, state, item count, total, address and
/// payment, and the invoices in the order of their creation, for paged
/// reads. Like the statistics, the rows and the checkpoint move in one write
/// group, so a restart neither loses nor repeats an event.
namespace invoicing {

/// The id of the invoice whose stream is `stream` (`"invoice-42"` -> `"42"`).
inline std::string invoice_id_of(const std::string& stream) {
  std::string prefix = std::string{invoice::category} + '-';
  if (stream.compare(0, prefix.size(), prefix) == 0)
    return stream.substr(prefix.size());
  return stream;
}

/// The name of a state in the web interface: `draft`, `sent` or `paid`.
inline std::string state_name(invoice_status x) {
  switch (x) {
    case invoice_status::draft:
      return "draft";
    case invoice_status::sent:
      return "sent";
    case invoice_status::paid:
      return "paid";
    default:
      return "none";
  }
}

/// An invoice as JSON: `{"id", "customer", "state", "items": [...],
/// "total", "address", "paid"}`, amounts in cents.
inline nlohmann::json to_json(const std::string& id, const invoice_state& st) {
  auto items = nlohmann::json::array();
  for (auto& x : st.items)
    items.push_back({{"description", x.description}, {"cents", x.cents}});
  return {{"id", id},
          {"customer", st.customer},
          {"state", state_name(st.status)},
          {"items", items},
          {"total", st.total},
          {"address", st.address},
          {"paid", st.paid}};
}

struct invoice_list {
  static constexpr const char* name = "invoice-list";
  static constexpr const char* category = "invoice";
  using events = cairn::event_list<invoice_created, item_added, invoice_sent,
                                   invoice_paid>;

  // Tables: "invoices" (id -> the invoice's row as JSON, without its items
  // but with their count) and "order" (the position of the creation,
  // zero-padded to 20 digits -> id).

  static void apply(cairn::projection_view& v, const invoice_created& e) {
    auto id = invoice_id_of(v.event().stream);
    nlohmann::json row{
      {"id", id},   {"customer", e.customer}, {"state", "draft"}, {"items", 0},
      {"total", 0}, {"address", ""},          {"paid", 0}};
    v.put("invoices", id, row.dump());
    char key[24];
    std::snprintf(key, sizeof(key), "%020llu",
                  static_cast<unsigned long long>(v.event().position));
    v.put("order", key, id);
  }

  static void apply(cairn::projection_view& v, const item_added& e) {
    update(v, [&](nlohmann::json& row) {
      row["items"] = row["items"].get<int64_t>() + 1;
      row["total"] = row["total"].get<int64_t>() + e.added.cents;
    });
  }

  static void apply(cairn::projection_view& v, const invoice_sent& e) {
    update(v, [&](nlohmann::json& row) {
      row["state"] = "sent";
      row["address"] = e.address;
    });
  }

  static void apply(cairn::projection_view& v, const invoice_paid& e) {
    update(v, [&](nlohmann::json& row) {
      row["state"] = "paid";
      row["paid"] = e.cents;
    });
  }

  /// Applies `f` to the row of the event's invoice, if it has one.
  template <class F>
  static void update(cairn::projection_view& v, F f) {
    auto id = invoice_id_of(v.event().stream);
    auto str = v.get("invoices", id);
    if (!str)
      return; // an event without its creation: nothing to update
    auto row = nlohmann::json::parse(*str, nullptr, false);
    if (row.is_discarded() || !row.is_object())
      return;
    f(row);
    v.put("invoices", id, row.dump());
  }
};

} // namespace invoicing
