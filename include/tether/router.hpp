#pragma once
// Dispatches requests by target to HTTP handlers and WebSocket endpoints.

#include <tether/options.hpp>
#include <tether/request.hpp>
#include <tether/response.hpp>
#include <tether/websocket.hpp>

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace tether {

using http_handler = std::function<response(request const&)>;
using websocket_handler =
    std::function<boost::asio::awaitable<void>(websocket&, request const&)>;

struct endpoint_options {
  /// Subprotocols this endpoint speaks, in order of preference; the first
  /// one the client also offers is chosen. Empty: none is chosen.
  std::vector<std::string> subprotocols{};
  /// Refuse (400) an upgrade that offers none of `subprotocols`.
  bool require_subprotocol = false;
  websocket_options websocket{};
};

/// Routes match the request path exactly (patterns come later). A path may
/// have both an HTTP handler (for plain requests) and a WebSocket endpoint
/// (for upgrades); a plain request to a WebSocket-only path gets 426.
/// Misconfiguration throws std::invalid_argument naming the route.
/// Thread safety: configure before the server starts; read-only afterwards.
class router {
 public:
  struct websocket_route {
    websocket_handler handler;
    endpoint_options options;
  };

  router& get(std::string path, http_handler handler);
  router& websocket(std::string path, websocket_handler handler, endpoint_options options = {});

  http_handler const* find_http(std::string_view path) const;
  websocket_route const* find_websocket(std::string_view path) const;

 private:
  std::map<std::string, http_handler, std::less<>> http_;
  std::map<std::string, websocket_route, std::less<>> websocket_;
};

}  // namespace tether
