#pragma once

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include "caf/atom.hpp"
#include "caf/error.hpp"
#include "caf/make_message.hpp"
#include "caf/message.hpp"
#include "caf/meta/type_name.hpp"

#include <cairn/actors/aggregate.hpp>
#include <cairn/actors/effect.hpp>

/// Invoices as an event-sourced aggregate (seed 004): a draft invoice gets
/// items, a sent invoice has an address, a paid invoice records the amount.
/// Any other transition is refused with an `invoice_error`.
namespace invoicing {

using cairn::persist;
using cairn::reject;
using cairn::reply;

// -- domain errors ------------------------------------------------------------

/// The CAF error category of `invoice_error`.
constexpr caf::atom_value invoice_error_category = caf::atom("invoice");

/// Why an invoice refused a command.
enum class invoice_error : uint8_t {
  /// The invoice was created before.
  already_exists = 1,
  /// Only a draft takes items and can be sent.
  not_draft,
  /// Only a sent invoice can be paid.
  not_sent,
  /// An invoice without items cannot be sent.
  empty_invoice,
  /// An invoice is sent to an address.
  missing_address,
  /// An item costs more than nothing; a payment is the invoice's total.
  wrong_amount,
};

inline std::string to_string(invoice_error x) {
  switch (x) {
    case invoice_error::already_exists:
      return "already_exists";
    case invoice_error::not_draft:
      return "not_draft";
    case invoice_error::not_sent:
      return "not_sent";
    case invoice_error::empty_invoice:
      return "empty_invoice";
    case invoice_error::missing_address:
      return "missing_address";
    case invoice_error::wrong_amount:
      return "wrong_amount";
  }
  return "invoice_error(" + std::to_string(static_cast<int>(x)) + ")";
}

/// Makes `reject(invoice_error::not_draft, "why")` work.
inline caf::error make_error(invoice_error x, std::string why) {
  return {static_cast<uint8_t>(x), invoice_error_category,
          caf::make_message(std::move(why))};
}

/// Renders an `invoice_error` as `"not_draft: why"`; register it with
/// `cfg.add_error_category(invoice_error_category, render_invoice_error)`.
inline std::string render_invoice_error(uint8_t code, caf::atom_value,
                                        const caf::message& ctx) {
  auto result = to_string(static_cast<invoice_error>(code));
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    result += ": " + ctx.get_as<std::string>(0);
  return result;
}

/// Formats cents as `"1234.50"`.
inline std::string money(int64_t cents) {
  auto abs = std::llabs(cents);
  return (cents < 0 ? "-" : "") + std::to_string(abs / 100) + '.'
         + std::to_string(100 + abs % 100).substr(1);
}

// -- state --------------------------------------------------------------------

/// Where an invoice is in its life cycle.
enum class invoice_status : uint8_t { none, draft, sent, paid };

inline std::string to_string(invoice_status x) {
  const char* names[] = {"not created", "a draft", "sent", "paid"};
  return names[static_cast<uint8_t>(x)];
}

struct item {
  std::string description;
  int64_t cents = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(description, cents);
  }
};

struct invoice_state {
  invoice_status status = invoice_status::none;
  std::string customer;
  std::vector<item> items;
  int64_t total = 0;
  std::string address;
  int64_t paid = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(status, customer, items, total, address, paid);
  }
};

// -- events -------------------------------------------------------------------

struct invoice_created {
  static constexpr const char* event_name = "invoice_created";
  std::string customer;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(customer);
  }
};

struct item_added {
  static constexpr const char* event_name = "item_added";
  item added;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(added);
  }
};

struct invoice_sent {
  static constexpr const char* event_name = "invoice_sent";
  std::string address;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(address);
  }
};

struct invoice_paid {
  static constexpr const char* event_name = "invoice_paid";
  int64_t cents = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(cents);
  }
};

// -- commands (each replies the invoice's new state) --------------------------

struct create_invoice {
  std::string customer;
};

struct add_item {
  item added;
};

struct send_invoice {
  std::string address;
};

struct pay_invoice {
  int64_t cents = 0;
};

struct get_invoice {};

// -- the aggregate ------------------------------------------------------------

struct invoice {
  static constexpr const char* category = "invoice";
  using state = invoice_state;
  using events = cairn::event_list<invoice_created, item_added, invoice_sent,
                                   invoice_paid>;
  using commands = cairn::command_list<create_invoice, add_item, send_invoice,
                                       pay_invoice, get_invoice>;
  using effect = cairn::effect<invoice>;

  static state apply(state s, const invoice_created& e) {
    s.status = invoice_status::draft;
    s.customer = e.customer;
    return s;
  }
  static state apply(state s, const item_added& e) {
    s.total += e.added.cents;
    s.items.push_back(e.added);
    return s;
  }
  static state apply(state s, const invoice_sent& e) {
    s.status = invoice_status::sent;
    s.address = e.address;
    return s;
  }
  static state apply(state s, const invoice_paid& e) {
    s.status = invoice_status::paid;
    s.paid = e.cents;
    return s;
  }

  static effect handle(const state& s, const create_invoice& c) {
    if (s.status != invoice_status::none)
      return reject(invoice_error::already_exists, "the invoice exists");
    return persist(invoice_created{c.customer}).then_reply(current);
  }
  static effect handle(const state& s, const add_item& c) {
    if (s.status != invoice_status::draft)
      return reject(invoice_error::not_draft,
                    "the invoice is " + to_string(s.status));
    if (c.added.cents <= 0)
      return reject(invoice_error::wrong_amount, "an item costs more than 0");
    return persist(item_added{c.added}).then_reply(current);
  }
  static effect handle(const state& s, const send_invoice& c) {
    if (s.status != invoice_status::draft)
      return reject(invoice_error::not_draft,
                    "the invoice is " + to_string(s.status));
    if (s.items.empty())
      return reject(invoice_error::empty_invoice, "the invoice has no items");
    if (c.address.empty())
      return reject(invoice_error::missing_address, "no address to send to");
    return persist(invoice_sent{c.address}).then_reply(current);
  }
  static effect handle(const state& s, const pay_invoice& c) {
    if (s.status != invoice_status::sent)
      return reject(invoice_error::not_sent,
                    "the invoice is " + to_string(s.status));
    if (c.cents != s.total)
      return reject(invoice_error::wrong_amount,
                    "total " + money(s.total) + ", paid " + money(c.cents));
    return persist(invoice_paid{c.cents}).then_reply(current);
  }
  static effect handle(const state& s, const get_invoice&) {
    return reply(s);
  }

  /// Each command replies the invoice's new state.
  static state current(const state& s) {
    return s;
  }
};

// -- CAF inspection of what travels in messages -------------------------------

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, item& x) {
  return f(caf::meta::type_name("invoicing.item"), x.description, x.cents);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, invoice_state& x) {
  return f(caf::meta::type_name("invoicing.invoice_state"), x.status,
           x.customer, x.items, x.total, x.address, x.paid);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, create_invoice& x) {
  return f(caf::meta::type_name("invoicing.create_invoice"), x.customer);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, add_item& x) {
  return f(caf::meta::type_name("invoicing.add_item"), x.added);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, send_invoice& x) {
  return f(caf::meta::type_name("invoicing.send_invoice"), x.address);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pay_invoice& x) {
  return f(caf::meta::type_name("invoicing.pay_invoice"), x.cents);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, get_invoice&) {
  return f(caf::meta::type_name("invoicing.get_invoice"));
}

} // namespace invoicing
