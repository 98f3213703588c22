#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include <cairn/actors/process_manager.hpp>
#include "examples/sagas/common.hpp"
#include "examples/sagas/shop.hpp"

/// The order saga of seed 001, with compensation.
///
/// The shopping-cart module publishes `cart_confirmed` (stream `cart-<id>`).
/// That starts an order process (stream `ordersaga-<id>`), which drives the
/// four aggregates of examples/sagas/shop.hpp one command at a time, each step
/// reacting to the outcome of the command of the step before:
///
/// ```
/// cart confirmed -> initialise the order -> request the payment
///   -> finalise the payment -> record it on the order
///   -> reserve the products at the warehouse -> send the package
///   -> complete the order
/// ```
///
/// An aggregate that refuses a command does not break the process: the
/// refusal is the outcome the next step reacts to. When the warehouse is out
/// of a product, the saga compensates what it did, newest first: it cancels
/// the order, then discards the payment.
///
/// Each step commits atomically with the events of the aggregate it
/// commands, so a crash between two steps leaves nothing half done: after a
/// restart the process goes on from its last committed step.
namespace shop {

// -- the input ----------------------------------------------------------------

/// Input of the saga: a client confirmed a shopping cart. Published by the
/// shopping-cart module on stream `cart-<cart>`.
struct cart_confirmed {
  static constexpr const char* event_name = "shop.cart_confirmed";
  std::string cart;
  std::string client;
  std::vector<line> lines;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(cart, client, lines);
  }
};

// -- the process manager ------------------------------------------------------

/// Where an order process is: which command's outcome it waits for.
enum class order_stage : uint8_t {
  /// Not started.
  none,
  /// Waiting for the order to be initialised.
  initialising,
  /// Waiting for the payment to be requested.
  requesting_payment,
  /// Waiting for the payment provider to finalise the payment.
  finalising_payment,
  /// Waiting for the order to record its payment.
  recording_payment,
  /// Waiting for the warehouse to reserve the products.
  reserving,
  /// Waiting for the package to be sent.
  shipping,
  /// Waiting for the order to be completed.
  completing,
  /// Compensating: waiting for the order to be cancelled.
  cancelling,
  /// Compensating: waiting for the payment to be discarded.
  discarding_payment,
  /// Done: the order is completed.
  completed,
  /// Done: the order is cancelled, its payment discarded.
  cancelled,
  /// Done: a compensating command was refused; a person has to look.
  failed,
};

/// The process started with a confirmed cart.
struct order_process_started {
  static constexpr const char* event_name = "shop.order_process_started";
  std::string order;
  std::vector<line> lines;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(order, lines);
  }
};

/// The process moved on to `stage`; `reason` says why it compensates.
struct order_stage_entered {
  static constexpr const char* event_name = "shop.order_stage_entered";
  order_stage stage = order_stage::none;
  std::string reason;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(stage, reason);
  }
};

struct order_saga_state {
  std::string order;
  std::vector<line> lines;
  order_stage stage = order_stage::none;
  /// Whether there is a payment to discard when compensating.
  bool payment_requested = false;
  /// Why the process compensates.
  std::string reason;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(order, lines, stage, payment_requested, reason);
  }
};

/// The process manager: one instance per confirmed cart, the order, its
/// payment and its shipment sharing the cart's id.
struct order_saga {
  static constexpr const char* category = "ordersaga";
  using state = order_saga_state;
  using events = cairn::event_list<order_process_started, order_stage_entered>;
  using inputs = cairn::event_list<cart_confirmed>;

  static std::string correlate(const cart_confirmed& e) {
    return e.cart;
  }

  static state apply(state s, const order_process_started& e) {
    s.order = e.order;
    s.lines = e.lines;
    s.stage = order_stage::initialising;
    return s;
  }
  static state apply(state s, const order_stage_entered& e) {
    s.stage = e.stage;
    if (e.stage == order_stage::finalising_payment)
      s.payment_requested = true;
    if (!e.reason.empty())
      s.reason = e.reason;
    return s;
  }

  /// A confirmed cart starts the process: initialise the order.
  static cairn::step<order_saga> react(const state& s,
                                       const cart_confirmed& e) {
    if (s.stage != order_stage::none)
      return {}; // the same cart confirmed twice
    return cairn::step<order_saga>{}
      .emit(order_process_started{e.cart, e.lines})
      .send<order>(e.cart, initialise_order{e.client, e.lines});
  }

  /// The outcome of the last step's command: go on, or compensate.
  static cairn::step<order_saga> react(const state& s,
                                       const cairn::command_result& r) {
    if (!r.accepted)
      return compensate(s, sagas::reason_of(r.why));
    auto& id = s.order;
    switch (s.stage) {
      case order_stage::initialising:
        return enter(order_stage::requesting_payment)
          .send<payment>(id, request_payment{id, total_of(s.lines)});
      case order_stage::requesting_payment:
        return enter(order_stage::finalising_payment)
          .send<payment>(id, finalise_payment{});
      case order_stage::finalising_payment:
        return enter(order_stage::recording_payment)
          .send<order>(id, record_payment{total_of(s.lines)});
      case order_stage::recording_payment:
        return enter(order_stage::reserving)
          .send<warehouse>(warehouse_id, reserve_products{id, s.lines});
      case order_stage::reserving:
        return enter(order_stage::shipping)
          .send<shipment>(id, send_package{s.lines});
      case order_stage::shipping:
        return enter(order_stage::completing).send<order>(id, complete_order{});
      case order_stage::completing:
        return enter(order_stage::completed).complete();
      // -- compensation
      case order_stage::cancelling:
        if (s.payment_requested)
          return enter(order_stage::discarding_payment)
            .send<payment>(id, discard_payment{"order cancelled"});
        return enter(order_stage::cancelled).complete();
      case order_stage::discarding_payment:
        return enter(order_stage::cancelled).complete();
      default:
        return {};
    }
  }

  /// A command was refused: undo what the process did, newest first.
  static cairn::step<order_saga> compensate(const state& s, std::string why) {
    switch (s.stage) {
      case order_stage::initialising: // no order: nothing to undo
        return enter(order_stage::cancelled, std::move(why)).complete();
      case order_stage::cancelling:
      case order_stage::discarding_payment: // undoing failed
        return enter(order_stage::failed, std::move(why)).complete();
      default:
        return enter(order_stage::cancelling, why)
          .send<order>(s.order, cancel_order{why});
    }
  }

  /// A step that moves the process to stage `x`.
  static cairn::step<order_saga> enter(order_stage x, std::string why = {}) {
    return cairn::step<order_saga>{}.emit(
      order_stage_entered{x, std::move(why)});
  }
};

// -- in words, for the program's account --------------------------------------

inline std::string describe(const cart_confirmed& e) {
  return "cart " + e.cart + " confirmed by " + e.client + ": "
         + to_text(e.lines) + ", total " + sagas::money(total_of(e.lines));
}

inline std::string describe(const order_process_started&) {
  return "start the order process: initialise the order";
}

inline std::string describe(const order_stage_entered& e) {
  switch (e.stage) {
    case order_stage::requesting_payment:
      return "request the payment";
    case order_stage::finalising_payment:
      return "have the payment finalised";
    case order_stage::recording_payment:
      return "record the payment on the order";
    case order_stage::reserving:
      return "reserve the products at the warehouse";
    case order_stage::shipping:
      return "send the package";
    case order_stage::completing:
      return "complete the order";
    case order_stage::cancelling:
      return "COMPENSATE (" + e.reason + "): cancel the order";
    case order_stage::discarding_payment:
      return "COMPENSATE: discard the payment";
    case order_stage::completed:
      return "done: the order is completed";
    case order_stage::cancelled:
      return e.reason.empty() ? "done: the order is cancelled"
                              : "done: no order (" + e.reason + ")";
    case order_stage::failed:
      return "STUCK: compensation refused (" + e.reason
             + "), a person has to look";
    default:
      return "stage " + std::to_string(static_cast<int>(e.stage));
  }
}

} // namespace shop
