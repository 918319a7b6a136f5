#pragma once
// The HTTP/1.1 rules a request must pass before Tether trusts what it says
// (RFC 9110, RFC 9112): framing, Host and the allowed hosts, header lists,
// absolute-form targets, leading empty lines. One place for the server and
// tether::accept, so that both answer a hostile peer the same way.

#include "http/host_port.hpp"
#include "net/transport.hpp"

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
