#pragma once
// Signed, time-limited URL tokens: an HTTP handler mints one for a path,
// the page puts it in the WebSocket URL (?token=...), and an endpoint that
// requires tokens refuses upgrades without a valid one.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace tether {

/// Tokens are "<expiry>.<signature>": the expiry in Unix seconds and
/// HMAC-SHA256 over the path and the expiry, in hex. Verification compares
/// in constant time. Thread safety: const member functions may be called
/// concurrently.
class url_token {
 public:
  enum class verdict : std::uint8_t { valid, missing, malformed, expired, bad_signature };

  /// Throws std::invalid_argument for a secret shorter than 16 bytes.
  explicit url_token(std::string secret);
  /// A signer with 32 random bytes as its secret: tokens are valid only for
  /// this process (and only for this object).
  static url_token with_random_secret();

  /// A token for `path` (as the router sees it: normalised, percent-encoded)
  /// that expires `lifetime` from `now`.
  std::string mint(std::string_view path, std::chrono::seconds lifetime,
                   std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) const;

  verdict verify(std::string_view token, std::string_view path,
                 std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) const;

 private:
  std::string sign(std::string_view path, std::int64_t expiry) const;

  std::string secret_;
};

}  // namespace tether
