#pragma once
// Opening a WebSocket connection to a ws:// or wss:// URL.

#include <tether/failure.hpp>
#include <tether/logger.hpp>
#include <tether/options.hpp>
#include <tether/request.hpp>
#include <tether/tls.hpp>
#include <tether/websocket.hpp>

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace tether {

struct client_options {
  std::vector<std::string> subprotocols{};  ///< offered in this order
  std::vector<header_field> headers{};      ///< extra request headers
  std::string origin{};                     ///< sent as the Origin header when not empty
  tls_client_options tls{};                 ///< for wss://: trust and verification
  /// Connect to this Unix-domain socket instead of the URL's host and
  /// port; the URL still gives the Host header and the target.
  std::string unix_socket{};
  /// An HTTP proxy ("http://user:pass@host:port") to tunnel through with
  /// CONNECT. Empty: the environment decides (https_proxy for wss://,
  /// http_proxy for ws://, both skipped for hosts listed in no_proxy and
  /// for loopback addresses). "direct": never use a proxy.
  std::string proxy{};
  std::chrono::milliseconds connect_timeout = std::chrono::seconds(10);  ///< resolve, connect and proxy tunnel
  /// TLS handshake, then (separately) the HTTP upgrade.
  std::chrono::milliseconds handshake_timeout = std::chrono::seconds(10);
  std::size_t max_response_bytes = 64 * 1024;  ///< headers and body of a refusal
  websocket_options websocket{};
  tether::logger logger{};
};

/// The websocket, or why there is none: failure::detail() says which step
/// failed (resolve, connect, proxy, TLS, upgrade) in our words; when the
/// server refused the upgrade, failure::http_status() and http_body() hold
/// its answer (the body is untrusted peer input). value() throws a
/// boost::system::system_error whose what() is failure::message().
using connect_result = result<websocket>;

/// Resolves, connects and performs the opening handshake. The websocket
/// lives on the calling coroutine's executor. `options` is copied.
///
/// Options are passed as a named variable: a temporary
/// (`connect(url, {.origin = ...})`, `client_options{...}`, a function's
/// result, `std::move(options)`) does not compile. g++ 12, Debian 12's
/// compiler, destroys an aggregate temporary made inside a co_await
/// expression twice, which corrupts memory; the rule is the same with
/// every compiler so that code written elsewhere is safe there.
boost::asio::awaitable<connect_result> connect(std::string_view url, client_options const& options);
boost::asio::awaitable<connect_result> connect(std::string_view url);
boost::asio::awaitable<connect_result> connect(std::string_view, client_options&& options_must_be_a_named_variable) =
    delete;

}  // namespace tether
