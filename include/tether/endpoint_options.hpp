#pragma once
// What a WebSocket endpoint admits and how its connections behave: shared
// by router endpoints and tether::accept.

#include <tether/options.hpp>
#include <tether/origin.hpp>
#include <tether/token.hpp>

#include <memory>
#include <string>
#include <vector>

namespace tether {

struct endpoint_options {
  /// Same-site by default: no Origin (non-browser clients), or an Origin
  /// whose host and port match the Host header. Others get 403.
  origin_policy origins = origin_policy::same_site();
  /// Subprotocols this endpoint speaks, in order of preference; the first
  /// one the client also offers is chosen. Empty: none is chosen.
  std::vector<std::string> subprotocols{};
  /// Refuse (400) an upgrade that offers none of `subprotocols`.
  bool require_subprotocol = false;
  /// When set, an upgrade needs ?token=... minted by this signer for the
  /// request's path: 401 without one, 403 for an expired, tampered or
  /// foreign one.
  std::shared_ptr<url_token const> token{};
  websocket_options websocket{};
};

}  // namespace tether
