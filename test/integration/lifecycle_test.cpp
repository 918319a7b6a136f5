// The life of connections and of the server: timeouts, vanishing peers,
// failing handlers, counting and stopping.
#define BOOST_TEST_MODULE lifecycle
#include "support.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>

#include <atomic>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>

using namespace test;
using tether::detail::opcode;

namespace {

tether::router echo_app(tether::endpoint_options options = {}) {
  tether::router app;
  app.websocket("/echo", echo_handler, std::move(options));
  return app;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(timeouts)

BOOST_AUTO_TEST_CASE(silent_tcp_client_is_cut_off_by_the_handshake_timeout) {
  running_server server(echo_app(), {.handshake_timeout = 200ms});
  raw_client peer(server.port(), "", false);
  auto const start = std::chrono::steady_clock::now();
  BOOST_TEST(peer.ended_by_peer());
  auto const took = std::chrono::steady_clock::now() - start;
  BOOST_TEST((took >= 150ms && took < 5s));
  BOOST_TEST(eventually([&] { return server.get().connections() == 0; }));
}

BOOST_AUTO_TEST_CASE(idle_timeout_closes_with_1001) {
  running_server server(echo_app({.websocket = {.ping_interval = 0ms, .idle_timeout = 200ms}}));
  raw_client peer(server.port());
  BOOST_TEST(peer.read_close_code() == 1001u);
  BOOST_TEST(peer.ended_by_peer());
}

// The loop keeps every connection's deadline in one queue: each still
// fires at its own time, counted from its own last activity.
BOOST_AUTO_TEST_CASE(each_connection_times_out_on_its_own_deadline) {
  auto constexpr idle = 600ms;
  running_server server(echo_app({.websocket = {.ping_interval = 0ms, .idle_timeout = idle}}));
  using clock = std::chrono::steady_clock;
  auto const closed_at = [](raw_client& peer) {
    peer.set_timeout(10s);
    auto const code = peer.read_close_code();
    return std::pair{code, clock::now()};
  };
  raw_client first(server.port());
  auto const first_opened = clock::now();
  std::this_thread::sleep_for(300ms);
  raw_client second(server.port());
  auto const second_opened = clock::now();
  std::this_thread::sleep_for(150ms);
  first.send(opcode::text, "still here");  // its deadline moves past the second's
  auto const first_active = clock::now();
  auto first_end = std::async(std::launch::async, closed_at, std::ref(first));
  auto second_end = std::async(std::launch::async, closed_at, std::ref(second));
  auto const [first_code, first_closed] = first_end.get();
  auto const [second_code, second_closed] = second_end.get();
  BOOST_TEST(first_code == 1001u);
  BOOST_TEST(second_code == 1001u);
  BOOST_TEST((second_closed - second_opened >= idle - 50ms));
  BOOST_TEST((first_closed - first_active >= idle - 50ms));  // not at its first deadline
  BOOST_TEST((second_closed < first_closed));
  BOOST_TEST((first_closed - first_opened < idle + 5s));
}

BOOST_AUTO_TEST_CASE(peer_that_never_answers_pings_is_dropped_after_pong_timeout) {
  running_server server(echo_app({.websocket = {.ping_interval = 100ms, .pong_timeout = 200ms}}));
  raw_client peer(server.port());  // reads pings, never answers
  auto const start = std::chrono::steady_clock::now();
  BOOST_TEST(peer.ended_by_peer());
  BOOST_TEST((std::chrono::steady_clock::now() - start < 5s));
  BOOST_TEST(eventually([&] { return server.get().connections() == 0; }));
}

BOOST_AUTO_TEST_CASE(close_handshake_is_bounded_by_close_timeout) {
  tether::router app;
  app.websocket("/close", [](tether::websocket& ws, tether::request const&) -> net::awaitable<void> {
    auto const start = std::chrono::steady_clock::now();
    auto const ec = co_await ws.close();
    BOOST_TEST((ec == tether::error::close_timeout));
    BOOST_TEST((std::chrono::steady_clock::now() - start < 3s));
  }, {.websocket = {.close_timeout = 300ms}});
  running_server server(std::move(app));
  raw_client peer(server.port(), "/close");  // never answers the close frame
  BOOST_TEST(peer.read_close_code() == 1000u);
  BOOST_TEST(peer.ended_by_peer());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(failures)

BOOST_AUTO_TEST_CASE(peer_vanishing_mid_message_ends_the_read_with_an_error) {
  std::promise<boost::system::error_code> seen;
  tether::router app;
  app.websocket("/vanish", [&](tether::websocket& ws, tether::request const&) -> net::awaitable<void> {
    auto msg = co_await ws.read();
    seen.set_value(msg.has_value() ? boost::system::error_code{} : msg.error().code());
  });
  running_server server(std::move(app));
  {
    raw_client peer(server.port(), "/vanish");
    peer.send_raw(raw_client::encode(opcode::binary, std::string(1000, 'x')).substr(0, 500));
  }  // the socket closes with half a frame sent
  auto result = seen.get_future();
  BOOST_REQUIRE(result.wait_for(5s) == std::future_status::ready);
  BOOST_TEST((result.get() == tether::error::connection_lost));
  BOOST_TEST(eventually([&] { return server.get().connections() == 0; }));
}

BOOST_AUTO_TEST_CASE(handler_that_throws_closes_with_1011_and_the_server_keeps_serving) {
  tether::router app;
  app.websocket("/throw", [](tether::websocket& ws, tether::request const&) -> net::awaitable<void> {
    co_await ws.read();
    throw std::runtime_error("handler bug");
  });
  app.websocket("/echo", echo_handler);
  running_server server(std::move(app));
  run_client([&]() -> net::awaitable<void> {
    auto ws = (co_await tether::connect(server.url("/throw"), quiet_client())).value();
    co_await ws.write("boom");
    auto msg = co_await ws.read();
    BOOST_TEST((msg.error() == tether::error::closed));
    BOOST_TEST((ws.peer_close_code() == tether::close_code::internal_error));

    auto next = (co_await tether::connect(server.url("/echo"), quiet_client())).value();
    co_await next.write("still here");
    auto reply = co_await next.read();
    BOOST_TEST(reply.value().payload == "still here");
    co_await next.close();
  });
}

// Handlers that end before they ever wait: they run inside the upgrade's
// hand-over, which must still end each connection as it ends a handler
// that waited.
BOOST_AUTO_TEST_CASE(handlers_that_end_before_waiting_close_with_1000_or_1011) {
  tether::router app;
  app.websocket("/return", [](tether::websocket&, tether::request const&) -> net::awaitable<void> { co_return; });
  app.websocket("/throw", [](tether::websocket&, tether::request const&) -> net::awaitable<void> {
    throw std::runtime_error("handler bug before any wait");
    co_return;
  });
  running_server server(std::move(app));
  run_client([&]() -> net::awaitable<void> {
    for (int round = 0; round < 3; ++round) {
      auto returned = (co_await tether::connect(server.url("/return"), quiet_client())).value();
      auto end = co_await returned.read();
      BOOST_TEST((end.error() == tether::error::closed));
      BOOST_TEST((returned.peer_close_code() == tether::close_code::normal));
      auto threw = (co_await tether::connect(server.url("/throw"), quiet_client())).value();
      end = co_await threw.read();
      BOOST_TEST((end.error() == tether::error::closed));
      BOOST_TEST((threw.peer_close_code() == tether::close_code::internal_error));
    }
  });
  BOOST_TEST(eventually([&] { return server.get().connections() == 0; }));
}

BOOST_AUTO_TEST_CASE(second_concurrent_read_is_refused) {
  running_server server(echo_app());
  run_client([&]() -> net::awaitable<void> {
    auto ws = (co_await tether::connect(server.url("/echo"), quiet_client())).value();
    auto ex = co_await net::this_coro::executor;
    net::co_spawn(ex, [ws]() mutable -> net::awaitable<void> { co_await ws.read(); }, net::detached);
    net::steady_timer pause(ex, 50ms);
    co_await pause.async_wait(net::use_awaitable);
    auto second = co_await ws.read();
    BOOST_TEST((second.error() == tether::error::operation_in_progress));
    co_await ws.close();
  });
}

BOOST_AUTO_TEST_CASE(read_cancelled_by_a_timer_loses_nothing_and_can_be_repeated) {
  using namespace boost::asio::experimental::awaitable_operators;
  tether::router app;
  app.websocket("/late", [](tether::websocket& ws, tether::request const&) -> net::awaitable<void> {
    net::steady_timer pause(co_await net::this_coro::executor, 300ms);
    co_await pause.async_wait(net::use_awaitable);
    co_await ws.write("late news");
    co_await ws.read();
  });
  running_server server(std::move(app));
  run_client([&]() -> net::awaitable<void> {
    auto ws = (co_await tether::connect(server.url("/late"), quiet_client())).value();
    net::steady_timer timeout(co_await net::this_coro::executor, 50ms);
    auto const start = std::chrono::steady_clock::now();
    auto first = co_await (ws.read() || timeout.async_wait(net::use_awaitable));
    BOOST_TEST(first.index() == 1u);  // the timer won
    // ... at once: the cancelled read must not wait for the message at 300 ms.
    BOOST_TEST((std::chrono::steady_clock::now() - start < 250ms));
    auto second = co_await ws.read();
    BOOST_REQUIRE(second.has_value());
    BOOST_TEST(second->payload == "late news");
    co_await ws.close();
  });
}

BOOST_AUTO_TEST_CASE(server_read_cancelled_by_a_timer_returns_while_the_peer_is_silent) {
  using namespace boost::asio::experimental::awaitable_operators;
  tether::router app;
  app.websocket("/silent", [](tether::websocket& ws, tether::request const&) -> net::awaitable<void> {
    net::steady_timer timeout(co_await net::this_coro::executor, 50ms);
    auto const first = co_await (ws.read() || timeout.async_wait(net::use_awaitable));
    // Values go into variables first: g++ 12 miscompiles temporaries inside co_await.
    std::string const verdict = first.index() == 1u ? "timer won" : "read won";
    co_await ws.write(verdict);
    auto const next = co_await ws.read();  // the next read gets what comes later
    std::string const answer = next ? next->payload : "no message";
    co_await ws.write(answer);
  });
  running_server server(std::move(app));
  run_client([&]() -> net::awaitable<void> {
    auto ws = (co_await tether::connect(server.url("/silent"), quiet_client())).value();
    auto const verdict = co_await ws.read();  // the peer sends nothing until it has this
    BOOST_REQUIRE(verdict.has_value());
    BOOST_TEST(verdict->payload == "timer won");
    co_await ws.write("after");
    auto const echo = co_await ws.read();
    BOOST_REQUIRE(echo.has_value());
    BOOST_TEST(echo->payload == "after");
    co_await ws.close();
  });
}

BOOST_AUTO_TEST_CASE(close_completes_cleanly_when_the_handler_never_read_a_full_inbox) {
  std::promise<boost::system::error_code> closed;
  tether::router app;
  app.websocket("/deaf", [&](tether::websocket& ws, tether::request const&) -> net::awaitable<void> {
    net::steady_timer pause(co_await net::this_coro::executor, 500ms);
    co_await pause.async_wait(net::use_awaitable);  // the client fills the inbox meanwhile
    closed.set_value(co_await ws.close());
  }, {.websocket = {.max_read_queue = 64 * 1024, .close_timeout = 5s}});
  running_server server(std::move(app));
  run_client([&]() -> net::awaitable<void> {
    auto ws = (co_await tether::connect(server.url("/deaf"), quiet_client())).value();
    std::string const chunk(16 * 1024, 'x');
    for (int i = 0; i < 32; ++i) co_await ws.write(chunk, tether::message_kind::binary);  // 512 KiB
    auto msg = co_await ws.read();
    BOOST_TEST((msg.error() == tether::error::closed));
  });
  auto result = closed.get_future();
  BOOST_REQUIRE(result.wait_for(10s) == std::future_status::ready);
  auto const ec = result.get();
  BOOST_TEST(!ec, ec.message());
}

BOOST_AUTO_TEST_CASE(keep_alive_pings_continue_when_pong_timeout_is_off) {
  running_server server(echo_app({.websocket = {.ping_interval = 100ms, .pong_timeout = 0ms}}));
  raw_client peer(server.port());
  for (int i = 0; i < 3; ++i) {
    auto ping = peer.read_frame();
    BOOST_REQUIRE(ping);
    BOOST_TEST(ping->opcode == 0x9);
    peer.send(tether::detail::opcode::pong, ping->payload);
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(server_lifecycle)

BOOST_AUTO_TEST_CASE(connection_count_is_right_after_1000_connect_disconnect_cycles) {
  running_server server(echo_app());
  run_client([&]() -> net::awaitable<void> {
    for (int i = 0; i < 1000; ++i) {
      auto ws = (co_await tether::connect(server.url("/echo"), quiet_client())).value();
      BOOST_REQUIRE(server.get().connections() >= 1u);
      BOOST_REQUIRE(!co_await ws.close());
    }
  }, 120s);
  BOOST_TEST(eventually([&] { return server.get().connections() == 0; }));
}

BOOST_AUTO_TEST_CASE(stop_sends_1001_to_every_websocket_within_the_grace) {
  constexpr int clients = 50;
  running_server server(echo_app());
  std::atomic<int> opened{0}, going_away{0};
  net::io_context ctx;
  for (int i = 0; i < clients; ++i) {
    net::co_spawn(ctx, [&]() -> net::awaitable<void> {
      auto ws = (co_await tether::connect(server.url("/echo"), quiet_client())).value();
      ++opened;
      auto msg = co_await ws.read();
      if (!msg && ws.peer_close_code() == tether::close_code::going_away) ++going_away;
    }, net::detached);
  }
  std::thread client_thread([&] { ctx.run_for(30s); });
  BOOST_REQUIRE(eventually([&] { return opened.load() == clients; }, 20s));
  BOOST_TEST(server.get().connections() == static_cast<std::size_t>(clients));
  auto const start = std::chrono::steady_clock::now();
  server.stop(3s);
  auto const took = std::chrono::steady_clock::now() - start;
  client_thread.join();
  BOOST_TEST(going_away.load() == clients);
  BOOST_TEST((took < 3s));
  BOOST_TEST(server.get().connections() == 0u);
}

BOOST_AUTO_TEST_CASE(stop_cuts_handlers_that_ignore_the_close_after_the_grace) {
  tether::router app;
  app.websocket("/stubborn", [](tether::websocket& ws, tether::request const&) -> net::awaitable<void> {
    net::steady_timer forever(ws.get_executor(), 60s);
    co_await forever.async_wait(net::as_tuple(net::use_awaitable));
  }, {.websocket = {.close_timeout = 60s}});
  running_server server(std::move(app));
  raw_client peer(server.port(), "/stubborn");  // never answers the close frame
  BOOST_REQUIRE(eventually([&] { return server.get().connections() == 1; }));
  auto const start = std::chrono::steady_clock::now();
  server.stop(300ms);
  BOOST_TEST((std::chrono::steady_clock::now() - start < 10s));
  BOOST_TEST(peer.read_close_code() == 1001u);
  BOOST_TEST(peer.ended_by_peer());
}

BOOST_AUTO_TEST_CASE(a_websocket_kept_after_its_server_is_gone_fails_at_once_and_frees_cleanly) {
  tether::websocket kept;  // empty until the handler stores its copy
  std::atomic<bool> stored{false};
  {
    tether::router app;
    app.websocket("/keep", [&](tether::websocket& ws, tether::request const&) -> net::awaitable<void> {
      kept = ws;  // a copy that outlives the server
      stored = true;
      for (;;) {
        auto const msg = co_await ws.read();
        if (!msg) break;
      }
    });
    running_server server(std::move(app));
    raw_client peer(server.port(), "/keep");  // never answers the close frame
    BOOST_REQUIRE(eventually([&] { return stored.load(); }));
    server.stop(100ms);
  }  // the server and its io_context are destroyed here; `kept` is not
  BOOST_TEST(!kept.is_open());
  run_client([&]() -> net::awaitable<void> {
    // Each would run on the connection's loop, which no longer exists.
    BOOST_TEST(!(co_await kept.read()).has_value());
    BOOST_TEST(static_cast<bool>(co_await kept.write("after")));
    BOOST_TEST(static_cast<bool>(co_await kept.ping("after")));
    BOOST_TEST(static_cast<bool>(co_await kept.close()));
  });
  kept = {};  // the last handle: nothing may be posted to the dead loop
}

BOOST_AUTO_TEST_CASE(a_client_websocket_outliving_its_io_context_is_ended_with_it) {
  running_server server(echo_app());
  tether::websocket kept;  // empty until the handler stores its copy
  {
    net::io_context ctx;
    net::co_spawn(
        ctx, [&]() -> net::awaitable<void> { kept = (co_await tether::connect(server.url("/echo"), quiet_client())).value(); },
        net::detached);
    for (int i = 0; i < 500 && !kept.is_open(); ++i) ctx.run_one_for(20ms);
    BOOST_REQUIRE(kept.is_open());
  }  // destroyed with the connection open: its keep-alive timer is armed
  BOOST_TEST(!kept.is_open());
  run_client([&]() -> net::awaitable<void> {
    BOOST_TEST((co_await kept.write("after") == make_error_code(tether::error::stopped)));
  });
  kept = {};
  BOOST_TEST(eventually([&] { return server.get().connections() == 0; }));
}

BOOST_AUTO_TEST_CASE(ping_and_close_own_their_arguments_until_awaited) {
  running_server server(echo_app());
  run_client([&]() -> net::awaitable<void> {
    auto ws = (co_await tether::connect(server.url("/echo"), quiet_client())).value();
    // The awaitables are kept and awaited after the strings they were made
    // from are freed (ASan sees any read of them).
    auto payload = std::make_unique<std::string>(100, 'p');
    auto ping = ws.ping(*payload);
    payload.reset();
    BOOST_TEST(!(co_await std::move(ping)));
    auto reason = std::make_unique<std::string>(100, 'r');
    auto close = ws.close(tether::close_code::normal, *reason);
    reason.reset();
    BOOST_TEST(!(co_await std::move(close)));
    BOOST_TEST((ws.peer_close_code() == tether::close_code::normal));
  });
}

BOOST_AUTO_TEST_CASE(a_busy_port_is_one_plain_sentence_with_the_address) {
  net::io_context ctx;
  tcp::acceptor taken(ctx, {net::ip::make_address("127.0.0.1"), 0});
  auto const port = taken.local_endpoint().port();
  tether::router app;
  try {
    tether::server server(app, {.port = port, .logger = tether::logger::silent()});
    BOOST_FAIL("the server bound a port that was taken");
  } catch (std::system_error const& e) {
    BOOST_TEST((e.code() == std::errc::address_in_use));
    BOOST_TEST(std::string(e.what()) ==
               "tether::server: cannot listen on 127.0.0.1:" + std::to_string(port) + ": Address already in use");
  }
}

BOOST_AUTO_TEST_CASE(two_threads_serve_many_clients) {
  running_server server(echo_app(), {.threads = 2});
  run_client([&]() -> net::awaitable<void> {
    for (int i = 0; i < 20; ++i) {
      auto ws = (co_await tether::connect(server.url("/echo"), quiet_client())).value();
      co_await ws.write(std::to_string(i));
      BOOST_TEST((co_await ws.read()).value().payload == std::to_string(i));
      co_await ws.close();
    }
  });
}

BOOST_AUTO_TEST_SUITE_END()
