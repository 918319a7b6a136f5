#include "http/http_rules.hpp"

#include "ws/handshake.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <stdexcept>

namespace net = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;

namespace tether::detail {

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

// RFC 9112 2.2 asks servers to ignore at least one empty line before a
// request (old clients send CRLF after a POST body). A few are enough;
// more go to the parser, which refuses them.
constexpr int max_leading_empty_lines = 8;

std::string joined(http::request_header<> const& req, http::field name) {
  std::string all;
  auto const [first, last] = req.equal_range(name);
  for (auto f = first; f != last; ++f) {
    if (!all.empty()) all += ", ";
    all.append(f->value());
  }
  return all;
}

// RFC 9110 5.3: repeated lines of a list header are one list. Joined into
// one field, every later reader (upgrade checks, keep_alive(), handlers
// through request::header) sees all of it.
void combine_lists(http::request_header<>& req) {
  for (auto const name : {http::field::connection, http::field::upgrade, http::field::sec_websocket_extensions,
                          http::field::sec_websocket_protocol}) {
    if (req.count(name) > 1) req.set(name, joined(req, name));
  }
}

// RFC 9112 6.1 and 6.3: a body we cannot delimit exactly is where request
// smuggling lives, so anything but a plain "chunked" or Content-Length is
// refused. Beast 1.81 reads "xchunked" or "chunked, identity" as no body,
// and takes Content-Length when a non-chunked coding comes first.
std::optional<http_refusal> check_framing(http::request_header<> const& req) {
  if (req.count(http::field::transfer_encoding) == 0) return std::nullopt;
  if (req.version() < 11) return http_refusal{400, "Transfer-Encoding in an HTTP/1.0 request"};
  if (req.count(http::field::content_length) > 0)
    return http_refusal{400, "Transfer-Encoding and Content-Length together"};
  auto const all = joined(req, http::field::transfer_encoding);
  auto const codings = split_tokens(all);
  if (codings.empty() || !iequals(codings.back(), "chunked"))
    return http_refusal{400, "the last transfer coding is not chunked"};
  for (std::size_t i = 0; i + 1 < codings.size(); ++i)
    if (iequals(codings[i], "chunked")) return http_refusal{400, "chunked applied twice"};
  if (codings.size() > 1) return http_refusal{501, "transfer codings other than chunked are not supported"};
  return std::nullopt;
}

// RFC 9112 3.2.2: a server must accept absolute-form and take the host
// from it, ignoring Host. Rewritten to origin-form with that Host, the
// request then reads the same to the router, the handlers and the checks.
std::optional<http_refusal> absolute_to_origin_form(http::request_header<>& req) {
  auto const target = req.target();
  if (target.empty() || target.front() == '/' || target == "*") return std::nullopt;
  if (target.find("://") == std::string_view::npos) return std::nullopt;  // authority-form: the router refuses it
  // Visible ASCII only: Boost.URL 1.81 asserts on some control bytes.
  if (!std::all_of(target.begin(), target.end(), [](char c) { return c > 0x20 && c < 0x7F; }))
    return http_refusal{400, "malformed request target"};
  auto const url = boost::urls::parse_absolute_uri(std::string_view(target.data(), target.size()));
  if (!url) return http_refusal{400, "malformed request target"};
  auto const scheme = ascii_lower(url->scheme());
  if (scheme != "http" && scheme != "https" && scheme != "ws" && scheme != "wss")
    return http_refusal{400, "an absolute request target must be an http or ws URL"};
  if (!url->has_authority() || url->encoded_host().empty())
    return http_refusal{400, "an absolute request target must name a host"};
  std::string origin_form = url->encoded_path().empty() ? std::string("/") : std::string(url->encoded_path());
  if (url->has_query()) {
    origin_form.push_back('?');
    origin_form.append(url->encoded_query());
  }
  std::string const authority(url->encoded_host_and_port());
  req.target(origin_form);
  req.set(http::field::host, authority);
  return std::nullopt;
}

// RFC 9112 3.2: exactly one Host line in HTTP/1.1 (an HTTP/1.0 client may
// send none). Counted as sent, before an absolute-form target replaces it.
std::optional<http_refusal> check_host_count(http::request_header<> const& req) {
  auto const count = req.count(http::field::host);
  if (count > 1) return http_refusal{400, "more than one Host header"};
  if (count == 0 && req.version() >= 11) return http_refusal{400, "an HTTP/1.1 request needs a Host header"};
  return std::nullopt;
}

// The Host must be a host, and one this listener answers to: a name the
// attacker controls, resolved to us, is how DNS rebinding gets past the
// browser's same-origin rule.
std::optional<http_refusal> check_host(http::request_header<> const& req, host_filter const& hosts) {
  if (req.count(http::field::host) == 0) return std::nullopt;  // HTTP/1.0
  auto const value = req[http::field::host];
  auto const where = parse_host_port(std::string_view(value.data(), value.size()), 0);
  if (!where) return http_refusal{400, "malformed Host header"};
  if (!hosts.admits(where->host))
    return http_refusal{421, "this server does not answer to that host name (see allowed_hosts)"};
  return std::nullopt;
}

std::string_view buffered(boost::beast::flat_buffer const& buffer) {
  return {static_cast<char const*>(buffer.data().data()), buffer.size()};
}

// Drops empty lines in front of a request, reading until the buffer holds
// something else. Past the limit the lines stay for the parser to refuse.
net::awaitable<error_code> skip_empty_lines(transport& stream, boost::beast::flat_buffer& buffer) {
  for (int lines = 0;;) {
    auto const bytes = buffered(buffer);
    std::size_t const line = bytes.starts_with("\r\n") ? 2 : bytes.starts_with('\n') ? 1 : 0;
    if (line > 0 && lines == max_leading_empty_lines) co_return error_code{};
    if (line > 0) {
      buffer.consume(line);
      ++lines;
      continue;
    }
    if (!bytes.empty() && bytes != "\r") co_return error_code{};
    auto [ec, n] = co_await stream.async_read_some(buffer.prepare(512), use_tuple);
    buffer.commit(n);
    if (ec) co_return ec;
  }
}

}  // namespace

net::awaitable<read_outcome> read_request(transport& stream, boost::beast::flat_buffer& buffer,
                                          http::request_parser<http::string_body>& parser, host_filter const& hosts) {
  if (auto ec = co_await skip_empty_lines(stream, buffer)) co_return read_outcome{ec, std::nullopt};
  auto [header_ec, header_bytes] = co_await http::async_read_header(stream, buffer, parser, use_tuple);
  if (header_ec) co_return read_outcome{header_ec, std::nullopt};
  auto& req = parser.get();
  std::optional<http_refusal> refused = check_framing(req);
  if (!refused) refused = check_host_count(req);
  if (!refused) refused = absolute_to_origin_form(req);
  if (!refused) refused = check_host(req, hosts);
  if (refused) co_return read_outcome{{}, std::move(refused)};
  combine_lists(req);
  auto [body_ec, body_bytes] = co_await http::async_read(stream, buffer, parser, use_tuple);
  co_return read_outcome{body_ec, std::nullopt};
}

}  // namespace tether::detail
