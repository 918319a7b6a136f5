#include <tether/router.hpp>

#include "ws/handshake.hpp"
#include "http/static_files.hpp"

#include <boost/url/parse.hpp>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace tether {

namespace {

[[noreturn]] void misconfigured(std::string const& what) {
  throw std::invalid_argument("tether::router: " + what);
}

std::string method_token(std::string method, std::string const& pattern) {
  if (method.empty()) misconfigured("route \"" + pattern + "\" has an empty method");
  for (char& c : method) {
    if (!std::isalpha(static_cast<unsigned char>(c)) && c != '-')
      misconfigured("route \"" + pattern + "\" has an invalid method \"" + method + "\"");
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return method;
}

bool same_pattern(route_pattern const& a, route_pattern const& b) { return a.segments() == b.segments(); }

template <class Route>
Route const* most_specific(std::vector<Route> const& routes, std::vector<std::string> const& segments) {
  Route const* best = nullptr;
  for (auto const& r : routes)
    if (r.pattern.match(segments) && (!best || route_pattern::more_specific(r.pattern, best->pattern))) best = &r;
  return best;
}

void add_allowed(std::string& allow, std::string_view method) {
  for (auto const token : detail::split_tokens(allow))
    if (token == method) return;
  if (!allow.empty()) allow += ", ";
  allow += method;
}

}  // namespace

void router::check_shape(route_pattern const& pattern) const {
  auto clash = [&](route_pattern const& other) {
    if (pattern.same_shape(other) && !same_pattern(pattern, other))
      misconfigured("routes \"" + other.source() + "\" and \"" + pattern.source() +
                    "\" differ only in parameter names");
  };
  for (auto const& r : http_) clash(r.pattern);
  for (auto const& r : websocket_) clash(r.pattern);
}

router& router::add_http(http_route route) {
  check_shape(route.pattern);
  for (auto const& r : http_)
    if (r.method == route.method && same_pattern(r.pattern, route.pattern) && r.options.origins == route.options.origins)
      misconfigured("duplicate route " + route.method + " \"" + route.pattern.source() + "\"");
  http_.push_back(std::move(route));
  return *this;
}

router& router::get(std::string pattern, http_handler handler, http_options options) {
  return route("GET", std::move(pattern), std::move(handler), std::move(options));
}

router& router::get(std::string pattern, async_http_handler handler, http_options options) {
  return route("GET", std::move(pattern), std::move(handler), std::move(options));
}

router& router::route(std::string method, std::string pattern, http_handler handler, http_options options) {
  if (!handler) misconfigured("HTTP route \"" + pattern + "\" has no handler");
  auto verb = method_token(std::move(method), pattern);
  return add_http({std::move(verb), route_pattern(std::move(pattern)), std::move(handler), {}, std::move(options)});
}

router& router::route(std::string method, std::string pattern, async_http_handler handler, http_options options) {
  if (!handler) misconfigured("HTTP route \"" + pattern + "\" has no handler");
  auto verb = method_token(std::move(method), pattern);
  return add_http({std::move(verb), route_pattern(std::move(pattern)), {}, std::move(handler), std::move(options)});
}

router& router::websocket(std::string pattern, websocket_handler handler, endpoint_options options) {
  if (!handler) misconfigured("WebSocket route \"" + pattern + "\" has no handler");
  if (options.require_subprotocol && options.subprotocols.empty())
    misconfigured("WebSocket route \"" + pattern + "\" requires a subprotocol but lists none");
  route_pattern parsed(std::move(pattern));
  check_shape(parsed);
  for (auto const& r : websocket_)
    if (same_pattern(r.pattern, parsed) && r.options.origins == options.origins)
      misconfigured("duplicate WebSocket route \"" + parsed.source() + "\"");
  websocket_.push_back({std::move(parsed), std::move(handler), std::move(options)});
  return *this;
}

router& router::files(std::string prefix, std::filesystem::path const& directory, file_options options) {
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  auto origins = options.origins;
  return route("GET", prefix + "/*", detail::make_file_handler(directory, std::move(options)), {.origins = origins});
}

router::decision router::dispatch(request& req, bool upgrade, bool secure) const {
  using outcome = decision::outcome;
  // Percent-decoding and dot-segment removal happen once, here; patterns
  // and handlers only ever see the result.
  // Visible ASCII only (RFC 3986); Boost.URL 1.81 asserts on some control bytes.
  if (!std::all_of(req.target.begin(), req.target.end(), [](char c) { return c > 0x20 && c < 0x7F; }))
    return {outcome::bad_target};
  auto parsed = boost::urls::parse_origin_form(req.target);
  if (!parsed) return {outcome::bad_target};
  std::vector<std::string> segments;  // decoded, for matching
  std::vector<std::string_view> encoded;  // as sent, for req.path
  auto decoded = parsed->segments().begin();
  for (auto const raw : parsed->encoded_segments()) {
    std::string segment = *decoded++;
    if (segment == ".") continue;
    if (segment == "..") {
      if (!segments.empty()) {  // never above the root
        segments.pop_back();
        encoded.pop_back();
      }
      continue;
    }
    segments.push_back(std::move(segment));
    encoded.push_back(raw);
  }
  std::string path(1, '/');
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    if (i > 0) path.push_back('/');
    path.append(encoded[i].data(), encoded[i].size());
  }
  req.path = std::move(path);
  std::string_view const origin = req.header("Origin");
  std::string_view const host = req.header("Host");

  if (upgrade) {
    auto const* best = most_specific(websocket_, segments);
    if (!best) return {outcome::not_found};
    for (auto const& r : websocket_) {
      if (same_pattern(r.pattern, best->pattern) && r.options.origins.admits(origin, host, secure)) {
        r.pattern.match(segments, &req.params);
        if (r.options.token) {
          auto const token = req.query_value("token");
          if (!token || token->empty()) return {outcome::token_missing};
          if (r.options.token->verify(*token, req.path) != url_token::verdict::valid) return {outcome::token_refused};
        }
        return {outcome::websocket, nullptr, &r};
      }
    }
    return {outcome::forbidden_origin};
  }

  auto const* best = most_specific(http_, segments);
  auto const* best_websocket = most_specific(websocket_, segments);
  // The most specific pattern wins across kinds too: a WebSocket endpoint
  // more specific than any HTTP route (say "/live" beside files at "/*")
  // answers a plain request with 426.
  if (best_websocket && (!best || route_pattern::more_specific(best_websocket->pattern, best->pattern)))
    return {outcome::upgrade_required};
  if (!best) return {outcome::not_found};
  // An explicit HEAD route first; otherwise HEAD is answered by GET.
  std::string allow;
  bool method_known = false;
  for (std::string_view wanted : {std::string_view(req.method), std::string_view(req.method == "HEAD" ? "GET" : "")}) {
    if (wanted.empty()) break;
    for (auto const& r : http_) {
      if (!same_pattern(r.pattern, best->pattern)) continue;
      add_allowed(allow, r.method);
      if (r.method == "GET") add_allowed(allow, "HEAD");
      if (r.method != wanted) continue;
      method_known = true;
      if (r.options.origins.admits(origin, host, secure)) {
        r.pattern.match(segments, &req.params);
        return {outcome::http, &r, nullptr};
      }
    }
  }
  if (!method_known) return {outcome::method_not_allowed, nullptr, nullptr, std::move(allow)};
  return {outcome::forbidden_origin};
}

}  // namespace tether
