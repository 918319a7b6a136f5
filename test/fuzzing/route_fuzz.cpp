// libFuzzer target: request targets, origins and patterns through the router.
// Input lines: target, Origin, Host, a pattern to parse.
#include "input.hpp"
#include <tether/router.hpp>

#include <cstdint>
#include <string>
#include <string_view>

using fuzzing::check;
using fuzzing::next_line;

namespace {

// Never called; not a coroutine, which clang 14 cannot compile with these flags.
boost::asio::awaitable<void> nothing(tether::websocket&, tether::request const&) { return {}; }

tether::router const& app() {
  static tether::router const routes = [] {
    tether::router r;
    auto page = [](tether::request const&) { return tether::response::text("x"); };
    r.get("/", page).get("/a/{x}", page).get("/a/b", page).get("/files/*", page).get("/rooms/{room}/info", page);
    r.route("POST", "/a/{x}", page);
    r.websocket("/rooms/{room}", nothing, {.origins = tether::origin::allow({"https://*.example.org"})});
    r.websocket("/admin", nothing, {.token = std::make_shared<tether::url_token const>("fuzzing secret 0123456789")});
    return r;
  }();
  return routes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  std::string_view input(reinterpret_cast<char const*>(data), size);
  std::string const target(next_line(input));
  std::string const origin(next_line(input));
  std::string const host(next_line(input));
  std::string const pattern(next_line(input));

  for (bool upgrade : {false, true}) {
    tether::request req;
    req.method = "GET";
    req.target = target;
    req.headers.push_back({"Host", host});
    if (!origin.empty()) req.headers.push_back({"Origin", origin});
    auto const decision = app().dispatch(req, upgrade);
    if (decision.http || decision.websocket) {
      // What a handler sees never climbs above the root.
      check(!req.path.empty() && req.path.front() == '/');
      check(req.path.find("/../") == std::string::npos && !req.path.ends_with("/.."));
    }
    (void)req.query_value("x");
  }
  try {
    tether::route_pattern const p(pattern);
    std::vector<std::pair<std::string, std::string>> params;
    (void)p.match({"a", "b", "c"}, &params);
  } catch (std::invalid_argument const&) {
  }
  (void)tether::origin_policy::same_site().admits(origin, host);
  try {
    (void)tether::origin_policy::allow({origin}).admits(origin, host);
  } catch (std::invalid_argument const&) {
  }
  return 0;
}
