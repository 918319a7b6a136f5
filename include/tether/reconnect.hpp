#pragma once
// Staying connected: connect, run a session, wait, connect again.

#include <tether/client.hpp>

#include <tether/backoff.hpp>

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

namespace tether {

/// The backoff of keep_connected(): 250 ms, doubling up to 30 s, each
/// wait shortened by up to half at random. (The same struct as
/// redis_options::retry.)
using reconnect_options = backoff;

/// Runs `session` on each connection it opens to `url`. When the session
/// returns true (or throws), the connection is closed, and after a backoff
/// a new one is opened; when it returns false, keep_connected returns.
/// Failures that another attempt cannot cure end it too: a bad URL or
/// scheme, a rejected certificate, a TLS or proxy configuration error, a
/// subprotocol mismatch, and 4xx refusals other than 408 and 429.
///
/// Returns the failure that ended it (empty when the session did).
boost::asio::awaitable<failure> keep_connected(
    std::string url, client_options options, reconnect_options backoff,
    std::function<boost::asio::awaitable<bool>(websocket&)> session);

}  // namespace tether
