// Routing over a real socket: parameters, origin dispatch, HTTP handlers.
#define BOOST_TEST_MODULE routing
#include "support.hpp"

#include <stdexcept>

using namespace test;

namespace {

net::awaitable<void> say(tether::websocket& ws, std::string text) {
  co_await ws.write(text);
  co_await ws.read();  // until the client closes
}

std::string http_get(std::uint16_t port, std::string const& target, std::string const& extra = "",
                     std::string const& method = "GET") {
  return http_exchange(port, method, target, extra);
}

}  // namespace

BOOST_AUTO_TEST_CASE(websocket_route_parameters_reach_the_handler) {
  tether::router app;
  app.websocket("/rooms/{room}", [](tether::websocket& ws, tether::request const& req) -> net::awaitable<void> {
    co_await say(ws, "room " + std::string(req.param("room")) + " for " + req.query_value("user").value_or("?"));
  });
  running_server server(std::move(app));
  run_client([&]() -> net::awaitable<void> {
    auto ws = (co_await tether::connect(server.url("/rooms/caf%C3%A9?user=ann"), quiet_client())).value();
    auto msg = co_await ws.read();
    BOOST_TEST(msg.value().payload == "room café for ann");
    co_await ws.close();
  });
}

BOOST_AUTO_TEST_CASE(origin_picks_the_endpoint_and_a_foreign_origin_gets_403_before_any_upgrade) {
  std::atomic<int> upgrades{0};
  tether::router app;
  app.websocket("/live", [&](tether::websocket& ws, tether::request const&) -> net::awaitable<void> {
    ++upgrades;
    co_await say(ws, "partner feed");
  }, {.origins = tether::origin::allow({"https://partner.example"})});
  app.websocket("/live", [&](tether::websocket& ws, tether::request const&) -> net::awaitable<void> {
    ++upgrades;
    co_await say(ws, "own feed");
  });
  running_server server(std::move(app));
  auto const own_origin = "http://127.0.0.1:" + std::to_string(server.port());
  run_client([&]() -> net::awaitable<void> {
    auto greeting = [&](std::string origin) -> net::awaitable<std::string> {
      auto options = quiet_client();
      if (!origin.empty()) options.headers.push_back({"Origin", origin});
      auto ws = co_await tether::connect(server.url("/live"), options);
      if (!ws) co_return "refused " + std::to_string(ws.error().http_status());
      auto msg = co_await ws->read();
      co_await ws->close();
      co_return msg ? msg->payload : "no message";
    };
    BOOST_TEST(co_await greeting("https://partner.example") == "partner feed");
    BOOST_TEST(co_await greeting(own_origin) == "own feed");
    BOOST_TEST(co_await greeting("") == "own feed");
    BOOST_TEST(co_await greeting("https://evil.example") == "refused 403");
    BOOST_TEST(co_await greeting("null") == "refused 403");
  });
  BOOST_TEST(upgrades.load() == 3);
}

BOOST_AUTO_TEST_CASE(http_handlers_plain_and_coroutine_with_statuses) {
  tether::router app;
  app.get("/greet", [](tether::request const& req) {
    return tether::response::text("hello " + req.query_value("name").value_or("stranger"));
  });
  app.route("POST", "/echo-body", [](tether::request const& req) -> net::awaitable<tether::response> {
    net::steady_timer pause(co_await net::this_coro::executor, 10ms);
    co_await pause.async_wait(net::use_awaitable);
    co_return tether::response::json("{\"got\":" + std::to_string(req.body.size()) + "}");
  });
  app.get("/broken", [](tether::request const&) -> tether::response { throw std::runtime_error("bug"); });
  app.get("/old", [](tether::request const&) { return tether::response::redirect("/greet", 301); });
  running_server server(std::move(app));
  auto const port = server.port();
  auto const greeting = http_get(port, "/greet?name=J%C3%BCrgen");
  BOOST_TEST(greeting.rfind("HTTP/1.1 200", 0) == 0u);
  BOOST_TEST(greeting.find("hello Jürgen") != std::string::npos);
  auto const posted = http_get(port, "/echo-body", "Content-Length: 5\r\n\r\nhello", "POST");
  BOOST_TEST(posted.find("{\"got\":5}") != std::string::npos, posted);
  BOOST_TEST(posted.find("application/json") != std::string::npos);
  BOOST_TEST(http_get(port, "/broken").rfind("HTTP/1.1 500", 0) == 0u);
  auto const moved = http_get(port, "/old");
  BOOST_TEST(moved.rfind("HTTP/1.1 301", 0) == 0u);
  BOOST_TEST(moved.find("Location: /greet") != std::string::npos);
  auto const refused = http_get(port, "/greet", "", "DELETE");
  BOOST_TEST(refused.rfind("HTTP/1.1 405", 0) == 0u);
  BOOST_TEST(refused.find("Allow: GET, HEAD") != std::string::npos);
  BOOST_TEST(http_get(port, "/greet/../greet?name=x").find("hello x") != std::string::npos);
  BOOST_TEST(http_get(port, "/%zz").rfind("HTTP/1.1 400", 0) == 0u);
}
