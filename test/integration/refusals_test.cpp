// What the log says when the server or accept() refuses someone: one line
// at a level the default logger shows, naming what was refused and why,
// with the peer's text made harmless, and no more than a budget of lines a
// second however many refusals there are.
#define BOOST_TEST_MODULE refusals
#include "support.hpp"

#include "http/refusal_log.hpp"

#include <tether/accept.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <functional>
#include <mutex>
#include <regex>
#include <vector>

using namespace test;

namespace {

constexpr char const* upgrade_headers =
    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n";

// Every line, at every level, as the sink received it.
class captured_log {
 public:
  tether::logger logger() {
    return tether::logger(tether::log_level::trace, [this](tether::log_record const& record) {
      std::lock_guard lock(mutex_);
      lines_.push_back({record.level, std::string(record.text)});
    });
  }

  /// The lines a default logger would show that contain `word`.
  std::vector<std::string> shown(std::string const& word) {
    tether::logger const by_default;
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (auto const& [level, text] : lines_)
      if (by_default.enabled(level) && text.find(word) != std::string::npos) out.push_back(text);
    return out;
  }

 private:
  std::mutex mutex_;
  std::vector<std::pair<tether::log_level, std::string>> lines_;
};

std::string get(std::string const& target, std::string const& host, std::string const& extra = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n" + extra + "\r\n";
}

// The status line of the only answer to `request`.
std::string status_of(std::uint16_t port, std::string const& request) {
  raw_client peer(port, "", false);
  peer.send_raw(request);
  auto const head = peer.read_http_head();
  return head.substr(0, head.find("\r\n"));
}

std::string here(std::uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

tether::router echo_app() {
  tether::router r;
  r.websocket("/echo", echo_handler);
  return r;
}

// The echo app on a server whose every log line is captured.
struct logged_server {
  captured_log log;
  running_server server{echo_app(), options_with(log)};
  std::uint16_t port() { return server.port(); }

  static tether::server_options options_with(captured_log& log) {
    tether::server_options options;
    options.logger = log.logger();
    return options;
  }
};

// Steady-clock seconds, as the budget counts them.
std::int64_t second_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_page_on_localhost_opening_ws_127_0_0_1_is_refused_and_the_log_says_why) {
  logged_server fixture;
  auto& log = fixture.log;
  auto const port = fixture.port();
  auto const origin = "http://localhost:" + std::to_string(port);
  BOOST_TEST(status_of(port, get("/echo", here(port), std::string(upgrade_headers) + "Origin: " + origin + "\r\n")) ==
             "HTTP/1.1 403 Forbidden");
  BOOST_REQUIRE(eventually([&] { return !log.shown("refused").empty(); }));
  auto const lines = log.shown("refused");
  BOOST_TEST(lines.size() == 1u);
  // The client's port is the kernel's choice.
  auto const line = std::regex_replace(lines.front(), std::regex("from 127\\.0\\.0\\.1:[0-9]+ "), "from 127.0.0.1:P ",
                                       std::regex_constants::format_first_only);
  BOOST_TEST(line == "refused a WebSocket upgrade to /echo from 127.0.0.1:P (Origin " + origin + ", Host " + here(port) +
                         ") with 403: the Origin is not same-site with the Host (the default policy); "
                         "allow it with endpoint_options::origins");
}

BOOST_AUTO_TEST_CASE(each_kind_of_refusal_is_logged_with_its_reason_and_the_option_behind_it) {
  struct refusal_case {
    std::string what;
    std::function<void(tether::router&, tether::server_options&)> setup;
    std::function<std::string(std::uint16_t)> request;
    std::string status;
    std::string reason;
  };
  auto const signer = std::make_shared<tether::url_token>("a secret of enough length for hmac");
  std::vector<refusal_case> const cases{
      {"an origin not on the allow list",
       [](tether::router& r, tether::server_options&) {
         r.websocket("/list", echo_handler, {.origins = tether::origin::allow({"https://example.org"})});
       },
       [](std::uint16_t port) {
         return get("/list", here(port), std::string(upgrade_headers) + "Origin: http://" + here(port) + "\r\n");
       },
       "HTTP/1.1 403", "the Origin is not on the allow list; add it to endpoint_options::origins"},
      {"no token",
       [&](tether::router& r, tether::server_options&) { r.websocket("/admin", echo_handler, {.token = signer}); },
       [](std::uint16_t port) { return get("/admin", here(port), upgrade_headers); }, "HTTP/1.1 401",
       "needs a token (endpoint_options::token)"},
      {"a token that is not valid, which the log does not repeat",
       [&](tether::router& r, tether::server_options&) { r.websocket("/admin", echo_handler, {.token = signer}); },
       [](std::uint16_t port) { return get("/admin?token=forged-secret", here(port), upgrade_headers); },
       "HTTP/1.1 403", "refused a WebSocket upgrade to /admin from "},
      {"a Host the loopback server does not answer to", [](tether::router&, tether::server_options&) {},
       [](std::uint16_t) { return get("/echo", "rebound.example", upgrade_headers); }, "HTTP/1.1 421",
       "(Host rebound.example) with 421: this server does not answer to that host name (see allowed_hosts)"},
      {"no endpoint at the path", [](tether::router&, tether::server_options&) {},
       [](std::uint16_t port) { return get("/nowhere", here(port), upgrade_headers); }, "HTTP/1.1 404",
       "no WebSocket endpoint at this path"},
      {"a second connection past the rate limit",
       [](tether::router&, tether::server_options& o) {
         o.new_connections_per_second_per_ip = 0.01;
         o.new_connection_burst_per_ip = 1;
       },
       [](std::uint16_t port) {
         status_of(port, get("/", here(port)));  // a 404, which is not a refusal to log
         return get("/echo", here(port), upgrade_headers);
       },
       "HTTP/1.1 429", "with 429: more than 0.01 new connections a second from this address"},
  };
  for (auto const& c : cases) {
    BOOST_TEST_CONTEXT(c.what) {
      captured_log log;
      tether::router r = echo_app();
      tether::server_options options;
      options.logger = log.logger();
      c.setup(r, options);
      running_server server(std::move(r), options);
      BOOST_TEST(status_of(server.port(), c.request(server.port())).starts_with(c.status));
      BOOST_TEST(eventually([&] { return !log.shown("refused").empty(); }));
      auto const lines = log.shown("refused");
      BOOST_TEST(lines.size() == 1u);
      for (auto const& line : lines) {
        BOOST_TEST(line.find(c.reason) != std::string::npos, line);
        BOOST_TEST(line.find("forged-secret") == std::string::npos, line);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(a_flood_of_refusals_is_logged_within_a_budget_and_the_rest_are_counted) {
  logged_server fixture;
  auto& log = fixture.log;
  auto const port = fixture.port();
  auto const refused = get("/echo", here(port), std::string(upgrade_headers) + "Origin: http://attacker.example\r\n");
  int const flood = 1000;
  auto const first_second = second_now();
  for (int i = 0; i < flood; ++i) BOOST_REQUIRE(status_of(port, refused).starts_with("HTTP/1.1 403"));
  auto const seconds = second_now() - first_second + 1;
  // The next second's first refusal brings the count of those not logged.
  std::this_thread::sleep_for(1100ms);
  BOOST_REQUIRE(status_of(port, refused).starts_with("HTTP/1.1 403"));
  BOOST_REQUIRE(eventually([&] { return !log.shown("were not logged").empty(); }));

  auto const budget = static_cast<std::int64_t>(tether::detail::refusal_log::lines_per_second);
  auto const logged = static_cast<std::int64_t>(log.shown("refused a WebSocket upgrade").size());
  auto const notices = static_cast<std::int64_t>(log.shown("are counted, not logged").size());
  std::int64_t unlogged = 0;
  for (auto const& line : log.shown("were not logged")) unlogged += std::stoll(line);
  BOOST_TEST_MESSAGE(flood << " refusals in " << seconds << " s: " << logged << " lines, " << unlogged << " counted");
  BOOST_TEST(logged <= budget * (seconds + 1));
  BOOST_TEST(notices <= seconds);
  BOOST_TEST(logged + notices + static_cast<std::int64_t>(log.shown("were not logged").size()) <
             (budget + 2) * (seconds + 1));
  BOOST_TEST(logged + unlogged == flood + 1);  // every refusal is a line or counted
}

BOOST_AUTO_TEST_CASE(the_peers_text_in_a_refusal_line_is_printable_and_bounded) {
  logged_server fixture;
  auto& log = fixture.log;
  auto const port = fixture.port();
  std::string const origin = "http://\xff\xfe" + std::string(5000, 'o') + ".example";
  BOOST_TEST(status_of(port, get("/echo", here(port), std::string(upgrade_headers) + "Origin: " + origin + "\r\n"))
                 .starts_with("HTTP/1.1 403"));
  BOOST_REQUIRE(eventually([&] { return !log.shown("refused").empty(); }));
  auto const line = log.shown("refused").front();
  BOOST_TEST(line.find("Origin http://\\xff\\xfeooo") != std::string::npos, line);
  BOOST_TEST(line.find(std::to_string(origin.size()) + " bytes)") != std::string::npos, line);
  BOOST_TEST(line.size() < 500u);
  BOOST_TEST(std::all_of(line.begin(), line.end(), [](char c) { return c >= 0x20 && c < 0x7F; }));
  BOOST_TEST(tether::detail::printable("a\r\nforged line\x1b[31m\\") == "a\\x0d\\x0aforged line\\x1b[31m\\x5c");
}

BOOST_AUTO_TEST_CASE(accept_logs_its_refusals_too) {
  captured_log log;
  net::io_context ctx;
  tcp::acceptor acceptor(ctx, {net::ip::make_address("127.0.0.1"), 0});
  auto const port = acceptor.local_endpoint().port();
  auto serve = [&]() -> net::awaitable<void> {
    auto socket = co_await acceptor.async_accept(net::use_awaitable);
    tether::accept_options options;
    options.logger = log.logger();
    auto accepted = co_await tether::accept(std::move(socket), options);
    BOOST_TEST(!accepted);
  };
  net::co_spawn(ctx, serve(), net::detached);
  std::thread loop([&] { ctx.run_for(20s); });
  BOOST_TEST(status_of(port, get("/ws", here(port), std::string(upgrade_headers) + "Origin: http://localhost\r\n"))
                 .starts_with("HTTP/1.1 403"));
  loop.join();
  auto const lines = log.shown("refused");
  BOOST_REQUIRE(lines.size() == 1u);
  BOOST_TEST(lines.front().find("refused a WebSocket upgrade to /ws from 127.0.0.1:") == 0u, lines.front());
  BOOST_TEST(lines.front().find("not same-site with the Host (the default policy); allow it with "
                                "accept_options::endpoint.origins") != std::string::npos,
             lines.front());
}
