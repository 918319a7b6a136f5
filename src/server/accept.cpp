#include <tether/accept.hpp>

#include "http/http_message.hpp"
#include "http/http_rules.hpp"
#include "http/upgrade.hpp"
#include "net/deadline.hpp"
#include "net/transport.hpp"
#include "ws/handshake.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/write.hpp>

#include <memory>
#include <optional>

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;

namespace tether {

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

// The stream and the one deadline over the whole handshake: when it
// passes, the stream is closed, which ends whatever waits on it.
struct handshake_state {
  explicit handshake_state(tcp::socket socket) : stream(std::move(socket)), timer(stream.get_executor()) {}
  detail::transport stream;
  detail::deadline timer;
};

// Sends `res` (a refusal, or the http callback's answer) and ends our side.
net::awaitable<void> refuse(handshake_state& s, response res, accept_options const& options, endpoint const& remote) {
  if (res.status >= 400 && options.logger.enabled(log_level::debug))
    options.logger.log(log_level::debug, 0, "refused upgrade from " + remote.to_string() + ": " + std::to_string(res.status));
  auto out = detail::make_http_response(std::move(res), 11, false);
  co_await http::async_write(s.stream, out, use_tuple);
  s.stream.shutdown_send();
}

// The endpoint's own gate, in the router's order: origin, then token.
std::optional<response> admission(endpoint_options const& endpoint, request const& r) {
  if (!endpoint.origins.admits(r.header("Origin"), r.header("Host"), false))
    return detail::refusal(403, "this origin may not use this endpoint");
  if (endpoint.token) {
    auto const token = r.query_value("token");
    if (!token || token->empty()) return detail::refusal(401, "this endpoint needs a token");
    if (endpoint.token->verify(*token, r.path) != url_token::verdict::valid)
      return detail::refusal(403, "the token is expired or not valid for this path");
  }
  return std::nullopt;
}

// What the caller of accept() learns of a refusal: the status we sent and
// the sentence of its body (ours, or the http callback's).
failure refusal_failure(response const& res) {
  std::string why = "refused the request: " + std::to_string(res.status);
  if (!res.body.empty() && res.body.size() <= 200) {
    why += " ";
    why += res.body;
    while (!why.empty() && (why.back() == '\n' || why.back() == '\r')) why.pop_back();
  }
  return failure(make_error_code(error::upgrade_refused), std::move(why), res.status);
}

net::awaitable<result<accepted>> accept_on(std::shared_ptr<handshake_state> s, endpoint remote,
                                                          std::shared_ptr<accept_options const> settings,
                                                          bool loopback) {
  auto const& options = *settings;
  // Before the first byte: a bad allowed_hosts entry is misuse, not I/O.
  detail::host_filter const hosts(options.allowed_hosts, loopback);
  // After the hand-over it closes a moved-from stream: harmless.
  s->timer.arm(options.handshake_timeout, s, [stream = &s->stream] { stream->close(); });
  struct disarm {
    detail::deadline& timer;
    ~disarm() { timer.disarm(); }
  } const on_exit{s->timer};

  boost::beast::flat_buffer buffer;
  http::request_parser<http::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
  parser.body_limit(0);  // an upgrade request has no body
  auto [read_ec, refused] = co_await detail::read_request(s->stream, buffer, parser, hosts);
  if (refused) {
    auto res = detail::refusal(refused->status, std::move(refused->reason));
    auto why = refusal_failure(res);
    co_await refuse(*s, std::move(res), options, remote);
    co_return why;
  }
  if (read_ec) {
    if (s->timer.expired()) co_return make_error_code(error::handshake_timeout);
    if (read_ec == http::error::header_limit || read_ec == http::error::body_limit) {
      auto res = detail::refusal(431, "request headers too large, or a body");
      auto why = refusal_failure(res);
      co_await refuse(*s, std::move(res), options, remote);
      co_return why;
    }
    if (read_ec != net::error::eof && read_ec != http::error::end_of_stream)
      co_await refuse(*s, detail::refusal(400, "malformed request: " + read_ec.message()), options, remote);
    co_return read_ec;
  }

  auto& req = parser.get();
  detail::upgrade_request up{detail::to_request(req, remote), {}};
  request const& r = up.req;
  if (!detail::has_token(req[http::field::upgrade], "websocket") && options.http) {
    response answer;
    try {
      answer = options.http(r);
    } catch (std::exception const& e) {
      options.logger.log(log_level::error, 0, std::string("accept_options::http threw: ") + e.what());
      answer = detail::refusal(500, "internal server error");
    }
    auto why = refusal_failure(answer);
    co_await refuse(*s, std::move(answer), options, remote);
    co_return why;
  }
  if (!detail::has_token(req[http::field::upgrade], "websocket")) {
    auto res = detail::refusal(426, "this endpoint speaks WebSocket only");
    res.headers.push_back({"Upgrade", "websocket"});
    res.headers.push_back({"Connection", "Upgrade"});
    auto why = refusal_failure(res);
    co_await refuse(*s, std::move(res), options, remote);
    co_return why;
  }
  // Before the handshake checks, as the server's router does: both answer
  // a request with several faults alike.
  if (auto res = admission(options.endpoint, r)) {
    auto why = refusal_failure(*res);
    co_await refuse(*s, std::move(*res), options, remote);
    co_return why;
  }

  auto const& endpoint = options.endpoint;
  detail::upgrade_terms const terms{endpoint.subprotocols, endpoint.require_subprotocol, endpoint.websocket};
  auto verdict = detail::judge_upgrade(up.req, req.version(), terms);
  if (verdict.refusal) {
    auto why = refusal_failure(*verdict.refusal);
    auto out = detail::refusal_of(verdict, up.req, req.version(), options.logger);
    auto [write_ec, written] = co_await http::async_write(s->stream, out, use_tuple);
    if (!write_ec) s->stream.shutdown_send();
    co_return why;
  }
  auto out = detail::switching_protocols(verdict);
  auto [write_ec, written] = co_await http::async_write(s->stream, out, use_tuple);
  if (write_ec) co_return s->timer.expired() ? make_error_code(error::handshake_timeout) : write_ec;
  up.early_bytes.assign(static_cast<char const*>(buffer.data().data()), buffer.size());
  auto conn = detail::start_websocket(std::move(s->stream), up, std::move(verdict.agreement), endpoint.websocket,
                                      options.logger);
  co_return accepted(detail::make_websocket(conn), std::move(up.req));
}

}  // namespace

net::awaitable<result<accepted>> accept(tcp::socket socket, accept_options options) {
  error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  endpoint remote;
  if (auto const ep = socket.remote_endpoint(ignored); !ignored) remote = {ep.address().to_string(), ep.port()};
  bool loopback = false;
  if (auto const local = socket.local_endpoint(ignored); !ignored)
    loopback = detail::is_loopback_address(local.address().to_string());
  return accept_on(std::make_shared<handshake_state>(std::move(socket)), std::move(remote),
                   std::make_shared<accept_options const>(std::move(options)), loopback);
}

}  // namespace tether
