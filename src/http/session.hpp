#pragma once
// The HTTP/1.1 session of one server connection: requests one after
// another on a kept-alive connection, each read under the limits and a
// deadline and answered through the router, until one asks for a
// WebSocket. That one is answered by the upgrade module and handed back to
// the server, which starts the WebSocket; the session's parser and buffer
// are gone by then, so an open WebSocket keeps nothing of HTTP.

#include "http/host_port.hpp"
#include "http/upgrade.hpp"
#include "net/deadline.hpp"
#include "net/transport.hpp"

#include <tether/request.hpp>
#include <tether/response.hpp>
#include <tether/router.hpp>
#include <tether/server.hpp>

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string_view>

namespace tether::detail {

/// One connection as its HTTP session and the server's stop() see it.
/// Thread safety: its executor only.
struct http_connection {
  explicit http_connection(transport s) : stream(std::move(s)), timer(stream.get_executor()) {}

  transport stream;
  deadline timer;
  host_filter const* hosts = nullptr;  // the listener's, which outlives every connection
  endpoint remote;
  bool secure = false;
  bool proxied = false;           // from a trusted proxy: X-Forwarded-For names the client
  bool waiting_for_peer = false;  // in the TLS handshake or between requests: stop() may cut it
  bool stopping = false;
};

/// Closes the stream when `timeout` passes, which ends whatever waits on it.
void arm_deadline(std::shared_ptr<http_connection> const& c, std::chrono::milliseconds timeout);

/// What an HTTP session needs from the server that runs it. This is the
/// seam for HTTP/2: its session would take the same site, answer through
/// the same router and hand its WebSocket requests (RFC 8441) to the same
/// upgrade checks.
class http_site {
 public:
  virtual router const& routes() const noexcept = 0;
  /// Limits, timeouts and the logger.
  virtual server_options const& options() const noexcept = 0;
  /// For each request on a connection from a trusted proxy: sets `client`
  /// to the client that X-Forwarded-For (all its lines, joined) names, or
  /// returns the answer (429, 503) when the per-address limits refuse it,
  /// and logs that refusal.
  virtual std::optional<response> name_client(http_connection& c, std::string_view forwarded_for,
                                              endpoint& client) = 0;

 protected:
  ~http_site() = default;
};

/// A WebSocket request the router sent to `route`, answered with 101.
struct websocket_request {
  router::websocket_route const* route = nullptr;
  upgrade_request upgrade;
  upgrade_agreement agreed;
};

/// Serves HTTP/1.1 on `c` until the connection ends (nothing is returned)
/// or a request has been upgraded. Each read is bounded by the handshake
/// timeout (first request) or the keep-alive timeout (later ones).
boost::asio::awaitable<std::unique_ptr<websocket_request>> serve_http1(std::shared_ptr<http_connection> c,
                                                                       http_site& site);

/// Answers `res` before any request is read (the gate's 429 and 503), then
/// closes as after every refusal: our FIN first, then a second of reading
/// what the client still sends, so that its unread bytes do not turn the
/// answer into a reset. `timeout` bounds the write.
boost::asio::awaitable<void> refuse_connection(std::shared_ptr<http_connection> c, response res,
                                               std::chrono::milliseconds timeout);

}  // namespace tether::detail
