#include <tether/router.hpp>

#include <stdexcept>

namespace tether {

namespace {

void check_path(std::string const& path, char const* kind) {
  if (path.empty() || path.front() != '/')
    throw std::invalid_argument(std::string("tether::router: ") + kind + " route \"" + path +
                                "\" must start with '/'");
}

}  // namespace

router& router::get(std::string path, http_handler handler) {
  check_path(path, "HTTP");
  if (!handler) throw std::invalid_argument("tether::router: HTTP route \"" + path + "\" has no handler");
  if (!http_.emplace(path, std::move(handler)).second)
    throw std::invalid_argument("tether::router: duplicate route \"" + path + "\"");
  return *this;
}

router& router::websocket(std::string path, websocket_handler handler, endpoint_options options) {
  check_path(path, "WebSocket");
  if (!handler)
    throw std::invalid_argument("tether::router: WebSocket route \"" + path + "\" has no handler");
  if (options.require_subprotocol && options.subprotocols.empty())
    throw std::invalid_argument("tether::router: WebSocket route \"" + path +
                                "\" requires a subprotocol but lists none");
  if (!websocket_.emplace(path, websocket_route{std::move(handler), std::move(options)}).second)
    throw std::invalid_argument("tether::router: duplicate route \"" + path + "\"");
  return *this;
}

http_handler const* router::find_http(std::string_view path) const {
  auto const it = http_.find(path);
  return it == http_.end() ? nullptr : &it->second;
}

router::websocket_route const* router::find_websocket(std::string_view path) const {
  auto const it = websocket_.find(path);
  return it == websocket_.end() ? nullptr : &it->second;
}

}  // namespace tether
