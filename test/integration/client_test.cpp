// The client's ways to reach a server: through an HTTP CONNECT proxy
// (started here on loopback), the proxy environment variables, and the
// reconnecting helper across a server restart.
#define BOOST_TEST_MODULE client
#include "support.hpp"

#include "client/proxy.hpp"

#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>

#include <atomic>
#include <cstdlib>
#include <mutex>

using namespace test;
using namespace boost::asio::experimental::awaitable_operators;

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

// A minimal CONNECT proxy: reads the request head, connects to the target
// (loopback only), answers 200 and relays bytes both ways. It can demand
// credentials, and it records what it was asked.
class connect_proxy {
 public:
  explicit connect_proxy(std::string required_authorization = {})
      : required_(std::move(required_authorization)),
        acceptor_(ctx_, {net::ip::make_address("127.0.0.1"), 0}),
        thread_([this] {
          net::co_spawn(ctx_, accept_loop(), net::detached);
          ctx_.run();
        }) {}

  ~connect_proxy() {
    ctx_.stop();
    thread_.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()); }
  std::vector<std::string> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  net::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
      if (ec) co_return;
      net::co_spawn(ctx_, tunnel(std::move(socket)), net::detached);
    }
  }

  net::awaitable<void> tunnel(tcp::socket client) {
    std::string head;
    auto [ec, n] = co_await net::async_read_until(client, net::dynamic_buffer(head), "\r\n\r\n", use_tuple);
    if (ec) co_return;
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(head.substr(0, n));
    }
    auto answer = [&](std::string status) -> net::awaitable<void> {
      co_await net::async_write(client, net::buffer(status), use_tuple);
    };
    if (!required_.empty() && head.find("Proxy-Authorization: " + required_ + "\r\n") == std::string::npos) {
      co_await answer("HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n");
      co_return;
    }
    // "CONNECT 127.0.0.1:PORT HTTP/1.1"
    auto const colon = head.find(':');
    auto const space = head.find(' ', colon);
    if (head.rfind("CONNECT 127.0.0.1:", 0) != 0 || colon == std::string::npos || space == std::string::npos) {
      co_await answer("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
      co_return;
    }
    auto const port = static_cast<std::uint16_t>(std::stoi(head.substr(colon + 1, space - colon - 1)));
    tcp::socket server(ctx_);
    auto [connect_ec] = co_await server.async_connect({net::ip::make_address("127.0.0.1"), port}, use_tuple);
    if (connect_ec) {
      co_await answer("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
      co_return;
    }
    co_await answer("HTTP/1.1 200 Connection established\r\n\r\n");
    co_await (relay(client, server) && relay(server, client));
  }

  static net::awaitable<void> relay(tcp::socket& from, tcp::socket& to) {
    char buffer[16384];
    for (;;) {
      auto [ec, n] = co_await from.async_read_some(net::buffer(buffer), use_tuple);
      if (ec) break;
      auto [write_ec, written] = co_await net::async_write(to, net::buffer(buffer, n), use_tuple);
      if (write_ec) break;
    }
    boost::system::error_code ignored;
    to.shutdown(tcp::socket::shutdown_send, ignored);
  }

  std::string required_;
  net::io_context ctx_;
  tcp::acceptor acceptor_;
  std::mutex mutex_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

tether::router echo_app() {
  tether::router app;
  app.websocket("/echo", echo_handler);
  return app;
}

net::awaitable<void> echo_once(std::string url, tether::client_options options) {
  auto ws = co_await tether::connect(url, options);
  BOOST_REQUIRE_MESSAGE(ws.has_value(), ws.error().message());
  BOOST_REQUIRE(!co_await ws->write("through the tunnel"));
  auto reply = co_await ws->read();
  BOOST_REQUIRE(reply.has_value());
  BOOST_TEST(reply->payload == "through the tunnel");
  BOOST_TEST(!co_await ws->close());
}

// Sets an environment variable for one scope.
struct scoped_env {
  scoped_env(char const* name, char const* value) : name_(name) {
    if (char const* old = std::getenv(name)) old_ = old;
    if (value)
      ::setenv(name, value, 1);
    else
      ::unsetenv(name);
  }
  ~scoped_env() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }
  char const* name_;
  std::optional<std::string> old_;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(proxy)

BOOST_AUTO_TEST_CASE(ws_and_wss_through_a_connect_proxy) {
  connect_proxy proxy;
  running_server plain(echo_app());
  tether::client_options options = quiet_client();
  options.proxy = proxy.url();
  run_client([&] { return echo_once(plain.url("/echo"), options); });

  tether::server_options tls;
  auto const cert = tether::certificate::self_signed({"127.0.0.1"});
  tls.tls.certificates.push_back(cert);
  running_server secure(echo_app(), tls);
  options.tls.ca_pem = cert.chain_pem;
  run_client([&] { return echo_once("wss://127.0.0.1:" + std::to_string(secure.port()) + "/echo", options); });

  auto const seen = proxy.requests();
  BOOST_REQUIRE_EQUAL(seen.size(), 2u);
  BOOST_TEST(seen[0].rfind("CONNECT 127.0.0.1:" + std::to_string(plain.port()) + " HTTP/1.1\r\n", 0) == 0u, seen[0]);
  BOOST_TEST(seen[1].rfind("CONNECT 127.0.0.1:" + std::to_string(secure.port()) + " HTTP/1.1\r\n", 0) == 0u, seen[1]);
}

BOOST_AUTO_TEST_CASE(credentials_in_the_proxy_url_are_sent_and_refusals_are_specific) {
  connect_proxy proxy("Basic dXNlcjpwYXNz");  // user:pass
  running_server server(echo_app());
  tether::client_options options = quiet_client();
  options.proxy = "http://user:pass@" + proxy.url().substr(7);
  run_client([&] { return echo_once(server.url("/echo"), options); });

  options.proxy = "http://user:wrong@" + proxy.url().substr(7);
  run_client([&]() -> net::awaitable<void> {
    auto ws = co_await tether::connect(server.url("/echo"), options);
    BOOST_REQUIRE(!ws.has_value());
    BOOST_TEST((ws.error() == tether::error::proxy_failed));
    BOOST_TEST(ws.error().http_status() == 407);
  });

  options.proxy = "socks5://127.0.0.1:1080";
  run_client([&]() -> net::awaitable<void> {
    auto ws = co_await tether::connect(server.url("/echo"), options);
    BOOST_REQUIRE(!ws.has_value());
    BOOST_TEST((ws.error() == tether::error::invalid_argument));
    BOOST_TEST(ws.error().message().find("socks5") != std::string::npos, ws.error().message());
  });
}

BOOST_AUTO_TEST_CASE(environment_variables_choose_the_proxy) {
  using tether::detail::choose_proxy;
  scoped_env http("http_proxy", "http://proxy.example:3128");
  scoped_env https("https_proxy", "secure-proxy.example:8080");
  scoped_env upper_http("HTTP_PROXY", nullptr);
  scoped_env upper_https("HTTPS_PROXY", nullptr);
  scoped_env none("no_proxy", "internal.example, .corp.example");
  scoped_env upper_none("NO_PROXY", nullptr);

  auto plain = choose_proxy("", "example.org", false);
  BOOST_REQUIRE(plain.has_value());
  BOOST_TEST(plain->host == "proxy.example");
  BOOST_TEST(plain->port == "3128");
  auto secure = choose_proxy("", "example.org", true);
  BOOST_REQUIRE(secure.has_value());
  BOOST_TEST(secure->host == "secure-proxy.example");
  BOOST_TEST(!choose_proxy("", "internal.example", false).has_value());
  BOOST_TEST(!choose_proxy("", "api.internal.example", false).has_value());
  BOOST_TEST(!choose_proxy("", "x.corp.example", true).has_value());
  BOOST_TEST(choose_proxy("", "notinternal.example", false).has_value());
  BOOST_TEST(!choose_proxy("", "localhost", false).has_value());
  BOOST_TEST(!choose_proxy("", "127.0.0.1", false).has_value());
  BOOST_TEST(!choose_proxy("", "::1", true).has_value());
  BOOST_TEST(!choose_proxy("direct", "example.org", false).has_value());
  {
    scoped_env everything("no_proxy", "*");
    BOOST_TEST(!choose_proxy("", "example.org", false).has_value());
  }
  // And the loopback exception keeps the real connections here direct.
  running_server server(echo_app());
  run_client([&] { return echo_once(server.url("/echo"), quiet_client()); });
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(reconnect)

// The one backoff rule of keep_connected() and redis_bridge.
BOOST_AUTO_TEST_CASE(backoff_grows_to_its_cap_and_jitter_only_shortens) {
  tether::backoff b{.initial_delay = 100ms, .max_delay = 1s, .multiplier = 3.0, .jitter = 0.5};
  BOOST_TEST(b.valid());
  BOOST_TEST(b.after(100ms).count() == 300);
  BOOST_TEST(b.after(300ms).count() == 900);
  BOOST_TEST(b.after(900ms).count() == 1000);
  BOOST_TEST(b.jittered(1000ms, 0.0).count() == 1000);
  BOOST_TEST(b.jittered(1000ms, 0.999).count() >= 500);
  BOOST_TEST(b.jittered(1000ms, 0.5).count() == 750);
  BOOST_TEST(!(tether::backoff{.initial_delay = 0ms}.valid()));
  BOOST_TEST(!(tether::backoff{.initial_delay = 2s, .max_delay = 1s}.valid()));
  BOOST_TEST(!(tether::backoff{.multiplier = 0.5}.valid()));
  BOOST_TEST(!(tether::backoff{.jitter = 1.5}.valid()));
  tether::redis_options const redis;
  BOOST_TEST(redis.retry.initial_delay.count() == 100);
  BOOST_TEST(redis.retry.max_delay.count() == 5000);
}

BOOST_AUTO_TEST_CASE(comes_back_after_the_server_restarts) {
  std::atomic<int> sessions{0};
  auto greeter = [&](tether::websocket& ws, tether::request const&) -> net::awaitable<void> {
    co_await ws.write("hello " + std::to_string(++sessions));
    while (co_await ws.read()) {
    }
  };
  tether::router app;
  app.websocket("/greet", greeter);
  auto first = std::make_unique<running_server>(app);
  auto const port = first->port();
  std::string const url = first->url("/greet");

  std::vector<std::string> greetings;
  std::thread restarter;
  std::unique_ptr<tether::server> second;
  std::thread second_thread;
  run_client([&]() -> net::awaitable<void> {
    tether::reconnect_options backoff;
    backoff.initial_delay = 50ms;
    backoff.max_delay = 200ms;
    auto result = co_await tether::keep_connected(url, quiet_client(), backoff, [&](tether::websocket& ws) -> net::awaitable<bool> {
      auto msg = co_await ws.read();
      if (msg) greetings.push_back(msg->payload);
      if (greetings.size() == 1) {
        // Stop the server now, bring a new one up on the same port a little later.
        restarter = std::thread([&] {
          first->stop(100ms);
          std::this_thread::sleep_for(300ms);
          tether::server_options options;
          options.port = port;
          options.logger = tether::logger::silent();
          second = std::make_unique<tether::server>(app, options);
          second_thread = std::thread([&] { second->run(); });
        });
        while (co_await ws.read()) {  // until the server's 1001
        }
        co_return true;
      }
      co_return false;
    });
    BOOST_TEST(!result, result.message());
  }, 30s);
  restarter.join();
  BOOST_REQUIRE_EQUAL(greetings.size(), 2u);
  BOOST_TEST(greetings[0] == "hello 1");
  BOOST_TEST(greetings[1] == "hello 2");
  second->stop(0ms);
  second_thread.join();
}

BOOST_AUTO_TEST_CASE(a_server_that_drops_at_once_is_not_hammered) {
  std::atomic<int> opened{0};
  tether::router app;
  app.websocket("/busy", [&](tether::websocket& ws, tether::request const&) -> net::awaitable<void> {
    ++opened;
    co_await ws.close(tether::close_code::try_again_later, "busy");
  });
  running_server server(std::move(app));
  run_client([&]() -> net::awaitable<void> {
    tether::reconnect_options backoff;
    backoff.initial_delay = 50ms;
    backoff.max_delay = 5s;
    net::steady_timer deadline(co_await net::this_coro::executor, 1s);
    using namespace boost::asio::experimental::awaitable_operators;
    co_await (tether::keep_connected(server.url("/busy"), quiet_client(), backoff,
                                     [](tether::websocket& ws) -> net::awaitable<bool> {
                                       while (co_await ws.read()) {
                                       }
                                       co_return true;
                                     }) ||
              deadline.async_wait(net::use_awaitable));
  });
  // Waits of 25-50, 50-100, 100-200, 200-400, 400-800 ms fit into a second
  // at most six times; without backoff after sessions it would be hundreds.
  BOOST_TEST(opened.load() <= 7, opened.load() << " connections in one second");
  BOOST_TEST(opened.load() >= 2);
}

BOOST_AUTO_TEST_CASE(gives_up_after_max_attempts_and_at_once_on_permanent_errors) {
  auto const unused = free_port();
  run_client([&]() -> net::awaitable<void> {
    tether::reconnect_options backoff;
    backoff.initial_delay = 10ms;
    backoff.max_attempts = 3;
    auto const start = std::chrono::steady_clock::now();
    auto result = co_await tether::keep_connected("ws://127.0.0.1:" + std::to_string(unused) + "/", quiet_client(),
                                                  backoff, [](tether::websocket&) -> net::awaitable<bool> { co_return false; });
    BOOST_TEST((result == boost::system::errc::connection_refused), result.message());
    BOOST_TEST((std::chrono::steady_clock::now() - start >= 15ms));  // two waits happened

    backoff.max_attempts = 0;  // forever, but a bad URL is not worth a second try
    result = co_await tether::keep_connected("http://127.0.0.1/", quiet_client(), backoff,
                                             [](tether::websocket&) -> net::awaitable<bool> { co_return false; });
    BOOST_TEST((result == tether::error::unsupported_scheme));
  });
}

BOOST_AUTO_TEST_SUITE_END()
