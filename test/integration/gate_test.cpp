// Gatekeeping over real sockets: accept filter, connection limits, rate
// limits and signed URL tokens.
#define BOOST_TEST_MODULE gate
#include "support.hpp"

using namespace test;

namespace {

tether::router echo_app(tether::endpoint_options options = {}) {
  tether::router app;
  app.websocket("/echo", echo_handler, std::move(options));
  return app;
}

// Opens `n` WebSockets and keeps them open while `body` runs.
net::awaitable<std::vector<tether::websocket>> open_many(running_server& server, int n) {
  std::vector<tether::websocket> sockets;
  for (int i = 0; i < n; ++i) sockets.push_back((co_await tether::connect(server.url("/echo"), quiet_client())).value());
  co_return sockets;
}

}  // namespace

BOOST_AUTO_TEST_CASE(accept_filter_closes_before_reading_a_byte) {
  std::atomic<int> asked{0};
  running_server server(echo_app(), {.accept_filter = [&](tether::endpoint const& remote) {
                                       ++asked;
                                       return remote.address != "127.0.0.1";
                                     }});
  raw_client peer(server.port(), "", false);
  BOOST_TEST(peer.ended_by_peer());
  BOOST_TEST(asked.load() == 1);
  BOOST_TEST(eventually([&] { return server.get().connections() == 0; }));
}

BOOST_AUTO_TEST_CASE(connections_over_the_per_address_limit_get_503_until_one_leaves) {
  running_server server(echo_app(), {.max_connections_per_ip = 2});
  run_client([&]() -> net::awaitable<void> {
    auto held = co_await open_many(server, 2);
    auto third = co_await tether::connect(server.url("/echo"), quiet_client());
    BOOST_TEST(third.error().http_status() == 503);
    co_await held[0].close();
    // The server counts the first one out when its session has ended.
    for (int i = 0; i < 100 && server.get().connections() > 1; ++i) {
      net::steady_timer pause(co_await net::this_coro::executor, 10ms);
      co_await pause.async_wait(net::use_awaitable);
    }
    auto fourth = co_await tether::connect(server.url("/echo"), quiet_client());
    BOOST_TEST(fourth.has_value());
    if (fourth) co_await fourth->close();
    co_await held[1].close();
  });
}

BOOST_AUTO_TEST_CASE(connections_over_the_total_limit_get_503) {
  running_server server(echo_app(), {.max_connections = 1});
  raw_client first(server.port());
  raw_client second(server.port(), "", false);
  auto const head = second.read_http_head();
  BOOST_TEST(head.rfind("HTTP/1.1 503", 0) == 0u);
  BOOST_TEST(head.find("Retry-After: 1") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(new_connections_past_the_rate_get_429_with_retry_after) {
  running_server server(echo_app(),
                        {.new_connections_per_second_per_ip = 0.5, .new_connection_burst_per_ip = 3});
  for (int i = 0; i < 3; ++i) raw_client ok(server.port());
  raw_client limited(server.port(), "", false);
  auto const head = limited.read_http_head();
  BOOST_TEST(head.rfind("HTTP/1.1 429", 0) == 0u);
  BOOST_TEST(head.find("Retry-After: 2") != std::string::npos, head);
}

BOOST_AUTO_TEST_CASE(token_protected_endpoint_needs_a_valid_token_for_its_path) {
  auto signer = std::make_shared<tether::url_token const>("test secret, long enough");
  tether::router app;
  app.get("/token", [signer](tether::request const&) { return tether::response::text(signer->mint("/admin", 60s)); });
  app.websocket("/admin", echo_handler, {.token = signer});
  running_server server(std::move(app));
  run_client([&]() -> net::awaitable<void> {
    auto status = [&](std::string target) -> net::awaitable<int> {
      auto ws = co_await tether::connect(server.url(target), quiet_client());
      if (!ws) co_return ws.error().http_status();
      co_await ws->close();
      co_return 101;
    };
    auto const token = signer->mint("/admin", 60s);
    BOOST_TEST(co_await status("/admin") == 401);
    BOOST_TEST(co_await status("/admin?token=" + token) == 101);
    BOOST_TEST(co_await status("/admin?token=" + signer->mint("/elsewhere", 60s)) == 403);
    auto const expired = signer->mint("/admin", 60s, std::chrono::system_clock::now() - 120s);
    BOOST_TEST(co_await status("/admin?token=" + expired) == 403);
    BOOST_TEST(co_await status("/admin?token=" + token.substr(0, token.size() - 1) + "x") == 403);
  });
}

BOOST_AUTO_TEST_CASE(behind_a_trusted_proxy_the_forwarded_client_is_the_remote_and_is_limited) {
  tether::router app;
  app.get("/whoami", [](tether::request const& r) { return tether::response::text(r.remote.address); });
  app.websocket("/echo", echo_handler);
  auto const whoami = [](running_server& server, std::string const& forwarded) {
    auto const all = http_exchange(server.port(), "GET", "/whoami", "X-Forwarded-For: " + forwarded + "\r\n");
    return all.substr(all.find("\r\n\r\n") + 4);
  };
  {
    running_server untrusting(app);
    BOOST_TEST(whoami(untrusting, "203.0.113.7") == "127.0.0.1");  // anyone can write the header
  }
  running_server server(app, {.max_connections_per_ip = 1, .trusted_proxies = {"127.0.0.1"}});
  BOOST_TEST(whoami(server, "198.51.100.1, 203.0.113.9") == "203.0.113.9");

  // Many clients through one proxy address: each counts on its own.
  auto const upgrade = [](std::string const& client) {
    return "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
           "X-Forwarded-For: " + client + "\r\n\r\n";
  };
  raw_client held(server.port(), "", false);
  held.send_raw(upgrade("203.0.113.7"));
  BOOST_TEST(held.read_http_head().rfind("HTTP/1.1 101", 0) == 0u);
  raw_client same(server.port(), "", false);
  same.send_raw(upgrade("203.0.113.7"));
  auto const refused = same.read_http_head();
  BOOST_TEST(refused.rfind("HTTP/1.1 503", 0) == 0u, refused);
  BOOST_TEST(refused.find("Retry-After: 1") != std::string::npos);
  raw_client other(server.port(), "", false);
  other.send_raw(upgrade("203.0.113.8"));
  BOOST_TEST(other.read_http_head().rfind("HTTP/1.1 101", 0) == 0u);

  // A proxy reuses a kept-alive connection for another client's request:
  // the count moves to that client, who is over its limit.
  raw_client pooled(server.port(), "", false);
  pooled.send_raw("GET /whoami HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-For: 198.51.100.5\r\n\r\n");
  auto const head = pooled.read_http_head();
  BOOST_TEST(head.rfind("HTTP/1.1 200", 0) == 0u, head);
  BOOST_TEST(pooled.read_exact(12) == "198.51.100.5");
  pooled.send_raw(upgrade("203.0.113.7"));
  BOOST_TEST(pooled.read_http_head().rfind("HTTP/1.1 503", 0) == 0u);
}
