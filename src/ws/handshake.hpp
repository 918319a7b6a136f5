#pragma once
// The pieces of the RFC 6455 opening handshake that both roles share.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tether::detail {

/// Why an upgrade request is refused (RFC 6455 4.2.1).
struct upgrade_refusal {
  int status = 400;
  std::string_view reason;
  bool offer_version = false;  // answer with Sec-WebSocket-Version: 13
};

/// Checks the parts of an upgrade request that do not depend on the route;
/// nothing when the request is acceptable.
std::optional<upgrade_refusal> check_upgrade_request(std::string_view method, unsigned http_version,
                                                     std::string_view connection, std::string_view websocket_version,
                                                     std::string_view key);

/// Sec-WebSocket-Accept for a Sec-WebSocket-Key (SHA-1 and base64 by OpenSSL).
std::string accept_key(std::string_view client_key);

/// A fresh Sec-WebSocket-Key: 16 random bytes, base64.
std::string random_client_key();

/// True when `key` is base64 for exactly 16 bytes, as RFC 6455 4.1 demands.
bool is_valid_client_key(std::string_view key) noexcept;

/// ASCII case-insensitive equality. Beast 1.81's iequals reads one byte
/// past its inputs when they differ only in case (found by fuzzing).
bool iequals(std::string_view a, std::string_view b) noexcept;

/// The comma-separated tokens of a header value, trimmed, empty ones dropped.
std::vector<std::string_view> split_tokens(std::string_view value);

/// Whether a comma-separated header value lists `token` (case-insensitive).
bool has_token(std::string_view value, std::string_view token) noexcept;

/// The subprotocol to accept: the first of `supported` that `offered` (a
/// Sec-WebSocket-Protocol value) lists; empty if none.
std::string choose_subprotocol(std::string_view offered, std::vector<std::string> const& supported);

}  // namespace tether::detail
