// RFC 6455 conformance with a raw-socket peer that sends crafted bytes: in
// the server role (a crafted client) and in the client role (a crafted
// server). Every failure case checks the exact close code and that the TCP
// connection is then closed.
#define BOOST_TEST_MODULE conformance
#include "../integration/support.hpp"

#include "ws/handshake.hpp"

#include <cstring>

using namespace test;
using tether::detail::opcode;

namespace {

constexpr unsigned no_close = 0;

std::string code_bytes(unsigned code) {
  return {static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
}

// A frame with any first byte and any length field, masked like a client's.
std::string crafted_frame(std::uint8_t first_byte, std::string_view payload, bool mask = true) {
  std::string out = raw_client::encode(opcode::binary, payload, true, mask);
  out[0] = static_cast<char>(first_byte);
  return out;
}

// Only a header: the limit must act before any payload arrives.
std::string oversize_header() {
  std::string header = "\x82\xFF";
  std::uint64_t const size = (16u << 20) + 1;
  for (int i = 7; i >= 0; --i) header.push_back(static_cast<char>(size >> (8 * i)));
  return header + "\x01\x02\x03\x04";
}

struct server_case {
  char const* name;
  std::string bytes;
  unsigned close_code;
};

tether::router echo_app() {
  tether::router app;
  app.websocket("/echo", echo_handler, {.websocket = {.ping_interval = 0ms}});
  return app;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(server_role)

BOOST_AUTO_TEST_CASE(every_length_encoding_at_its_boundaries_is_echoed_minimally) {
  running_server server(echo_app());
  raw_client peer(server.port());
  for (std::size_t size : {0u, 125u, 126u, 127u, 65535u, 65536u, 100000u}) {
    BOOST_TEST_CONTEXT("size " << size) {
      peer.send(opcode::binary, std::string(size, 'b'));
      auto const echo = peer.read_frame();
      BOOST_REQUIRE(echo);
      BOOST_TEST(echo->payload.size() == size);
      BOOST_TEST(!echo->masked);
    }
  }
  // The header bytes themselves: 7-bit, 16-bit and 64-bit length forms.
  peer.send(opcode::binary, std::string(125, 'x'));
  peer.send(opcode::binary, std::string(126, 'x'));
  peer.send(opcode::binary, std::string(65536, 'x'));
  auto const whole = peer.read_exact(2 + 125 + 4 + 126 + 10 + 65536);
  BOOST_TEST(static_cast<unsigned char>(whole[1]) == 125u);
  BOOST_TEST(static_cast<unsigned char>(whole[2 + 125 + 1]) == 126u);
  BOOST_TEST(static_cast<unsigned char>(whole[2 + 125 + 4 + 126 + 1]) == 127u);
}

BOOST_AUTO_TEST_CASE(protocol_violations_get_the_right_close_code_and_the_connection_ends) {
  std::vector<server_case> cases{
      {"RSV1 without an extension", crafted_frame(0xC1, "x"), 1002},
      {"RSV2", crafted_frame(0xA1, "x"), 1002},
      {"RSV3", crafted_frame(0x91, "x"), 1002},
      {"reserved data opcode 3", crafted_frame(0x83, "x"), 1002},
      {"reserved data opcode 7", crafted_frame(0x87, "x"), 1002},
      {"reserved control opcode 0xB", crafted_frame(0x8B, "x"), 1002},
      {"reserved control opcode 0xF", crafted_frame(0x8F, "x"), 1002},
      {"fragmented ping", crafted_frame(0x09, "x"), 1002},
      {"ping of 126 bytes", crafted_frame(0x89, std::string(126, 'p')), 1002},
      {"close of 126 bytes", crafted_frame(0x88, code_bytes(1000) + std::string(124, 'r')), 1002},
      {"continuation without a start", crafted_frame(0x80, "x"), 1002},
      {"a new message inside a fragmented one",
       raw_client::encode(opcode::text, "a", false) + raw_client::encode(opcode::text, "b"), 1002},
      {"unmasked client frame", raw_client::encode(opcode::text, "x", true, false), 1002},
      {"invalid UTF-8 in one frame", raw_client::encode(opcode::text, "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5\xED\xA0\x80"), 1007},
      {"invalid UTF-8 across fragments",
       raw_client::encode(opcode::text, "\xF0\x90", false) + raw_client::encode(opcode::continuation, "\x80\x28"), 1007},
      {"a 1-byte close payload", raw_client::encode(opcode::close, "\x03"), 1002},
      {"close reason that is not UTF-8", raw_client::encode(opcode::close, code_bytes(1000) + "\xFF"), 1007},
      {"a header announcing 16 MiB + 1 (the default limit)", oversize_header(), 1009},
  };
  for (unsigned code : {0u, 999u, 1004u, 1005u, 1006u, 1015u, 1016u, 2999u, 5000u, 65535u})
    cases.push_back({"invalid close code", raw_client::encode(opcode::close, code_bytes(code)), 1002});
  running_server server(echo_app());
  for (auto const& c : cases) {
    BOOST_TEST_CONTEXT(c.name) {
      raw_client peer(server.port());
      peer.send_raw(c.bytes);
      BOOST_TEST(peer.read_close_code() == c.close_code);
      BOOST_TEST(peer.ended_by_peer());
    }
  }
}

BOOST_AUTO_TEST_CASE(invalid_utf8_fails_fast_in_a_long_fragmented_message) {
  running_server server(echo_app());
  raw_client peer(server.port());
  // The bad byte comes in the first fragment; the message never ends.
  peer.send(opcode::text, std::string(1000, 'a') + "\xC0\xAF", false);
  BOOST_TEST(peer.read_close_code() == 1007u);
  BOOST_TEST(peer.ended_by_peer());
}

BOOST_AUTO_TEST_CASE(valid_close_codes_are_echoed) {
  running_server server(echo_app());
  for (unsigned code : {1000u, 1001u, 1002u, 1003u, 1007u, 1008u, 1009u, 1010u, 1011u, 3000u, 4999u}) {
    BOOST_TEST_CONTEXT("code " << code) {
      raw_client peer(server.port());
      peer.send(opcode::close, code_bytes(code) + "reason");
      BOOST_TEST(peer.read_close_code() == code);
      BOOST_TEST(peer.ended_by_peer());
    }
  }
  raw_client empty(server.port());
  empty.send(opcode::close, "");
  BOOST_TEST(empty.read_close_code() == 1005u);  // an empty close is answered with an empty close
}

BOOST_AUTO_TEST_CASE(data_after_close_is_ignored) {
  running_server server(echo_app());
  raw_client peer(server.port());
  peer.send_raw(raw_client::encode(opcode::close, code_bytes(1000)) + raw_client::encode(opcode::text, "late"));
  auto const first = peer.read_frame();
  BOOST_REQUIRE(first);
  BOOST_TEST(first->opcode == 0x8);  // the close answer, no echo of "late"
  BOOST_TEST(peer.ended_by_peer());
}

BOOST_AUTO_TEST_CASE(utf8_split_at_every_position_across_fragments_is_accepted) {
  running_server server(echo_app());
  raw_client peer(server.port());
  std::string const text = "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";  // é € 😀
  for (std::size_t split = 0; split <= text.size(); ++split) {
    peer.send(opcode::text, text.substr(0, split), false);
    peer.send(opcode::continuation, text.substr(split), true);
    auto const echo = peer.read_frame();
    BOOST_REQUIRE(echo);
    BOOST_TEST(echo->payload == text, "split at " << split);
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(client_role)

namespace {

// A crafted server: accepts one upgrade, sends `bytes`, then reports the
// close code the client sent (0 for none) and whether the client then
// ended the TCP connection.
struct crafted_server {
  crafted_server() : acceptor(ctx, {net::ip::make_address("127.0.0.1"), 0}) {}

  struct outcome {
    unsigned close_code = no_close;
    bool ended = false;                                    // the client ended the TCP connection
    std::vector<std::pair<int, std::string>> frames;      // opcode, unmasked payload
  };

  outcome serve(std::string const& bytes) {
    tcp::socket socket(ctx);
    acceptor.accept(socket);
    timeval tv{5, 0};
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    net::streambuf request;
    net::read_until(socket, request, "\r\n\r\n");
    std::string const head(static_cast<char const*>(request.data().data()), request.size());
    auto const at = head.find("Sec-WebSocket-Key: ") + 19;
    auto const key = head.substr(at, head.find("\r\n", at) - at);
    net::write(socket, net::buffer("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                   "Sec-WebSocket-Accept: " + tether::detail::accept_key(key) + "\r\n\r\n"));
    net::write(socket, net::buffer(bytes));
    std::string received;
    boost::system::error_code ec;
    char buffer[256];
    while (!ec) received.append(buffer, socket.read_some(net::buffer(buffer), ec));
    outcome out;
    out.ended = ec == net::error::eof || ec == net::error::connection_reset;
    for (std::size_t pos = 0; pos + 6 <= received.size();) {  // client frames: masked, short here
      std::size_t length = static_cast<unsigned char>(received[pos + 1]) & 0x7F;
      std::size_t header = 2;
      if (length == 126) {
        length = (static_cast<unsigned char>(received[pos + 2]) << 8) | static_cast<unsigned char>(received[pos + 3]);
        header = 4;
      }
      if (pos + header + 4 + length > received.size()) break;
      tether::detail::mask_key key_bytes;
      std::memcpy(key_bytes.data(), received.data() + pos + header, 4);
      std::string payload = received.substr(pos + header + 4, length);
      tether::detail::apply_mask({payload.data(), payload.size()}, key_bytes, 0);
      int const op = received[pos] & 0x0F;
      if (op == 0x8 && out.close_code == no_close)
        out.close_code = payload.size() < 2 ? 1005u
                                            : (static_cast<unsigned char>(payload[0]) << 8) | static_cast<unsigned char>(payload[1]);
      out.frames.emplace_back(op, std::move(payload));
      pos += header + 4 + length;
    }
    return out;
  }

  std::string url() const { return "ws://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/"; }

  net::io_context ctx;
  tcp::acceptor acceptor;
};

}  // namespace

BOOST_AUTO_TEST_CASE(a_client_closes_with_the_right_code_on_a_broken_server) {
  std::vector<server_case> const cases{
      {"masked server frame", raw_client::encode(opcode::text, "x", true, true), 1002},
      {"RSV1 without an extension", crafted_frame(0xC1, "x", false), 1002},
      {"reserved opcode", crafted_frame(0x83, "x", false), 1002},
      {"fragmented ping", crafted_frame(0x09, "x", false), 1002},
      {"continuation without a start", crafted_frame(0x80, "x", false), 1002},
      {"invalid UTF-8", raw_client::encode(opcode::text, "\xFF", true, false), 1007},
      {"invalid close code", raw_client::encode(opcode::close, code_bytes(1005), true, false), 1002},
      {"a valid close", raw_client::encode(opcode::close, code_bytes(4321), true, false), 4321},
  };
  for (auto const& c : cases) {
    BOOST_TEST_CONTEXT(c.name) {
      crafted_server server;
      crafted_server::outcome seen;
      std::thread serving([&] { seen = server.serve(c.bytes); });
      run_client([&]() -> net::awaitable<void> {
        auto ws = (co_await tether::connect(server.url(), quiet_client())).value();
        auto msg = co_await ws.read();
        BOOST_TEST(!msg.has_value());
        co_await ws.close();  // returns once the connection has ended
      });
      serving.join();
      BOOST_TEST(seen.close_code == c.close_code);
      BOOST_TEST(seen.ended);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_client_answers_pings_identically_between_fragments) {
  crafted_server server;
  std::string const bytes = raw_client::encode(opcode::text, "fr", false, false) +
                            raw_client::encode(opcode::ping, std::string(125, 'p'), true, false) +
                            raw_client::encode(opcode::continuation, "ag", true, false) +
                            raw_client::encode(opcode::close, code_bytes(1000), true, false);
  crafted_server::outcome seen;
  std::thread serving([&] { seen = server.serve(bytes); });
  run_client([&]() -> net::awaitable<void> {
    auto ws = (co_await tether::connect(server.url(), quiet_client())).value();
    auto msg = co_await ws.read();
    BOOST_REQUIRE(msg.has_value());
    BOOST_TEST(msg->payload == "frag");
    BOOST_TEST(((co_await ws.read()).error() == tether::error::closed));
  });
  serving.join();
  BOOST_REQUIRE(!seen.frames.empty());
  BOOST_TEST(seen.frames.front().first == 0xA);  // the pong, before anything else
  BOOST_TEST(seen.frames.front().second == std::string(125, 'p'));
  BOOST_TEST(seen.close_code == 1000u);
  BOOST_TEST(seen.ended);
}

BOOST_AUTO_TEST_SUITE_END()
