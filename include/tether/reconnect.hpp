#pragma once
// Staying connected: connect, run a session, wait, connect again.

#include <tether/client.hpp>

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

namespace tether {

struct reconnect_options {
  /// Wait before the next attempt, after a failure and after a session
  /// ended; each wait multiplies it, up to max_delay. A connection that
  /// stayed open for max_delay or longer starts over from here.
  std::chrono::milliseconds initial_delay = std::chrono::milliseconds(250);
  std::chrono::milliseconds max_delay = std::chrono::seconds(30);
  double multiplier = 2.0;
  /// Each wait is shortened by a random part of up to this fraction, so
  /// that many clients cut off together do not come back together.
  double jitter = 0.5;
  /// Connection attempts in a row that may fail before giving up; 0: never give up.
  std::size_t max_attempts = 0;
};

/// Runs `session` on each connection it opens to `url`. When the session
/// returns true (or throws), the connection is closed, and after a backoff
/// a new one is opened; when it returns false, keep_connected returns.
/// Failures that another attempt cannot cure end it too: a bad URL or
/// scheme, a rejected certificate, a TLS or proxy configuration error, a
/// subprotocol mismatch, and 4xx refusals other than 408 and 429.
///
/// Returns the error that ended it (code zero when the session did).
boost::asio::awaitable<connect_error> keep_connected(
    std::string url, client_options options, reconnect_options backoff,
    std::function<boost::asio::awaitable<bool>(websocket&)> session);

}  // namespace tether
