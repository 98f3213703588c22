#pragma once

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>

#include "caf/expected.hpp"

#include <cairn/journal/errc.hpp>

#include "examples/invoicing/html.hpp"
#include "examples/invoicing/http_server.hpp"

/// What the web interface and the replica's read-only interface share:
/// request bodies and paging parameters, and answers as JSON or HTML.
namespace invoicing::http_util {

using nlohmann::json;

/// The listening socket of a cpp-httplib server, for `widen_backlog`.
///
/// cpp-httplib 0.11 listens with a backlog of 5 (`CPPHTTPLIB_LISTEN_BACKLOG`,
/// compiled into Debian's library). A burst of new connections overflows
/// that queue; the kernel drops the connects it cannot queue, and their
/// clients retry a second or more later, or read no answer.
class listen_socket {
public:
  /// Records the socket `svr` binds; call before `bind_to_port`. Keeps
  /// cpp-httplib's own socket options.
  explicit listen_socket(httplib::Server& svr)
    : fd_(std::make_shared<int>(-1)) {
    svr.set_socket_options([fd = fd_](int sock) {
      httplib::default_socket_options(sock);
      *fd = sock;
    });
  }

  /// Makes the bound server listen again with the system's largest backlog
  /// (`SOMAXCONN`, capped by net.core.somaxconn); call after the bind.
  /// Returns an empty string on success, else why not.
  std::string widen_backlog() const {
    if (*fd_ < 0)
      return "no socket was bound";
    if (::listen(*fd_, SOMAXCONN) != 0)
      return std::string{"listen: "} + std::strerror(errno);
    return {};
  }

private:
  std::shared_ptr<int> fd_;
};

/// A request refused before it reached an entity.
struct bad_request : std::runtime_error {
  int status;
  bad_request(int status, const std::string& what)
    : std::runtime_error(what), status(status) {
    // nop
  }
};

/// Whether a POST comes from an HTML form. A browser encodes a `{` of a form
/// as `%7B`: a form body that starts with `{` or `[` is JSON sent with the
/// wrong type (as `curl -d` does), and is read as JSON.
inline bool is_form(const httplib::Request& req) {
  return req.get_header_value("Content-Type")
             .rfind("application/x-www-form-urlencoded", 0)
           == 0
         && (req.body.empty() || (req.body[0] != '{' && req.body[0] != '['));
}

/// The fields of a POST body: a JSON object, or a form as an object of
/// strings.
inline json body_of(const httplib::Request& req) {
  if (is_form(req)) {
    json obj = json::object();
    httplib::detail::split(
      req.body.data(), req.body.data() + req.body.size(), '&',
      [&](const char* b, const char* e) {
        std::string pair{b, e};
        auto eq = pair.find('=');
        auto key = httplib::detail::decode_url(pair.substr(0, eq), true);
        auto val = eq == std::string::npos
                     ? std::string{}
                     : httplib::detail::decode_url(pair.substr(eq + 1), true);
        obj[key] = val;
      });
    return obj;
  }
  auto obj = json::parse(req.body, nullptr, false);
  if (obj.is_discarded())
    throw bad_request(400, "the body is not JSON");
  if (!obj.is_object())
    throw bad_request(400, "the body is not a JSON object");
  return obj;
}

inline std::string string_field(const json& obj, const char* name) {
  auto i = obj.find(name);
  if (i == obj.end())
    throw bad_request(400, std::string{"missing field: "} + name);
  if (!i->is_string())
    throw bad_request(400,
                      std::string{"field "} + name + ": expected a string");
  return i->get<std::string>();
}

inline int64_t cents_field(const json& obj, const char* name) {
  auto i = obj.find(name);
  if (i == obj.end())
    throw bad_request(400, std::string{"missing field: "} + name);
  if (i->is_number_integer())
    return i->get<int64_t>();
  if (i->is_string()) { // a form field
    auto& str = i->get_ref<const std::string&>();
    try {
      size_t used = 0;
      auto x = std::stoll(str, &used);
      if (used == str.size())
        return x;
    } catch (const std::exception&) {
      // below
    }
  }
  throw bad_request(400, std::string{"field "} + name
                           + ": expected an integer number of cents");
}

/// Parses the paging parameters into (offset, limit).
inline std::pair<int64_t, int64_t> paging_of(const httplib::Request& req) {
  auto param
    = [&](const char* name, int64_t fallback, int64_t min, int64_t max) {
        if (!req.has_param(name))
          return fallback;
        auto str = req.get_param_value(name);
        try {
          size_t used = 0;
          auto x = std::stoll(str, &used);
          if (used == str.size() && x >= min && x <= max)
            return static_cast<int64_t>(x);
        } catch (const std::exception&) {
          // below
        }
        throw bad_request(400, std::string{"parameter "} + name + ": expected "
                                 + std::to_string(min) + " to "
                                 + std::to_string(max));
      };
  constexpr int64_t max_limit = 100;
  if (req.has_param("page") || req.has_param("size")) {
    auto size = param("size", 20, 1, max_limit);
    auto page = param("page", 1, 1, int64_t{1} << 40);
    return {(page - 1) * size, size};
  }
  return {param("offset", 0, 0, int64_t{1} << 40),
          param("limit", 20, 1, max_limit)};
}

template <class T>
T must(caf::expected<T> x) {
  if (!x)
    throw std::runtime_error(cairn::describe(x.error()));
  return std::move(*x);
}

inline void answer(const httplib::Request& req, httplib::Response& res,
                   int status, const json& body,
                   const std::function<std::string()>& page) {
  res.status = status;
  if (wants_html(req.get_header_value("Accept")))
    res.set_content(page(), "text/html; charset=utf-8");
  else
    res.set_content(body.dump() + "\n", "application/json");
}

inline void fail(const httplib::Request& req, httplib::Response& res,
                 int status, const std::string& text) {
  res.status = status;
  if (status == 503)
    res.set_header("Retry-After", "1");
  if (is_form(req) || wants_html(req.get_header_value("Accept")))
    res.set_content(html::error_page(status, text), "text/html; charset=utf-8");
  else
    res.set_content(json{{"error", text}, {"status", status}}.dump() + "\n",
                    "application/json");
}

/// Runs `f`, turning its exceptions into error answers.
template <class F>
inline void guarded(const httplib::Request& req, httplib::Response& res, F f) {
  try {
    f();
  } catch (const bad_request& ex) {
    fail(req, res, ex.status, ex.what());
  } catch (const std::exception& ex) {
    fail(req, res, 500, ex.what());
  }
}

} // namespace invoicing::http_util
