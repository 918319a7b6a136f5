#include <tether/server.hpp>

#include "http/http_message.hpp"
#include "http/refusal_log.hpp"
#include "http/session.hpp"
#include "http/upgrade.hpp"
#include "net/gate.hpp"
#include "net/poller.hpp"
#include "net/tls.hpp"
#include "net/transport.hpp"
#include "ws/connection.hpp"

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

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <deque>
#include <list>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>

#include <sys/stat.h>
#include <unistd.h>

namespace net = boost::asio;
using tcp = net::ip::tcp;
using generic_stream = net::generic::stream_protocol;
using boost::system::error_code;

namespace tether {

using detail::refusal;

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

// What one accepted connection owns: the HTTP session's part, what the
// gate counts it as, and, once upgraded, its WebSocket, which stop()
// reaches through the registry.
struct session_state : detail::http_connection {
  using http_connection::http_connection;

  bool admitted = false;   // counted by the gate until the session ends
  std::string counted_as;  // the address the gate counts it under; empty: the total only
  std::shared_ptr<detail::connection> ws;
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

struct server::impl final : detail::http_site {
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
        detail::refusal_log::of(socket.get_executor()).report(options_.logger, [&] {
          return detail::refusal_sentence({"connection", remote}, 0, "server_options::accept_filter returned false");
        });
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
    sessions_.emplace(key, enrolled{s, false});
    return key;
  }

  // From the upgrade on, stop() reaches the WebSocket itself: the HTTP
  // session's state is freed then.
  void enroll_websocket(std::uint64_t key, std::shared_ptr<detail::connection> const& conn) {
    std::lock_guard lock(registry_mutex_);
    sessions_[key] = enrolled{conn, true};
  }

  void withdraw(std::uint64_t key) {
    std::lock_guard lock(registry_mutex_);
    sessions_.erase(key);
  }

  // What an accepted connection holds of the server until it ends: its
  // place in the registry, in the gate's counts and in connections().
  // Whoever owns it last gives them back, also a coroutine destroyed with
  // its loop.
  struct membership {
    impl* self;
    std::uint64_t key;
    bool admitted;
    std::string counted_as;

    membership(impl* s, std::uint64_t k, bool a, std::string as) noexcept
        : self(s), key(k), admitted(a), counted_as(std::move(as)) {}
    membership(membership&& other) noexcept
        : self(std::exchange(other.self, nullptr)),
          key(other.key),
          admitted(other.admitted),
          counted_as(std::move(other.counted_as)) {}
    membership& operator=(membership&&) = delete;
    ~membership() {
      if (!self) return;
      self->withdraw(key);
      if (admitted) self->gate_.leave(counted_as);
      self->connections_.fetch_sub(1, std::memory_order_relaxed);
    }
  };

  net::awaitable<void> session(generic_stream::socket socket, endpoint remote, detail::admission admission,
                               listening const& l) {
    bool const tls = l.where.tls;
    auto state = std::make_shared<session_state>(detail::transport(std::move(socket)));
    state->hosts = &*l.hosts;
    state->remote = std::move(remote);
    state->admitted = admission.what == detail::admission::verdict::admit;
    state->proxied = admission.proxied;
    if (!admission.proxied) state->counted_as = state->remote.address;
    state->secure = tls;
    auto const key = enroll(state);
    // Until the upgrade hands the membership to the WebSocket's handler.
    struct leave {
      impl* self;
      std::uint64_t key;
      session_state& state;
      bool handed_over = false;
      ~leave() {
        if (handed_over) return;
        membership const gone(self, key, state.admitted, std::move(state.counted_as));
      }
    } on_exit{this, key, *state};
    if (stopping_) co_return;  // enrolled after stop() looked at the registry

    try {
      std::unique_ptr<detail::websocket_request> ticket;
      if (!state->admitted) {
        // Over a TLS listener a refusal would cost the very handshake the
        // limit is there to save: those connections just close.
        log_refusal(*state, state->remote, admission, !tls);
        if (!tls) co_await refuse_connection(state, admission);
      } else if (tls && !co_await tls_handshake(state)) {
        // logged at debug level
      } else {
        // The seam for HTTP/2: here the stream goes to the session of its
        // HTTP version. An HTTP/2 session, chosen when TLS agrees on "h2"
        // by ALPN (not offered yet), would sit beside serve_http1 on the
        // same http_site and hand its WebSocket requests (RFC 8441) on in
        // a ticket as HTTP/1 does.
        ticket = co_await detail::serve_http1(state, *this);
      }
      if (ticket && !state->stopping) {
        start_handler(*state, *ticket, key);
        on_exit.handed_over = true;
      } else if (ticket) {
        auto conn = open_websocket(*state, *ticket);
        co_await conn->close(close_code::going_away, {});
      }
    } catch (std::exception const& e) {
      options_.logger.log(log_level::error, 0, std::string("session failed: ") + e.what());
    }
    state->timer.disarm();
  }

  // The handler is all that an idle WebSocket runs: its frame and the one
  // below it, which holds the handle and the request it sees. This
  // session's frame, the HTTP state and the ticket are freed.
  struct handler_run {
    impl* self;
    router::websocket_route const* route;
    std::shared_ptr<detail::connection> conn;
    membership member;
    websocket ws;
    request req;
  };

  // The bottom frame of the handler's thread of execution, started without
  // co_spawn: co_spawn's frame would also keep two more copies of the
  // executor (56 B each: one in its parameters, one counting work), and the
  // call and its completion apart. No work is counted for the handler: the
  // server's own guard holds each loop until every connection has ended.
  static net::awaitable<net::detail::awaitable_thread_entry_point> run_handler(handler_run run) {
    std::exception_ptr thrown;
    try {
      co_await run.route->handler(run.ws, run.req);
    } catch (...) {
      thrown = std::current_exception();
    }
    // Posted, as co_spawn would: a handler that never waited must not end
    // its connection inside start_handler(). (No local for the executor:
    // a coroutine's locals live in its frame, 56 B for as long as the
    // handler runs.)
    net::post(run.conn->executor(), [self = run.self, route = run.route, conn = run.conn, member = std::move(run.member),
                                     thrown]() mutable {
      self->handler_ended(*route, std::move(conn), std::move(member), thrown);
    });
  }

  // When the handler returns the connection closes with 1000; when it
  // throws, with 1011. The membership goes when the close has completed.
  void handler_ended(router::websocket_route const& route, std::shared_ptr<detail::connection> conn, membership member,
                     std::exception_ptr thrown) {
    auto ending = close_code::normal;
    if (thrown) {
      log_failure("WebSocket handler for " + route.pattern.source(), conn->id(), thrown);
      ending = close_code::internal_error;
    }
    auto closing = conn->close(ending, {});
    auto const executor = conn->executor();
    net::co_spawn(executor, std::move(closing),
                  [member = std::move(member), conn = std::move(conn)](std::exception_ptr, failure) {});
  }

  void start_handler(session_state& state, detail::websocket_request& ticket, std::uint64_t key) {
    auto conn = open_websocket(state, ticket);
    enroll_websocket(key, conn);
    auto const executor = conn->executor();
    auto ws = detail::make_websocket(conn);
    auto entry = run_handler(handler_run{this, ticket.route, std::move(conn),
                                         membership(this, key, state.admitted, std::move(state.counted_as)),
                                         std::move(ws), std::move(ticket.upgrade.req)});
    net::detail::awaitable_thread<net::any_io_executor>(std::move(entry), executor, {}, {}).launch();
  }

  // Over a limit: answer at once, without waiting for the request.
  net::awaitable<void> refuse_connection(std::shared_ptr<session_state> state, detail::admission admission) {
    auto res = refusal_for(admission);
    co_await detail::refuse_connection(std::move(state), std::move(res), options_.keep_alive_timeout);
  }

  // A plain function: session()'s frame lives as long as the connection.
  // `answered`: with refusal_for(admission), else closed at once; `via`:
  // the trusted proxy that spoke for `who`.
  void log_refusal(detail::http_connection& c, endpoint const& who, detail::admission const& admission, bool answered,
                   std::string_view via = {}) {
    detail::refusal_log::of(c.stream.get_executor()).report(options_.logger, [&] {
      bool const rate = admission.what == detail::admission::verdict::rate_limited;
      std::string why;
      if (rate) {
        char per_second[32];
        std::snprintf(per_second, sizeof per_second, "%g", options_.new_connections_per_second_per_ip);
        why = std::string("more than ") + per_second +
              " new connections a second from this address (server_options::new_connections_per_second_per_ip)";
      } else if (admission.per_address) {
        why = std::to_string(options_.max_connections_per_ip) +
              " connections from this address are open (server_options::max_connections_per_ip)";
      } else {
        why = std::to_string(options_.max_connections) + " connections are open (server_options::max_connections)";
      }
      if (!via.empty()) why.append(", through the trusted proxy ").append(via);
      int const status = !answered ? 0 : rate ? 429 : 503;
      return detail::refusal_sentence({via.empty() ? "connection" : "request", who}, status, why);
    });
  }

  static response refusal_for(detail::admission const& admission) {
    bool const rate = admission.what == detail::admission::verdict::rate_limited;
    auto res = rate ? refusal(429, "too many new connections from your address")
                    : refusal(503, "the server is at its connection limit");
    res.headers.push_back({"Retry-After", std::to_string(admission.retry_after.count())});
    return res;
  }

  router const& routes() const noexcept override { return router_; }
  server_options const& options() const noexcept override { return options_; }

  // A trusted proxy's request names its client: that is the remote the
  // handlers see, and the client the connection counts for in the
  // per-address limits. A proxy that reuses its connection for another
  // client's request moves the count to that client.
  std::optional<response> name_client(detail::http_connection& c, std::string_view forwarded_for,
                                      endpoint& client) override {
    // Every connection this server's sessions serve is one of its own.
    auto& state = static_cast<session_state&>(c);
    client = {gate_.forwarded_client(forwarded_for, state.remote.address), 0};
    if (state.counted_as == client.address) return std::nullopt;
    if (!state.counted_as.empty()) {
      gate_.leave_forwarded(state.counted_as);
      state.counted_as.clear();
    }
    auto const verdict = gate_.admit_forwarded(client.address);
    if (verdict.what != detail::admission::verdict::admit) {
      auto res = refusal_for(verdict);
      log_refusal(c, client, verdict, true, state.remote.to_string());
      return res;
    }
    state.counted_as = client.address;
    return std::nullopt;
  }

  net::awaitable<bool> tls_handshake(std::shared_ptr<session_state> const& state) {
    state->stream.use_tls(tls_->get(), true);
    detail::arm_deadline(state, options_.handshake_timeout);
    state->waiting_for_peer = true;  // browsers open spare connections that may never say a word
    error_code ec;
    while (!state->stopping && (ec = state->stream.handshake_step()) == net::error::would_block) {
      std::tie(ec) = co_await state->stream.async_wait(state->stream.handshake_wants(), use_tuple);
      if (ec) break;
    }
    if (state->stopping && !ec) ec = net::error::operation_aborted;
    state->waiting_for_peer = false;
    state->timer.disarm();
    if (ec && options_.logger.enabled(log_level::debug)) {
      std::string why = state->timer.expired() ? "timed out"
                        : ec == tether::error::tls_failed ? state->stream.tls_failure()
                                                          : ec.message();
      if (!state->stopping)
        options_.logger.log(log_level::debug, 0, "TLS handshake with " + state->remote.to_string() + " failed: " + why);
    }
    co_return !ec;
  }

  // Plain functions around session() keep its frame small: every
  // temporary of a coroutine lives in its frame for the whole connection.
  std::shared_ptr<detail::connection> open_websocket(session_state& state, detail::websocket_request& ticket) {
    // Each of the server's io_contexts runs on one thread, as the poller requires.
    auto& readiness = detail::poller::of(state.stream.get_executor());
    state.ws = detail::start_websocket(std::move(state.stream), ticket.upgrade, std::move(ticket.agreed),
                                       settings_for(*ticket.route), &readiness);
    return state.ws;
  }

  // Every connection of a route shares one copy of its settings, made at
  // its first upgrade; the copy outlives the server while a connection
  // (a handle kept past it) still reads it.
  std::shared_ptr<detail::connection_settings const> settings_for(router::websocket_route const& route) {
    std::lock_guard lock(settings_mutex_);
    auto& shared = route_settings_[&route];
    if (!shared) shared = detail::share_settings(route.options.websocket, options_.logger);
    return shared;
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

  void start_stop(std::chrono::milliseconds grace) {
    if (stopping_) return;
    stopping_ = true;
    options_.logger.log(log_level::info, 0, "stopping");
    error_code ignored;
    for (auto& l : listeners_) l.acceptor->close(ignored);
    if (signals_) signals_->cancel(ignored);
    for (auto& task : tasks_) task.emit(net::cancellation_type::terminal);
    auto const going_away = [](std::shared_ptr<detail::connection> const& ws) {
      net::co_spawn(ws->executor(), ws->close(close_code::going_away, "server stopping", ws), net::detached);
    };
    for_each_session(
        [going_away](std::shared_ptr<session_state> const& s) {
          s->stopping = true;
          if (s->ws) {
            going_away(s->ws);  // upgraded after the registry was read
          } else if (s->waiting_for_peer) {
            s->stream.cancel();
          }
        },
        going_away);
    net::co_spawn(main_context(), finish_stop(grace), net::detached);
  }

  net::awaitable<void> finish_stop(std::chrono::milliseconds grace) {
    co_await wait_for_no_connections(grace);
    if (connections_.load() > 0) {
      options_.logger.log(log_level::info, 0,
                          "grace period over, cutting " + std::to_string(connections_.load()) + " connections");
      for_each_session(
          [](std::shared_ptr<session_state> const& s) {
            if (s->ws) {
              s->ws->abort(error::stopped);
            } else {
              s->stream.close();
            }
          },
          [](std::shared_ptr<detail::connection> const& ws) { ws->abort(error::stopped); });
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

  // Runs `on_http` for every live session still speaking HTTP and
  // `on_websocket` for every WebSocket, on that connection's own executor.
  template <class OnHttp, class OnWebsocket>
  void for_each_session(OnHttp on_http, OnWebsocket on_websocket) {
    std::lock_guard lock(registry_mutex_);
    for (auto const& [key, entry] : sessions_) {
      auto const alive = entry.what.lock();
      if (!alive) continue;
      if (entry.websocket) {
        auto ws = std::static_pointer_cast<detail::connection>(alive);
        net::post(ws->executor(), [ws, on_websocket] { on_websocket(ws); });
      } else {
        auto s = std::static_pointer_cast<session_state>(alive);
        net::post(s->timer.get_executor(), [s, on_http] { on_http(s); });
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
  // A session_state until the upgrade, then its detail::connection.
  struct enrolled {
    std::weak_ptr<void> what;
    bool websocket = false;
  };
  std::unordered_map<std::uint64_t, enrolled> sessions_;
  std::uint64_t next_session_ = 0;
  std::mutex settings_mutex_;
  std::unordered_map<router::websocket_route const*, std::shared_ptr<detail::connection_settings const>>
      route_settings_;
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
