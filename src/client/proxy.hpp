#pragma once
// Which HTTP proxy a client connection goes through, and the CONNECT
// request that opens the tunnel.

#include <optional>
#include <string>
#include <string_view>

namespace tether::detail {

struct proxy_address {
  std::string host;       // for the resolver: no brackets
  std::string port;
  std::string authorization;  // "Basic ..." when the proxy URL has user:password
};

/// The proxy for a connection to `host` (`secure`: wss://). `setting` is
/// client_options::proxy: empty means the environment, "direct" none.
/// Throws std::invalid_argument for a proxy URL that cannot be used.
std::optional<proxy_address> choose_proxy(std::string_view setting, std::string_view host, bool secure);

/// Whether a no_proxy list ("example.org,.internal,*") covers `host`.
bool no_proxy_covers(std::string_view list, std::string_view host);

/// Parses "http://[user:password@]host[:port]".
std::optional<proxy_address> parse_proxy_url(std::string_view url);

}  // namespace tether::detail
