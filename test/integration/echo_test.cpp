// A real server and real clients on loopback: messages, pings, close codes.
#define BOOST_TEST_MODULE echo
#include "support.hpp"

#include <boost/asio/detached.hpp>

#include "ws/handshake.hpp"

#include <atomic>
#include <cstring>
#include <map>
#include <mutex>

using namespace test;
using tether::detail::opcode;

namespace {

tether::router echo_app(tether::endpoint_options options = {}) {
  tether::router app;
  app.get("/", [](tether::request const&) { return tether::response::html("<h1>echo</h1>"); });
  app.websocket("/echo", echo_handler, std::move(options));
  return app;
}

std::string pattern(std::size_t size) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>('a' + i % 26);
  return s;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(messages)

BOOST_AUTO_TEST_CASE(text_and_binary_echo_at_every_length_boundary) {
  running_server server(echo_app());
  run_client([&]() -> net::awaitable<void> {
    auto ws = (co_await tether::connect(server.url("/echo"), quiet_client())).value();
    for (std::size_t size : {0u, 1u, 125u, 126u, 127u, 65535u, 65536u, 1u << 20}) {
      for (auto kind : {tether::message_kind::text, tether::message_kind::binary}) {
        auto const payload = pattern(size);
        BOOST_REQUIRE(!co_await ws.write(payload, kind));
        auto reply = co_await ws.read();
        BOOST_REQUIRE(reply.has_value());
        BOOST_TEST((reply->kind == kind));
        BOOST_TEST(reply->payload.size() == size);
        BOOST_TEST((reply->payload == payload));
      }
    }
    BOOST_TEST(!co_await ws.close());
    BOOST_TEST((ws.peer_close_code() == tether::close_code::normal));
  });
}

BOOST_AUTO_TEST_CASE(fragmented_messages_with_a_ping_inside_are_reassembled) {
  running_server server(echo_app());
  raw_client peer(server.port());
  peer.send_raw(raw_client::encode(opcode::text, "frag", false) + raw_client::encode(opcode::ping, "mid") +
                raw_client::encode(opcode::continuation, "men", false) +
                raw_client::encode(opcode::continuation, "ted", true));
  auto pong = peer.read_frame();
  BOOST_REQUIRE(pong);
  BOOST_TEST(pong->opcode == 0xA);
  BOOST_TEST(pong->payload == "mid");
  auto echo = peer.read_frame();
  BOOST_REQUIRE(echo);
  BOOST_TEST(echo->opcode == 0x1);
  BOOST_TEST(echo->fin);
  BOOST_TEST(!echo->masked);
  BOOST_TEST(echo->payload == "fragmented");
}

BOOST_AUTO_TEST_CASE(hundred_concurrent_writers_keep_every_message_intact_and_in_order) {
  constexpr int writers = 100, per_writer = 50;
  tether::router app;
  app.websocket("/burst", [](tether::websocket& ws, tether::request const&) -> net::awaitable<void> {
    auto ex = co_await net::this_coro::executor;
    auto done = std::make_shared<int>(0);
    for (int w = 0; w < writers; ++w) {
      net::co_spawn(ex, [ws, w, done]() mutable -> net::awaitable<void> {
        for (int i = 0; i < per_writer; ++i) {
          std::string msg = std::to_string(w) + ":" + std::to_string(i) + ":" + std::string(w * 10, 'x');
          if (co_await ws.write(msg)) co_return;
        }
        ++*done;
      }, net::detached);
    }
    co_await ws.read();  // until the client closes
  }, {.websocket = {.max_write_queue = 4096}});  // small queue: writers must wait
  running_server server(std::move(app));
  run_client([&]() -> net::awaitable<void> {
    auto ws = (co_await tether::connect(server.url("/burst"), quiet_client())).value();
    std::map<int, int> next;
    for (int n = 0; n < writers * per_writer; ++n) {
      auto msg = co_await ws.read();
      BOOST_REQUIRE(msg.has_value());
      auto const& p = msg->payload;
      auto const a = p.find(':'), b = p.find(':', a + 1);
      int const w = std::stoi(p.substr(0, a)), i = std::stoi(p.substr(a + 1, b - a - 1));
      BOOST_REQUIRE_EQUAL(i, next[w]++);
      BOOST_REQUIRE_EQUAL(p.size() - b - 1, static_cast<std::size_t>(w * 10));
    }
    BOOST_TEST(next.size() == static_cast<std::size_t>(writers));
    co_await ws.close();
  });
}

BOOST_AUTO_TEST_CASE(writes_from_another_thread_arrive) {
  tether::router app;
  app.websocket("/from-thread", [](tether::websocket& ws, tether::request const&) -> net::awaitable<void> {
    std::thread writer([ws]() mutable {
      net::io_context other;
      net::co_spawn(other, [ws]() mutable -> net::awaitable<void> {
        for (int i = 0; i < 100; ++i) co_await ws.write(std::to_string(i));
      }, net::detached);
      other.run();
    });
    co_await ws.read();  // the client closes once it has all 100
    writer.join();
  });
  running_server server(std::move(app));
  run_client([&]() -> net::awaitable<void> {
    auto ws = (co_await tether::connect(server.url("/from-thread"), quiet_client())).value();
    for (int i = 0; i < 100; ++i) {
      auto msg = co_await ws.read();
      BOOST_REQUIRE(msg.has_value());
      BOOST_TEST(msg->payload == std::to_string(i));
    }
    co_await ws.close();
  });
}

// Batches: the echo of the header's example, both ends batched, with a
// write queue small enough that write_batch() waits inside a batch.
BOOST_AUTO_TEST_CASE(batches_carry_every_message_in_order_through_a_small_write_queue) {
  constexpr int count = 2000;
  auto largest_batch = std::make_shared<std::atomic<std::size_t>>(0);
  tether::router app;
  app.websocket("/batch", [largest_batch](tether::websocket& ws, tether::request const&) -> net::awaitable<void> {
    std::vector<tether::message> batch;
    while (!co_await ws.read_batch(batch)) {
      if (batch.size() > largest_batch->load()) largest_batch->store(batch.size());
      if (co_await ws.write_batch(batch)) break;
    }
  }, {.websocket = {.max_write_queue = 1024}});
  running_server server(std::move(app));
  run_client([&]() -> net::awaitable<void> {
    auto ws = (co_await tether::connect(server.url("/batch"), quiet_client())).value();
    std::vector<tether::message> sent;
    for (int i = 0; i < count; ++i) {
      auto const kind = i % 3 == 0 ? tether::message_kind::binary : tether::message_kind::text;
      sent.emplace_back(kind, std::to_string(i) + std::string(static_cast<std::size_t>(i % 200), 'x'));
    }
    auto to_send = sent;
    BOOST_REQUIRE(!co_await ws.write_batch(to_send));
    std::vector<tether::message> batch;
    std::size_t received = 0;
    while (received < sent.size()) {
      auto const failed = co_await ws.read_batch(batch);
      BOOST_REQUIRE(!failed);
      BOOST_REQUIRE(!batch.empty());
      for (auto const& msg : batch) {
        BOOST_REQUIRE(received < sent.size());
        BOOST_REQUIRE((msg.kind == sent[received].kind));
        BOOST_REQUIRE_EQUAL(msg.payload, sent[received].payload);
        ++received;
      }
    }
    BOOST_TEST(!co_await ws.close());
  });
  // 2,000 messages written at once arrive in reads of many: a batch of
  // one each would mean read_batch() took only what read() takes.
  BOOST_TEST(largest_batch->load() > 1u);
}

BOOST_AUTO_TEST_CASE(a_batch_stops_at_its_first_bad_message_and_reads_end_with_the_close) {
  struct outcome {
    std::mutex mutex;
    std::vector<std::string> lines;
    void add(std::string line) {
      std::lock_guard lock(mutex);
      lines.push_back(std::move(line));
    }
    std::vector<std::string> seen() {
      std::lock_guard lock(mutex);
      return lines;
    }
  };
  auto results = std::make_shared<outcome>();
  tether::router app;
  app.websocket("/batch", [results](tether::websocket& ws, tether::request const&) -> net::awaitable<void> {
    std::vector<tether::message> batch;
    if (auto const failed = co_await ws.write_batch(batch)) co_return;  // empty: sends nothing
    batch.emplace_back(tether::message_kind::text, "before");
    batch.emplace_back(tether::message_kind::text, std::string("\xff\xfe", 2));
    batch.emplace_back(tether::message_kind::text, "after");
    auto const failed = co_await ws.write_batch(batch);
    bool const kept = batch[1].payload.size() == 2 && batch[2].payload == "after";  // not queued, not taken
    results->add(failed == tether::error::invalid_utf8 && kept ? "invalid_utf8" : failed.message());
    co_await ws.write("end");  // after "before": "after" never left
    // Every message the peer sent before its close, then the close.
    std::size_t messages = 0;
    for (;;) {
      auto const ended = co_await ws.read_batch(batch);
      if (ended) {
        results->add(ended == tether::error::closed ? "closed" : ended.message());
        break;
      }
      messages += batch.size();
    }
    results->add(std::to_string(messages));
  });
  running_server server(std::move(app));
  run_client([&]() -> net::awaitable<void> {
    auto ws = (co_await tether::connect(server.url("/batch"), quiet_client())).value();
    auto first = co_await ws.read();
    BOOST_REQUIRE(first.has_value());
    BOOST_TEST(first->payload == "before");
    auto second = co_await ws.read();
    BOOST_REQUIRE(second.has_value());
    BOOST_TEST(second->payload == "end");
    for (int i = 0; i < 3; ++i) BOOST_REQUIRE(!co_await ws.write(std::to_string(i)));
    BOOST_TEST(!co_await ws.close());
  });
  BOOST_REQUIRE(eventually([&] { return results->seen().size() == 3; }));
  auto const lines = results->seen();
  BOOST_TEST(lines[0] == "invalid_utf8");
  BOOST_TEST(lines[1] == "closed");
  BOOST_TEST(lines[2] == "3");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(control_frames)

BOOST_AUTO_TEST_CASE(pings_of_0_and_125_bytes_get_identical_pongs) {
  running_server server(echo_app());
  raw_client peer(server.port());
  for (std::size_t size : {0u, 125u}) {
    auto const payload = pattern(size);
    peer.send(opcode::ping, payload);
    auto pong = peer.read_frame();
    BOOST_REQUIRE(pong);
    BOOST_TEST(pong->opcode == 0xA);
    BOOST_TEST(pong->payload == payload);
  }
  peer.send(opcode::pong, "unsolicited");
  peer.send(opcode::text, "still fine");
  auto echo = peer.read_frame();
  BOOST_REQUIRE(echo);
  BOOST_TEST(echo->payload == "still fine");
}

BOOST_AUTO_TEST_CASE(automatic_ping_is_sent_after_ping_interval_of_silence) {
  running_server server(echo_app({.websocket = {.ping_interval = 100ms, .pong_timeout = 5s}}));
  raw_client peer(server.port());
  auto const start = std::chrono::steady_clock::now();
  auto ping = peer.read_frame();
  BOOST_REQUIRE(ping);
  BOOST_TEST(ping->opcode == 0x9);
  BOOST_TEST((std::chrono::steady_clock::now() - start >= 90ms));
}

BOOST_AUTO_TEST_CASE(client_answers_pings_and_its_own_ping_gets_a_pong) {
  running_server server(echo_app({.websocket = {.ping_interval = 50ms, .pong_timeout = 200ms}}));
  run_client([&]() -> net::awaitable<void> {
    auto ws = (co_await tether::connect(server.url("/echo"), quiet_client())).value();
    BOOST_TEST(!co_await ws.ping("hello"));
    net::steady_timer wait(co_await net::this_coro::executor, 600ms);
    co_await wait.async_wait(net::use_awaitable);  // several server pings, each answered
    BOOST_TEST(!co_await ws.write("alive"));
    auto msg = co_await ws.read();
    BOOST_REQUIRE(msg.has_value());
    BOOST_TEST(msg->payload == "alive");
    BOOST_TEST((co_await ws.ping(std::string(126, 'x')) == tether::error::invalid_argument));
    co_await ws.close();
  });
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(closing)

BOOST_AUTO_TEST_CASE(client_close_code_and_reason_reach_the_server) {
  std::promise<std::pair<unsigned, std::string>> seen;
  tether::router app;
  app.websocket("/close", [&](tether::websocket& ws, tether::request const&) -> net::awaitable<void> {
    auto msg = co_await ws.read();
    BOOST_TEST((msg.error() == tether::error::closed));
    seen.set_value({static_cast<unsigned>(ws.peer_close_code()), ws.peer_close_reason()});
  });
  running_server server(std::move(app));
  run_client([&]() -> net::awaitable<void> {
    auto ws = (co_await tether::connect(server.url("/close"), quiet_client())).value();
    BOOST_TEST(!co_await ws.close(static_cast<tether::close_code>(4000), "bye now"));
    BOOST_TEST(static_cast<unsigned>(ws.peer_close_code()) == 4000u);  // echoed
  });
  auto const [code, reason] = seen.get_future().get();
  BOOST_TEST(code == 4000u);
  BOOST_TEST(reason == "bye now");
}

BOOST_AUTO_TEST_CASE(server_close_code_and_reason_reach_the_client) {
  tether::router app;
  app.websocket("/close", [](tether::websocket& ws, tether::request const&) -> net::awaitable<void> {
    co_await ws.close(tether::close_code::policy_violation, "not today");
  });
  running_server server(std::move(app));
  run_client([&]() -> net::awaitable<void> {
    auto ws = (co_await tether::connect(server.url("/close"), quiet_client())).value();
    auto msg = co_await ws.read();
    BOOST_TEST((msg.error() == tether::error::closed));
    BOOST_TEST((ws.peer_close_code() == tether::close_code::policy_violation));
    BOOST_TEST(ws.peer_close_reason() == "not today");
    BOOST_TEST((co_await ws.write("late") == tether::error::closed));
  });
}

BOOST_AUTO_TEST_CASE(close_with_a_reserved_code_is_refused_locally) {
  running_server server(echo_app());
  run_client([&]() -> net::awaitable<void> {
    auto ws = (co_await tether::connect(server.url("/echo"), quiet_client())).value();
    BOOST_TEST((co_await ws.close(tether::close_code::abnormal) == tether::error::invalid_argument));
    BOOST_TEST((co_await ws.write("\xFF") == tether::error::invalid_utf8));
    BOOST_TEST(!co_await ws.close());
  });
}

BOOST_AUTO_TEST_CASE(oversize_message_closes_with_1009) {
  running_server server(echo_app({.websocket = {.max_message_size = 1000}}));
  raw_client peer(server.port());
  peer.send(opcode::binary, std::string(1001, 'x'));
  BOOST_TEST(peer.read_close_code() == 1009u);
  BOOST_TEST(peer.ended_by_peer());
}

BOOST_AUTO_TEST_CASE(invalid_utf8_closes_with_1007) {
  running_server server(echo_app());
  raw_client peer(server.port());
  peer.send(opcode::text, "caf\xC3");
  BOOST_TEST(peer.read_close_code() == 1007u);
  BOOST_TEST(peer.ended_by_peer());
}

BOOST_AUTO_TEST_CASE(invalid_close_code_from_peer_gets_1002) {
  running_server server(echo_app());
  raw_client peer(server.port());
  peer.send(opcode::close, std::string("\x03\xED", 2));  // 1005 may not be sent
  BOOST_TEST(peer.read_close_code() == 1002u);
  BOOST_TEST(peer.ended_by_peer());
}

BOOST_AUTO_TEST_CASE(client_closes_with_1002_when_the_server_masks_its_frames) {
  // A hand-made server: accepts one upgrade, then sends a masked frame.
  net::io_context ctx;
  tcp::acceptor acceptor(ctx, {net::ip::make_address("127.0.0.1"), 0});
  auto const port = acceptor.local_endpoint().port();
  std::thread fake_server([&] {
    tcp::socket socket(ctx);
    acceptor.accept(socket);
    net::streambuf request;
    net::read_until(socket, request, "\r\n\r\n");
    std::string const head(static_cast<char const*>(request.data().data()), request.size());
    auto const at = head.find("Sec-WebSocket-Key: ") + 19;
    auto const key = head.substr(at, head.find("\r\n", at) - at);
    std::string const reply = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Accept: " + tether::detail::accept_key(key) + "\r\n\r\n";
    net::write(socket, net::buffer(reply));
    net::write(socket, net::buffer(raw_client::encode(opcode::text, "masked!", true, true)));
    char buffer[64];
    boost::system::error_code ec;
    std::string received;
    while (!ec) received.append(buffer, socket.read_some(net::buffer(buffer), ec));
    // The client's close frame is masked: its code is in bytes 6 and 7.
    BOOST_TEST(received.size() >= 8u);
    if (received.size() >= 8) {
      tether::detail::mask_key key_bytes;
      std::memcpy(key_bytes.data(), received.data() + 2, 4);
      std::string code = received.substr(6, 2);
      tether::detail::apply_mask({code.data(), 2}, key_bytes, 0);
      BOOST_TEST(((static_cast<unsigned char>(code[0]) << 8) | static_cast<unsigned char>(code[1])) == 1002);
    }
  });
  run_client([&]() -> net::awaitable<void> {
    auto ws = (co_await tether::connect("ws://127.0.0.1:" + std::to_string(port) + "/", quiet_client())).value();
    auto msg = co_await ws.read();
    BOOST_TEST((msg.error() == tether::error::protocol_error));
  });
  fake_server.join();
}

BOOST_AUTO_TEST_CASE(unmasked_client_frame_gets_1002) {
  running_server server(echo_app());
  raw_client peer(server.port());
  peer.send_raw(raw_client::encode(opcode::text, "plain", true, false));
  BOOST_TEST(peer.read_close_code() == 1002u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(http_and_handshake)

BOOST_AUTO_TEST_CASE(plain_http_routes_and_refusals) {
  running_server server(echo_app());
  auto ask = [&](std::string const& request) {
    raw_client peer(server.port(), "", false);
    peer.send_raw(request);
    return peer.read_http_head();
  };
  BOOST_TEST(ask("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").rfind("HTTP/1.1 200", 0) == 0u);
  BOOST_TEST(ask("GET /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").rfind("HTTP/1.1 404", 0) == 0u);
  BOOST_TEST(ask("GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").rfind("HTTP/1.1 426", 0) == 0u);
  auto const wrong_version = ask(
      "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n");
  BOOST_TEST(wrong_version.rfind("HTTP/1.1 400", 0) == 0u);
  BOOST_TEST(wrong_version.find("Sec-WebSocket-Version: 13") != std::string::npos);
  BOOST_TEST(ask("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n").rfind("HTTP/1.1 405", 0) == 0u);
  BOOST_TEST(ask("GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n")
                 .rfind("HTTP/1.1 400", 0) == 0u);  // no key
  BOOST_TEST(ask("GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
                 .rfind("HTTP/1.1 400", 0) == 0u);  // no Connection: Upgrade
}

BOOST_AUTO_TEST_CASE(oversize_headers_get_431_and_oversize_bodies_413) {
  running_server server(echo_app(), {.max_header_bytes = 1024, .max_body_bytes = 100});
  auto ask = [&](std::string const& request) {
    raw_client peer(server.port(), "", false);
    peer.send_raw(request);
    return peer.read_http_head();
  };
  BOOST_TEST(ask("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n").rfind("HTTP/1.1 431", 0) ==
             0u);
  BOOST_TEST(ask("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 500\r\n\r\n" + std::string(500, 'b'))
                 .rfind("HTTP/1.1 413", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(head_is_answered_from_get_without_a_body) {
  running_server server(echo_app());
  raw_client peer(server.port(), "", false);
  peer.send_raw("HEAD / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  auto const head = peer.read_http_head();
  BOOST_TEST(head.rfind("HTTP/1.1 200", 0) == 0u);
  BOOST_TEST(head.find("Content-Length: 13") != std::string::npos);
  // The next bytes are the second response, not a body.
  BOOST_TEST(peer.read_http_head().rfind("HTTP/1.1 404", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(keep_alive_serves_several_requests_on_one_connection) {
  running_server server(echo_app());
  raw_client peer(server.port(), "", false);
  for (int i = 0; i < 3; ++i) {
    peer.send_raw("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    auto const head = peer.read_http_head();
    BOOST_TEST(head.rfind("HTTP/1.1 200", 0) == 0u);
    BOOST_TEST(peer.read_exact(13) == "<h1>echo</h1>");
  }
}

BOOST_AUTO_TEST_CASE(subprotocol_is_chosen_by_server_preference) {
  running_server server(echo_app({.subprotocols = {"v2", "v1"}}));
  run_client([&]() -> net::awaitable<void> {
    // Built outside the co_await expression: g++ 12 rejects string-literal
    // arrays in braced initializers there ("array used as initializer").
    auto options = quiet_client({.subprotocols = {"v1", "v2"}});
    auto ws = (co_await tether::connect(server.url("/echo"), options)).value();
    BOOST_TEST(ws.subprotocol() == "v2");
    co_await ws.close();
  });
}

BOOST_AUTO_TEST_CASE(connect_errors_are_specific) {
  running_server server(echo_app({.subprotocols = {"only"}, .require_subprotocol = true}));
  run_client([&]() -> net::awaitable<void> {
    auto bad_url = co_await tether::connect(std::string("ws://"), quiet_client());
    BOOST_TEST((bad_url.error() == tether::error::bad_url));
    // Not port 34463: Boost.URL's port_number() wraps.
    for (std::string const port : {"99999", "65536", "0", "4294967377"}) {
      auto far = co_await tether::connect("ws://127.0.0.1:" + port + "/", quiet_client());
      BOOST_TEST((far.error() == tether::error::bad_url), port);
    }
    auto scheme = co_await tether::connect(std::string("http://127.0.0.1/"), quiet_client());
    BOOST_TEST((scheme.error() == tether::error::unsupported_scheme));
    auto missing = co_await tether::connect(server.url("/missing"), quiet_client());
    BOOST_TEST((missing.error() == tether::error::handshake_rejected));
    BOOST_TEST(missing.error().http_status() == 404);
    BOOST_TEST(missing.error().http_body().find("no WebSocket endpoint") != std::string::npos);
    auto no_protocol = co_await tether::connect(server.url("/echo"), quiet_client());
    BOOST_TEST(no_protocol.error().http_status() == 400);
    auto const unused = free_port();
    std::string const refused_url = "ws://127.0.0.1:" + std::to_string(unused) + "/";
    auto refused = co_await tether::connect(refused_url, quiet_client());
    BOOST_TEST(!refused.has_value());
    BOOST_TEST(!refused.error().message().empty());
    BOOST_CHECK_THROW(refused.value(), boost::system::system_error);
  });
}

BOOST_AUTO_TEST_CASE(connect_errors_say_what_to_do_in_plain_words) {
  run_client([&]() -> net::awaitable<void> {
    for (std::string const typed : {"127.0.0.1:8080/echo", "localhost/echo"}) {
      auto no_scheme = co_await tether::connect(typed, quiet_client());
      BOOST_REQUIRE(!no_scheme.has_value());
      BOOST_TEST((no_scheme.error() == tether::error::bad_url));
      auto const said = no_scheme.error().message();
      BOOST_TEST(said.find("no scheme") != std::string::npos, said);
      BOOST_TEST(said.find("ws:// or wss://") != std::string::npos, said);
    }
    auto no_host = co_await tether::connect(std::string("ws:/echo"), quiet_client());
    BOOST_TEST(no_host.error().message().find("no host") != std::string::npos, no_host.error().message());
    // value() throws for those who want exceptions; what() is the same
    // sentence, without Boost's "[system:111 at /usr/include/...]".
    auto refused = co_await tether::connect("ws://127.0.0.1:" + std::to_string(free_port()) + "/", quiet_client());
    BOOST_REQUIRE(!refused.has_value());
    try {
      refused.value();
      BOOST_ERROR("value() did not throw");
    } catch (boost::system::system_error const& e) {
      BOOST_TEST(std::string(e.what()) == refused.error().message());
      BOOST_TEST(std::string(e.what()).find('[') == std::string::npos, e.what());
      BOOST_TEST((e.code() == refused.error().code()));
    }
  });
}

BOOST_AUTO_TEST_SUITE_END()
