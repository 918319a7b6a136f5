#pragma once
// An HTTP request as a handler sees it: for plain HTTP routes and for the
// upgrade request of a WebSocket.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tether {

struct endpoint {
  std::string address{};  ///< numeric, without brackets ("127.0.0.1", "::1"); empty for a Unix-socket peer
  std::uint16_t port = 0;

  std::string to_string() const;  ///< "127.0.0.1:8080" or "[::1]:8080"
};

struct header_field {
  std::string name{};
  std::string value{};
};

struct request {
  std::string method{};  ///< "GET", "POST", ...
  std::string target{};  ///< as sent: path and query, percent-encoded
  std::string path{};    ///< the path, normalised ("." and ".." resolved), still percent-encoded
  std::string query{};   ///< after '?', still encoded; empty when absent
  std::vector<header_field> headers{};
  std::string body{};
  endpoint remote{};
  bool secure = false;  ///< arrived over TLS
  /// The route's {name} parameters, percent-decoded; "*" holds what the
  /// trailing wildcard matched.
  std::vector<std::pair<std::string, std::string>> params{};

  /// The first header with this name (case-insensitive); empty if absent.
  std::string_view header(std::string_view name) const noexcept;
  bool has_header(std::string_view name) const noexcept;
  std::string_view origin() const noexcept { return header("Origin"); }
  /// A route parameter by name; empty if the route has none of that name.
  std::string_view param(std::string_view name) const noexcept;
  /// The first query parameter of this name, percent-decoded ('+' is a
  /// space); nothing if absent.
  std::optional<std::string> query_value(std::string_view name) const;
  /// The subprotocols the client offered (Sec-WebSocket-Protocol), in order.
  std::vector<std::string_view> subprotocols() const;
};

}  // namespace tether
