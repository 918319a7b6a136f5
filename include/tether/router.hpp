#pragma once
// Dispatches requests by target pattern, method and origin to HTTP handlers
// and WebSocket endpoints.

#include <tether/endpoint_options.hpp>
#include <tether/options.hpp>
#include <tether/origin.hpp>
#include <tether/request.hpp>
#include <tether/response.hpp>
#include <tether/route_pattern.hpp>
#include <tether/token.hpp>
#include <tether/websocket.hpp>

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace tether {

using http_handler = std::function<response(request const&)>;
using async_http_handler = std::function<boost::asio::awaitable<response>(request const&)>;
using websocket_handler =
    std::function<boost::asio::awaitable<void>(websocket&, request const&)>;

struct http_options {
  /// HTTP routes answer any origin unless told otherwise: browsers already
  /// keep other sites from reading the responses.
  origin_policy origins = origin_policy::any();
};

struct file_options {
  std::string index = "index.html";  ///< served for a directory
  bool serve_dotfiles = false;       ///< names starting with '.' are 404 unless true
  /// Files are read whole into the response; larger ones get 500.
  std::uint64_t max_file_bytes = 64 * 1024 * 1024;
  std::string cache_control{};       ///< sent as Cache-Control when not empty
  origin_policy origins = origin_policy::any();
};

/// Patterns have static segments, {name} parameters and a trailing "*"
/// (any rest, also empty). The most specific matching pattern wins,
/// whatever the order of registration; among routes with that same pattern
/// the first one registered whose method and origin policy admit the
/// request is chosen. A path may have HTTP routes (plain requests) and
/// WebSocket endpoints (upgrades).
///
/// Misconfiguration throws std::invalid_argument naming the route: a
/// malformed pattern, two patterns that differ only in parameter names, or
/// the same pattern, method and origin policy twice.
/// Thread safety: configure before the server starts; read-only afterwards.
class router {
 public:
  struct http_route {
    std::string method{};  // upper case, as on the wire
    route_pattern pattern;
    http_handler handler{};  // one of these two is set
    async_http_handler async_handler{};
    http_options options{};
  };

  struct websocket_route {
    route_pattern pattern;
    websocket_handler handler{};
    endpoint_options options{};
  };

  router& get(std::string pattern, http_handler handler, http_options options = {});
  router& get(std::string pattern, async_http_handler handler, http_options options = {});
  router& route(std::string method, std::string pattern, http_handler handler, http_options options = {});
  router& route(std::string method, std::string pattern, async_http_handler handler, http_options options = {});
  router& websocket(std::string pattern, websocket_handler handler, endpoint_options options = {});
  /// Serves `directory` under `prefix` ("/static" serves /static/...).
  /// Names are resolved safely: no "..", no dotfiles by default, and no
  /// symlink that leads outside the directory. GET and HEAD, with ETag,
  /// Last-Modified, 304 and single byte ranges (206, 416). Files are read
  /// synchronously on the connection's thread: keep them modest.
  /// Throws std::invalid_argument when `directory` is not a directory.
  router& files(std::string prefix, std::filesystem::path const& directory, file_options options = {});

  /// What dispatch decided for one request.
  struct decision {
    enum class outcome : std::uint8_t {
      http,                ///< `http` is set
      websocket,           ///< `websocket` is set
      not_found,           ///< 404
      method_not_allowed,  ///< 405; `allow` lists the methods
      forbidden_origin,    ///< 403
      upgrade_required,    ///< 426: a plain request to a WebSocket-only path
      bad_target,          ///< 400: the target is not an origin-form path
      token_missing,       ///< 401
      token_refused,       ///< 403
    };
    outcome result = outcome::not_found;
    http_route const* http = nullptr;
    websocket_route const* websocket = nullptr;
    std::string allow{};
  };

  /// Fills req.path and req.params. `upgrade`: the request asks for a
  /// WebSocket; `secure`: it came over TLS.
  decision dispatch(request& req, bool upgrade, bool secure = false) const;

 private:
  router& add_http(http_route route);
  void check_shape(route_pattern const& pattern) const;

  std::vector<http_route> http_;
  std::vector<websocket_route> websocket_;
};

}  // namespace tether
