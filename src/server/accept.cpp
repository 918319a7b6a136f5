#include <tether/accept.hpp>

#include "http/http_message.hpp"
#include "http/http_rules.hpp"
#include "http/refusal_log.hpp"
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
net::awaitable<void> refuse(handshake_state& s, response res) {
  auto out = detail::make_http_response(std::move(res), 11, false);
  co_await http::async_write(s.stream, out, use_tuple);
  s.stream.shutdown_send();
}

// One of our own refusals (not the http callback's answers), in one
// sentence at info. `res` is refusal()'s: its body is the reason.
void log_refusal(handshake_state& s, accept_options const& options, detail::refusal_subject const& subject,
                 response const& res, std::string_view why = {}) {
  detail::refusal_log::of(s.stream.get_executor()).report(options.logger, [&] {
    return detail::refusal_sentence(subject, res.status, why.empty() ? detail::refusal_text(res) : why);
  });
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
  // A peer that left or went quiet is not refused: there is no one to answer.
  bool const gone = s->timer.expired() || read_ec == net::error::eof || read_ec == http::error::end_of_stream ||
                    read_ec == net::error::connection_reset || read_ec == net::error::operation_aborted;
  if (refused || (read_ec && !gone)) {
    // What the parser kept of the request: all of its header for a
    // refusal by the rules, possibly nothing for a parse error.
    auto const& head = parser.get();
    detail::refusal_subject const subject{"WebSocket upgrade", remote, {head.target().data(), head.target().size()},
                                          detail::header_value(head, http::field::origin),
                                          detail::header_value(head, http::field::host)};
    auto res = refused ? detail::refusal(refused->status, std::move(refused->reason))
               : read_ec == http::error::header_limit || read_ec == http::error::body_limit
                   ? detail::refusal(431, "request headers too large, or a body")
                   : detail::refusal(400, "malformed request: " + read_ec.message());
    log_refusal(*s, options, subject, res,
                res.status == 431 ? "request headers too large (accept_options::max_header_bytes), or a body" : "");
    auto why = refusal_failure(res);
    co_await refuse(*s, std::move(res));
    if (refused || why.http_status() == 431) co_return why;
    co_return failure(read_ec, std::string(why.detail()), why.http_status());
  }
  if (read_ec) co_return s->timer.expired() ? make_error_code(error::handshake_timeout) : read_ec;

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
    co_await refuse(*s, std::move(answer));
    co_return why;
  }
  auto const subject = detail::subject_of("WebSocket upgrade", r);
  if (!detail::has_token(req[http::field::upgrade], "websocket")) {
    auto res = detail::refusal(426, "this endpoint speaks WebSocket only");
    res.headers.push_back({"Upgrade", "websocket"});
    res.headers.push_back({"Connection", "Upgrade"});
    log_refusal(*s, options, subject, res, "not a WebSocket upgrade, and accept_options::http is not set");
    auto why = refusal_failure(res);
    co_await refuse(*s, std::move(res));
    co_return why;
  }
  // The endpoint's own gate, before the handshake checks and in the
  // router's order (origin, then token): both answer a request with
  // several faults alike.
  auto const& endpoint = options.endpoint;
  std::optional<response> gate;
  std::string gate_reason;
  if (!endpoint.origins.admits(r.header("Origin"), r.header("Host"), false)) {
    gate = detail::refusal(403, "this origin may not use this endpoint");
    gate_reason = detail::origin_refusal_reason(r, "accept_options::endpoint.origins");
  } else if (endpoint.token) {
    auto const token = r.query_value("token");
    if (!token || token->empty())
      gate = detail::refusal(401, "this endpoint needs a token");
    else if (endpoint.token->verify(*token, r.path) != url_token::verdict::valid)
      gate = detail::refusal(403, "the token is expired or not valid for this path");
  }
  if (gate) {
    log_refusal(*s, options, subject, *gate, gate_reason);
    auto why = refusal_failure(*gate);
    co_await refuse(*s, std::move(*gate));
    co_return why;
  }

  detail::upgrade_terms const terms{endpoint.subprotocols, endpoint.require_subprotocol, endpoint.websocket};
  auto verdict = detail::judge_upgrade(up.req, req.version(), terms);
  if (verdict.refusal) {
    auto why = refusal_failure(*verdict.refusal);
    auto out = detail::refusal_of(verdict, up.req, req.version(), options.logger,
                                  detail::refusal_log::of(s->stream.get_executor()));
    auto [write_ec, written] = co_await http::async_write(s->stream, out, use_tuple);
    if (!write_ec) s->stream.shutdown_send();
    co_return why;
  }
  auto out = detail::switching_protocols(verdict);
  auto [write_ec, written] = co_await http::async_write(s->stream, out, use_tuple);
  if (write_ec) co_return s->timer.expired() ? make_error_code(error::handshake_timeout) : write_ec;
  up.early_bytes.assign(static_cast<char const*>(buffer.data().data()), buffer.size());
  auto conn = detail::start_websocket(std::move(s->stream), up, std::move(verdict.agreement),
                                      detail::share_settings(endpoint.websocket, options.logger));
  co_return accepted(detail::make_websocket(conn), std::move(up.req));
}

}  // namespace

net::awaitable<result<accepted>> accept(tcp::socket socket, accept_options const& options) {
  error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  endpoint remote;
  if (auto const ep = socket.remote_endpoint(ignored); !ignored) remote = {ep.address().to_string(), ep.port()};
  bool loopback = false;
  if (auto const local = socket.local_endpoint(ignored); !ignored)
    loopback = detail::is_loopback_address(local.address().to_string());
  return accept_on(std::make_shared<handshake_state>(std::move(socket)), std::move(remote),
                   std::make_shared<accept_options const>(options), loopback);
}

}  // namespace tether
