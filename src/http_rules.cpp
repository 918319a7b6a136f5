#include "http_rules.hpp"

#include "handshake.hpp"

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

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

bool is_host_char(char c) noexcept {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' || c == '~';
}

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
  auto const scheme = lower(url->scheme());
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

// Parsed by hand: Boost.URL 1.81 asserts on some malformed input (found by
// fuzzing), and these forms are small.
std::optional<host_port> parse_host_port(std::string_view text, std::uint16_t default_port) {
  std::string_view host, rest;
  if (text.starts_with('[')) {
    auto const close = text.find(']');
    if (close == std::string_view::npos || close < 2) return std::nullopt;
    host = text.substr(0, close + 1);
    for (char c : host.substr(1, host.size() - 2))
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return std::nullopt;
    rest = text.substr(close + 1);
  } else {
    auto const colon = text.find(':');
    host = text.substr(0, colon);
    if (host.empty() || !std::all_of(host.begin(), host.end(), is_host_char)) return std::nullopt;
    rest = colon == std::string_view::npos ? std::string_view{} : text.substr(colon);
  }
  host_port out{lower(host), default_port};
  if (!rest.empty()) {
    auto const digits = rest.substr(1);
    unsigned port = 0;
    auto const [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (rest[0] != ':' || digits.empty() || digits.size() > 5 || ec != std::errc{} ||
        end != digits.data() + digits.size() || port == 0 || port > 65535)
      return std::nullopt;
    out.port = static_cast<std::uint16_t>(port);
  }
  return out;
}

bool is_loopback_address(std::string_view address) noexcept {
  error_code ec;
  auto const ip = net::ip::make_address(std::string(address), ec);
  if (ec) return false;
  if (ip.is_v6() && ip.to_v6().is_v4_mapped())
    return net::ip::make_address_v4(net::ip::v4_mapped, ip.to_v6()).is_loopback();
  return ip.is_loopback();
}

host_filter::host_filter(std::vector<std::string> const& allowed, bool loopback_listener)
    : mode_(allowed.empty() ? (loopback_listener ? mode::loopback : mode::any) : mode::listed) {
  for (auto const& entry : allowed) {
    if (entry == "*") {
      mode_ = mode::any;
      continue;
    }
    std::string_view name = entry;
    bool const wildcard = name.starts_with("*.");
    if (wildcard) name.remove_prefix(2);
    // An IPv6 address may be written with or without brackets.
    std::string bracketed(name);
    if (!wildcard && name.find(':') != name.rfind(':') && !name.starts_with('[')) {
      bracketed.insert(bracketed.begin(), '[');
      bracketed.push_back(']');
    }
    auto const parsed = parse_host_port(bracketed, 0);
    if (!parsed || parsed->port != 0 || (wildcard && parsed->host.starts_with('[')))
      throw std::invalid_argument("tether: allowed_hosts: \"" + entry +
                                  "\" is not a host name or address (no scheme, no port), nor \"*.\" and a name");
    names_.push_back(parsed->host);
    if (wildcard) names_.back().insert(0, "*.");
  }
}

bool host_filter::admits(std::string_view host) const {
  if (host.ends_with('.') && host.size() > 1) host.remove_suffix(1);  // "localhost." is "localhost"
  switch (mode_) {
    case mode::any:
      return true;
    case mode::loopback: {
      if (host == "localhost" || host.ends_with(".localhost")) return true;  // RFC 6761 6.3
      if (host.starts_with('[')) return is_loopback_address(host.substr(1, host.size() - 2));
      // Only a dotted quad: "127.1" or "2130706433" are loopback to some
      // resolvers but never what a browser sends for a loopback address.
      if (std::count(host.begin(), host.end(), '.') != 3) return false;
      return is_loopback_address(host);
    }
    case mode::listed:
      return std::any_of(names_.begin(), names_.end(), [&](std::string const& name) {
        if (!name.starts_with("*.")) return host == name;
        std::string_view const suffix = std::string_view(name).substr(1);  // ".example.org"
        return host.size() > suffix.size() && host.ends_with(suffix);
      });
  }
  return false;
}

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
