#include <tether/accept.hpp>

#include "ws/connection.hpp"
#include "ws/extensions.hpp"
#include "ws/handshake.hpp"
#include "http/http_message.hpp"
#include "http/http_rules.hpp"
#include "net/transport.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/write.hpp>

#include <memory>

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;

namespace tether {

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

// The stream and its deadline: when the timer fires first, the stream is
// closed, which ends whatever waits on it.
struct handshake_state {
  explicit handshake_state(tcp::socket socket) : stream(std::move(socket)), timer(stream.get_executor()) {}
  detail::transport stream;
  net::steady_timer timer;
  bool timed_out = false;
};

// Sends `res` (a refusal, or the http callback's answer) and ends our side.
net::awaitable<void> refuse(handshake_state& s, response res, accept_options const& options, endpoint const& remote) {
  if (res.status >= 400 && options.logger.enabled(log_level::debug))
    options.logger.log(log_level::debug, 0, "refused upgrade from " + remote.to_string() + ": " + std::to_string(res.status));
  auto out = detail::make_http_response(std::move(res), 11, false);
  co_await http::async_write(s.stream, out, use_tuple);
  s.stream.shutdown_send();
}

net::awaitable<boost::system::result<accepted>> accept_on(std::shared_ptr<handshake_state> s, endpoint remote,
                                                          std::shared_ptr<accept_options const> settings,
                                                          bool loopback) {
  auto const& options = *settings;
  // Before the first byte: a bad allowed_hosts entry is misuse, not I/O.
  detail::host_filter const hosts(options.allowed_hosts, loopback);
  s->timer.expires_after(options.handshake_timeout);
  s->timer.async_wait([weak = std::weak_ptr(s)](error_code ec) {
    if (auto state = weak.lock(); state && !ec) {
      state->timed_out = true;
      state->stream.close();  // after the hand-over, a moved-from stream: harmless
    }
  });
  struct disarm {
    net::steady_timer& timer;
    ~disarm() { timer.cancel(); }
  } const on_exit{s->timer};

  boost::beast::flat_buffer buffer;
  http::request_parser<http::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
  parser.body_limit(0);  // an upgrade request has no body
  auto [read_ec, refused] = co_await detail::read_request(s->stream, buffer, parser, hosts);
  if (refused) {
    co_await refuse(*s, detail::refusal(refused->status, std::move(refused->reason)), options, remote);
    co_return make_error_code(error::upgrade_refused);
  }
  if (read_ec) {
    if (s->timed_out) co_return make_error_code(error::handshake_timeout);
    if (read_ec == http::error::header_limit || read_ec == http::error::body_limit) {
      co_await refuse(*s, detail::refusal(431, "request headers too large, or a body"), options, remote);
      co_return make_error_code(error::upgrade_refused);
    }
    if (read_ec != net::error::eof && read_ec != http::error::end_of_stream)
      co_await refuse(*s, detail::refusal(400, "malformed request: " + read_ec.message()), options, remote);
    co_return read_ec;
  }

  auto& req = parser.get();
  request r = detail::to_request(req, remote);
  r.path = r.target.substr(0, r.target.find('?'));
  if (!detail::has_token(req[http::field::upgrade], "websocket") && options.http) {
    response answer;
    try {
      answer = options.http(r);
    } catch (std::exception const& e) {
      options.logger.log(log_level::error, 0, std::string("accept_options::http threw: ") + e.what());
      answer = detail::refusal(500, "internal server error");
    }
    co_await refuse(*s, std::move(answer), options, remote);
    co_return make_error_code(error::upgrade_refused);
  }
  if (!detail::has_token(req[http::field::upgrade], "websocket")) {
    auto res = detail::refusal(426, "this endpoint speaks WebSocket only");
    res.headers.push_back({"Upgrade", "websocket"});
    res.headers.push_back({"Connection", "Upgrade"});
    co_await refuse(*s, std::move(res), options, remote);
    co_return make_error_code(error::upgrade_refused);
  }
  if (auto const bad = detail::check_upgrade_request(req.method_string(), req.version(), req[http::field::connection],
                                                     req[http::field::sec_websocket_version],
                                                     req[http::field::sec_websocket_key])) {
    auto res = detail::refusal(bad->status, std::string(bad->reason));
    if (bad->offer_version) res.headers.push_back({"Sec-WebSocket-Version", "13"});
    co_await refuse(*s, std::move(res), options, remote);
    co_return make_error_code(error::upgrade_refused);
  }
  if (!options.origins.admits(r.header("Origin"), r.header("Host"), false)) {
    co_await refuse(*s, detail::refusal(403, "this origin may not use this endpoint"), options, remote);
    co_return make_error_code(error::upgrade_refused);
  }
  std::string subprotocol = detail::choose_subprotocol(req[http::field::sec_websocket_protocol], options.subprotocols);
  if (subprotocol.empty() && options.require_subprotocol) {
    co_await refuse(*s, detail::refusal(400, "none of the offered subprotocols is supported"), options, remote);
    co_return make_error_code(error::upgrade_refused);
  }

  http::response<http::empty_body> res{http::status::switching_protocols, 11};
  res.set(http::field::upgrade, "websocket");
  res.set(http::field::connection, "Upgrade");
  res.set(http::field::sec_websocket_accept, detail::accept_key(req[http::field::sec_websocket_key]));
  if (!subprotocol.empty()) res.set(http::field::sec_websocket_protocol, subprotocol);
  detail::deflate_agreement deflate;
  if (auto const answer = detail::answer_deflate_offer(req[http::field::sec_websocket_extensions],
                                                       options.websocket.compression, deflate);
      !answer.empty())
    res.set(http::field::sec_websocket_extensions, answer);
  auto [write_ec, written] = co_await http::async_write(s->stream, res, use_tuple);
  if (write_ec) co_return s->timed_out ? make_error_code(error::handshake_timeout) : write_ec;

  std::string early(static_cast<char const*>(buffer.data().data()), buffer.size());
  detail::connection_config config{detail::role::server, options.websocket, options.logger, std::move(subprotocol),
                                   remote, deflate};
  auto conn = std::make_shared<detail::connection>(std::move(s->stream), std::move(config));
  conn->start(std::move(early));
  if (conn->log().enabled(log_level::debug))
    conn->log().log(log_level::debug, conn->id(), "WebSocket open: " + remote.to_string() + " " + r.target);
  co_return accepted(detail::make_websocket(conn), std::move(r));
}

}  // namespace

net::awaitable<boost::system::result<accepted>> accept(tcp::socket socket, accept_options options) {
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
