#pragma once
// The lower-level way in: turn a TCP socket you accepted yourself into a
// websocket, without server or router. Not included by <tether/tether.hpp>,
// because it brings in Asio's socket types.

#include <tether/endpoint_options.hpp>
#include <tether/failure.hpp>
#include <tether/logger.hpp>
#include <tether/request.hpp>
#include <tether/response.hpp>
#include <tether/websocket.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace tether {

struct accept_options {
  /// What a router endpoint admits, the same struct with the same defaults:
  /// same-site origins (403 for others), subprotocols, a token (401/403;
  /// checked against the path as sent, since no router normalises it) and
  /// the connection's limits.
  endpoint_options endpoint{};
  /// From the call to the end of the 101 (or refusal) being written.
  std::chrono::milliseconds handshake_timeout = std::chrono::seconds(10);
  std::size_t max_header_bytes = 16 * 1024;
  /// Answers a request that is not an upgrade (say, the page that opens
  /// the WebSocket); the connection then closes. Unset: 426.
  std::function<response(request const&)> http{};
  /// The names accepted in Host, as server_options::allowed_hosts (421
  /// for others). Empty: when the socket's local address is loopback,
  /// loopback names only, else any. Note that this looks at the
  /// connection, not the listener: behind a proxy on the same machine
  /// that forwards public names, list them (or "*"). A bad entry throws
  /// std::invalid_argument from the awaited accept().
  std::vector<std::string> allowed_hosts{};
  tether::logger logger{};
};

/// An accepted WebSocket and the upgrade request it came with. `req.path`
/// is the target's path as sent: no router normalised it.
struct accepted {
  accepted(websocket w, request r) : ws(std::move(w)), req(std::move(r)) {}
  websocket ws;
  request req;
};

/// Reads one HTTP request from `socket` and, when it is a valid WebSocket
/// upgrade that `options` admit, answers 101 and returns the websocket
/// (which then lives on the socket's executor). Anything else gets its
/// HTTP answer (`options.http`, or a refusal: 400, 403, 421, 426, 431...) and
/// the result is `error::upgrade_refused`, with the status sent and its
/// reason in the failure; a silent or slow client gets
/// `error::handshake_timeout`.
///
/// `options` is copied, and passed as a named variable: a temporary does
/// not compile, as for connect() (client.hpp says why).
boost::asio::awaitable<result<accepted>> accept(boost::asio::ip::tcp::socket socket, accept_options const& options);
boost::asio::awaitable<result<accepted>> accept(boost::asio::ip::tcp::socket,
                                                accept_options&& options_must_be_a_named_variable) = delete;

}  // namespace tether
