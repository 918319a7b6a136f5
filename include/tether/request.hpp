#pragma once
// An HTTP request as a handler sees it: for plain HTTP routes and for the
// upgrade request of a WebSocket.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tether {

struct endpoint {
  std::string address{};  ///< numeric, without brackets ("127.0.0.1", "::1")
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
  std::string path{};    ///< target without the query
  std::string query{};   ///< after '?', still encoded; empty when absent
  std::vector<header_field> headers{};
  std::string body{};
  endpoint remote{};

  /// The first header with this name (case-insensitive); empty if absent.
  std::string_view header(std::string_view name) const noexcept;
  bool has_header(std::string_view name) const noexcept;
  std::string_view origin() const noexcept { return header("Origin"); }
};

}  // namespace tether
