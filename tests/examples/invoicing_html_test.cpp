#include "examples/invoicing/html.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace invoicing;
using Catch::Matchers::Contains;
using nlohmann::json;

TEST_CASE("escape replaces the characters that HTML interprets") {
  CHECK(html::escape("plain text 123") == "plain text 123");
  CHECK(html::escape("<script>alert(\"x\")</script>")
        == "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
  CHECK(html::escape("Tom & Jerry's") == "Tom &amp; Jerry&#39;s");
  CHECK(html::escape("") == "");
}

TEST_CASE("the page lists invoices with forms by their state, all text "
          "escaped") {
  json page{{"invoices",
             {{{"id", "1"},
               {"customer", "<i>Evil</i>"},
               {"state", "draft"},
               {"items", 2},
               {"total", 1250}},
              {{"id", "2"},
               {"customer", "B"},
               {"state", "sent"},
               {"items", 1},
               {"total", 999}},
              {{"id", "3"},
               {"customer", "C"},
               {"state", "paid"},
               {"items", 1},
               {"total", 5}}}},
            {"offset", 0},
            {"limit", 20},
            {"count", 3}};
  json stats{{"created", 3},
             {"sent", 2},
             {"paid", 1},
             {"invoiced_cents", 1004},
             {"paid_cents", 5},
             {"customers",
              {{{"customer", "<i>Evil</i>"},
                {"invoiced_cents", 0},
                {"paid_cents", 0}}}}};
  auto out = html::index(page, stats);
  CHECK_THAT(out, !Contains("<i>Evil"));
  CHECK_THAT(out, Contains("&lt;i&gt;Evil&lt;/i&gt;"));
  CHECK_THAT(out, Contains("<td class=\"total\">12.50</td>"));
  // A draft takes items and can be sent, a sent invoice can be paid (with
  // its total filled in), a paid one has no form.
  CHECK_THAT(out, Contains("action=\"/invoices/1/items\""));
  CHECK_THAT(out, Contains("action=\"/invoices/1/send\""));
  CHECK_THAT(out, !Contains("action=\"/invoices/1/payments\""));
  CHECK_THAT(out, Contains("action=\"/invoices/2/payments\""));
  CHECK_THAT(out, Contains("value=\"999\""));
  CHECK_THAT(out, !Contains("action=\"/invoices/2/items\""));
  CHECK_THAT(out, !Contains("action=\"/invoices/3/"));
  CHECK_THAT(out, Contains("<form class=\"create\" method=\"post\" "
                           "action=\"/invoices\">"));
  CHECK_THAT(out, Contains("<span class=\"invoiced\">10.04</span>"));
  CHECK_THAT(out, Contains("invoices 1 to 3 of 3"));
  CHECK_THAT(out, !Contains("<script"));
}

TEST_CASE("the page links the next and previous pages") {
  json page{
    {"invoices", json::array()}, {"offset", 20}, {"limit", 10}, {"count", 45}};
  auto out = html::index(page, json::object());
  CHECK_THAT(out, Contains("href=\"/?offset=10&amp;limit=10\">previous"));
  CHECK_THAT(out, Contains("href=\"/?offset=30&amp;limit=10\">next"));
  CHECK_THAT(out, Contains("invoices 21 to 30 of 45"));
  page["count"] = 0;
  page["offset"] = 0;
  out = html::index(page, json::object());
  CHECK_THAT(out, Contains("<p class=\"paging\">0 invoices"));
  CHECK_THAT(out, !Contains("next"));
}

TEST_CASE("the invoice page and the error page escape their text") {
  json inv{{"id", "9"},
           {"customer", "A&B"},
           {"state", "paid"},
           {"items", {{{"description", "<b>x</b>"}, {"cents", 100}}}},
           {"total", 100},
           {"address", "\"home\""},
           {"paid", 100}};
  auto out = html::invoice_page(inv);
  CHECK_THAT(out, Contains("A&amp;B"));
  CHECK_THAT(out, Contains("&lt;b&gt;x&lt;/b&gt;"));
  CHECK_THAT(out, Contains("&quot;home&quot;"));
  CHECK_THAT(out, Contains("<th class=\"total\">1.00</th>"));
  auto err = html::error_page(409, "not_draft: <sent>");
  CHECK_THAT(err, Contains("Error 409"));
  CHECK_THAT(err, Contains("not_draft: &lt;sent&gt;"));
}
