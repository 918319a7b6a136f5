#include <tether/client.hpp>

#include "connection.hpp"
#include "handshake.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/system/system_error.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <cctype>

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;

namespace tether {

std::string connect_error::message() const {
  std::string text = detail.empty() ? code.message() : detail;
  if (http_status != 0) text += " (HTTP " + std::to_string(http_status) + ")";
  return text;
}

void throw_exception_from_error(connect_error const& e, boost::source_location const&) {
  throw boost::system::system_error(e.code, e.message());
}

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

struct target_url {
  std::string host;         // for the resolver: no brackets
  std::string host_header;  // as the URL spells host and port
  std::string port;
  std::string target;       // path and query, never empty
};

boost::system::result<target_url, connect_error> parse_ws_url(std::string_view text) {
  auto parsed = boost::urls::parse_uri(text);
  if (!parsed)
    return connect_error{make_error_code(error::bad_url), 0, {},
                         "cannot parse URL \"" + std::string(text) + "\": " + parsed.error().message()};
  auto const& url = *parsed;
  std::string scheme(url.scheme());
  std::transform(scheme.begin(), scheme.end(), scheme.begin(), [](unsigned char c) { return std::tolower(c); });
  if (scheme == "wss")
    return connect_error{make_error_code(error::unsupported_scheme), 0, {},
                         "wss:// needs TLS, which this version of Tether does not have yet"};
  if (scheme != "ws")
    return connect_error{make_error_code(error::unsupported_scheme), 0, {},
                         "unsupported scheme \"" + scheme + "\": use ws://"};
  if (!url.has_authority() || url.encoded_host().empty())
    return connect_error{make_error_code(error::bad_url), 0, {}, "the URL has no host: \"" + std::string(text) + "\""};
  if (url.has_port() && (url.port().empty() || url.port_number() == 0))
    return connect_error{make_error_code(error::bad_url), 0, {},
                         "the URL has an invalid port: \"" + std::string(text) + "\""};
  target_url out;
  out.host = url.host_address();
  out.host_header = std::string(url.encoded_host_and_port());
  out.port = url.has_port() ? std::string(url.port()) : "80";
  out.target = std::string(url.encoded_path());
  if (out.target.empty()) out.target = "/";
  if (url.has_query()) out.target += "?" + std::string(url.encoded_query());
  return out;
}

// Owns the resolver and socket until the handshake is done, so a timeout
// can close them without racing the coroutine that uses them.
struct attempt {
  explicit attempt(net::any_io_executor const& ex) : resolver(ex), socket(ex), timer(ex) {}

  void arm(std::chrono::milliseconds timeout, std::shared_ptr<attempt> const& self) {
    unsigned const current = ++generation;
    timer.expires_after(timeout);
    timer.async_wait([weak = std::weak_ptr(self), current](error_code ec) {
      auto a = weak.lock();
      if (ec || !a || a->generation != current) return;
      a->timed_out = true;
      a->resolver.cancel();
      error_code ignored;
      a->socket.close(ignored);
    });
  }

  void disarm() {
    ++generation;
    timer.cancel();
  }

  tcp::resolver resolver;
  tcp::socket socket;
  net::steady_timer timer;
  unsigned generation = 0;
  bool timed_out = false;
};

std::string join(std::vector<std::string> const& items) {
  std::string out;
  for (auto const& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

connect_error failure(error e, std::string detail) {
  return connect_error{make_error_code(e), 0, {}, std::move(detail)};
}

}  // namespace

namespace {

net::awaitable<connect_result> open_connection(std::string url, std::shared_ptr<client_options const> settings) {
  auto const& options = *settings;
  auto where = parse_ws_url(url);
  if (!where) co_return where.error();
  auto const executor = co_await net::this_coro::executor;
  auto a = std::make_shared<attempt>(executor);

  a->arm(options.connect_timeout, a);
  auto [resolve_ec, endpoints] = co_await a->resolver.async_resolve(where->host, where->port, use_tuple);
  if (resolve_ec) {
    if (a->timed_out) co_return failure(error::connect_timeout, "resolving " + where->host + " timed out");
    co_return connect_error{resolve_ec, 0, {}, "cannot resolve " + where->host + ": " + resolve_ec.message()};
  }
  auto [connect_ec, peer] = co_await net::async_connect(a->socket, endpoints, use_tuple);
  a->disarm();
  if (connect_ec) {
    if (a->timed_out) co_return failure(error::connect_timeout, "connecting to " + where->host_header + " timed out");
    co_return connect_error{connect_ec, 0, {},
                            "cannot connect to " + where->host_header + ": " + connect_ec.message()};
  }

  a->arm(options.handshake_timeout, a);
  std::string const key = detail::random_client_key();
  http::request<http::empty_body> req{http::verb::get, where->target, 11};
  req.set(http::field::host, where->host_header);
  req.set(http::field::upgrade, "websocket");
  req.set(http::field::connection, "Upgrade");
  req.set(http::field::sec_websocket_key, key);
  req.set(http::field::sec_websocket_version, "13");
  req.set(http::field::user_agent, "tether");
  if (!options.subprotocols.empty()) req.set(http::field::sec_websocket_protocol, join(options.subprotocols));
  for (auto const& field : options.headers) req.insert(field.name, field.value);
  auto [write_ec, written] = co_await http::async_write(a->socket, req, use_tuple);

  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(options.max_response_bytes));
  parser.body_limit(options.max_response_bytes);
  error_code read_ec = write_ec;
  if (!write_ec) std::tie(read_ec, std::ignore) = co_await http::async_read(a->socket, buffer, parser, use_tuple);
  a->disarm();
  if (read_ec) {
    if (a->timed_out) co_return failure(error::handshake_timeout, "the opening handshake timed out");
    co_return connect_error{read_ec, 0, {}, "the opening handshake failed: " + read_ec.message()};
  }

  auto& res = parser.get();
  if (res.result() != http::status::switching_protocols) {
    co_return connect_error{make_error_code(error::handshake_rejected), static_cast<int>(res.result_int()),
                            std::move(res.body()),
                            "the server refused the upgrade: " + std::to_string(res.result_int()) + " " +
                                std::string(res.reason())};
  }
  if (!detail::has_token(res[http::field::upgrade], "websocket") ||
      !detail::has_token(res[http::field::connection], "upgrade"))
    co_return failure(error::bad_handshake, "the 101 response lacks Upgrade: websocket or Connection: Upgrade");
  if (res[http::field::sec_websocket_accept] != detail::accept_key(key))
    co_return failure(error::bad_handshake, "Sec-WebSocket-Accept does not match our key");
  if (!res[http::field::sec_websocket_extensions].empty())
    co_return failure(error::bad_handshake, "the server enabled an extension that was not offered");
  std::string subprotocol(res[http::field::sec_websocket_protocol]);
  if (!subprotocol.empty() &&
      std::find(options.subprotocols.begin(), options.subprotocols.end(), subprotocol) == options.subprotocols.end())
    co_return failure(error::subprotocol_mismatch, "the server chose subprotocol \"" + subprotocol +
                                                       "\", which was not offered");

  std::string early(static_cast<char const*>(buffer.data().data()), buffer.size());
  endpoint remote{peer.address().to_string(), peer.port()};
  detail::connection_config config{detail::role::client, options.websocket, options.logger, std::move(subprotocol),
                                   std::move(remote)};
  auto conn = std::make_shared<detail::connection>(std::move(a->socket), std::move(config));
  conn->start(std::move(early));
  if (conn->log().enabled(log_level::debug))
    conn->log().log(log_level::debug, conn->id(), "WebSocket open: " + std::string(url));
  co_return detail::make_websocket(conn);
}

}  // namespace

net::awaitable<connect_result> connect(std::string_view url, client_options options) {
  // Not a coroutine itself, so the options are moved to the heap before any
  // coroutine frame sees them.
  return open_connection(std::string(url), std::make_shared<client_options const>(std::move(options)));
}

net::awaitable<connect_result> connect(std::string_view url) { return connect(url, client_options{}); }

}  // namespace tether
