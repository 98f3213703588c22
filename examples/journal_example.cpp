/// A tour of the journal API on the invoicing domain of seed 004: draft
/// invoices get items, are sent to an address and paid.
///
/// Run it as `cairn-journal-example [--journal.path=DIR]` (default
/// `./cairn-data`), then inspect DIR with `cairn-journal ls DIR` and friends.
/// Each run adds three new invoices and continues the streams it finds:
/// a second run appends after the versions the first left.
///
/// What it shows:
/// - event structs registered with a `journal::codec` under stable names;
/// - write groups with expected versions: `no_stream` for new streams, the
///   exact current version for existing ones;
/// - one group spanning two streams (a payment lands on the invoice and on
///   the customer's account at once);
/// - a conflicting group rejected alone, with its error text, while the other
///   group of the same commit commits;
/// - reading streams back in chunks and folding the decoded events.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <cairn/journal/codec.hpp>
#include <cairn/journal/errc.hpp>
#include <cairn/journal/journal.hpp>
#include <cairn/journal/write_group.hpp>

namespace invoicing {

// -- events -------------------------------------------------------------------

struct address {
  std::string name;
  std::string street;
  std::string city;
  std::string country;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(name, street, city, country);
  }
};

struct invoice_created {
  std::string invoice_id;
  std::string customer;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(invoice_id, customer);
  }
};

struct invoice_item_added {
  std::string invoice_id;
  std::string description;
  uint32_t count = 0;
  /// Price of one item in cents.
  int64_t unit_price = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(invoice_id, description, count, unit_price);
  }
};

struct invoice_sent {
  std::string invoice_id;
  address to;
  /// Total in cents at the time of sending.
  int64_t total = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(invoice_id, to, total);
  }
};

struct payment_received {
  std::string invoice_id;
  /// Amount in cents.
  int64_t amount = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(invoice_id, amount);
  }
};

using event = std::variant<invoice_created, invoice_item_added, invoice_sent,
                           payment_received>;

cairn::journal::codec make_codec() {
  cairn::journal::codec result;
  result.add<invoice_created>("invoice_created")
    .add<invoice_item_added>("invoice_item_added")
    .add<invoice_sent>("invoice_sent")
    .add<payment_received>("payment_received");
  return result;
}

// -- state --------------------------------------------------------------------

/// An invoice folded from its events: draft, then sent, then paid.
struct invoice {
  std::string id;
  std::string customer;
  std::vector<invoice_item_added> items;
  std::optional<address> sent_to;
  int64_t total = 0;
  int64_t paid = 0;
  /// Version of the last event folded in.
  uint64_t version = 0;

  const char* status() const {
    if (!sent_to)
      return "draft";
    return paid >= total ? "paid" : "sent";
  }
};

invoice apply(invoice st, const event& ev) {
  if (auto x = std::get_if<invoice_created>(&ev)) {
    st.id = x->invoice_id;
    st.customer = x->customer;
  } else if (auto x = std::get_if<invoice_item_added>(&ev)) {
    st.items.push_back(*x);
    st.total += x->count * x->unit_price;
  } else if (auto x = std::get_if<invoice_sent>(&ev)) {
    st.sent_to = x->to;
  } else if (auto x = std::get_if<payment_received>(&ev)) {
    st.paid += x->amount;
  }
  return st;
}

} // namespace invoicing

namespace {

using namespace invoicing;
namespace cj = cairn::journal;

/// Thrown for failures the example does not expect; main reports it.
struct unexpected {
  std::string what;
};

std::string money(int64_t cents) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%lld.%02lld",
                static_cast<long long>(cents / 100),
                static_cast<long long>(cents % 100));
  return buf;
}

/// Encodes `x` with the codec and tags it with correlation and causation.
template <class T>
cj::event_record record(const cj::codec& c, const T& x,
                        const std::string& correlation,
                        const std::string& causation) {
  auto rec = c.encode(x);
  rec.correlation_id = correlation;
  rec.causation_id = causation;
  return rec;
}

/// Commits `groups` and returns the outcomes; a failed commit is
/// unexpected.
std::vector<cj::journal::group_outcome>
commit(cj::journal& j, const std::vector<cj::write_group>& groups) {
  auto res = j.commit(groups);
  if (!res)
    throw unexpected{"commit failed: " + cairn::describe(res.error())};
  return std::move(*res);
}

uint64_t version_of(const cj::journal& j, const std::string& stream) {
  auto v = j.stream_version(stream);
  if (!v)
    throw unexpected{cairn::describe(v.error())};
  return *v;
}

/// Returns the number of the last invoice stream, 0 if none.
int last_invoice_number(const cj::journal& j) {
  auto list = j.streams();
  if (!list)
    throw unexpected{cairn::describe(list.error())};
  int result = 0;
  for (auto& info : *list)
    if (cj::category_of(info.name) == "invoice")
      result = std::max(result, std::atoi(info.name.c_str() + 8));
  return result;
}

/// A new draft invoice with its items: one group, one new stream.
cj::write_group draft_group(const cj::codec& c, const std::string& id,
                            const std::string& customer, uint32_t widgets) {
  auto stream = "invoice-" + id;
  auto cmd = "cmd-create-" + id;
  cj::append app{stream, cj::expected_version::no_stream(), {}};
  app.events.push_back(record(c, invoice_created{id, customer}, stream, cmd));
  app.events.push_back(
    record(c, invoice_item_added{id, "Widget", widgets, 1250}, stream, cmd));
  app.events.push_back(
    record(c, invoice_item_added{id, "Support hours", 2, 9000}, stream, cmd));
  cj::write_group g;
  g.appends.push_back(std::move(app));
  return g;
}

/// Sends a draft: appends after the version the writer knows.
cj::write_group send_group(const cj::codec& c, const std::string& id,
                           uint64_t known_version, const address& to,
                           int64_t total) {
  auto stream = "invoice-" + id;
  cj::append app{stream, cj::expected_version::exact(known_version), {}};
  app.events.push_back(
    record(c, invoice_sent{id, to, total}, stream, "cmd-send-" + id));
  cj::write_group g;
  g.appends.push_back(std::move(app));
  return g;
}

/// A payment lands on the invoice and on the customer's account in one
/// group: both streams or neither. Each append expects the version read
/// just before, so a concurrent writer would make the group fail whole.
cj::write_group payment_group(const cj::journal& j, const cj::codec& c,
                              const std::string& id,
                              const std::string& customer, int64_t amount) {
  auto cmd = "cmd-pay-" + id;
  auto inv = "invoice-" + id;
  auto acct = "customer-" + customer;
  auto ev = record(c, payment_received{id, amount}, inv, cmd);
  cj::write_group g;
  g.appends.push_back(
    {inv, cj::expected_version::exact(version_of(j, inv)), {ev}});
  g.appends.push_back(
    {acct, cj::expected_version::exact(version_of(j, acct)), {ev}});
  g.dedup_keys.push_back(cmd); // a retried payment command has no effect
  return g;
}

/// Reads an invoice stream in chunks and folds it.
invoice load(const cj::journal& j, const cj::codec& c,
             const std::string& stream) {
  invoice st;
  for (uint64_t from = 1;;) {
    auto events = j.read_stream(stream, from, 64);
    if (!events)
      throw unexpected{cairn::describe(events.error())};
    if (events->empty())
      return st;
    for (auto& ev : *events) {
      auto x = c.decode_variant<invoice_created, invoice_item_added,
                                invoice_sent, payment_received>(ev);
      if (!x)
        throw unexpected{cairn::describe(x.error())};
      st = invoicing::apply(std::move(st), *x);
      st.version = ev.version;
    }
    from = events->back().version + 1;
  }
}

/// Writes three new invoices numbered after `first - 1`, sends two and pays
/// one. Returns their ids.
std::vector<std::string> write_invoices(cj::journal& j, const cj::codec& c,
                                        int first) {
  std::vector<std::string> ids;
  for (int i = first; i < first + 3; ++i)
    ids.push_back(std::to_string(i));
  std::vector<cj::write_group> drafts;
  for (size_t i = 0; i < ids.size(); ++i)
    drafts.push_back(draft_group(c, ids[i], i == 1 ? "globex" : "acme",
                                 static_cast<uint32_t>(i) + 1));
  for (auto& out : commit(j, drafts))
    if (!out)
      throw unexpected{"draft rejected: " + cairn::describe(out.error())};
  std::cout << "created invoice-" << ids.front() << " to invoice-" << ids.back()
            << " in one commit of " << drafts.size() << " groups\n";
  address acme{"Acme Corp", "1 Main St", "Springfield", "US"};
  address globex{"Globex", "42 Industrial Way", "Cypress Creek", "US"};
  auto first_draft = load(j, c, "invoice-" + ids[0]);
  auto second_draft = load(j, c, "invoice-" + ids[1]);
  std::vector<cj::write_group> sends;
  sends.push_back(
    send_group(c, ids[0], first_draft.version, acme, first_draft.total));
  sends.push_back(
    send_group(c, ids[1], second_draft.version, globex, second_draft.total));
  for (auto& out : commit(j, sends))
    if (!out)
      throw unexpected{"send rejected: " + cairn::describe(out.error())};
  std::cout << "sent invoice-" << ids[0] << " and invoice-" << ids[1] << '\n';
  auto pay = payment_group(j, c, ids[0], "acme", first_draft.total);
  auto paid = j.commit(pay);
  if (!paid)
    throw unexpected{"payment rejected: " + cairn::describe(paid.error())};
  std::cout << "invoice-" << ids[0] << " paid: invoice at version "
            << paid->appends[0].last_version << ", customer-acme at version "
            << paid->appends[1].last_version << '\n';
  return ids;
}

/// Commits a stale write next to a valid one: the stale group is rejected
/// alone.
void show_conflict(cj::journal& j, const cj::codec& c, const std::string& id) {
  auto stream = "invoice-" + id;
  auto stale = cj::write_group{};
  stale.appends.push_back(
    {stream,
     cj::expected_version::exact(1), // someone read the invoice long ago
     {record(c, invoice_item_added{id, "Late item", 1, 100}, stream,
             "cmd-x")}});
  auto fresh = cj::write_group{};
  fresh.appends.push_back(
    {stream,
     cj::expected_version::exact(version_of(j, stream)),
     {record(c, invoice_item_added{id, "Rush fee", 1, 500}, stream, "cmd-y")}});
  auto outcomes = commit(j, {stale, fresh});
  if (outcomes[0]
      || cairn::code_of(outcomes[0].error()) != cairn::errc::conflict)
    throw unexpected{"the stale write was not rejected as a conflict"};
  if (!outcomes[1])
    throw unexpected{"the fresh write failed: "
                     + cairn::describe(outcomes[1].error())};
  std::cout << "stale write rejected: " << cairn::describe(outcomes[0].error())
            << "\nfresh write in the same commit: " << stream
            << " now at version " << outcomes[1]->appends[0].last_version
            << '\n';
}

void print_invoice(const invoice& inv) {
  std::cout << "invoice " << inv.id << " for " << inv.customer << ": "
            << inv.status() << ", total " << money(inv.total) << ", paid "
            << money(inv.paid) << '\n';
  for (auto& item : inv.items)
    std::cout << "  " << item.count << " x " << item.description << " at "
              << money(item.unit_price) << '\n';
  if (inv.sent_to)
    std::cout << "  sent to " << inv.sent_to->name << ", "
              << inv.sent_to->street << ", " << inv.sent_to->city << ", "
              << inv.sent_to->country << '\n';
}

void print_account(const cj::journal& j) {
  auto list = j.streams();
  if (!list)
    throw unexpected{cairn::describe(list.error())};
  auto c = make_codec();
  std::cout << "\n-- account: " << list->size() << " streams --\n";
  std::vector<std::pair<int, std::string>> invoices; // in number order
  for (auto& info : *list)
    if (cj::category_of(info.name) == "invoice")
      invoices.emplace_back(std::atoi(info.name.c_str() + 8), info.name);
  std::sort(invoices.begin(), invoices.end());
  for (auto& entry : invoices)
    print_invoice(load(j, c, entry.second));
  auto last = j.last_position();
  if (last)
    std::cout << "global log ends at position " << *last << '\n';
}

int run(const std::string& path) {
  auto opened = cj::journal::open(path);
  if (!opened) {
    std::cerr << "journal-example: " << cairn::describe(opened.error()) << '\n';
    return 1;
  }
  auto& j = **opened;
  auto c = make_codec();
  auto first = last_invoice_number(j) + 1;
  std::cout << "journal at " << path
            << (first > 1
                  ? ": continuing after invoice-" + std::to_string(first - 1)
                  : ": new")
            << '\n';
  auto ids = write_invoices(j, c, first);
  show_conflict(j, c, ids[2]);
  print_account(j);
  std::cout << "\ninspect it with: cairn-journal ls " << path << '\n';
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  std::string path = "./cairn-data";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--journal.path=", 0) == 0) {
      path = arg.substr(15);
    } else if (arg == "--help" || arg == "-h") {
      std::cout << "usage: cairn-journal-example [--journal.path=DIR]\n"
                   "writes invoices to the journal in DIR (default "
                   "./cairn-data), continuing what an earlier run wrote\n";
      return 0;
    } else {
      std::cerr << "journal-example: unknown argument '" << arg << "'\n";
      return 2;
    }
  }
  try {
    return run(path);
  } catch (const unexpected& ex) {
    std::cerr << "journal-example: " << ex.what << '\n';
    return 1;
  }
}
