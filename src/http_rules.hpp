#pragma once
// The HTTP/1.1 rules a request must pass before Tether trusts what it says
// (RFC 9110, RFC 9112): framing, Host and the allowed hosts, header lists,
// absolute-form targets, leading empty lines. One place for the server and
// tether::accept, so that both answer a hostile peer the same way.

#include "transport.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/system/error_code.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tether::detail {

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

/// A request that gets this answer, after which the connection closes.
struct http_refusal {
  int status = 400;
  std::string reason;
};

struct read_outcome {
  boost::system::error_code ec;          // the read failed (the parser's or the stream's error)
  std::optional<http_refusal> refused;   // read, and refused by the rules above
};

/// Reads one request into `parser` (whose limits the caller sets): skips a
/// few leading empty lines, reads the header, checks framing and Host and
/// combines list headers, then reads the body. An absolute-form target is
/// rewritten to origin-form and its authority becomes the Host. On a
/// refusal the body is left unread. The caller's deadline bounds it all.
boost::asio::awaitable<read_outcome> read_request(
    transport& stream, boost::beast::flat_buffer& buffer,
    boost::beast::http::request_parser<boost::beast::http::string_body>& parser, host_filter const& hosts);

}  // namespace tether::detail
