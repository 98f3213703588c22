/// cairn-consumer: a tally of points per player, built against an installed
/// Cairn (`find_package(cairn)`, `cairn::actors`).
///
/// Usage: `cairn-consumer DIR` keeps its journal in DIR. Each run awards
/// player "ada" 3 points in three commands, has one award refused, and
/// prints the total, which goes on from the earlier runs in the same DIR.
/// Exits with 1 on any unexpected reply.

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include <cairn/actors/config.hpp>
#include <cairn/actors/runtime.hpp>
#include <cairn/journal/errc.hpp>

using namespace std::chrono_literals;

namespace tally {

struct points_awarded {
  static constexpr const char* event_name = "points_awarded";
  int64_t points = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(points);
  }
};

struct award {
  int64_t points = 0;
};

struct get_total {};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, award& x) {
  return f(caf::meta::type_name("tally.award"), x.points);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, get_total&) {
  return f(caf::meta::type_name("tally.get_total"));
}

/// A player's points: the sum of the awards.
struct player {
  static constexpr const char* category = "player";
  using state = int64_t;
  using events = cairn::event_list<points_awarded>;
  using commands = cairn::command_list<award, get_total>;
  using effect = cairn::effect<player>;

  static state apply(state s, const points_awarded& e) {
    return s + e.points;
  }

  static effect handle(const state&, const award& c) {
    if (c.points <= 0)
      return cairn::reject(cairn::errc::invalid_argument, "an award is positive");
    return cairn::persist(points_awarded{c.points}).then_reply(current);
  }

  static effect handle(const state& s, const get_total&) {
    return cairn::reply(s);
  }

  static state current(const state& s) {
    return s;
  }
};

} // namespace tally

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: cairn-consumer DIR\n";
    return EXIT_FAILURE;
  }
  cairn::config cfg;
  cfg.journal_path = argv[1];
  caf::actor_system sys{cfg};
  auto rt = cairn::runtime::start(sys, cfg.runtime_options());
  if (!rt) {
    std::cerr << "cairn-consumer: " << sys.render(rt.error()) << '\n';
    return EXIT_FAILURE;
  }
  auto players = (*rt)->registry<tally::player>();
  caf::scoped_actor self{sys};
  auto ok = true;
  int64_t total = -1;
  auto send = [&](auto cmd, bool expect_ok) {
    self->request(players, 10s, cairn::entity_id{"ada"}, std::move(cmd))
      .receive(
        [&](int64_t x) {
          total = x;
          ok = ok && expect_ok;
        },
        [&](caf::error& err) {
          if (expect_ok)
            std::cerr << "cairn-consumer: " << sys.render(err) << '\n';
          else
            std::cout << "refused: " << cairn::describe(err) << '\n';
          ok = ok && !expect_ok;
        });
  };
  for (int i = 0; i < 3; ++i)
    send(tally::award{1}, true);
  send(tally::award{-5}, false);
  send(tally::get_total{}, true);
  std::cout << "ada: " << total << " points\n";
  (*rt)->stop();
  return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
