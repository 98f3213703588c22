#pragma once

#include <memory>
#include <string>
#include <utility>

#include "caf/actor.hpp"
#include "caf/error.hpp"
#include "caf/sec.hpp"

#include "cairn/actors/aggregate.hpp"
#include "cairn/actors/atoms.hpp"

/// A reference to one entity, in the manner of Akka's `EntityRef`: its first
/// command resolves the entity's actor through the registry; later commands
/// go to that actor directly, one message and the registry's actor less per
/// command.
///
/// ```
/// auto ref = rt->entity<invoice>("7");         // cheap, resolves nothing
/// ref.request(self, 5s, add_item{...},          // from an event-based actor
///             [](const invoice_view& v) { ... },
///             [](const caf::error& err) { ... });
/// ```
///
/// When the entity was passivated (idle, or over `aggregates.max-active`),
/// the command sent to its stopped actor comes back unprocessed
/// (`caf::sec::request_receiver_down`: CAF answers so exactly for requests
/// the actor never handled). The reference then sends the command once more
/// through the registry, which starts the entity's successor, and resolves
/// anew on the next command. So a command takes effect at most once and is
/// not lost to a passivation; the caller sees one reply or one error.
///
/// An entity used through references declines its idle passivation (the
/// registry asks it, as it does not see these commands); passivation for
/// `max_active` still applies, and costs the next command one resolve.
///
/// A reference for an entity that another node of a cluster owns
/// (`runtime::entity`), or made with `direct = false`, sends every command
/// through the registry or router it holds: the same protocol, one hop more.
///
/// Copies share the resolved actor. A reference is meant for one actor at a
/// time: it is not thread-safe.
namespace cairn {

class entity_ref {
public:
  entity_ref() = default;

  /// A reference to entity `id` of `registry`; `direct`: whether commands
  /// may bypass it once resolved (`registry` answers `resolve_atom`).
  entity_ref(caf::actor registry, std::string id, bool direct = true)
    : st_(std::make_shared<shared>()) {
    st_->registry = std::move(registry);
    st_->id.value = std::move(id);
    st_->direct = direct;
  }

  const std::string& id() const noexcept {
    return st_->id.value;
  }

  /// The registry (or cluster router) the reference resolves through.
  const caf::actor& registry() const noexcept {
    return st_->registry;
  }

  /// The entity's actor once resolved; invalid before the first command and
  /// after a passivation was noticed.
  const caf::actor& resolved() const noexcept {
    return st_->entity;
  }

  /// Whether commands bypass the registry once resolved.
  bool direct() const noexcept {
    return st_->direct;
  }

  /// Sends `cmd` to the entity from `self` (an event-based actor) and calls
  /// `on_reply` with the reply (as `request(...).then` does) or `on_error`
  /// with the error: those of the registry (a bad id, a stopping registry,
  /// a failed resolve), of the entity, or `caf::sec::request_timeout`
  /// after `timeout` (per attempt: a `caf::timespan` or `caf::infinite`).
  template <class Self, class Timeout, class Command, class OnReply,
            class OnError>
  void request(Self* self, Timeout timeout, Command cmd,
               OnReply on_reply, OnError on_error) const {
    auto st = st_;
    if (!st->direct) {
      self->request(st->registry, timeout, st->id, std::move(cmd))
        .then(std::move(on_reply), std::move(on_error));
      return;
    }
    if (st->entity) {
      send_direct(self, st, st->entity, timeout, std::move(cmd),
                  std::move(on_reply), std::move(on_error));
      return;
    }
    self->request(st->registry, timeout, resolve_atom::value, st->id)
      .then(
        [self, st, timeout, cmd{std::move(cmd)}, on_reply,
         on_error](caf::actor& hdl) mutable {
          st->entity = hdl;
          send_direct(self, st, std::move(hdl), timeout, std::move(cmd),
                      std::move(on_reply), std::move(on_error));
        },
        [on_error](caf::error& err) mutable { on_error(err); });
  }

private:
  struct shared {
    caf::actor registry;
    entity_id id;
    bool direct = true;
    caf::actor entity;
  };

  /// Sends `cmd` to `hdl`; when it comes back unprocessed (the entity
  /// stopped), through the registry once more.
  template <class Self, class Timeout, class Command, class OnReply,
            class OnError>
  static void send_direct(Self* self, const std::shared_ptr<shared>& st,
                          caf::actor hdl, Timeout timeout,
                          Command cmd, OnReply on_reply, OnError on_error) {
    // The command is kept for the resend: CAF's answer for a request its
    // receiver never handled carries only the error.
    auto again = cmd;
    self->request(hdl, timeout, std::move(cmd))
      .then(on_reply,
            [self, st, hdl, timeout, again{std::move(again)}, on_reply,
             on_error](caf::error& err) mutable {
              if (err != caf::sec::request_receiver_down) {
                on_error(err);
                return;
              }
              if (st->entity == hdl)
                st->entity = nullptr;
              self
                ->request(st->registry, timeout, st->id, std::move(again))
                .then(std::move(on_reply), std::move(on_error));
            });
  }

  std::shared_ptr<shared> st_;
};

} // namespace cairn
