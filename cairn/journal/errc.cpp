#include "cairn/journal/errc.hpp"

#include "caf/make_message.hpp"
#include "caf/message.hpp"

namespace cairn {

std::string to_string(errc x) {
  switch (x) {
    case errc::none:
      return "none";
    case errc::conflict:
      return "conflict";
    case errc::duplicate:
      return "duplicate";
    case errc::corrupt_record:
      return "corrupt_record";
    case errc::unknown_event_type:
      return "unknown_event_type";
    case errc::journal_failed:
      return "journal_failed";
    case errc::format_mismatch:
      return "format_mismatch";
    case errc::storage_error:
      return "storage_error";
    case errc::invalid_argument:
      return "invalid_argument";
    case errc::not_found:
      return "not_found";
    case errc::overloaded:
      return "overloaded";
    case errc::entity_unavailable:
      return "entity_unavailable";
    case errc::timeout:
      return "timeout";
    case errc::rejected:
      return "rejected";
    case errc::bad_config:
      return "bad_config";
  }
  return "errc(" + std::to_string(static_cast<int>(x)) + ")";
}

caf::error make_error(errc x) {
  return caf::error{static_cast<uint8_t>(x), cairn_error_category};
}

caf::error make_error(errc x, std::string what) {
  return caf::error{static_cast<uint8_t>(x), cairn_error_category,
                    caf::make_message(std::move(what))};
}

errc code_of(const caf::error& err) noexcept {
  if (!err || err.category() != cairn_error_category)
    return errc::none;
  return static_cast<errc>(err.code());
}

namespace {

std::string context_string(const caf::message& ctx) {
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  if (ctx.empty())
    return {};
  return to_string(ctx);
}

} // namespace

std::string context_of(const caf::error& err) {
  if (!err)
    return {};
  return context_string(err.context());
}

std::string render_error(uint8_t code, caf::atom_value category,
                         const caf::message& context) {
  std::string result;
  if (category == cairn_error_category)
    result = to_string(static_cast<errc>(code));
  else
    result = to_string(category) + ":" + std::to_string(code);
  auto ctx = context_string(context);
  if (!ctx.empty()) {
    result += ": ";
    result += ctx;
  }
  return result;
}

std::string describe(const caf::error& err) {
  if (!err)
    return "no error";
  if (err.category() == cairn_error_category)
    return render_error(err.code(), err.category(), err.context());
  return to_string(err);
}

} // namespace cairn
