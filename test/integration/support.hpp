#pragma once
// Loopback fixtures: a real server on a free port in its own thread, client
// coroutines run with a deadline, and a raw socket peer for crafted bytes.

#include <tether/tether.hpp>

#include "codec/frame.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <boost/test/unit_test.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <optional>
#include <string>
#include <thread>

namespace test {

/// Built with a sanitizer, whose allocator keeps freed memory in quarantine
/// and which slows every instruction down: tests that bound memory or CPU
/// skip or widen those bounds there.
inline constexpr bool sanitized =
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    true;
#else
    false;
#endif

namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

class running_server {
 public:
  explicit running_server(tether::router app, tether::server_options options = {})
      : server_(std::move(app), prepare(std::move(options))), thread_([this] { server_.run(); }) {}

  ~running_server() { stop(0ms); }

  void stop(std::chrono::milliseconds grace) {
    if (!thread_.joinable()) return;
    server_.stop(grace);
    thread_.join();
  }

  std::uint16_t port() const { return server_.port(); }
  std::string url(std::string const& path) const { return "ws://127.0.0.1:" + std::to_string(port()) + path; }
  tether::server& get() { return server_; }

 private:
  static tether::server_options prepare(tether::server_options options) {
    options.port = 0;
    if (options.logger.level() == tether::log_level::info) options.logger = tether::logger::silent();
    return options;
  }

  tether::server server_;
  std::thread thread_;
};

/// Runs a client coroutine on its own io_context; the test fails if it has
/// not finished within `limit`.
template <class Coroutine>
auto run_client(Coroutine&& coroutine, std::chrono::seconds limit = 30s) {
  net::io_context ctx;
  auto result = net::co_spawn(ctx, std::forward<Coroutine>(coroutine)(), net::use_future);
  ctx.run_for(limit);
  BOOST_REQUIRE_MESSAGE(result.wait_for(0s) == std::future_status::ready, "client did not finish in time");
  return result.get();
}

template <class Predicate>
bool eventually(Predicate predicate, std::chrono::milliseconds limit = 5000ms) {
  auto const deadline = std::chrono::steady_clock::now() + limit;
  while (!predicate()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

inline tether::client_options quiet_client(tether::client_options options) {
  if (options.logger.level() == tether::log_level::info) options.logger = tether::logger::silent();
  return options;
}

/// Silent client options, as a named object: connect() takes only those
/// (a temporary inside a co_await is what g++ 12 destroys twice).
inline tether::client_options const& quiet_client() {
  static tether::client_options const options = [] {
    tether::client_options silent;
    silent.logger = tether::logger::silent();
    return silent;
  }();
  return options;
}

struct raw_frame {
  bool fin = false;
  std::uint8_t opcode = 0;
  std::string payload;
  bool masked = false;
};

/// A blocking peer that speaks bytes, not WebSocket: for crafted frames.
class raw_client {
 public:
  explicit raw_client(std::uint16_t port, std::string const& path = "/echo", bool handshake = true) {
    socket_.connect({net::ip::make_address("127.0.0.1"), port});
    set_timeout(10s);
    if (handshake) {
      send_raw("GET " + path +
               " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
      auto const head = read_http_head();
      BOOST_REQUIRE_MESSAGE(head.rfind("HTTP/1.1 101", 0) == 0, "upgrade refused: " << head);
    }
  }

  void set_timeout(std::chrono::milliseconds t) {
    timeval tv{static_cast<time_t>(t.count() / 1000), static_cast<suseconds_t>((t.count() % 1000) * 1000)};
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }

  void send_raw(std::string_view bytes) { net::write(socket_, net::buffer(bytes)); }

  static std::string encode(tether::detail::opcode op, std::string_view payload, bool fin = true, bool mask = true) {
    tether::detail::header_bytes header{};
    tether::detail::mask_key const key{0xA1, 0xB2, 0xC3, 0xD4};
    auto const size = tether::detail::encode_header(header, fin, op, payload.size(), mask ? &key : nullptr);
    std::string out(header.data(), size);
    std::string body(payload);
    if (mask) tether::detail::apply_mask({body.data(), body.size()}, key, 0);
    return out + body;
  }

  void send(tether::detail::opcode op, std::string_view payload, bool fin = true) { send_raw(encode(op, payload, fin)); }

  std::string read_http_head() {
    auto const n = net::read_until(socket_, input_, "\r\n\r\n");
    std::string head(static_cast<char const*>(input_.data().data()), n);
    input_.consume(n);
    return head;
  }

  /// The next frame, or nothing when the connection ended (or timed out).
  std::optional<raw_frame> read_frame() {
    try {
      fill(2);
      auto const* p = static_cast<unsigned char const*>(input_.data().data());
      raw_frame f;
      f.fin = (p[0] & 0x80) != 0;
      f.opcode = p[0] & 0x0F;
      f.masked = (p[1] & 0x80) != 0;
      std::uint64_t length = p[1] & 0x7F;
      std::size_t header = 2;
      if (length == 126) {
        fill(4);
        p = static_cast<unsigned char const*>(input_.data().data());
        length = (std::uint64_t{p[2]} << 8) | p[3];
        header = 4;
      } else if (length == 127) {
        fill(10);
        p = static_cast<unsigned char const*>(input_.data().data());
        length = 0;
        for (int i = 0; i < 8; ++i) length = (length << 8) | p[2 + i];
        header = 10;
      }
      fill(header + length);
      f.payload.assign(static_cast<char const*>(input_.data().data()) + header, length);
      input_.consume(header + length);
      return f;
    } catch (boost::system::system_error const&) {
      return std::nullopt;
    }
  }

  /// Reads frames until a close frame; returns its code (0 if none came).
  unsigned read_close_code() {
    while (auto f = read_frame()) {
      if (f->opcode == 0x8) return f->payload.size() >= 2 ? (static_cast<unsigned char>(f->payload[0]) << 8) |
                                                                static_cast<unsigned char>(f->payload[1])
                                                          : 1005;
    }
    return 0;
  }

  /// True when the server ended the TCP connection (EOF or reset) in time.
  bool ended_by_peer() {
    char byte;
    boost::system::error_code ec;
    for (;;) {
      socket_.read_some(net::buffer(&byte, 1), ec);
      if (ec) return ec == net::error::eof || ec == net::error::connection_reset;
    }
  }

  std::string read_exact(std::size_t n) {
    fill(n);
    std::string out(static_cast<char const*>(input_.data().data()), n);
    input_.consume(n);
    return out;
  }

  tcp::socket& socket() { return socket_; }

  /// Whether a frame can be read without blocking for longer than `limit`:
  /// bytes already buffered, or the socket readable (or ended) in time.
  /// Asio's blocking reads ignore SO_RCVTIMEO, so a test that must not
  /// hang asks this first.
  bool readable_within(std::chrono::milliseconds limit) {
    if (input_.size() > 0) return true;
    pollfd p{socket_.native_handle(), POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(limit.count())) > 0;
  }

 private:
  void fill(std::size_t n) {
    if (input_.size() < n) net::read(socket_, input_, net::transfer_at_least(n - input_.size()));
  }

  net::io_context ctx_;
  tcp::socket socket_{ctx_};
  net::streambuf input_;
};

/// One HTTP/1.1 request with Connection: close; everything the server sent.
inline std::string http_exchange(std::uint16_t port, std::string const& method, std::string const& target,
                                 std::string const& extra_headers = "") {
  raw_client peer(port, "", false);
  peer.send_raw(method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + extra_headers +
                "\r\n");
  std::string all;
  boost::system::error_code ec;
  char buffer[4096];
  while (!ec) all.append(buffer, peer.socket().read_some(net::buffer(buffer), ec));
  return all;
}

/// A loopback port nobody listens on.
// A port for a child process to listen on. Not one the kernel hands out
// for port 0: those come from the ephemeral range, where any outgoing
// connection of a test running beside this one may take it before the
// child binds (seen in CI: "Address already in use"). Ports below that
// range are handed out in a sequence that starts at a place of this
// process's own, and each is checked free before it is returned.
inline std::uint16_t free_port() {
  unsigned low = 32768;
  if (std::FILE* range = std::fopen("/proc/sys/net/ipv4/ip_local_port_range", "r")) {
    if (std::fscanf(range, "%u", &low) != 1) low = 32768;
    std::fclose(range);
  }
  unsigned const first = 10000, count = low > first + 1000 ? low - first : 0;
  static std::atomic<unsigned> next{static_cast<unsigned>(::getpid()) * 97u};
  net::io_context ctx;
  for (unsigned tries = 0; count > 0 && tries < 1000; ++tries) {
    auto const port = static_cast<std::uint16_t>(first + next.fetch_add(1) % count);
    tcp::acceptor acceptor(ctx);
    boost::system::error_code ec;
    acceptor.open(tcp::v4(), ec);
    acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    acceptor.bind({net::ip::make_address("127.0.0.1"), port}, ec);
    if (!ec) return port;
  }
  tcp::acceptor acceptor(ctx, {net::ip::make_address("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}

inline net::awaitable<void> echo_handler(tether::websocket& ws, tether::request const&) {
  while (auto msg = co_await ws.read()) {
    if (co_await ws.write(std::move(*msg))) break;
  }
}

}  // namespace test
