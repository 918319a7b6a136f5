#pragma once
// Opening a WebSocket connection to a ws:// or wss:// URL.

#include <tether/logger.hpp>
#include <tether/options.hpp>
#include <tether/request.hpp>
#include <tether/tls.hpp>
#include <tether/websocket.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

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

/// Why connect() failed. When the server refused the upgrade, its status
/// and body are here; the body is untrusted peer input.
struct connect_error {
  boost::system::error_code code{};
  int http_status = 0;
  std::string http_body{};
  std::string detail{};  ///< our own words: which step failed and why

  std::string message() const;
};

/// Throws boost::system::system_error whose what() is connect_error::message(); found by
/// boost::system::result<...>::value().
[[noreturn]] void throw_exception_from_error(connect_error const& e,
                                             boost::source_location const& loc);

using connect_result = boost::system::result<websocket, connect_error>;

/// Resolves, connects and performs the opening handshake. The websocket
/// lives on the calling coroutine's executor.
///
/// With g++ 12, build the options in a variable before the co_await: that
/// compiler mishandles aggregate temporaries (`{...}`) inside a co_await
/// expression (copies them bitwise, destroys them twice). For the same
/// reason there is an overload instead of a default argument.
boost::asio::awaitable<connect_result> connect(std::string_view url, client_options options);
boost::asio::awaitable<connect_result> connect(std::string_view url);

}  // namespace tether
