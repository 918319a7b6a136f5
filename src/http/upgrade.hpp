#pragma once
// The server side of the WebSocket opening handshake (RFC 6455 4.2, RFC
// 7692), the one both tether::server and tether::accept() use: checks the
// upgrade request, agrees on a subprotocol and permessage-deflate, makes
// the 101 or the refusal, and starts the connection with the bytes the
// client sent behind its request. Each caller reads the request and writes
// the answer its own way, under its own deadline.

#include "ws/connection.hpp"
#include "ws/extensions.hpp"
#include "net/transport.hpp"

#include <tether/logger.hpp>
#include <tether/options.hpp>
#include <tether/request.hpp>
#include <tether/response.hpp>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tether::detail {

class poller;
class refusal_log;

/// What a WebSocket endpoint accepts: a router endpoint's options or
/// accept()'s. Refers to them; they outlive the handshake.
struct upgrade_terms {
  std::vector<std::string> const& subprotocols;
  bool require_subprotocol;
  websocket_options const& websocket;
};

/// A request that asks for a WebSocket, once an HTTP session has read it.
/// The server keeps `req` as long as the handler runs (the request it
/// sees) and frees the rest when the handler starts.
struct upgrade_request {
  request req;              // as the handler will see it (remote, secure, params)
  std::string early_bytes;  // what came behind the request: the client's first frames
};

/// What the connection keeps of the handshake.
struct upgrade_agreement {
  std::string subprotocol;  // empty: none
  deflate_agreement deflate;
};

/// Either a refusal to send (and then close), or the agreement and what
/// the 101 says besides it.
struct upgrade_verdict {
  std::optional<response> refusal;
  upgrade_agreement agreement;
  std::string accept_key;  // Sec-WebSocket-Accept
  std::string extensions;  // the Sec-WebSocket-Extensions answer; empty: none
};

/// Checks `req` (HTTP/1.1 GET, Connection: Upgrade, version 13, a valid
/// key) and negotiates with `terms`. No I/O.
upgrade_verdict judge_upgrade(request const& req, unsigned http_version, upgrade_terms const& terms);

/// The refusal to write for a verdict that has one (the caller then shuts
/// down its sending side), logged at info within the budget of `refusals`.
boost::beast::http::response<boost::beast::http::string_body> refusal_of(upgrade_verdict& verdict,
                                                                         request const& req, unsigned http_version,
                                                                         tether::logger const& log,
                                                                         refusal_log& refusals);

/// The 101 to write for a verdict without a refusal.
boost::beast::http::response<boost::beast::http::empty_body> switching_protocols(upgrade_verdict const& verdict);

/// After the 101: the connection over `stream`, started with the early
/// bytes (which it takes). `readiness` as connection_config says.
std::shared_ptr<connection> start_websocket(transport&& stream, upgrade_request& up, upgrade_agreement agreed,
                                            std::shared_ptr<connection_settings const> settings,
                                            poller* readiness = nullptr);

}  // namespace tether::detail
