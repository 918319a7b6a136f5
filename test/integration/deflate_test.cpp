// permessage-deflate between Tether's own client and server on loopback:
// every parameter combination, context takeover over many messages, and a
// decompression bomb from a raw peer.
#define BOOST_TEST_MODULE deflate
#include "support.hpp"

#include "codec/deflate.hpp"

#include <random>

using namespace test;
using tether::detail::opcode;

namespace {

tether::compression_options compression(bool takeover, int bits) {
  tether::compression_options c;
  c.enabled = true;
  c.context_takeover = takeover;
  c.window_bits = bits;
  return c;
}

tether::router echo_app(tether::compression_options c, std::size_t max_message_size = 16 << 20) {
  tether::router app;
  tether::endpoint_options options;
  options.websocket.compression = c;
  options.websocket.max_message_size = max_message_size;
  app.websocket("/echo", echo_handler, options);
  return app;
}

std::vector<std::string> payloads() {
  std::mt19937 gen(42);
  std::string random(200000, '\0');
  for (auto& c : random) c = static_cast<char>(gen());
  std::string json;
  while (json.size() < 100000) json += "{\"id\":" + std::to_string(json.size()) + ",\"name\":\"tether\"},";
  return {"", "x", std::string(63, 'a'), std::string(64, 'a'), std::string(65536, 'b'), random, json,
          std::string(1 << 20, '\0')};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(combinations)

BOOST_AUTO_TEST_CASE(every_parameter_combination_echoes) {
  auto const messages = payloads();
  for (bool server_takeover : {false, true})
    for (bool client_takeover : {false, true})
      for (int server_bits : {15, 10, 9})
        for (int client_bits : {15, 9}) {
          BOOST_TEST_CONTEXT("server takeover " << server_takeover << " bits " << server_bits << ", client takeover "
                                                << client_takeover << " bits " << client_bits) {
            running_server server(echo_app(compression(server_takeover, server_bits)));
            tether::client_options options = quiet_client();
            options.websocket.compression = compression(client_takeover, client_bits);
            run_client([&]() -> net::awaitable<void> {
              auto ws = co_await tether::connect(server.url("/echo"), options);
              BOOST_REQUIRE_MESSAGE(ws.has_value(), ws.error().message());
              BOOST_TEST(ws->compressed());
              for (int round = 0; round < 2; ++round) {
                for (auto const& m : messages) {
                  auto const kind = m.size() == 200000 ? tether::message_kind::binary : tether::message_kind::text;
                  BOOST_REQUIRE(!co_await ws->write(m, kind));
                  auto reply = co_await ws->read();
                  BOOST_REQUIRE(reply.has_value());
                  BOOST_REQUIRE(reply->payload == m);
                }
              }
              BOOST_TEST(!co_await ws->close());
            });
          }
        }
}

BOOST_AUTO_TEST_CASE(context_takeover_over_thousands_of_small_messages) {
  running_server server(echo_app(compression(true, 15)));
  tether::client_options options = quiet_client();
  options.websocket.compression = compression(true, 15);
  options.websocket.compression.threshold = 0;
  run_client([&]() -> net::awaitable<void> {
    auto ws = (co_await tether::connect(server.url("/echo"), options)).value();
    constexpr int count = 5000;
    for (int i = 0; i < count; ++i)
      BOOST_REQUIRE(!co_await ws.write("{\"seq\":" + std::to_string(i) + ",\"kind\":\"tick\"}"));
    for (int i = 0; i < count; ++i) {
      auto reply = co_await ws.read();
      BOOST_REQUIRE(reply.has_value());
      BOOST_REQUIRE_EQUAL(reply->payload, "{\"seq\":" + std::to_string(i) + ",\"kind\":\"tick\"}");
    }
    BOOST_TEST(!co_await ws.close());
  });
}

BOOST_AUTO_TEST_CASE(one_side_without_compression_gets_plain_messages) {
  running_server server(echo_app(tether::compression_options{}));
  tether::client_options options = quiet_client();
  options.websocket.compression = compression(false, 15);
  run_client([&]() -> net::awaitable<void> {
    auto ws = (co_await tether::connect(server.url("/echo"), options)).value();
    BOOST_TEST(!ws.compressed());
    BOOST_REQUIRE(!co_await ws.write(std::string(1000, 'a')));
    BOOST_TEST((co_await ws.read())->payload == std::string(1000, 'a'));
  });
  running_server compressing(echo_app(compression(false, 15)));
  run_client([&]() -> net::awaitable<void> {
    auto ws = (co_await tether::connect(compressing.url("/echo"), quiet_client())).value();
    BOOST_TEST(!ws.compressed());
    BOOST_REQUIRE(!co_await ws.write(std::string(1000, 'a')));
    BOOST_TEST((co_await ws.read())->payload == std::string(1000, 'a'));
  });
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(hostile)

// A raw client that negotiates compression, then sends crafted frames.
void negotiate(raw_client& peer) {
  peer.send_raw(
      "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
      "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n");
  auto const head = peer.read_http_head();
  BOOST_REQUIRE_MESSAGE(head.find("permessage-deflate") != std::string::npos, head);
}

std::string compressed_frame(std::string_view plain, opcode op = opcode::binary) {
  tether::detail::deflate_stream d(15, 8, 9);
  std::string packed;
  d.compress(plain, packed, true);
  std::string frame = raw_client::encode(op, packed);
  frame[0] = static_cast<char>(frame[0] | 0x40);  // RSV1
  return frame;
}

BOOST_AUTO_TEST_CASE(a_decompression_bomb_is_refused_with_1009) {
  running_server server(echo_app(compression(false, 15), 1 << 20));
  raw_client peer(server.port(), "", false);
    negotiate(peer);
  peer.send_raw(compressed_frame(std::string(1 << 20, 'a')));  // exactly the limit: fine
  auto echo = peer.read_frame();
  BOOST_REQUIRE(echo.has_value());
  peer.send_raw(compressed_frame(std::string(64 << 20, '\0')));  // 64 MiB in about 64 KiB
  BOOST_TEST(peer.read_close_code() == 1009u);
  BOOST_TEST(peer.ended_by_peer());
}

BOOST_AUTO_TEST_CASE(corrupt_deflate_data_is_1002_and_bad_utf8_inside_is_1007) {
  running_server server(echo_app(compression(false, 15)));
  {
    raw_client peer(server.port(), "", false);
    negotiate(peer);
    std::string frame = raw_client::encode(opcode::binary, "\xff\xff\xff\xff\xff");
    frame[0] = static_cast<char>(frame[0] | 0x40);
    peer.send_raw(frame);
    BOOST_TEST(peer.read_close_code() == 1002u);
  }
  {
    raw_client peer(server.port(), "", false);
    negotiate(peer);
    peer.send_raw(compressed_frame(std::string(300, 'a') + "\xed\xa0\x80", opcode::text));
    BOOST_TEST(peer.read_close_code() == 1007u);
  }
}

BOOST_AUTO_TEST_SUITE_END()
