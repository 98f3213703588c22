#include "examples/invoicing/http_server.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"

#include "cairn/actors/runtime.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/temp_dir.hpp"

// The page of the web interface in a real browser: headless Chromium loads
// `/`, the test fills in and submits the page's own forms (create, then add
// an item) through the DevTools protocol on a pipe
// (--remote-debugging-pipe: JSON messages ended by NUL bytes, the browser
// reading fd 3 and writing fd 4), reads the DOM it lands on, and finally
// checks the page with `chromium --dump-dom`. Every wait has a deadline, and
// the browser is killed when the test ends however it ends.

using namespace invoicing;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using nlohmann::json;

namespace {

using clock_type = std::chrono::steady_clock;

/// The path of Chromium: `$CAIRN_CHROMIUM`, else `chromium` or
/// `chromium-browser` in PATH; empty if none.
std::string find_chromium() {
  if (auto env = std::getenv("CAIRN_CHROMIUM"))
    return env;
  auto path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  for (auto name : {"chromium", "chromium-browser"}) {
    size_t start = 0;
    while (start <= dirs.size()) {
      auto end = dirs.find(':', start);
      if (end == std::string::npos)
        end = dirs.size();
      auto file = dirs.substr(start, end - start) + "/" + name;
      if (::access(file.c_str(), X_OK) == 0)
        return file;
      start = end + 1;
    }
  }
  return {};
}

/// A headless Chromium driven through the DevTools protocol on a pipe.
class browser {
public:
  browser(const std::string& exe, const std::string& profile_dir) {
    int to_browser[2];
    int from_browser[2];
    if (::pipe(to_browser) != 0 || ::pipe(from_browser) != 0)
      throw std::runtime_error("pipe failed");
    std::vector<std::string> args{exe,
                                  "--headless=new",
                                  "--no-sandbox",
                                  "--disable-gpu",
                                  "--no-first-run",
                                  "--remote-debugging-pipe",
                                  "--user-data-dir=" + profile_dir,
                                  "about:blank"};
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ < 0)
      throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      // The child: fd 3 reads what the test writes, fd 4 writes to it.
      ::setpgid(0, 0);
      int in = ::dup(to_browser[0]);
      int out = ::dup(from_browser[1]);
      ::dup2(in, 3);
      ::dup2(out, 4);
      int null = ::open("/dev/null", O_RDWR);
      ::dup2(null, 1);
      ::dup2(null, 2);
      for (int fd = 5; fd < 1024; ++fd)
        ::close(fd);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(to_browser[0]);
    ::close(from_browser[1]);
    out_ = to_browser[1];
    in_ = from_browser[0];
  }

  ~browser() {
    if (out_ >= 0)
      ::close(out_);
    if (in_ >= 0)
      ::close(in_);
    // The whole process group: the browser and its helper processes.
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }

  browser(const browser&) = delete;
  browser& operator=(const browser&) = delete;

  /// Sends a command and returns its result; throws on an error answer, or
  /// when no answer comes within `timeout`.
  json call(const std::string& method, json params = json::object(),
            const std::string& session = {},
            clock_type::duration timeout = 30s) {
    auto id = ++last_id_;
    json msg{{"id", id}, {"method", method}, {"params", std::move(params)}};
    if (!session.empty())
      msg["sessionId"] = session;
    auto str = msg.dump();
    str.push_back('\0');
    size_t sent = 0;
    while (sent < str.size()) {
      auto n = ::write(out_, str.data() + sent, str.size() - sent);
      if (n <= 0)
        throw std::runtime_error("the browser closed its pipe");
      sent += static_cast<size_t>(n);
    }
    auto deadline = clock_type::now() + timeout;
    for (;;) {
      auto reply = next(deadline);
      if (reply.contains("id") && reply["id"] == id) {
        if (reply.contains("error"))
          throw std::runtime_error(method + ": " + reply["error"].dump());
        return reply["result"];
      }
    }
  }

  /// Evaluates `expr` in the page of `session`; returns its value, or null
  /// when the page is between two documents.
  json eval(const std::string& session, const std::string& expr) {
    try {
      auto r = call("Runtime.evaluate",
                    {{"expression", expr}, {"returnByValue", true}}, session);
      if (r.contains("exceptionDetails"))
        return nullptr;
      return r["result"].value("value", json{});
    } catch (const std::runtime_error&) {
      return nullptr; // the context went away with a navigation
    }
  }

  /// Evaluates `expr` until it yields `true`, for `timeout` at most.
  bool wait_for(const std::string& session, const std::string& expr,
                clock_type::duration timeout = 20s) {
    auto deadline = clock_type::now() + timeout;
    while (clock_type::now() < deadline) {
      if (eval(session, expr) == true)
        return true;
      std::this_thread::sleep_for(20ms); // polling interval of the DOM
    }
    return false;
  }

private:
  /// Reads the next message, waiting until `deadline` at most.
  json next(clock_type::time_point deadline) {
    for (;;) {
      auto nul = buf_.find('\0');
      if (nul != std::string::npos) {
        auto msg = json::parse(buf_.substr(0, nul), nullptr, false);
        buf_.erase(0, nul + 1);
        if (!msg.is_discarded())
          return msg;
        continue;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - clock_type::now())
                    .count();
      if (left <= 0)
        throw std::runtime_error("the browser did not answer in time");
      pollfd pfd{in_, POLLIN, 0};
      auto rc = ::poll(&pfd, 1, static_cast<int>(left));
      if (rc < 0)
        throw std::runtime_error("poll failed");
      if (rc == 0)
        continue;
      char chunk[65536];
      auto n = ::read(in_, chunk, sizeof(chunk));
      if (n <= 0)
        throw std::runtime_error("the browser closed its pipe");
      buf_.append(chunk, static_cast<size_t>(n));
    }
  }

  pid_t pid_ = -1;
  int out_ = -1;
  int in_ = -1;
  int64_t last_id_ = 0;
  std::string buf_;
};

} // namespace

TEST_CASE("in a real browser, the page's forms create an invoice and add "
          "an item, and the page shows the new total") {
  auto exe = find_chromium();
  if (exe.empty()) {
    WARN("SKIPPED: chromium is not installed (set CAIRN_CHROMIUM to its "
         "path); the browser test did not run");
    return;
  }
  cairn::test::temp_dir dir;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  cairn::runtime_options opts;
  opts.journal_path = dir.sub("journal");
  auto rt = cairn::runtime::start(sys, opts);
  REQUIRE(rt);
  {
    http_settings hs;
    hs.port = 0;
    http_server srv{sys, **rt, hs};
    REQUIRE_FALSE(srv.start());
    auto url = "http://127.0.0.1:" + std::to_string(srv.port()) + "/";
    std::string dom;
    {
      // The first answer waits for the browser's start, which a busy
      // machine stretches; a browser that does not answer is replaced once.
      std::optional<browser> started;
      json target;
      for (int attempt = 0;; ++attempt) {
        started.emplace(exe, dir.sub("profile-" + std::to_string(attempt)));
        try {
          target
            = started->call("Target.createTarget", {{"url", url}}, {}, 45s);
          break;
        } catch (const std::runtime_error& e) {
          if (attempt == 1)
            throw;
          WARN("the browser did not start in time (" << e.what()
                                                     << "); starting another");
        }
      }
      auto& b = *started;
      auto attached
        = b.call("Target.attachToTarget",
                 {{"targetId", target["targetId"]}, {"flatten", true}});
      std::string session = attached["sessionId"];
      REQUIRE(b.wait_for(session, "document.readyState === 'complete' && "
                                  "!!document.querySelector('form.create')"));
      // Create: the page's own form, filled in and submitted with its
      // button, as a user would.
      REQUIRE(b.eval(session, R"((() => {
        const f = document.querySelector('form.create');
        f.elements['id'].value = 'web-1';
        f.elements['customer'].value = 'Browser <&> Co';
        f.querySelector('button[type=submit]').click();
        return true;
      })())") == true);
      // The form's answer (303) brings the browser back to the page, which
      // now lists the invoice with a form to add items.
      REQUIRE(b.wait_for(session, "document.readyState === 'complete' && "
                                  "!!document.querySelector("
                                  "'#invoice-web-1 form.add-item')"));
      REQUIRE(b.eval(session, R"((() => {
        const f = document.querySelector('#invoice-web-1 form.add-item');
        f.elements['description'].value = 'two hours';
        f.elements['cents'].value = '2500';
        f.querySelector('button[type=submit]').click();
        return true;
      })())") == true);
      REQUIRE(b.wait_for(session,
                         "document.readyState === 'complete' && "
                         "(document.querySelector('#invoice-web-1 .total') "
                         "|| {}).textContent === '25.00'"));
      auto html = b.eval(session, "document.documentElement.outerHTML");
      REQUIRE(html.is_string());
      dom = html.get<std::string>();
      CHECK(b.eval(session, "location.href") == url);
      try {
        b.call("Browser.close", json::object(), {}, 5s);
      } catch (const std::runtime_error&) {
        // closing races with the pipe's end: the destructor kills it anyway
      }
    }
    CHECK_THAT(dom, Contains("<td class=\"customer\">Browser &lt;&amp;&gt; "
                             "Co</td>"));
    CHECK_THAT(dom, Contains("<td class=\"state\">draft</td>"));
    CHECK_THAT(dom, Contains("<td class=\"items\">1</td>"));
    CHECK_THAT(dom, Contains("<td class=\"total\">25.00</td>"));
    // What the forms wrote is in the journal: two events of invoice web-1.
    auto last = (*rt)->journal()->last_position();
    REQUIRE(last);
    CHECK(*last == 2);
    // And the page as a fresh browser dumps it.
    auto dumped = cairn::test::run(
      {exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
       "--user-data-dir=" + dir.sub("profile2"), "--dump-dom", url},
      60000);
    INFO(dumped.output.substr(0, 2000));
    CHECK(dumped.exit_code == 0);
    CHECK_THAT(dumped.output, Contains("id=\"invoice-web-1\""));
    CHECK_THAT(dumped.output, Contains("<td class=\"total\">25.00</td>"));
    CHECK_THAT(dumped.output, Contains("<span class=\"created\">1</span>"));
  }
  (*rt)->stop();
}
