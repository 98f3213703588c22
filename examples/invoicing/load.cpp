#include "examples/invoicing/load.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace invoicing {

namespace {

using clock_type = std::chrono::steady_clock;

/// Runs `body(client, n, cli, record)` on `settings.clients` threads until
/// the time is up; `record(ok, t0)` counts one request started at `t0`.
template <class Body>
load_result run_clients(const load_settings& settings, Body body) {
  std::vector<std::vector<uint64_t>> latencies(settings.clients);
  std::atomic<uint64_t> errors{0};
  auto start = clock_type::now();
  auto end = start
             + std::chrono::duration_cast<clock_type::duration>(
               std::chrono::duration<double>(settings.seconds));
  std::vector<std::thread> threads;
  for (size_t c = 0; c < settings.clients; ++c)
    threads.emplace_back([&, c] {
      httplib::Client cli{settings.host, settings.port};
      cli.set_keep_alive(true);
      cli.set_tcp_nodelay(true);
      cli.set_read_timeout(30, 0);
      auto& lat = latencies[c];
      auto record = [&](bool ok, clock_type::time_point t0) {
        lat.push_back(static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(
            clock_type::now() - t0)
            .count()));
        if (!ok)
          ++errors;
      };
      for (uint64_t n = 0; clock_type::now() < end; ++n)
        body(c, n, cli, record);
    });
  for (auto& t : threads)
    t.join();
  load_result result;
  result.seconds
    = std::chrono::duration<double>(clock_type::now() - start).count();
  std::vector<uint64_t> all;
  for (auto& lat : latencies)
    all.insert(all.end(), lat.begin(), lat.end());
  std::sort(all.begin(), all.end());
  result.requests = all.size();
  result.errors = errors;
  if (!all.empty()) {
    result.p50_us = all[all.size() / 2];
    result.p99_us = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  }
  return result;
}

bool ok(const httplib::Result& res) {
  return res && res->status >= 200 && res->status < 300;
}

std::string line(const char* what, const load_settings& settings,
                 const load_result& r) {
  char buf[256];
  std::snprintf(buf, sizeof(buf),
                "%s: %llu requests in %.1f s, %.0f requests/s with %zu "
                "clients (p50 %.2f ms, p99 %.2f ms), %llu errors",
                what, static_cast<unsigned long long>(r.requests), r.seconds,
                r.per_second(), settings.clients, r.p50_us / 1000.0,
                r.p99_us / 1000.0, static_cast<unsigned long long>(r.errors));
  return buf;
}

} // namespace

std::optional<load_settings>
parse_load_args(const std::vector<std::string>& args, std::string& error) {
  load_settings result;
  bool have_url = false;
  for (auto& arg : args) {
    auto eq = arg.find('=');
    auto key = arg.substr(0, eq);
    auto val = eq == std::string::npos ? std::string{} : arg.substr(eq + 1);
    try {
      if (key == "--url") {
        const std::string scheme = "http://";
        if (val.rfind(scheme, 0) != 0)
          throw std::invalid_argument("expected http://HOST:PORT");
        auto hostport = val.substr(scheme.size());
        if (!hostport.empty() && hostport.back() == '/')
          hostport.pop_back();
        auto colon = hostport.rfind(':');
        if (colon == std::string::npos || colon == 0)
          throw std::invalid_argument("expected http://HOST:PORT");
        result.host = hostport.substr(0, colon);
        auto port = std::stoul(hostport.substr(colon + 1));
        if (port == 0 || port > 65535)
          throw std::invalid_argument("port out of 1..65535");
        result.port = static_cast<uint16_t>(port);
        have_url = true;
      } else if (key == "--clients") {
        auto n = std::stoul(val);
        if (n == 0 || n > 1024)
          throw std::invalid_argument("expected 1 to 1024");
        result.clients = n;
      } else if (key == "--seconds") {
        auto s = std::stod(val);
        if (!(s > 0 && s <= 3600))
          throw std::invalid_argument("expected more than 0, at most 3600");
        result.seconds = s;
      } else {
        error = "unknown argument '" + arg
                + "' (expected --url, --clients, --seconds)";
        return std::nullopt;
      }
    } catch (const std::exception& ex) {
      error = key + ": '" + val + "': " + ex.what();
      return std::nullopt;
    }
  }
  if (!have_url) {
    error = "missing --url=http://HOST:PORT";
    return std::nullopt;
  }
  return result;
}

load_result load_posts(const load_settings& settings, const std::string& tag,
                       std::vector<std::string>& ids) {
  std::mutex mtx;
  return run_clients(
    settings, [&](size_t c, uint64_t n, httplib::Client& cli, auto& record) {
      // Request n of a client: every fifth creates an invoice, the four after
      // it add an item each.
      auto id = tag + "-" + std::to_string(c) + "-" + std::to_string(n / 5);
      auto t0 = clock_type::now();
      if (n % 5 == 0) {
        nlohmann::json body{{"id", id},
                            {"customer", "load " + std::to_string(c)}};
        auto res = cli.Post("/invoices", body.dump(), "application/json");
        record(ok(res), t0);
        std::lock_guard<std::mutex> guard{mtx};
        ids.push_back(id);
      } else {
        nlohmann::json body{{"description", "item " + std::to_string(n)},
                            {"cents", 100}};
        auto res = cli.Post("/invoices/" + id + "/items", body.dump(),
                            "application/json");
        record(ok(res), t0);
      }
    });
}

load_result load_gets(const load_settings& settings,
                      const std::vector<std::string>& paths) {
  return run_clients(
    settings, [&](size_t c, uint64_t n, httplib::Client& cli, auto& record) {
      auto& path = paths[(c * 7919 + n) % paths.size()];
      auto t0 = clock_type::now();
      auto res = cli.Get(path.c_str());
      record(ok(res), t0);
    });
}

int run_load(const std::vector<std::string>& args) {
  std::string error;
  auto settings = parse_load_args(args, error);
  if (!settings) {
    std::cerr << "cairn-invoicing load: " << error << '\n';
    return EXIT_FAILURE;
  }
  httplib::Client probe{settings->host, settings->port};
  if (!probe.Get("/statistics")) {
    std::cerr << "cairn-invoicing load: no answer from http://"
              << settings->host << ':' << settings->port << '\n';
    return EXIT_FAILURE;
  }
  auto tag
    = "load"
      + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count());
  std::vector<std::string> ids;
  auto posts = load_posts(*settings, tag, ids);
  std::cout << line("durable POSTs", *settings, posts) << std::endl;
  if (ids.empty()) {
    std::cerr << "cairn-invoicing load: no invoice created\n";
    return EXIT_FAILURE;
  }
  std::vector<std::string> paths;
  for (auto& id : ids)
    paths.push_back("/invoices/" + id);
  auto gets = load_gets(*settings, paths);
  std::cout << line("GET /invoices/{id}", *settings, gets) << std::endl;
  auto lists = load_gets(*settings, {"/invoices?limit=20"});
  std::cout << line("GET /invoices?limit=20", *settings, lists) << std::endl;
  return posts.errors + gets.errors + lists.errors == 0 ? EXIT_SUCCESS
                                                        : EXIT_FAILURE;
}

} // namespace invoicing
