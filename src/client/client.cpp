#include <tether/client.hpp>

#include "ws/connection.hpp"
#include "ws/extensions.hpp"
#include "ws/handshake.hpp"
#include "client/ws_url.hpp"
#include "client/proxy.hpp"
#include "net/deadline.hpp"
#include "net/tls.hpp"
#include "net/transport.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/system/system_error.hpp>
#include <boost/url/parse.hpp>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <optional>

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;

namespace tether {

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

failure failed_with(error e, std::string detail) { return failure(make_error_code(e), std::move(detail)); }

result<detail::ws_url> parse_ws_url(std::string_view text) {
  error code{};
  std::string why;
  auto url = detail::parse_ws_url(text, code, why);
  if (!url) return failed_with(code, std::move(why));
  return std::move(*url);
}

// Owns every socket of a connection attempt until the handshake is done, so
// a timeout can close them without racing the coroutine that uses them.
struct attempt {
  explicit attempt(net::any_io_executor const& ex) : resolver(ex), tcp_socket(ex), unix_socket(ex), timer(ex) {}

  void arm(std::chrono::milliseconds timeout, std::shared_ptr<attempt> const& self) {
    timer.arm(timeout, self, [a = self.get()] {
      a->resolver.cancel();
      error_code ignored;
      a->tcp_socket.close(ignored);
      a->unix_socket.close(ignored);
      if (a->stream) a->stream->close();
    });
  }

  bool timed_out() const noexcept { return timer.expired(); }

  tcp::resolver resolver;
  tcp::socket tcp_socket;
  net::local::stream_protocol::socket unix_socket;
  std::optional<detail::transport> stream;
  detail::deadline timer;
};

std::string join(std::vector<std::string> const& items) {
  std::string out;
  for (auto const& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

// Resolves and connects to host:port over TCP; `what` names the peer in errors.
net::awaitable<std::optional<failure>> connect_tcp(attempt& a, std::string const& host, std::string const& port,
                                                         std::string const& what) {
  auto [resolve_ec, endpoints] = co_await a.resolver.async_resolve(host, port, use_tuple);
  if (resolve_ec) {
    if (a.timed_out()) co_return failed_with(error::connect_timeout, "resolving " + host + " timed out");
    co_return failure(resolve_ec, "cannot resolve " + host + ": " + resolve_ec.message());
  }
  auto [connect_ec, peer] = co_await net::async_connect(a.tcp_socket, endpoints, use_tuple);
  if (connect_ec) {
    if (a.timed_out()) co_return failed_with(error::connect_timeout, "connecting to " + what + " timed out");
    co_return failure(connect_ec, "cannot connect to " + what + ": " + connect_ec.message());
  }
  error_code ignored;
  a.tcp_socket.set_option(tcp::no_delay(true), ignored);
  co_return std::nullopt;
}

// Asks the proxy for a tunnel to the target (RFC 9110 9.3.6).
net::awaitable<std::optional<failure>> open_tunnel(attempt& a, detail::proxy_address const& proxy,
                                                         detail::ws_url const& where, client_options const& options) {
  std::string const authority = where.host_header.find(':') != std::string::npos &&
                                        where.host_header.back() != ']'
                                    ? where.host_header
                                    : where.host_header + ":" + where.port;
  http::request<http::empty_body> req{http::verb::connect, authority, 11};
  req.set(http::field::host, authority);
  req.set(http::field::user_agent, "tether");
  if (!proxy.authorization.empty()) req.set(http::field::proxy_authorization, proxy.authorization);
  auto [write_ec, written] = co_await http::async_write(a.tcp_socket, req, use_tuple);
  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.skip(true);  // a successful CONNECT answer has no body; the tunnel follows
  parser.header_limit(static_cast<std::uint32_t>(options.max_response_bytes));
  error_code read_ec = write_ec;
  if (!write_ec) std::tie(read_ec, std::ignore) = co_await http::async_read_header(a.tcp_socket, buffer, parser, use_tuple);
  std::string const proxy_name = proxy.host + ":" + proxy.port;
  if (read_ec) {
    if (a.timed_out()) co_return failed_with(error::connect_timeout, "the proxy " + proxy_name + " timed out");
    co_return failed_with(error::proxy_failed, "the proxy " + proxy_name + " failed: " + read_ec.message());
  }
  auto const status = parser.get().result_int();
  if (status / 100 != 2)
    co_return failure(make_error_code(error::proxy_failed),
                      "the proxy " + proxy_name + " refused the tunnel to " + authority + ": " +
                          std::to_string(status) + " " + std::string(parser.get().reason()),
                      static_cast<int>(status));
  if (buffer.size() != 0)
    co_return failed_with(error::proxy_failed, "the proxy " + proxy_name + " sent bytes before the tunnel was used");
  co_return std::nullopt;
}

net::awaitable<std::optional<failure>> tls_handshake(attempt& a, detail::ws_url const& where,
                                                           client_options const& options, SSL_CTX* context) {
  auto& stream = *a.stream;
  std::string const& name = options.tls.server_name.empty() ? where.host : options.tls.server_name;
  if (!stream.use_tls(context, false, name, options.tls.verify))
    co_return failed_with(error::invalid_argument, "cannot check a certificate against the name \"" + name + "\"");
  error_code ec;
  while ((ec = stream.handshake_step()) == net::error::would_block) {
    std::tie(ec) = co_await stream.async_wait(stream.handshake_wants(), use_tuple);
    if (ec) break;
  }
  if (!ec) co_return std::nullopt;
  if (a.timed_out()) co_return failed_with(error::handshake_timeout, "the TLS handshake timed out");
  if (long const verdict = stream.native_tls() ? SSL_get_verify_result(stream.native_tls()) : X509_V_OK;
      verdict != X509_V_OK)
    co_return failed_with(error::certificate_rejected, "the certificate of " + name + " was rejected: " +
                                                       X509_verify_cert_error_string(verdict));
  std::string why = ec == error::tls_failed ? stream.tls_failure() : ec.message();
  // What OpenSSL says when the first bytes back are not a TLS record, as
  // from a plain HTTP server.
  if (why.find("wrong version number") != std::string::npos)
    why += " (the server may speak plain ws://, not wss://)";
  co_return failed_with(error::tls_failed, "the TLS handshake with " + name + " failed: " + why);
}

net::awaitable<connect_result> open_connection(std::string url, std::shared_ptr<client_options const> settings) {
  auto const& options = *settings;
  auto where = parse_ws_url(url);
  if (!where) co_return where.error();

  std::shared_ptr<SSL_CTX> tls_context;
  std::optional<detail::proxy_address> proxy;
  try {
    if (where->secure) tls_context = detail::client_tls_context(options.tls);
    if (options.unix_socket.empty()) proxy = detail::choose_proxy(options.proxy, where->host, where->secure);
  } catch (std::invalid_argument const& e) {
    co_return failed_with(error::invalid_argument, e.what());  // a CA or proxy setting that cannot be used
  }

  auto const executor = co_await net::this_coro::executor;
  auto a = std::make_shared<attempt>(executor);
  endpoint remote;
  a->arm(options.connect_timeout, a);
  if (!options.unix_socket.empty()) {
    auto [ec] = co_await a->unix_socket.async_connect({options.unix_socket}, use_tuple);
    if (ec) {
      if (a->timed_out()) co_return failed_with(error::connect_timeout, "connecting to " + options.unix_socket + " timed out");
      co_return failure(ec, "cannot connect to Unix socket " + options.unix_socket + ": " + ec.message());
    }
    a->stream.emplace(std::move(a->unix_socket));
  } else {
    std::optional<failure> failed;
    if (proxy) {
      failed = co_await connect_tcp(*a, proxy->host, proxy->port, "the proxy " + proxy->host + ":" + proxy->port);
      if (!failed) failed = co_await open_tunnel(*a, *proxy, *where, options);
    } else {
      failed = co_await connect_tcp(*a, where->host, where->port, where->host_header);
    }
    if (failed) co_return std::move(*failed);
    error_code ignored;
    if (auto const peer = a->tcp_socket.remote_endpoint(ignored); !ignored)
      remote = {peer.address().to_string(), peer.port()};
    a->stream.emplace(std::move(a->tcp_socket));
  }
  a->timer.disarm();

  if (where->secure) {
    if (!options.tls.verify)
      options.logger.log(log_level::warning, 0,
                         "TLS verification is off for " + url + ": any server, or anyone in between, is accepted");
    a->arm(options.handshake_timeout, a);
    auto failed = co_await tls_handshake(*a, *where, options, tls_context.get());
    a->timer.disarm();
    if (failed) co_return std::move(*failed);
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
  if (!options.origin.empty()) req.set(http::field::origin, options.origin);
  if (!options.subprotocols.empty()) req.set(http::field::sec_websocket_protocol, join(options.subprotocols));
  if (auto const offer = detail::make_deflate_offer(options.websocket.compression); !offer.empty())
    req.set(http::field::sec_websocket_extensions, offer);
  for (auto const& field : options.headers) req.insert(field.name, field.value);
  auto& stream = *a->stream;
  auto [write_ec, written] = co_await http::async_write(stream, req, use_tuple);

  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(options.max_response_bytes));
  parser.body_limit(options.max_response_bytes);
  error_code read_ec = write_ec;
  if (!write_ec) std::tie(read_ec, std::ignore) = co_await http::async_read(stream, buffer, parser, use_tuple);
  a->timer.disarm();
  if (read_ec) {
    if (a->timed_out()) co_return failed_with(error::handshake_timeout, "the opening handshake timed out");
    co_return failure(read_ec, "the opening handshake failed: " + read_ec.message());
  }

  auto& res = parser.get();
  if (res.result() != http::status::switching_protocols) {
    co_return failure(make_error_code(error::handshake_rejected),
                      "the server refused the upgrade: " + std::to_string(res.result_int()) + " " +
                          std::string(res.reason()),
                      static_cast<int>(res.result_int()), std::move(res.body()));
  }
  if (!detail::has_token(res[http::field::upgrade], "websocket") ||
      !detail::has_token(res[http::field::connection], "upgrade"))
    co_return failed_with(error::bad_handshake, "the 101 response lacks Upgrade: websocket or Connection: Upgrade");
  if (res[http::field::sec_websocket_accept] != detail::accept_key(key))
    co_return failed_with(error::bad_handshake, "Sec-WebSocket-Accept does not match our key");
  detail::deflate_agreement deflate;
  if (std::string why; !detail::accept_deflate_answer(res[http::field::sec_websocket_extensions],
                                                      options.websocket.compression, deflate, why))
    co_return failed_with(error::bad_handshake, std::move(why));
  std::string subprotocol(res[http::field::sec_websocket_protocol]);
  if (!subprotocol.empty() &&
      std::find(options.subprotocols.begin(), options.subprotocols.end(), subprotocol) == options.subprotocols.end())
    co_return failed_with(error::subprotocol_mismatch, "the server chose subprotocol \"" + subprotocol +
                                                       "\", which was not offered");

  std::string early(static_cast<char const*>(buffer.data().data()), buffer.size());
  detail::connection_config config{detail::role::client, detail::share_settings(options.websocket, options.logger),
                                   std::move(subprotocol), std::move(remote), deflate};
  auto conn = std::make_shared<detail::connection>(std::move(*a->stream), std::move(config));
  conn->start(std::move(early));
  if (conn->log().enabled(log_level::debug))
    conn->log().log(log_level::debug, conn->id(), "WebSocket open: " + std::string(url));
  co_return detail::make_websocket(conn);
}

}  // namespace

net::awaitable<connect_result> connect(std::string_view url, client_options const& options) {
  // Not a coroutine itself, so the options are copied to the heap before
  // any coroutine frame sees them.
  return open_connection(std::string(url), std::make_shared<client_options const>(options));
}

net::awaitable<connect_result> connect(std::string_view url) {
  return open_connection(std::string(url), std::make_shared<client_options const>());
}

}  // namespace tether
