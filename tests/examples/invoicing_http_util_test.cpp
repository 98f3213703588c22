#include "examples/invoicing/http_util.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace invoicing::http_util;

namespace {

httplib::Request request(std::string content_type, std::string body) {
  httplib::Request req;
  req.method = "POST";
  req.set_header("Content-Type", content_type);
  req.body = std::move(body);
  return req;
}

/// The status and text of the `bad_request` that `f` throws.
template <class F>
std::string refusal(F f, int status) {
  try {
    f();
  } catch (const bad_request& ex) {
    CHECK(ex.status == status);
    return ex.what();
  }
  FAIL("no bad_request thrown");
  return {};
}

} // namespace

TEST_CASE("a form body is read as fields, a JSON body as an object") {
  auto req = request("application/x-www-form-urlencoded",
                     "id=a-1&customer=Foo+%26+Bar&cents=12");
  CHECK(is_form(req));
  auto obj = body_of(req);
  CHECK(string_field(obj, "id") == "a-1");
  CHECK(string_field(obj, "customer") == "Foo & Bar");
  CHECK(cents_field(obj, "cents") == 12);
  // JSON sent as a form type (curl -d) is still JSON.
  req = request("application/x-www-form-urlencoded", R"({"cents": 5})");
  CHECK_FALSE(is_form(req));
  CHECK(cents_field(body_of(req), "cents") == 5);
  req = request("application/json", "{");
  CHECK_THAT(refusal([&] { body_of(req); }, 400),
             Catch::Matchers::Contains("not JSON"));
  req = request("application/json", "3");
  CHECK_THAT(refusal([&] { body_of(req); }, 400),
             Catch::Matchers::Contains("not a JSON object"));
}

TEST_CASE("a field that is missing or of the wrong type is named") {
  nlohmann::json obj{{"cents", "12x"}, {"name", 5}};
  CHECK(refusal([&] { string_field(obj, "address"); }, 400)
        == "missing field: address");
  CHECK(refusal([&] { string_field(obj, "name"); }, 400)
        == "field name: expected a string");
  CHECK(refusal([&] { cents_field(obj, "cents"); }, 400)
        == "field cents: expected an integer number of cents");
}

TEST_CASE("paging reads page and size, or offset and limit, in range") {
  httplib::Request req;
  CHECK(paging_of(req) == std::pair<int64_t, int64_t>{0, 20});
  req.params = {{"page", "3"}, {"size", "10"}};
  CHECK(paging_of(req) == std::pair<int64_t, int64_t>{20, 10});
  req.params = {{"offset", "7"}, {"limit", "100"}};
  CHECK(paging_of(req) == std::pair<int64_t, int64_t>{7, 100});
  req.params = {{"limit", "101"}};
  CHECK_THAT(refusal([&] { paging_of(req); }, 400),
             Catch::Matchers::Contains("parameter limit"));
  req.params = {{"page", "1x"}};
  CHECK_THAT(refusal([&] { paging_of(req); }, 400),
             Catch::Matchers::Contains("parameter page"));
}

TEST_CASE("a server's listen backlog is widened after its bind, and a "
          "failure says why") {
  SECTION("before any bind there is no socket to widen") {
    httplib::Server svr;
    listen_socket sock{svr};
    CHECK(sock.widen_backlog() == "no socket was bound");
  }
  SECTION("a bound server's socket is widened") {
    httplib::Server svr;
    listen_socket sock{svr};
    REQUIRE(svr.bind_to_any_port("127.0.0.1") > 0);
    CHECK(sock.widen_backlog().empty());
  }
}
