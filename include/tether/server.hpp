#pragma once
// The server: listens, answers HTTP and upgrades WebSockets, one coroutine
// per connection.

#include <tether/logger.hpp>
#include <tether/router.hpp>
#include <tether/tls.hpp>

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace tether {

/// One listening socket.
struct listener {
  std::string address = "127.0.0.1";  ///< IPv4 or IPv6 address to bind
  std::uint16_t port = 8080;          ///< 0 picks a free port: read it with server::port(i)
  bool tls = false;                   ///< speaks TLS with server_options::tls
  /// Listens on this Unix-domain socket path instead of address and port.
  /// A stale socket file is replaced; the file is removed when the server
  /// is destroyed.
  std::string unix_path{};
};

struct server_options {
  std::string address = "127.0.0.1";  ///< loopback by default; "::" or "0.0.0.0" to open up
  std::uint16_t port = 8080;          ///< 0 picks a free port: read it with port()
  /// Certificates. When there are any, the listener made of address and
  /// port speaks TLS (https:// and wss://).
  tls_server_options tls{};
  /// When not empty, these replace address and port: several sockets, say
  /// plain HTTP on 8080 and TLS on 8443, or a Unix socket.
  std::vector<listener> listeners{};
  unsigned threads = 1;               ///< event loops, one thread each
  /// From accept to the end of the TLS handshake, and again to the end of
  /// the first request's headers.
  std::chrono::milliseconds handshake_timeout = std::chrono::seconds(10);
  /// Between two requests on a kept-alive HTTP connection.
  std::chrono::milliseconds keep_alive_timeout = std::chrono::seconds(30);
  std::size_t max_header_bytes = 16 * 1024;  ///< 431 past this
  std::size_t max_body_bytes = 1024 * 1024;  ///< 413 past this
  /// Runs on each accepted connection's remote endpoint before any byte is
  /// read; false closes the connection at once.
  std::function<bool(endpoint const&)> accept_filter{};
  std::size_t max_connections = 16384;        ///< open at once; past it new ones get 503
  std::size_t max_connections_per_ip = 1024;  ///< open at once from one address (IPv6: one /64); past it 503
  /// New connections per second from one address (a token bucket holding
  /// up to new_connection_burst_per_ip); past it 429 with Retry-After.
  /// 0 turns the rate limit off.
  double new_connections_per_second_per_ip = 0;
  double new_connection_burst_per_ip = 20;
  /// Reverse proxies (nginx, a load balancer) that connect for clients:
  /// addresses or networks, such as "127.0.0.1", "10.0.0.0/8", "::1".
  /// For a connection from one of them, request::remote is the client
  /// named by X-Forwarded-For (the last address in it that is not itself
  /// a trusted proxy; port 0), and the per-IP limits count that client
  /// once the first request has arrived (before it, only the total
  /// limit). From any other peer X-Forwarded-For is ignored. Empty: trust
  /// no one. An entry that is not an address or network throws
  /// std::invalid_argument.
  std::vector<std::string> trusted_proxies{};
  /// The host names the server answers to in Host (DNS rebinding: a page
  /// whose name an attacker resolves to this machine is same-origin with
  /// the attacker's site, so the browser lets it talk to us; its Host
  /// still names the attacker's site). Entries are names ("example.org"),
  /// subdomain patterns ("*.example.org", not example.org itself),
  /// addresses ("192.0.2.7", "::1" or "[::1]"), or "*" for any; no scheme
  /// and no port: any port is accepted. Other Hosts get 421 Misdirected
  /// Request, for HTTP and WebSocket requests alike.
  /// Empty (the default): a listener bound to a loopback address
  /// (127.0.0.0/8, ::1) answers only to loopback names (localhost,
  /// *.localhost, 127.x.y.z, [::1]); one bound to any other address or to
  /// a Unix socket answers to any Host. Not empty: only these, loopback
  /// names included only when listed. Requests from trusted_proxies are
  /// checked too, on the Host they forward: behind a proxy that passes
  /// the browser's Host (nginx: `proxy_set_header Host $http_host`) list
  /// the public names here. An entry that is not a host throws
  /// std::invalid_argument.
  std::vector<std::string> allowed_hosts{};
  /// run_until_signal() passes this to stop() on SIGINT or SIGTERM.
  std::chrono::milliseconds signal_grace = std::chrono::seconds(10);
  tether::logger logger{};
};

/// Thread safety: stop() and connections() may be called from any thread;
/// the rest from the thread that owns the server.
class server {
 public:
  /// Binds and listens at once. Throws std::system_error if it cannot,
  /// whose what() is one sentence: "tether::server: cannot listen on
  /// 127.0.0.1:8080: Address already in use"; code() says why.
  explicit server(router app, server_options options = {});
  ~server();
  server(server const&) = delete;
  server& operator=(server const&) = delete;

  /// The bound port of the first listener, or of listener `i` (useful
  /// with port 0); 0 for a Unix socket.
  std::uint16_t port() const noexcept;
  std::uint16_t port(std::size_t i) const;

  /// Serves until stop() has finished; uses the calling thread and
  /// threads - 1 more.
  void run();

  /// run(), plus stop(signal_grace) on SIGINT or SIGTERM. Returns 0.
  int run_until_signal();

  /// Stops accepting, sends 1001 to every WebSocket, waits up to `grace`
  /// for connections to end, then cuts what is left. Idempotent; returns
  /// at once; run() returns when it is done.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(10));

  /// Connections open right now (HTTP and WebSocket).
  std::size_t connections() const noexcept;

  /// Runs `task` on the server's first event loop, next to the
  /// connections: a ticker, a broadcaster. stop() cancels it when it
  /// begins (a pending wait ends with operation_aborted). Any thread.
  void spawn(boost::asio::awaitable<void> task);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace tether
