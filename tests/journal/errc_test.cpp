#include "cairn/journal/errc.hpp"

#include <catch2/catch.hpp>

#include <set>

#include "caf/message.hpp"

using namespace cairn;

TEST_CASE("a Cairn error carries its code, category and context") {
  auto err = make_error(errc::conflict, "stream order-1 expected 3, is at 5");
  CHECK(err.category() == cairn_error_category);
  CHECK(code_of(err) == errc::conflict);
  CHECK(context_of(err) == "stream order-1 expected 3, is at 5");
  CHECK(describe(err) == "conflict: stream order-1 expected 3, is at 5");
  CHECK(err == errc::conflict);
  CHECK(err != errc::duplicate);
}

TEST_CASE("an error without context renders its name alone") {
  auto err = make_error(errc::overloaded);
  CHECK(describe(err) == "overloaded");
  CHECK(context_of(err).empty());
}

TEST_CASE("every code has a distinct name") {
  std::set<std::string> names;
  for (int i = 0; i <= static_cast<int>(errc::bad_config); ++i)
    names.insert(to_string(static_cast<errc>(i)));
  CHECK(names.size() == static_cast<size_t>(errc::bad_config) + 1);
  CHECK(to_string(errc::corrupt_record) == "corrupt_record");
}

TEST_CASE("errors of other categories are not taken for Cairn errors") {
  caf::error other{static_cast<uint8_t>(1), caf::atom("system")};
  CHECK(code_of(other) == errc::none);
  CHECK(code_of(caf::error{}) == errc::none);
  CHECK(describe(caf::error{}) == "no error");
  CHECK(render_error(1, caf::atom("system"), caf::message{})
        == "system:1");
}
