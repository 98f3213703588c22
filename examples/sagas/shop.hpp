#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <cereal/types/map.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include "caf/meta/type_name.hpp"

#include "examples/sagas/common.hpp"
#include <cairn/actors/aggregate.hpp>
#include <cairn/actors/effect.hpp>

/// The business side of the order saga (seed 001): four modules of a shop,
/// each an aggregate that decides for itself.
///
/// - `order`: initialised from a confirmed cart, paid with its total, then
///   completed or cancelled;
/// - `payment`: requested, finalised by the payment provider, discarded
///   (refunded) when its order is cancelled;
/// - `warehouse`: the stock, from which an order reserves all its products
///   or, when one is short, nothing;
/// - `shipment`: the package sent for an order.
///
/// The order, the payment and the shipment of an order share the id of the
/// cart it came from. The coordination of the four is the order saga
/// (examples/sagas/order_saga.hpp).
namespace shop {

using cairn::persist;
using cairn::reject;

// -- carts and order lines ----------------------------------------------------

/// `quantity` pieces of `product` at `unit_cents` each.
struct line {
  std::string product;
  int32_t quantity = 0;
  int64_t unit_cents = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(product, quantity, unit_cents);
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, line& x) {
  return f(caf::meta::type_name("shop.line"), x.product, x.quantity,
           x.unit_cents);
}

inline int64_t total_of(const std::vector<line>& lines) {
  int64_t result = 0;
  for (auto& x : lines)
    result += x.quantity * x.unit_cents;
  return result;
}

/// `"2 x tea, 1 x teapot"`.
inline std::string to_text(const std::vector<line>& lines) {
  std::vector<std::string> parts;
  for (auto& x : lines)
    parts.push_back(std::to_string(x.quantity) + " x " + x.product);
  return sagas::join(parts);
}

// -- the order ----------------------------------------------------------------

enum class order_status : uint8_t {
  none,
  initialised,
  paid,
  completed,
  cancelled
};

inline std::string to_string(order_status x) {
  const char* names[]
    = {"not initialised", "initialised", "paid", "completed", "cancelled"};
  return names[static_cast<uint8_t>(x)];
}

struct order_initialised {
  static constexpr const char* event_name = "shop.order_initialised";
  std::string client;
  std::vector<line> lines;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(client, lines);
  }
};

struct order_paid {
  static constexpr const char* event_name = "shop.order_paid";
  int64_t cents = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(cents);
  }
};

struct order_completed {
  static constexpr const char* event_name = "shop.order_completed";

  template <class Archive>
  void serialize(Archive&) {
    // nop
  }
};

struct order_cancelled {
  static constexpr const char* event_name = "shop.order_cancelled";
  std::string reason;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(reason);
  }
};

struct initialise_order {
  std::string client;
  std::vector<line> lines;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(client, lines);
  }
};

struct record_payment {
  int64_t cents = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(cents);
  }
};

struct complete_order {
  template <class Archive>
  void serialize(Archive&) {
    // nop
  }
};

struct cancel_order {
  std::string reason;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(reason);
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, initialise_order& x) {
  return f(caf::meta::type_name("shop.initialise_order"), x.client, x.lines);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, record_payment& x) {
  return f(caf::meta::type_name("shop.record_payment"), x.cents);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, complete_order&) {
  return f(caf::meta::type_name("shop.complete_order"));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cancel_order& x) {
  return f(caf::meta::type_name("shop.cancel_order"), x.reason);
}

struct order_state {
  order_status status = order_status::none;
  std::string client;
  int64_t total = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(status, client, total);
  }
};

/// An order: initialised from a cart, paid with its total, then completed
/// or cancelled.
struct order {
  static constexpr const char* category = "order";
  using state = order_state;
  using events = cairn::event_list<order_initialised, order_paid,
                                   order_completed, order_cancelled>;
  using commands = cairn::command_list<initialise_order, record_payment,
                                       complete_order, cancel_order>;

  static state apply(state s, const order_initialised& e) {
    s.status = order_status::initialised;
    s.client = e.client;
    s.total = total_of(e.lines);
    return s;
  }
  static state apply(state s, const order_paid&) {
    s.status = order_status::paid;
    return s;
  }
  static state apply(state s, const order_completed&) {
    s.status = order_status::completed;
    return s;
  }
  static state apply(state s, const order_cancelled&) {
    s.status = order_status::cancelled;
    return s;
  }

  static cairn::effect<order> handle(const state& s,
                                     const initialise_order& c) {
    if (s.status != order_status::none)
      return reject("the order is " + to_string(s.status));
    if (c.lines.empty())
      return reject("an order needs a product");
    return persist(order_initialised{c.client, c.lines}).then_ack();
  }
  static cairn::effect<order> handle(const state& s, const record_payment& c) {
    if (s.status != order_status::initialised)
      return reject("the order is " + to_string(s.status));
    if (c.cents != s.total)
      return reject("paid " + sagas::money(c.cents) + " of "
                    + sagas::money(s.total));
    return persist(order_paid{c.cents}).then_ack();
  }
  static cairn::effect<order> handle(const state& s, const complete_order&) {
    if (s.status != order_status::paid)
      return reject("the order is " + to_string(s.status));
    return persist(order_completed{}).then_ack();
  }
  static cairn::effect<order> handle(const state& s, const cancel_order& c) {
    if (s.status == order_status::none || s.status == order_status::completed
        || s.status == order_status::cancelled)
      return reject("the order is " + to_string(s.status));
    return persist(order_cancelled{c.reason}).then_ack();
  }
};

// -- the payment --------------------------------------------------------------

enum class payment_status : uint8_t { none, requested, finalised, discarded };

inline std::string to_string(payment_status x) {
  const char* names[]
    = {"not requested", "requested", "finalised", "discarded"};
  return names[static_cast<uint8_t>(x)];
}

struct payment_requested {
  static constexpr const char* event_name = "shop.payment_requested";
  std::string order;
  int64_t cents = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(order, cents);
  }
};

struct payment_finalised {
  static constexpr const char* event_name = "shop.payment_finalised";

  template <class Archive>
  void serialize(Archive&) {
    // nop
  }
};

struct payment_discarded {
  static constexpr const char* event_name = "shop.payment_discarded";
  std::string reason;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(reason);
  }
};

struct request_payment {
  std::string order;
  int64_t cents = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(order, cents);
  }
};

struct finalise_payment {
  template <class Archive>
  void serialize(Archive&) {
    // nop
  }
};

struct discard_payment {
  std::string reason;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(reason);
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, request_payment& x) {
  return f(caf::meta::type_name("shop.request_payment"), x.order, x.cents);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, finalise_payment&) {
  return f(caf::meta::type_name("shop.finalise_payment"));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, discard_payment& x) {
  return f(caf::meta::type_name("shop.discard_payment"), x.reason);
}

struct payment_state {
  payment_status status = payment_status::none;
  int64_t cents = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(status, cents);
  }
};

/// A payment for an order (the payment of order 7 is payment 7): requested,
/// finalised by the payment provider, discarded (refunded) when the order
/// is cancelled.
struct payment {
  static constexpr const char* category = "payment";
  using state = payment_state;
  using events = cairn::event_list<payment_requested, payment_finalised,
                                   payment_discarded>;
  using commands
    = cairn::command_list<request_payment, finalise_payment, discard_payment>;

  static state apply(state s, const payment_requested& e) {
    s.status = payment_status::requested;
    s.cents = e.cents;
    return s;
  }
  static state apply(state s, const payment_finalised&) {
    s.status = payment_status::finalised;
    return s;
  }
  static state apply(state s, const payment_discarded&) {
    s.status = payment_status::discarded;
    return s;
  }

  static cairn::effect<payment> handle(const state& s,
                                       const request_payment& c) {
    if (s.status != payment_status::none)
      return reject("the payment is " + to_string(s.status));
    if (c.cents <= 0)
      return reject("nothing to pay");
    return persist(payment_requested{c.order, c.cents}).then_ack();
  }
  static cairn::effect<payment> handle(const state& s,
                                       const finalise_payment&) {
    if (s.status != payment_status::requested)
      return reject("the payment is " + to_string(s.status));
    return persist(payment_finalised{}).then_ack();
  }
  static cairn::effect<payment> handle(const state& s,
                                       const discard_payment& c) {
    if (s.status != payment_status::requested
        && s.status != payment_status::finalised)
      return reject("the payment is " + to_string(s.status));
    return persist(payment_discarded{c.reason}).then_ack();
  }
};

// -- the warehouse ------------------------------------------------------------

/// Every order ships from this warehouse.
constexpr const char* warehouse_id = "central";

struct stock_added {
  static constexpr const char* event_name = "shop.stock_added";
  std::string product;
  int64_t quantity = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(product, quantity);
  }
};

struct products_reserved {
  static constexpr const char* event_name = "shop.products_reserved";
  std::string order;
  std::vector<line> lines;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(order, lines);
  }
};

struct add_stock {
  std::string product;
  int64_t quantity = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(product, quantity);
  }
};

struct reserve_products {
  std::string order;
  std::vector<line> lines;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(order, lines);
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, add_stock& x) {
  return f(caf::meta::type_name("shop.add_stock"), x.product, x.quantity);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, reserve_products& x) {
  return f(caf::meta::type_name("shop.reserve_products"), x.order, x.lines);
}

struct warehouse_state {
  /// Pieces in stock per product.
  std::map<std::string, int64_t> stock;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(stock);
  }
};

/// A warehouse's stock. A reservation takes all the lines of an order or,
/// when one product is short, nothing.
struct warehouse {
  static constexpr const char* category = "warehouse";
  using state = warehouse_state;
  using events = cairn::event_list<stock_added, products_reserved>;
  using commands = cairn::command_list<add_stock, reserve_products>;

  static state apply(state s, const stock_added& e) {
    s.stock[e.product] += e.quantity;
    return s;
  }
  static state apply(state s, const products_reserved& e) {
    for (auto& x : e.lines)
      s.stock[x.product] -= x.quantity;
    return s;
  }

  static cairn::effect<warehouse> handle(const state&, const add_stock& c) {
    if (c.quantity <= 0)
      return reject("add at least one piece");
    return persist(stock_added{c.product, c.quantity}).then_ack();
  }
  static cairn::effect<warehouse> handle(const state& s,
                                         const reserve_products& c) {
    for (auto& x : c.lines) {
      auto i = s.stock.find(x.product);
      auto have = i == s.stock.end() ? 0 : i->second;
      if (have < x.quantity)
        return reject("out of stock: " + x.product + " (" + std::to_string(have)
                      + " left, " + std::to_string(x.quantity) + " wanted)");
    }
    return persist(products_reserved{c.order, c.lines}).then_ack();
  }
};

// -- the shipment -------------------------------------------------------------

struct package_sent {
  static constexpr const char* event_name = "shop.package_sent";
  std::vector<line> lines;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(lines);
  }
};

struct send_package {
  std::vector<line> lines;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(lines);
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, send_package& x) {
  return f(caf::meta::type_name("shop.send_package"), x.lines);
}

struct shipment_state {
  bool sent = false;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(sent);
  }
};

/// The shipment of an order (the shipment of order 7 is shipment 7).
struct shipment {
  static constexpr const char* category = "shipment";
  using state = shipment_state;
  using events = cairn::event_list<package_sent>;
  using commands = cairn::command_list<send_package>;

  static state apply(state s, const package_sent&) {
    s.sent = true;
    return s;
  }

  static cairn::effect<shipment> handle(const state& s, const send_package& c) {
    if (s.sent)
      return reject("the package is sent already");
    return persist(package_sent{c.lines}).then_ack();
  }
};

} // namespace shop
