#include "http/session.hpp"

#include "http/http_message.hpp"
#include "http/http_rules.hpp"
#include "http/refusal_log.hpp"
#include "ws/handshake.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <exception>
#include <string>

namespace net = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;

namespace tether::detail {

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

using beast_request = http::request<http::string_body>;

// Returns false when the connection cannot go on.
net::awaitable<bool> respond(std::shared_ptr<http_connection> const& c, response res, unsigned version,
                             bool keep_alive, bool head_only, std::chrono::milliseconds timeout) {
  auto out = make_http_response(std::move(res), version, keep_alive);
  arm_deadline(c, timeout);
  error_code ec;
  if (head_only) {
    http::response_serializer<http::string_body> serializer{out};
    std::tie(ec, std::ignore) = co_await http::async_write_header(c->stream, serializer, use_tuple);
  } else {
    std::tie(ec, std::ignore) = co_await http::async_write(c->stream, out, use_tuple);
  }
  c->timer.disarm();
  co_return !ec;
}

// After a refusal: our FIN first, then read what the client still sends
// (briefly), so that unread bytes do not turn the answer into a reset.
net::awaitable<void> linger(std::shared_ptr<http_connection> const& c) {
  c->stream.shutdown_send();
  arm_deadline(c, std::chrono::seconds(1));
  char sink[512];
  for (;;) {
    auto [ec, n] = co_await c->stream.async_read_some(net::buffer(sink), use_tuple);
    if (ec) break;
  }
}

// A refusal ends the connection.
net::awaitable<void> refuse(std::shared_ptr<http_connection> const& c, response res, unsigned version,
                            std::chrono::milliseconds timeout) {
  // Not `if (co_await respond(...)) co_await linger(c)`: g++ 12 resumed
  // this frame in a bad state that way (hostile_http's first case).
  bool const sent = co_await respond(c, std::move(res), version, false, false, timeout);
  if (sent) co_await linger(c);
}

net::awaitable<void> refuse_bad_request(std::shared_ptr<http_connection> const& c, http_site& site, error_code ec,
                                        std::optional<http_refusal> refused, beast_request const& req, bool first) {
  auto const& options = site.options();
  auto& refusals = refusal_log::of(c->stream.get_executor());
  // What the parser kept of the request: all of its header for a refusal
  // by the rules, possibly nothing for a parse error.
  std::string_view const target{req.target().data(), req.target().size()};
  refusal_subject const subject{"request", c->remote, target, {}, header_value(req, http::field::host)};
  if (refused) {
    refusals.report(options.logger, [&] { return refusal_sentence(subject, refused->status, refused->reason); });
    response res = refusal(refused->status, std::move(refused->reason));
    co_await refuse(c, std::move(res), 11, options.keep_alive_timeout);
    co_return;
  }
  if (ec == http::error::end_of_stream || ec == net::error::operation_aborted) co_return;
  if (c->timer.expired()) {
    if (first && options.logger.enabled(log_level::debug))
      options.logger.log(log_level::debug, 0, "handshake timeout from " + c->remote.to_string());
    co_return;
  }
  if (ec == net::error::eof || ec == net::error::connection_reset || ec == net::error::bad_descriptor) co_return;
  response res = ec == http::error::header_limit ? refusal(431, "request headers too large")
                 : ec == http::error::body_limit ? refusal(413, "request body too large")
                                                 : refusal(400, "malformed request: " + ec.message());
  refusals.report(options.logger, [&] {
    std::string why(refusal_text(res));
    if (res.status == 431) why += " (server_options::max_header_bytes)";
    if (res.status == 413) why += " (server_options::max_body_bytes)";
    return refusal_sentence(subject, res.status, why);
  });
  co_await refuse(c, std::move(res), 11, options.keep_alive_timeout);
}

response refusal_for(router::decision const& decision, bool upgrade) {
  using outcome = router::decision::outcome;
  switch (decision.result) {
    case outcome::bad_target:
      return refusal(400, "malformed request target");
    case outcome::forbidden_origin:
      return refusal(403, "this origin may not use this endpoint");
    case outcome::token_missing:
      return refusal(401, "this endpoint needs a token");
    case outcome::token_refused:
      return refusal(403, "the token is expired or not valid for this path");
    case outcome::method_not_allowed: {
      auto res = refusal(405, "method not allowed");
      res.headers.push_back({"Allow", decision.allow});
      return res;
    }
    case outcome::upgrade_required: {
      auto res = refusal(426, "this path speaks WebSocket only");
      res.headers.push_back({"Upgrade", "websocket"});
      res.headers.push_back({"Connection", "Upgrade"});
      return res;
    }
    default:
      return refusal(404, upgrade ? "no WebSocket endpoint at this path" : "not found");
  }
}

// Why the router refused a request, for the log; nothing for the answers
// an ordinary web client gets every day (404, 405, 426 to a plain request).
std::optional<std::string> router_refusal_reason(router::decision const& decision, request const& r, bool upgrade) {
  using outcome = router::decision::outcome;
  switch (decision.result) {
    case outcome::bad_target:
      return "malformed request target";
    case outcome::forbidden_origin:
      return origin_refusal_reason(r, upgrade ? "endpoint_options::origins" : "the route's origins option");
    case outcome::token_missing:
      return "the endpoint needs a token (endpoint_options::token) and the URL has no ?token=";
    case outcome::token_refused:
      return "the token is expired, tampered with, or minted for another path";
    case outcome::not_found:
      if (upgrade) return "no WebSocket endpoint at this path (router::websocket)";
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

void log_router_refusal(http_connection& c, tether::logger const& log, router::decision const& decision,
                        request const& r, bool upgrade, int status) {
  auto const why = router_refusal_reason(decision, r, upgrade);
  if (!why) return;
  refusal_log::of(c.stream.get_executor()).report(log, [&] {
    return refusal_sentence(subject_of(upgrade ? "WebSocket upgrade" : "request", r), status, *why);
  });
}

// A plain function, so that the temporaries stay out of serve_http1's frame.
http::response<http::string_body> refusal_answer(http_connection& c, upgrade_verdict& verdict, request const& r,
                                                 unsigned version, tether::logger const& log) {
  return refusal_of(verdict, r, version, log, refusal_log::of(c.stream.get_executor()));
}

// A handler that throws gets a 500 and a log line; the server goes on.
net::awaitable<response> call_http_handler(router::http_route const& route, request const& r,
                                           tether::logger const& log) {
  std::string what = "a non-exception";
  try {
    if (route.handler) co_return route.handler(r);
    co_return co_await route.async_handler(r);
  } catch (std::exception const& e) {
    what = e.what();
  } catch (...) {
  }
  log.log(log_level::error, 0, "HTTP handler for " + r.method + " " + r.path + " threw: " + what);
  co_return refusal(500, "internal server error");
}

// All X-Forwarded-For lines as one list (RFC 9110 5.3).
std::string forwarded_for(beast_request const& req) {
  std::string all;
  auto const [first, last] = req.equal_range("X-Forwarded-For");
  for (auto field = first; field != last; ++field) {
    if (!all.empty()) all.push_back(',');
    all.append(field->value());
  }
  return all;
}

// What came behind the request: the client's first frames.
std::string early_bytes(boost::beast::flat_buffer const& buffer) {
  return {static_cast<char const*>(buffer.data().data()), buffer.size()};
}

}  // namespace

void arm_deadline(std::shared_ptr<http_connection> const& c, std::chrono::milliseconds timeout) {
  c->timer.arm(timeout, c, [stream = &c->stream] { stream->close(); });
}

net::awaitable<std::unique_ptr<websocket_request>> serve_http1(std::shared_ptr<http_connection> c, http_site& site) {
  auto const& options = site.options();
  boost::beast::flat_buffer buffer;
  bool first = true;
  while (!c->stopping) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
    parser.body_limit(options.max_body_bytes);
    c->waiting_for_peer = true;
    arm_deadline(c, first ? options.handshake_timeout : options.keep_alive_timeout);
    auto [ec, refused] = co_await read_request(c->stream, buffer, parser, *c->hosts);
    c->waiting_for_peer = false;
    c->timer.disarm();
    if (ec || refused) {
      co_await refuse_bad_request(c, site, ec, std::move(refused), parser.get(), first);
      co_return nullptr;
    }
    first = false;
    auto& req = parser.get();
    request r = to_request(req, c->remote);
    r.secure = c->secure;
    if (c->proxied) {
      if (auto over = site.name_client(*c, forwarded_for(req), r.remote)) {
        co_await refuse(c, std::move(*over), req.version(), options.keep_alive_timeout);
        co_return nullptr;
      }
    }
    bool const wants_upgrade = has_token(req[http::field::upgrade], "websocket");
    auto const decision = site.routes().dispatch(r, wants_upgrade, c->secure);
    if (wants_upgrade && !decision.websocket) {
      response res = refusal_for(decision, true);
      log_router_refusal(*c, options.logger, decision, r, true, res.status);
      co_await refuse(c, std::move(res), req.version(), options.keep_alive_timeout);
      co_return nullptr;
    }
    if (wants_upgrade) {
      // Answered in this frame, not in a coroutine of its own: Asio keeps a
      // freed small frame for the next one made on the thread, and the
      // next ones are the WebSocket's, which live as long as the
      // connection (measured: 700 bytes more per idle connection).
      auto const& offered = decision.websocket->options;
      upgrade_terms const terms{offered.subprotocols, offered.require_subprotocol, offered.websocket};
      auto verdict = judge_upgrade(r, req.version(), terms);
      if (verdict.refusal) {
        auto out = refusal_answer(*c, verdict, r, req.version(), options.logger);
        arm_deadline(c, options.handshake_timeout);
        auto [write_ec, written] = co_await http::async_write(c->stream, out, use_tuple);
        c->timer.disarm();
        if (!write_ec) c->stream.shutdown_send();
        co_return nullptr;
      }
      auto out = switching_protocols(verdict);
      arm_deadline(c, options.handshake_timeout);
      auto [write_ec, written] = co_await http::async_write(c->stream, out, use_tuple);
      c->timer.disarm();
      if (write_ec) co_return nullptr;
      co_return std::make_unique<websocket_request>(
          websocket_request{decision.websocket, {std::move(r), early_bytes(buffer)}, std::move(verdict.agreement)});
    }
    bool const keep_alive = req.keep_alive() && !c->stopping;
    // Not a conditional expression: g++ 12 destroys the result of a
    // co_await inside ?: too early.
    response res;
    if (decision.http)
      res = co_await call_http_handler(*decision.http, r, options.logger);
    else {
      res = refusal_for(decision, false);
      log_router_refusal(*c, options.logger, decision, r, false, res.status);
    }
    bool const head_only = r.method == "HEAD";
    if (!co_await respond(c, std::move(res), req.version(), keep_alive, head_only, options.keep_alive_timeout))
      co_return nullptr;
    if (!keep_alive) break;
  }
  c->stream.shutdown_send();
  co_return nullptr;
}

net::awaitable<void> refuse_connection(std::shared_ptr<http_connection> c, response res,
                                       std::chrono::milliseconds timeout) {
  co_await refuse(c, std::move(res), 11, timeout);
}

}  // namespace tether::detail
