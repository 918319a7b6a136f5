#pragma once
// Host names as Host headers and origins carry them, and which of them a
// listener answers to. Pure logic, shared by the HTTP layer and the origin
// policy (and fuzzed with them).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tether::detail {

/// ASCII lowercase: host names and schemes compare without case.
std::string ascii_lower(std::string_view text);

struct host_port {
  std::string host;  // lowercase, IPv6 with brackets
  std::uint16_t port = 0;
};

/// "host", "host:port", "[v6]" or "[v6]:port", as in Host headers and
/// origins; nothing for anything else.
std::optional<host_port> parse_host_port(std::string_view text, std::uint16_t default_port);

/// True for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104, written without brackets.
bool is_loopback_address(std::string_view address) noexcept;

/// Which names a listener answers to in Host (server_options::allowed_hosts).
class host_filter {
 public:
  /// `allowed` as documented for server_options::allowed_hosts; throws
  /// std::invalid_argument for an entry that is not a host. When it is
  /// empty, `loopback_listener` admits loopback names only, otherwise any.
  host_filter(std::vector<std::string> const& allowed, bool loopback_listener);

  /// `host` as parse_host_port gives it.
  bool admits(std::string_view host) const;

 private:
  enum class mode : std::uint8_t { any, loopback, listed };
  mode mode_ = mode::any;
  std::vector<std::string> names_;  // lowercase; "*.example.org" admits subdomains
};

}  // namespace tether::detail
