#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "examples/sagas/group_checkout.hpp"
#include "examples/sagas/order_saga.hpp"
#include "examples/sagas/shop.hpp"

/// The work of the saga crash test, the same for the driver
/// (saga_crash_driver.cpp) and the test (saga_crash_test.cpp): orders for
/// the order saga and group checkouts, derived from a seed. Each process
/// has one outcome whatever the order in which the processes run: every
/// order has products of its own, so what the warehouse holds for one
/// order does not depend on the others.
namespace cairn::test::saga_work {

/// How an order goes.
enum class order_kind : uint8_t {
  /// Initialised, paid, reserved, shipped, completed.
  happy,
  /// The warehouse lacks a piece of its last product: the saga cancels the
  /// order and discards the payment.
  short_of_stock,
  /// Costs nothing: the payment is refused, the saga cancels the order.
  free,
  /// No products: the order is refused, the process ends at once.
  empty,
};

inline const char* to_string(order_kind x) {
  const char* names[] = {"happy", "short-of-stock", "free", "empty"};
  return names[static_cast<uint8_t>(x)];
}

/// One confirmed cart, the input of one order process.
struct order_item {
  std::string id;
  order_kind kind = order_kind::happy;
  std::vector<shop::line> lines;
  /// Whether the cart is confirmed a second time (a duplicate input).
  bool confirmed_twice = false;
};

/// A guest account: checked in, charged, and paid in full (settled) or not.
struct account_item {
  std::string id;
  std::string guest;
  int64_t charged = 0;
  int64_t paid = 0;

  bool settled() const {
    return charged == paid;
  }
};

/// One group checkout, the input of one group checkout process.
struct group_item {
  std::string id;
  /// The accounts as the front desk lists them (one may be listed twice).
  std::vector<std::string> listed;
  /// Whether the checkout is requested a second time (a duplicate input).
  bool requested_twice = false;
};

/// What the warehouse holds before the first order.
struct stock_item {
  std::string product;
  int64_t quantity = 0;
};

/// A process to start: index into `orders` or `groups`.
struct process_ref {
  bool is_order = true;
  size_t index = 0;
};

struct work {
  std::vector<order_item> orders;
  std::vector<account_item> accounts;
  std::vector<group_item> groups;
  std::vector<stock_item> stock;
  /// The order in which the driver starts the processes.
  std::vector<process_ref> schedule;
};

/// Number of order processes.
constexpr size_t order_count = 240;

/// Number of group checkout processes.
constexpr size_t group_count = 60;

/// Input streams.
inline std::string cart_stream(const std::string& order) {
  return "cart-" + order;
}

inline std::string frontdesk_stream(const std::string& group) {
  return "frontdesk-" + group;
}

/// Returns the work for `seed`.
inline work make_work(uint64_t seed) {
  std::mt19937_64 rng{seed};
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>{lo, hi}(rng);
  };
  work w;
  for (size_t i = 0; i < order_count; ++i) {
    order_item o;
    o.id = "o" + std::to_string(i);
    auto k = pick(0, 99);
    o.kind = k < 50   ? order_kind::happy
             : k < 75 ? order_kind::short_of_stock
             : k < 90 ? order_kind::free
                      : order_kind::empty;
    auto n = o.kind == order_kind::empty  ? 0
             : o.kind == order_kind::free ? 1
                                          : pick(1, 3);
    for (int64_t j = 0; j < n; ++j) {
      shop::line x;
      x.product = o.id + "p" + std::to_string(j);
      x.quantity = static_cast<int32_t>(pick(1, 3));
      x.unit_cents = o.kind == order_kind::free ? 0 : pick(1, 500) * 10;
      auto stocked = x.quantity;
      if (o.kind == order_kind::short_of_stock && j + 1 == n)
        stocked -= 1;
      if (o.kind != order_kind::free && stocked > 0)
        w.stock.push_back({x.product, stocked});
      o.lines.push_back(std::move(x));
    }
    o.confirmed_twice = pick(0, 9) == 0;
    w.orders.push_back(std::move(o));
  }
  for (size_t i = 0; i < group_count; ++i) {
    group_item g;
    g.id = "g" + std::to_string(i);
    auto n = pick(2, 4);
    for (int64_t j = 0; j < n; ++j) {
      account_item a;
      a.id = g.id + "-" + std::to_string(j);
      a.guest = "guest " + a.id;
      a.charged = pick(1, 400) * 25;
      a.paid = pick(0, 4) == 0 ? pick(0, a.charged / 25 - 1) * 25 : a.charged;
      g.listed.push_back(a.id);
      w.accounts.push_back(std::move(a));
    }
    if (pick(0, 4) == 0)
      g.listed.push_back(g.listed.front());
    g.requested_twice = pick(0, 9) == 0;
    w.groups.push_back(std::move(g));
  }
  for (size_t i = 0; i < order_count; ++i)
    w.schedule.push_back({true, i});
  for (size_t i = 0; i < group_count; ++i)
    w.schedule.push_back({false, i});
  std::shuffle(w.schedule.begin(), w.schedule.end(), rng);
  return w;
}

} // namespace cairn::test::saga_work
