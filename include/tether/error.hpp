#pragma once
// Error values reported by Tether's guarded operations.

#include <boost/system/error_code.hpp>

#include <type_traits>

namespace tether {

/// Why a read, write, close or connect ended. `error::closed` is the
/// ordinary end of a WebSocket (a close handshake happened); everything else
/// is a failure. The close code the peer sent is on the websocket itself.
enum class error {
  closed = 1,             ///< the close handshake happened; not a failure
  connection_lost,        ///< the peer vanished without a close frame (1006)
  protocol_error,         ///< the peer broke RFC 6455; we closed with 1002
  invalid_utf8,           ///< text or close reason not UTF-8; we closed with 1007
  message_too_big,        ///< over max_message_size; we closed with 1009
  idle_timeout,           ///< nothing received for idle_timeout
  pong_timeout,           ///< no pong within pong_timeout of our ping
  close_timeout,          ///< the close handshake did not finish in close_timeout
  handshake_timeout,      ///< the HTTP upgrade did not finish in time
  connect_timeout,        ///< resolving or connecting took longer than connect_timeout
  handshake_rejected,     ///< the server answered the upgrade with another status
  bad_handshake,          ///< the server's 101 response broke RFC 6455
  bad_url,                ///< the URL could not be parsed or has no host
  unsupported_scheme,     ///< not ws:// (or wss:// where TLS is built)
  subprotocol_mismatch,   ///< the server chose a subprotocol we did not offer
  invalid_argument,       ///< e.g. a ping payload over 125 bytes, a close code that may not be sent
  operation_in_progress,  ///< a second read() while one is pending
  stopped,                ///< the server was stopped and the grace period ran out
  tls_failed,             ///< the TLS handshake or a TLS record failed (failure::detail() says why)
  certificate_rejected,   ///< the server's certificate did not verify (expired, wrong host, unknown CA...)
  proxy_failed,           ///< the HTTP proxy refused or broke the CONNECT tunnel
  upgrade_refused,        ///< accept(): the request was not an acceptable upgrade; its refusal was sent
  too_slow,               ///< send_timeout passed without progress, or a hub's overflow policy closed it
  message_timeout,        ///< a message took longer than message_timeout to arrive; we closed with 1008
};

boost::system::error_category const& error_category() noexcept;

inline boost::system::error_code make_error_code(error e) noexcept {
  return {static_cast<int>(e), error_category()};
}

}  // namespace tether

namespace boost::system {
template <>
struct is_error_code_enum<tether::error> : std::true_type {};
}  // namespace boost::system
