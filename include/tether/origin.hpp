#pragma once
// Which Origin headers an endpoint accepts. Browsers send Origin with every
// WebSocket handshake; checking it is what stops another site's page from
// opening a socket with the user's cookies (cross-site WebSocket hijacking).

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tether {

class origin_policy {
 public:
  enum class kind : std::uint8_t { any, same_site, allow_list };

  /// Same-site: what WebSocket endpoints use unless told otherwise.
  origin_policy() = default;

  static origin_policy any();
  static origin_policy same_site();
  /// Exact origins ("https://example.org", "http://127.0.0.1:8080") and
  /// subdomain patterns ("https://*.example.org", which does not admit
  /// example.org itself). Throws std::invalid_argument for an entry that is
  /// not scheme://host[:port].
  static origin_policy allow(std::vector<std::string> origins);

  /// `origin` and `host` are the request's Origin and Host header values;
  /// `secure` says whether the request came over TLS. Same-site compares
  /// host and port, and over TLS the scheme too: an http:// origin is not
  /// same-site with a TLS request (without TLS the scheme is unknown: a
  /// TLS proxy in front forwards plain HTTP). A Host without a port stands
  /// for 443 over TLS, else for the default port of the Origin's scheme.
  /// No Origin header (a non-browser client) passes same_site and any, not
  /// an allow list; the "null" origin passes only any.
  bool admits(std::string_view origin, std::string_view host, bool secure = false) const;

  kind policy() const noexcept { return kind_; }
  bool operator==(origin_policy const&) const = default;

 private:
  struct allowed {
    std::string scheme;
    std::string host;  // lowercase; a leading "*." admits subdomains
    std::uint16_t port = 0;
    bool operator==(allowed const&) const = default;
  };

  kind kind_ = kind::same_site;
  std::vector<allowed> allowed_;
};

namespace origin {
inline origin_policy any() { return origin_policy::any(); }
inline origin_policy same_site() { return origin_policy::same_site(); }
inline origin_policy allow(std::vector<std::string> origins) { return origin_policy::allow(std::move(origins)); }
}  // namespace origin

}  // namespace tether
