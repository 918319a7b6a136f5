#include <tether/reconnect.hpp>

#include <tether/error.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <random>

namespace net = boost::asio;

namespace tether {

namespace {

bool worth_retrying(failure const& e) {
  if (e == error::bad_url || e == error::unsupported_scheme || e == error::invalid_argument ||
      e == error::certificate_rejected || e == error::subprotocol_mismatch)
    return false;
  if (e == error::handshake_rejected)
    return e.http_status() >= 500 || e.http_status() == 408 || e.http_status() == 429;
  return true;
}

}  // namespace

namespace detail {

net::awaitable<failure> keep_connected(std::string url, client_options options, reconnect_options backoff,
                                       reconnect_session session) {
  std::minstd_rand random{std::random_device{}()};
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  net::steady_timer timer(co_await net::this_coro::executor);
  if (!backoff.valid()) co_return failure(make_error_code(error::invalid_argument), "keep_connected: invalid backoff");
  auto delay = backoff.initial_delay;
  std::size_t failures = 0;
  for (;;) {
    auto ws = co_await connect(url, options);
    if (ws) {
      failures = 0;
      auto const opened = std::chrono::steady_clock::now();
      bool again = true;
      try {
        again = co_await session(*ws);
      } catch (std::exception const& e) {
        options.logger.log(log_level::error, ws->id(), std::string("reconnecting session threw: ") + e.what());
      }
      co_await ws->close();
      if (!again) co_return failure{};
      // A server that accepts and then drops us at once (overloaded, 1013)
      // must not see us back at once: only a connection that lasted resets
      // the backoff.
      if (std::chrono::steady_clock::now() - opened >= backoff.max_delay) delay = backoff.initial_delay;
      options.logger.log(log_level::info, 0, "connection to " + url + " ended; reconnecting");
    } else {
      if (!worth_retrying(ws.error())) co_return ws.error();
      if (backoff.max_attempts != 0 && ++failures >= backoff.max_attempts) co_return ws.error();
      options.logger.log(log_level::warning, 0, ws.error().message() + "; trying again");
    }
    timer.expires_after(backoff.jittered(delay, unit(random)));
    auto [ec] = co_await timer.async_wait(net::as_tuple(net::use_awaitable));
    if (ec) co_return failure(ec, "keep_connected was cancelled");
    delay = backoff.after(delay);
  }
}

}  // namespace detail

}  // namespace tether
