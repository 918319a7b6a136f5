#include <tether/server.hpp>

#include "ws/connection.hpp"
#include "net/gate.hpp"
#include "ws/extensions.hpp"
#include "ws/handshake.hpp"
#include "http/http_message.hpp"
#include "http/http_rules.hpp"
#include "net/poller.hpp"
#include "net/tls.hpp"
#include "net/transport.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <deque>
#include <list>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <unordered_map>

#include <sys/stat.h>
#include <unistd.h>

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using generic_stream = net::generic::stream_protocol;
using boost::system::error_code;

namespace tether {

using detail::refusal;
using detail::to_request;
using detail::make_http_response;

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

// What one accepted connection owns while it speaks HTTP, and what stop()
// needs to reach it later.
struct session_state {
  explicit session_state(generic_stream::socket s) : stream(std::move(s)), timer(stream.get_executor()) {}

  detail::transport stream;
  net::steady_timer timer;
  unsigned deadline_generation = 0;
  bool timed_out = false;
  bool waiting_for_peer = false;  // in the TLS handshake or between requests: stop() may cut it
  bool stopping = false;
  bool admitted = false;  // counted by the gate until the session ends
  bool proxied = false;   // from a trusted proxy: the gate counts the client once its request names it
  bool secure = false;
  detail::host_filter const* hosts = nullptr;  // the listener's, which outlives every session
  endpoint remote;
  std::string counted_as;  // the address the gate counts it under; empty: the total only
  std::shared_ptr<detail::connection> ws;
};

// Closes the socket when `timeout` passes, which ends whatever operation
// is pending on it. The generation makes a stale expiry harmless.
void arm_deadline(std::shared_ptr<session_state> const& s, std::chrono::milliseconds timeout) {
  unsigned const generation = ++s->deadline_generation;
  s->timer.expires_after(timeout);
  s->timer.async_wait([weak = std::weak_ptr(s), generation](error_code ec) {
    auto s = weak.lock();
    if (ec || !s || s->deadline_generation != generation) return;
    s->timed_out = true;
    s->stream.close();
  });
}

void disarm_deadline(session_state& s) {
  ++s.deadline_generation;
  s.timer.cancel();
}

// What the HTTP phase hands to the WebSocket phase once the 101 is sent.
// Everything of Beast's is gone by then: an open WebSocket keeps no parser,
// buffer or response fields.
struct upgrade_ticket {
  router::websocket_route const* route = nullptr;
  request req;
  std::string subprotocol;
  detail::deflate_agreement deflate;
  std::string early_bytes;  // frames the client sent right behind its request
};

template <class Socket>
endpoint remote_of(Socket const& socket) {
  error_code ec;
  auto const ep = socket.remote_endpoint(ec);
  if (ec || ep.protocol().family() == AF_UNIX) return {};
  tcp::endpoint ip;
  std::memcpy(ip.data(), ep.data(), std::min(ep.size(), ip.capacity()));
  return {ip.address().to_string(), ip.port()};
}

// One listening socket of the server, TCP or Unix.
struct listening {
  listener where;
  std::optional<net::basic_socket_acceptor<generic_stream>> acceptor;
  std::uint16_t port = 0;
  std::optional<detail::host_filter> hosts;
};

std::vector<listener> listeners_of(server_options const& options) {
  if (!options.listeners.empty()) return options.listeners;
  listener only;
  only.address = options.address;
  only.port = options.port;
  only.tls = !options.tls.certificates.empty();
  return {only};
}

void open_listener_or_throw(listening& l, net::io_context& ctx) {
  auto& acceptor = l.acceptor.emplace(ctx);
  if (!l.where.unix_path.empty()) {
    // A socket file left by a server that died is in the way; anything
    // else at that path is not ours to remove.
    struct stat info {};
    if (::lstat(l.where.unix_path.c_str(), &info) == 0 && S_ISSOCK(info.st_mode)) ::unlink(l.where.unix_path.c_str());
    net::local::stream_protocol::endpoint const where{l.where.unix_path};
    acceptor.open(generic_stream(AF_UNIX, 0));
    acceptor.bind(generic_stream::endpoint(where));
  } else {
    tcp::endpoint const where{net::ip::make_address(l.where.address), l.where.port};
    acceptor.open(generic_stream(where.protocol()));
    acceptor.set_option(net::socket_base::reuse_address(true));
    acceptor.bind(generic_stream::endpoint(where));
    tcp::endpoint bound;
    auto const local = acceptor.local_endpoint();
    std::memcpy(bound.data(), local.data(), std::min(local.size(), bound.capacity()));
    l.port = bound.port();
  }
  acceptor.listen(net::socket_base::max_listen_connections);
}

// One plain sentence with the address and the system's reason, as a
// std::system_error: Boost's own would append its source location, which
// means nothing to the person whose port is taken.
void open_listener(listening& l, net::io_context& ctx) {
  try {
    open_listener_or_throw(l, ctx);
  } catch (boost::system::system_error const& e) {
    auto const& where = l.where;
    std::string const place =
        where.unix_path.empty() ? endpoint{where.address, where.port}.to_string() : "unix:" + where.unix_path;
    throw std::system_error(std::error_code(e.code().value(), std::system_category()),
                            "tether::server: cannot listen on " + place);
  }
}

}  // namespace

struct server::impl {
  impl(router app, server_options opts) : router_(std::move(app)), options_(std::move(opts)) {
    if (options_.threads == 0) throw std::invalid_argument("tether::server: threads must be at least 1");
    for (unsigned i = 0; i < options_.threads; ++i) {
      contexts_.push_back(std::make_unique<net::io_context>(1));
      guards_.emplace_back(contexts_.back()->get_executor());
    }
    auto const wanted = listeners_of(options_);
    bool const any_tls = std::any_of(wanted.begin(), wanted.end(), [](listener const& l) { return l.tls; });
    if (any_tls) {
      if (options_.tls.certificates.empty())
        throw std::invalid_argument("tether::server: a listener has tls = true but server_options::tls has no certificate");
      tls_.emplace(options_.tls);
    }
    for (auto const& where : wanted) {
      auto& l = listeners_.emplace_back();
      l.where = where;
      // A browser can reach a loopback listener only from this machine, so
      // a Host that is not a loopback name is a page that got here by DNS
      // rebinding. Elsewhere the names a server has are unknown to us.
      l.hosts.emplace(options_.allowed_hosts, where.unix_path.empty() && detail::is_loopback_address(where.address));
      open_listener(l, *contexts_.front());
    }
  }

  net::io_context& main_context() { return *contexts_.front(); }

  void run() {
    for (auto& l : listeners_) {
      net::co_spawn(main_context(), accept_loop(l), net::detached);
      if (options_.logger.enabled(log_level::info)) {
        std::string where = l.where.tls ? "https://" : "http://";
        if (l.where.unix_path.empty())
          where += endpoint{l.where.address, l.port}.to_string();
        else
          where = "unix:" + l.where.unix_path + (l.where.tls ? " (TLS)" : "");
        options_.logger.log(log_level::info, 0, "listening on " + where);
      }
    }
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < contexts_.size(); ++i)
      threads.emplace_back([ctx = contexts_[i].get()] { ctx->run(); });
    main_context().run();
    for (auto& t : threads) t.join();
  }

  net::awaitable<void> accept_loop(listening& l) {
    while (!stopping_) {
      auto& ctx = *contexts_[next_context_++ % contexts_.size()];
      auto [ec, socket] = co_await l.acceptor->async_accept(ctx, use_tuple);
      if (stopping_) break;
      if (ec) {
        options_.logger.log(log_level::warning, 0, "accept failed: " + ec.message());
        if (ec == net::error::no_descriptors || ec == net::error::no_buffer_space || ec == net::error::no_memory ||
            ec == error_code(ENFILE, boost::system::system_category())) {
          // Out of descriptors or memory: back off instead of spinning.
          net::steady_timer pause(main_context(), std::chrono::milliseconds(100));
          co_await pause.async_wait(use_tuple);
        }
        continue;
      }
      endpoint remote = remote_of(socket);
      auto const admission = gate_.admit(remote);
      if (admission.what == detail::admission::verdict::filtered) {
        if (options_.logger.enabled(log_level::debug))
          options_.logger.log(log_level::debug, 0, "accept filter refused " + remote.to_string());
        continue;  // the socket closes here, before any byte is read
      }
      if (!remote.address.empty()) {
        error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
      }
      connections_.fetch_add(1, std::memory_order_relaxed);
      net::co_spawn(ctx, session(std::move(socket), std::move(remote), admission, l), net::detached);
    }
  }

  std::uint64_t enroll(std::shared_ptr<session_state> const& s) {
    std::lock_guard lock(registry_mutex_);
    auto const key = ++next_session_;
    sessions_.emplace(key, s);
    return key;
  }

  void withdraw(std::uint64_t key) {
    std::lock_guard lock(registry_mutex_);
    sessions_.erase(key);
  }

  net::awaitable<void> session(generic_stream::socket socket, endpoint remote, detail::admission admission,
                               listening const& l) {
    bool const tls = l.where.tls;
    auto state = std::make_shared<session_state>(std::move(socket));
    state->hosts = &*l.hosts;
    state->remote = std::move(remote);
    state->admitted = admission.what == detail::admission::verdict::admit;
    state->proxied = admission.proxied;
    if (!admission.proxied) state->counted_as = state->remote.address;
    state->secure = tls;
    auto const key = enroll(state);
    struct leave {
      impl* self;
      std::uint64_t key;
      session_state const& state;
      ~leave() {
        self->withdraw(key);
        if (state.admitted) self->gate_.leave(state.counted_as);
        self->connections_.fetch_sub(1, std::memory_order_relaxed);
      }
    } const on_exit{this, key, *state};
    if (stopping_) co_return;  // enrolled after stop() looked at the registry

    try {
      if (!state->admitted) {
        // Over a TLS listener a refusal would cost the very handshake the
        // limit is there to save: those connections just close.
        if (!tls) co_await refuse_connection(state, admission);
      } else if (tls && !co_await tls_handshake(state)) {
        // logged at debug level
      } else if (auto ticket = co_await serve_http(state))
        co_await serve_websocket(state, std::move(ticket));
    } catch (std::exception const& e) {
      options_.logger.log(log_level::error, 0, std::string("session failed: ") + e.what());
    }
    disarm_deadline(*state);
  }

  // Over a limit: answer at once, without waiting for the request, then
  // read what the client sends until it closes (briefly), so that our
  // answer is not lost to a reset.
  net::awaitable<void> refuse_connection(std::shared_ptr<session_state> state, detail::admission admission) {
    auto res = refusal_for(admission);
    if (options_.logger.enabled(log_level::debug))
      options_.logger.log(log_level::debug, 0, std::to_string(res.status) + " for " + state->remote.to_string());
    if (co_await respond(state, std::move(res), 11, false, false)) co_await linger(state);
  }

  static response refusal_for(detail::admission const& admission) {
    bool const rate = admission.what == detail::admission::verdict::rate_limited;
    auto res = rate ? refusal(429, "too many new connections from your address")
                    : refusal(503, "the server is at its connection limit");
    res.headers.push_back({"Retry-After", std::to_string(admission.retry_after.count())});
    return res;
  }

  // A trusted proxy's request names its client: that is the remote the
  // handlers see, and the client the connection counts for in the
  // per-address limits. A proxy that reuses its connection for another
  // client's request moves the count to that client. False when the
  // limits refuse it.
  bool admit_forwarded(session_state& state, http::request<http::string_body> const& req, request& r,
                       detail::admission& refused) {
    std::string forwarded;
    auto const [first, last] = req.equal_range("X-Forwarded-For");
    for (auto field = first; field != last; ++field) {
      if (!forwarded.empty()) forwarded.push_back(',');
      forwarded.append(field->value());
    }
    r.remote = {gate_.forwarded_client(forwarded, state.remote.address), 0};
    if (state.counted_as == r.remote.address) return true;
    if (!state.counted_as.empty()) {
      gate_.leave_forwarded(state.counted_as);
      state.counted_as.clear();
    }
    auto const verdict = gate_.admit_forwarded(r.remote.address);
    if (verdict.what != detail::admission::verdict::admit) {
      refused = verdict;
      return false;
    }
    state.counted_as = r.remote.address;
    return true;
  }

  net::awaitable<bool> tls_handshake(std::shared_ptr<session_state> const& state) {
    state->stream.use_tls(tls_->get(), true);
    arm_deadline(state, options_.handshake_timeout);
    state->waiting_for_peer = true;  // browsers open spare connections that may never say a word
    error_code ec;
    while (!state->stopping && (ec = state->stream.handshake_step()) == net::error::would_block) {
      std::tie(ec) = co_await state->stream.async_wait(state->stream.handshake_wants(), use_tuple);
      if (ec) break;
    }
    if (state->stopping && !ec) ec = net::error::operation_aborted;
    state->waiting_for_peer = false;
    disarm_deadline(*state);
    if (ec && options_.logger.enabled(log_level::debug)) {
      std::string why = state->timed_out ? "timed out"
                        : ec == tether::error::tls_failed ? state->stream.tls_failure()
                                                          : ec.message();
      if (!state->stopping)
        options_.logger.log(log_level::debug, 0, "TLS handshake with " + state->remote.to_string() + " failed: " + why);
    }
    co_return !ec;
  }

  // After a refusal: our FIN first, then read what the client still sends
  // (briefly), so that unread bytes do not turn the answer into a reset.
  net::awaitable<void> linger(std::shared_ptr<session_state> const& state) {
    state->stream.shutdown_send();
    arm_deadline(state, std::chrono::seconds(1));
    char sink[512];
    for (;;) {
      auto [ec, n] = co_await state->stream.async_read_some(net::buffer(sink), use_tuple);
      if (ec) break;
    }
  }

  net::awaitable<std::unique_ptr<upgrade_ticket>> serve_http(std::shared_ptr<session_state> state) {
    endpoint const& remote = state->remote;
    boost::beast::flat_buffer buffer;
    bool first = true;
    while (!state->stopping) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(options_.max_header_bytes));
      parser.body_limit(options_.max_body_bytes);
      state->waiting_for_peer = true;
      arm_deadline(state, first ? options_.handshake_timeout : options_.keep_alive_timeout);
      auto [ec, refused] = co_await detail::read_request(state->stream, buffer, parser, *state->hosts);
      state->waiting_for_peer = false;
      disarm_deadline(*state);
      if (ec || refused) {
        co_await refuse_bad_request(state, ec, std::move(refused), first);
        co_return nullptr;
      }
      first = false;
      auto& req = parser.get();
      request r = to_request(req, remote);
      r.secure = state->secure;
      if (detail::admission refused; state->proxied && !admit_forwarded(*state, req, r, refused)) {
        if (options_.logger.enabled(log_level::debug))
          options_.logger.log(log_level::debug, 0, "over the limits: " + r.remote.address + " via " + remote.to_string());
        if (co_await respond(state, refusal_for(refused), req.version(), false, false)) co_await linger(state);
        co_return nullptr;
      }
      bool const wants_upgrade = detail::has_token(req[http::field::upgrade], "websocket");
      auto const decision = router_.dispatch(r, wants_upgrade, state->secure);
      if (wants_upgrade) {
        if (decision.websocket) co_return co_await upgrade(state, req, std::move(r), *decision.websocket, buffer);
        if (co_await respond(state, refusal_for(decision, true), req.version(), false, false)) co_await linger(state);
        co_return nullptr;
      }
      bool const keep_alive = req.keep_alive() && !state->stopping;
      // Not a conditional expression: g++ 12 destroys the result of a
      // co_await inside ?: too early.
      response res;
      if (decision.http)
        res = co_await call_http_handler(*decision.http, r);
      else
        res = refusal_for(decision, false);
      if (!co_await respond(state, std::move(res), req.version(), keep_alive, r.method == "HEAD"))
        co_return nullptr;
      if (!keep_alive) break;
    }
    state->stream.shutdown_send();
    co_return nullptr;
  }

  net::awaitable<void> refuse_bad_request(std::shared_ptr<session_state> const& state, error_code ec,
                                          std::optional<detail::http_refusal> refused, bool first) {
    if (refused) {
      if (options_.logger.enabled(log_level::debug))
        options_.logger.log(log_level::debug, 0,
                            std::to_string(refused->status) + " for " + state->remote.to_string() + ": " + refused->reason);
      if (co_await respond(state, refusal(refused->status, std::move(refused->reason)), 11, false, false))
        co_await linger(state);
      co_return;
    }
    if (ec == http::error::end_of_stream || ec == net::error::operation_aborted) co_return;
    if (state->timed_out) {
      if (first && options_.logger.enabled(log_level::debug))
        options_.logger.log(log_level::debug, 0, "handshake timeout from " + state->remote.to_string());
      co_return;
    }
    if (ec == net::error::eof || ec == net::error::connection_reset || ec == net::error::bad_descriptor) co_return;
    response res = ec == http::error::header_limit ? refusal(431, "request headers too large")
                   : ec == http::error::body_limit ? refusal(413, "request body too large")
                                                   : refusal(400, "malformed request: " + ec.message());
    if (co_await respond(state, std::move(res), 11, false, false)) co_await linger(state);
  }

  static response refusal_for(router::decision const& decision, bool upgrade) {
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

  // A handler that throws gets a 500 and a log line; the server goes on.
  net::awaitable<response> call_http_handler(router::http_route const& route, request const& r) {
    std::exception_ptr failure;
    try {
      if (route.handler) co_return route.handler(r);
      co_return co_await route.async_handler(r);
    } catch (...) {
      failure = std::current_exception();
    }
    log_failure("HTTP handler for " + r.method + " " + r.path, 0, failure);
    co_return refusal(500, "internal server error");
  }

  // Returns false when the connection cannot go on.
  net::awaitable<bool> respond(std::shared_ptr<session_state> const& state, response res, unsigned version,
                               bool keep_alive, bool head_only) {
    auto out = make_http_response(std::move(res), version, keep_alive);
    arm_deadline(state, options_.keep_alive_timeout);
    error_code ec;
    if (head_only) {
      http::response_serializer<http::string_body> serializer{out};
      std::tie(ec, std::ignore) = co_await http::async_write_header(state->stream, serializer, use_tuple);
    } else {
      std::tie(ec, std::ignore) = co_await http::async_write(state->stream, out, use_tuple);
    }
    disarm_deadline(*state);
    co_return !ec;
  }

  // Answers the upgrade request: a refusal (nothing returned) or 101.
  net::awaitable<std::unique_ptr<upgrade_ticket>> upgrade(std::shared_ptr<session_state> state,
                                                          http::request<http::string_body> const& req, request r,
                                                          router::websocket_route const& endpoint,
                                                          boost::beast::flat_buffer& buffer) {
    auto const* route = &endpoint;
    if (auto const bad = detail::check_upgrade_request(req.method_string(), req.version(), req[http::field::connection],
                                                       req[http::field::sec_websocket_version],
                                                       req[http::field::sec_websocket_key])) {
      auto res = refusal(bad->status, std::string(bad->reason));
      if (bad->offer_version) res.headers.push_back({"Sec-WebSocket-Version", "13"});
      co_await respond(state, std::move(res), req.version(), false, false);
      co_return nullptr;
    }
    std::string subprotocol =
        detail::choose_subprotocol(req[http::field::sec_websocket_protocol], route->options.subprotocols);
    if (subprotocol.empty() && route->options.require_subprotocol) {
      co_await respond(state, refusal(400, "none of the offered subprotocols is supported"), req.version(), false,
                       false);
      co_return nullptr;
    }

    http::response<http::empty_body> accept{http::status::switching_protocols, 11};
    accept.set(http::field::upgrade, "websocket");
    accept.set(http::field::connection, "Upgrade");
    accept.set(http::field::sec_websocket_accept, detail::accept_key(req[http::field::sec_websocket_key]));
    if (!subprotocol.empty()) accept.set(http::field::sec_websocket_protocol, subprotocol);
    detail::deflate_agreement deflate;
    if (auto const answer = detail::answer_deflate_offer(req[http::field::sec_websocket_extensions],
                                                         route->options.websocket.compression, deflate);
        !answer.empty())
      accept.set(http::field::sec_websocket_extensions, answer);
    arm_deadline(state, options_.handshake_timeout);
    auto [ec, n] = co_await http::async_write(state->stream, accept, use_tuple);
    disarm_deadline(*state);
    if (ec) co_return nullptr;

    std::string early(static_cast<char const*>(buffer.data().data()), buffer.size());
    r.headers.shrink_to_fit();
    // On the heap: the session's frame holds a pointer, not the request.
    co_return std::make_unique<upgrade_ticket>(upgrade_ticket{route, std::move(r), std::move(subprotocol), deflate, std::move(early)});
  }

  // Plain functions around the coroutine below keep its frame small: every
  // temporary of a coroutine lives in its frame for the whole connection.
  std::shared_ptr<detail::connection> open_websocket(session_state& state, upgrade_ticket& ticket) {
    request const& r = ticket.req;
    detail::connection_config config{detail::role::server, ticket.route->options.websocket, options_.logger,
                                     std::move(ticket.subprotocol), r.remote, ticket.deflate};
    // Each of the server's io_contexts runs on one thread, as the poller requires.
    config.readiness = &detail::poller::of(state.stream.get_executor());
    auto conn = std::make_shared<detail::connection>(std::move(state.stream), std::move(config));
    state.ws = conn;
    conn->start(std::move(ticket.early_bytes));
    if (conn->log().enabled(log_level::debug))
      conn->log().log(log_level::debug, conn->id(), "WebSocket open: " + r.remote.to_string() + " " + r.target);
    return conn;
  }

  void log_failure(std::string const& who, std::uint64_t connection, std::exception_ptr failure) {
    std::string what = "a non-exception";
    try {
      std::rethrow_exception(failure);
    } catch (std::exception const& e) {
      what = e.what();
    } catch (...) {
    }
    options_.logger.log(log_level::error, connection, who + " threw: " + what);
  }

  net::awaitable<void> serve_websocket(std::shared_ptr<session_state> state, std::unique_ptr<upgrade_ticket> ticket) {
    auto conn = open_websocket(*state, *ticket);
    close_code ending = close_code::going_away;
    if (!state->stopping) {
      ending = close_code::normal;
      websocket ws = detail::make_websocket(conn);
      try {
        co_await ticket->route->handler(ws, ticket->req);
      } catch (...) {
        log_failure("WebSocket handler for " + ticket->req.path, conn->id(), std::current_exception());
        ending = close_code::internal_error;
      }
    }
    co_await conn->close(ending, {});
  }

  void start_stop(std::chrono::milliseconds grace) {
    if (stopping_) return;
    stopping_ = true;
    options_.logger.log(log_level::info, 0, "stopping");
    error_code ignored;
    for (auto& l : listeners_) l.acceptor->close(ignored);
    if (signals_) signals_->cancel(ignored);
    for (auto& task : tasks_) task.emit(net::cancellation_type::terminal);
    for_each_session([](std::shared_ptr<session_state> const& s) {
      s->stopping = true;
      if (s->ws) {
        net::co_spawn(s->ws->executor(), s->ws->close(close_code::going_away, "server stopping", s->ws), net::detached);
      } else if (s->waiting_for_peer) {
        s->stream.cancel();
      }
    });
    net::co_spawn(main_context(), finish_stop(grace), net::detached);
  }

  net::awaitable<void> finish_stop(std::chrono::milliseconds grace) {
    co_await wait_for_no_connections(grace);
    if (connections_.load() > 0) {
      options_.logger.log(log_level::info, 0,
                          "grace period over, cutting " + std::to_string(connections_.load()) + " connections");
      for_each_session([](std::shared_ptr<session_state> const& s) {
        if (s->ws) {
          s->ws->abort(error::stopped);
        } else {
          s->stream.close();
        }
      });
      co_await wait_for_no_connections(std::chrono::seconds(1));
    }
    if (connections_.load() > 0) {
      // Handlers still awaiting something else: stop the loops; their
      // coroutines are destroyed with the server.
      options_.logger.log(log_level::warning, 0,
                          std::to_string(connections_.load()) + " handlers did not end; abandoning them");
      for (auto& ctx : contexts_) ctx->stop();
    }
    guards_.clear();  // each thread returns once its loop has nothing left
  }

  ~impl() {
    // Coroutines left in the loops are destroyed here, while the registry
    // and counters they touch on the way out still exist.
    signals_.reset();
    for (auto& l : listeners_) {
      l.acceptor.reset();
      if (!l.where.unix_path.empty()) ::unlink(l.where.unix_path.c_str());
    }
    guards_.clear();
    contexts_.clear();
  }

  net::awaitable<void> wait_for_no_connections(std::chrono::milliseconds limit) {
    auto const deadline = std::chrono::steady_clock::now() + limit;
    net::steady_timer poll(main_context());
    while (connections_.load() > 0 && std::chrono::steady_clock::now() < deadline) {
      poll.expires_after(std::chrono::milliseconds(5));
      co_await poll.async_wait(use_tuple);
    }
  }

  // Runs `action` for every live session on that session's own executor.
  template <class Action>
  void for_each_session(Action action) {
    std::lock_guard lock(registry_mutex_);
    for (auto const& [key, weak] : sessions_) {
      if (auto s = weak.lock()) {
        net::post(s->timer.get_executor(), [s, action] { action(s); });
      }
    }
  }

  router router_;
  server_options options_;
  detail::gate gate_{options_};
  std::vector<std::unique_ptr<net::io_context>> contexts_;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards_;
  std::optional<detail::tls_server_context> tls_;
  std::deque<listening> listeners_;  // a deque: accept loops hold references
  std::atomic<std::size_t> next_context_{0};
  std::optional<net::signal_set> signals_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> connections_{0};
  std::list<net::cancellation_signal> tasks_;  // main loop only; a list: signals must not move
  std::mutex registry_mutex_;
  std::unordered_map<std::uint64_t, std::weak_ptr<session_state>> sessions_;
  std::uint64_t next_session_ = 0;
};

server::server(router app, server_options options)
    : impl_(std::make_unique<impl>(std::move(app), std::move(options))) {}

server::~server() = default;

std::uint16_t server::port() const noexcept { return impl_->listeners_.front().port; }

std::uint16_t server::port(std::size_t i) const { return impl_->listeners_.at(i).port; }

void server::run() { impl_->run(); }

int server::run_until_signal() {
  impl_->signals_.emplace(impl_->main_context(), SIGINT, SIGTERM);
  impl_->signals_->async_wait([this](error_code ec, int signal) {
    if (ec) return;
    impl_->options_.logger.log(log_level::info, 0, "signal " + std::to_string(signal) + " received");
    stop(impl_->options_.signal_grace);
  });
  run();
  return 0;
}

void server::stop(std::chrono::milliseconds grace) {
  net::post(impl_->main_context(), [this, grace] { impl_->start_stop(grace); });
}

std::size_t server::connections() const noexcept { return impl_->connections_.load(); }

void server::spawn(net::awaitable<void> task) {
  // Cancellation slots are not thread-safe: the task starts on the loop
  // that stop() runs on.
  net::post(impl_->main_context(), [impl = impl_.get(), task = std::move(task)]() mutable {
    if (impl->stopping_) return;
    auto& signal = impl->tasks_.emplace_back();
    // Exceptions, including the cancellation at stop(), end the task quietly.
    net::co_spawn(impl->main_context(), std::move(task), net::bind_cancellation_slot(signal.slot(), net::detached));
  });
}

}  // namespace tether
