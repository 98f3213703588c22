#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "examples/invoicing/invoice.hpp"

/// The HTML representations of the web interface: the page at `/` (the
/// invoices with their state and total, the statistics, and forms to create
/// an invoice, add an item, send and pay), one invoice, and an error. Plain
/// HTML forms that POST `application/x-www-form-urlencoded`: no JavaScript.
/// Every text that comes from a user goes through `escape`.
namespace invoicing::html {

/// Escapes `&`, `<`, `>`, `"` and `'` for HTML text and attribute values.
inline std::string escape(const std::string& str) {
  std::string result;
  result.reserve(str.size());
  for (char c : str) {
    switch (c) {
      case '&':
        result += "&amp;";
        break;
      case '<':
        result += "&lt;";
        break;
      case '>':
        result += "&gt;";
        break;
      case '"':
        result += "&quot;";
        break;
      case '\'':
        result += "&#39;";
        break;
      default:
        result += c;
    }
  }
  return result;
}

/// The value of `key` in `obj` as text (strings as they are, numbers
/// printed), or an empty string.
inline std::string text(const nlohmann::json& obj, const char* key) {
  auto i = obj.find(key);
  if (i == obj.end() || i->is_null())
    return {};
  if (i->is_string())
    return i->get<std::string>();
  return i->dump();
}

/// The integer value of `key` in `obj`, or 0.
inline int64_t number(const nlohmann::json& obj, const char* key) {
  auto i = obj.find(key);
  return i != obj.end() && i->is_number_integer() ? i->get<int64_t>() : 0;
}

/// The start of every page, up to and including `<body>`.
inline std::string head(const std::string& title) {
  return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<title>"
         + escape(title)
         + "</title><style>"
           "body{font-family:sans-serif;margin:2em}"
           "table{border-collapse:collapse}"
           "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}"
           "form{display:inline-block;margin:.1em}"
           "input{width:9em}.error{color:#a00}"
           "</style></head><body>\n";
}

/// The forms of one invoice row, by its state: a draft takes items and can
/// be sent, a sent invoice can be paid.
inline std::string row_forms(const nlohmann::json& row) {
  auto id = escape(text(row, "id"));
  auto state = text(row, "state");
  std::string out;
  if (state == "draft") {
    out += "<form class=\"add-item\" method=\"post\" action=\"/invoices/" + id
           + "/items\"><input name=\"description\" placeholder=\"description\""
             " required><input name=\"cents\" type=\"number\" min=\"1\""
             " placeholder=\"cents\" required><button type=\"submit\">Add"
             " item</button></form>";
    out += "<form class=\"send\" method=\"post\" action=\"/invoices/" + id
           + "/send\"><input name=\"address\" placeholder=\"address\""
             " required><button type=\"submit\">Send</button></form>";
  } else if (state == "sent") {
    out += "<form class=\"pay\" method=\"post\" action=\"/invoices/" + id
           + "/payments\"><input name=\"cents\" type=\"number\" value=\""
           + std::to_string(number(row, "total"))
           + "\" required><button type=\"submit\">Pay</button></form>";
  }
  return out;
}

/// The statistics section: counts, amounts, and amounts per customer.
inline std::string statistics(const nlohmann::json& stats) {
  std::string out = "<section id=\"statistics\"><h2>Statistics</h2><p>";
  out += "<span class=\"created\">" + std::to_string(number(stats, "created"))
         + "</span> created, <span class=\"sent\">"
         + std::to_string(number(stats, "sent"))
         + "</span> sent, <span class=\"paid\">"
         + std::to_string(number(stats, "paid"))
         + "</span> paid; invoiced <span class=\"invoiced\">"
         + money(number(stats, "invoiced_cents"))
         + "</span>, paid <span class=\"paid-amount\">"
         + money(number(stats, "paid_cents")) + "</span></p>";
  auto customers = stats.find("customers");
  if (customers != stats.end() && customers->is_array()
      && !customers->empty()) {
    out += "<table><tr><th>Customer</th><th>Invoiced</th><th>Paid</th></tr>";
    for (auto& c : *customers)
      out += "<tr><td>" + escape(text(c, "customer")) + "</td><td>"
             + money(number(c, "invoiced_cents")) + "</td><td>"
             + money(number(c, "paid_cents")) + "</td></tr>";
    out += "</table>";
  }
  return out + "</section>\n";
}

/// The page at `/`: `page` is the JSON of `GET /invoices` (`invoices`,
/// `offset`, `limit`, `count`), `stats` the JSON of `GET /statistics`.
inline std::string index(const nlohmann::json& page,
                         const nlohmann::json& stats) {
  std::string out = head("Invoices");
  out += "<h1>Invoices</h1>\n<table id=\"invoices\"><tr><th>Id</th>"
         "<th>Customer</th><th>State</th><th>Items</th><th>Total</th>"
         "<th>Actions</th></tr>\n";
  auto rows = page.find("invoices");
  if (rows != page.end() && rows->is_array())
    for (auto& row : *rows) {
      auto id = escape(text(row, "id"));
      out += "<tr id=\"invoice-" + id
             + "\"><td class=\"id\"><a href=\"/invoices/" + id + "\">" + id
             + "</a></td><td class=\"customer\">"
             + escape(text(row, "customer")) + "</td><td class=\"state\">"
             + escape(text(row, "state")) + "</td><td class=\"items\">"
             + std::to_string(number(row, "items"))
             + "</td><td class=\"total\">" + money(number(row, "total"))
             + "</td><td>" + row_forms(row) + "</td></tr>\n";
    }
  out += "</table>\n";
  auto offset = number(page, "offset");
  auto limit = number(page, "limit");
  auto count = number(page, "count");
  out += "<p class=\"paging\">";
  if (offset < count)
    out += "invoices " + std::to_string(offset + 1) + " to "
           + std::to_string(std::min(offset + limit, count)) + " of "
           + std::to_string(count);
  else
    out += std::to_string(count) + " invoices";
  if (offset > 0)
    out += " <a href=\"/?offset="
           + std::to_string(std::max<int64_t>(0, offset - limit))
           + "&amp;limit=" + std::to_string(limit) + "\">previous</a>";
  if (offset + limit < count)
    out += " <a href=\"/?offset=" + std::to_string(offset + limit)
           + "&amp;limit=" + std::to_string(limit) + "\">next</a>";
  out += "</p>\n<h2>New invoice</h2><form class=\"create\" method=\"post\""
         " action=\"/invoices\"><input name=\"id\" placeholder=\"id\""
         " required><input name=\"customer\" placeholder=\"customer\""
         " required><button type=\"submit\">Create</button></form>\n";
  out += statistics(stats);
  return out + "</body></html>\n";
}

/// The page of one invoice (`inv` as `to_json` makes it).
inline std::string invoice_page(const nlohmann::json& inv) {
  auto id = escape(text(inv, "id"));
  std::string out = head("Invoice " + text(inv, "id"));
  out += "<h1>Invoice <span class=\"id\">" + id
         + "</span></h1>\n<p>For <span"
           " class=\"customer\">"
         + escape(text(inv, "customer")) + "</span>, <span class=\"state\">"
         + escape(text(inv, "state")) + "</span>";
  if (!text(inv, "address").empty())
    out += ", sent to <span class=\"address\">" + escape(text(inv, "address"))
           + "</span>";
  if (text(inv, "state") == "paid")
    out += ", paid <span class=\"paid\">" + money(number(inv, "paid"))
           + "</span>";
  out += "</p>\n<table class=\"items\"><tr><th>Item</th><th>Amount</th></tr>";
  auto items = inv.find("items");
  if (items != inv.end() && items->is_array())
    for (auto& x : *items)
      out += "<tr><td>" + escape(text(x, "description")) + "</td><td>"
             + money(number(x, "cents")) + "</td></tr>";
  out += "<tr><th>Total</th><th class=\"total\">" + money(number(inv, "total"))
         + "</th></tr></table>\n<p>";
  nlohmann::json row = inv;
  out += row_forms(row);
  out += "</p><p><a href=\"/\">All invoices</a></p></body></html>\n";
  return out;
}

/// The page of an error: its status and its text.
inline std::string error_page(int status, const std::string& what) {
  return head("Error " + std::to_string(status)) + "<h1>Error "
         + std::to_string(status) + "</h1><p class=\"error\">" + escape(what)
         + "</p><p><a href=\"/\">All invoices</a></p>"
           "</body></html>\n";
}

} // namespace invoicing::html
