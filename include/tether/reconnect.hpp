#pragma once
// Staying connected: connect, run a session, wait, connect again.

#include <tether/client.hpp>

#include <tether/backoff.hpp>

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <type_traits>

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
///
/// As for connect(), `options` is a named variable (client.hpp says why),
/// and so is a `session` that owns memory: a lambda that captures a string
/// or a shared_ptr by value, written inside the co_await, is destroyed
/// twice by g++ 12 and does not compile here. One that captures by
/// reference, or a backoff written in braces, owns nothing and may.
using reconnect_session = std::function<boost::asio::awaitable<bool>(websocket&)>;

namespace detail {
boost::asio::awaitable<failure> keep_connected(std::string url, client_options options, reconnect_options backoff,
                                               reconnect_session session);

/// A temporary that g++ 12 can copy bitwise and destroy twice without harm.
template <class T>
concept session_is_named_or_owns_nothing =
    std::is_lvalue_reference_v<T> || std::is_trivially_destructible_v<std::remove_cvref_t<T>>;
}  // namespace detail

static_assert(std::is_trivially_destructible_v<reconnect_options>, "a braced backoff must stay safe in a co_await");

template <class Session>
  requires std::is_constructible_v<reconnect_session, Session&&> && detail::session_is_named_or_owns_nothing<Session>
boost::asio::awaitable<failure> keep_connected(std::string url, client_options const& options,
                                               reconnect_options backoff, Session&& session) {
  // A plain function: the copies are made here, not in a coroutine frame.
  return detail::keep_connected(std::move(url), client_options(options), backoff,
                                reconnect_session(std::forward<Session>(session)));
}

template <class Session>
boost::asio::awaitable<failure> keep_connected(std::string, client_options&& options_must_be_a_named_variable,
                                               reconnect_options, Session&&) = delete;

}  // namespace tether
