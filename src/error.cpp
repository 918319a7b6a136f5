#include <tether/error.hpp>

#include <string>

namespace tether {

namespace {

class category final : public boost::system::error_category {
 public:
  char const* name() const noexcept override { return "tether"; }

  std::string message(int value) const override {
    switch (static_cast<error>(value)) {
      case error::closed: return "the WebSocket was closed";
      case error::connection_lost: return "the connection was lost without a close frame";
      case error::protocol_error: return "the peer violated the WebSocket protocol";
      case error::invalid_utf8: return "text was not valid UTF-8";
      case error::message_too_big: return "the message exceeds max_message_size";
      case error::idle_timeout: return "nothing was received within idle_timeout";
      case error::pong_timeout: return "no pong arrived within pong_timeout";
      case error::close_timeout: return "the close handshake did not finish within close_timeout";
      case error::handshake_timeout: return "the opening handshake did not finish in time";
      case error::connect_timeout: return "connecting did not finish within connect_timeout";
      case error::handshake_rejected: return "the server refused the WebSocket upgrade";
      case error::bad_handshake: return "the server's handshake response is not valid";
      case error::bad_url: return "the URL is not valid";
      case error::unsupported_scheme: return "the URL scheme is not supported";
      case error::subprotocol_mismatch: return "the server chose a subprotocol that was not offered";
      case error::invalid_argument: return "invalid argument";
      case error::operation_in_progress: return "another read is already in progress";
      case error::stopped: return "the server stopped";
      case error::tls_failed: return "the TLS handshake failed";
      case error::certificate_rejected: return "the server's certificate was rejected";
      case error::proxy_failed: return "the HTTP proxy did not open a tunnel";
      case error::upgrade_refused: return "the request was not an acceptable WebSocket upgrade";
      case error::too_slow:
        return "the peer read too slowly: nothing queued was sent within send_timeout, or a hub's overflow policy "
               "closed it";
      case error::message_timeout: return "a message did not arrive in full within message_timeout";
    }
    return "unknown tether error";
  }
};

}  // namespace

boost::system::error_category const& error_category() noexcept {
  static category const instance;
  return instance;
}

}  // namespace tether
