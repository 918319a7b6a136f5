// Route patterns, precedence, decoding and origin policies, without sockets.
#define BOOST_TEST_MODULE router
#include <boost/test/unit_test.hpp>

#include <tether/router.hpp>

#include "net/gate.hpp"

#include <string>
#include <vector>

using tether::origin_policy;
using tether::request;
using tether::response;
using tether::route_pattern;
using outcome = tether::router::decision::outcome;

namespace {

response named(std::string name) { return response::text(std::move(name)); }

tether::http_handler says(std::string name) {
  return [name](request const&) { return named(name); };
}

boost::asio::awaitable<void> nothing(tether::websocket&, request const&) { co_return; }

struct routed {
  outcome result;
  std::string body;  // the chosen HTTP handler's name
  request req;
};

routed dispatch(tether::router const& app, std::string target, std::string method = "GET", bool upgrade = false,
                std::string origin = "", std::string host = "example.org") {
  request req;
  req.method = method;
  req.target = target;
  req.headers.push_back({"Host", host});
  if (!origin.empty()) req.headers.push_back({"Origin", origin});
  auto const d = app.dispatch(req, upgrade);
  routed out{d.result, {}, req};
  if (d.http) out.body = d.http->handler(req).body;
  if (d.result == outcome::method_not_allowed) out.body = d.allow;
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(patterns)

BOOST_AUTO_TEST_CASE(malformed_patterns_throw_naming_the_route) {
  for (char const* bad : {"", "rooms", "/a/{}", "/a/{x", "/a/x}", "/a/*/b", "/a/b*", "/{x}/{x}", "/a/{x}y"}) {
    try {
      route_pattern p(bad);
      BOOST_ERROR("accepted \"" << bad << "\"");
    } catch (std::invalid_argument const& e) {
      BOOST_TEST(std::string(e.what()).find(std::string("\"") + bad + "\"") != std::string::npos, e.what());
    }
  }
}

BOOST_AUTO_TEST_CASE(matching_table) {
  struct row {
    char const* pattern;
    std::vector<std::string> segments;
    bool matches;
  };
  std::vector<row> const table{
      {"/", {}, true},
      {"/", {"a"}, false},
      {"/a", {"a"}, true},
      {"/a", {"a", ""}, false},  // a trailing slash is a different target
      {"/a/{x}", {"a", "1"}, true},
      {"/a/{x}", {"a"}, false},
      {"/a/*", {"a"}, true},  // the wildcard may match nothing
      {"/a/*", {"a", "b", "c"}, true},
      {"/a/*", {"b"}, false},
      {"/{x}/{y}", {"1", "2"}, true},
      {"/{x}/{y}", {"1", "2", "3"}, false},
  };
  for (auto const& r : table)
    BOOST_TEST(route_pattern(r.pattern).match(r.segments) == r.matches, r.pattern << " on " << r.segments.size());
  std::vector<std::pair<std::string, std::string>> params;
  BOOST_TEST(route_pattern("/files/{user}/*").match({"files", "ann", "x", "y.txt"}, &params));
  BOOST_TEST((params == std::vector<std::pair<std::string, std::string>>{{"user", "ann"}, {"*", "x/y.txt"}}));
}

BOOST_AUTO_TEST_CASE(the_most_specific_route_wins_whatever_the_order) {
  for (bool reversed : {false, true}) {
    std::vector<std::pair<char const*, char const*>> routes{
        {"/*", "catch-all"}, {"/rooms/*", "rooms-any"}, {"/rooms/{room}", "room"}, {"/rooms/lobby", "lobby"},
        {"/rooms/{room}/info", "room-info"}};
    if (reversed) std::reverse(routes.begin(), routes.end());
    tether::router app;
    for (auto const& [pattern, name] : routes) app.get(pattern, says(name));
    BOOST_TEST(dispatch(app, "/rooms/lobby").body == "lobby");
    BOOST_TEST(dispatch(app, "/rooms/kitchen").body == "room");
    BOOST_TEST(dispatch(app, "/rooms/kitchen/info").body == "room-info");
    BOOST_TEST(dispatch(app, "/rooms/kitchen/other").body == "rooms-any");
    BOOST_TEST(dispatch(app, "/rooms").body == "rooms-any");
    BOOST_TEST(dispatch(app, "/elsewhere").body == "catch-all");
  }
}

BOOST_AUTO_TEST_CASE(targets_are_decoded_and_normalised_once) {
  tether::router app;
  app.get("/rooms/{room}", says("room"));
  app.get("/files/*", says("files"));
  auto r = dispatch(app, "/rooms/caf%C3%A9?x=1");
  BOOST_TEST(r.body == "room");
  BOOST_TEST(r.req.param("room") == "café");
  BOOST_TEST(dispatch(app, "/rooms/a%2Fb").req.param("room") == "a/b");  // an encoded slash stays in its segment
  BOOST_TEST(dispatch(app, "/files/../rooms/x").body == "room");
  auto const up = dispatch(app, "/files/../../../etc/passwd");
  BOOST_TEST(up.req.path == "/etc/passwd");  // dot segments never climb above the root
  BOOST_TEST((up.result == outcome::not_found));
  BOOST_TEST((dispatch(app, "http://example.org/rooms/x").result == outcome::bad_target));
  BOOST_TEST((dispatch(app, "/rooms/%zz").result == outcome::bad_target));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(dispatch_rules)

BOOST_AUTO_TEST_CASE(methods_head_and_405_with_allow) {
  tether::router app;
  app.get("/item", says("get"));
  app.route("post", "/item", says("post"));
  app.route("HEAD", "/explicit-head", says("head"));
  BOOST_TEST(dispatch(app, "/item", "POST").body == "post");
  BOOST_TEST(dispatch(app, "/item", "HEAD").body == "get");
  BOOST_TEST(dispatch(app, "/explicit-head", "HEAD").body == "head");
  auto const refused = dispatch(app, "/item", "DELETE");
  BOOST_TEST((refused.result == outcome::method_not_allowed));
  BOOST_TEST(refused.body == "GET, HEAD, POST");
}

BOOST_AUTO_TEST_CASE(a_websocket_endpoint_more_specific_than_a_catch_all_answers_426) {
  tether::router app;
  app.get("/*", says("files"));
  app.websocket("/live", nothing);
  BOOST_TEST((dispatch(app, "/live").result == outcome::upgrade_required));
  BOOST_TEST(dispatch(app, "/other").body == "files");
  BOOST_TEST(dispatch(app, "//x").req.path == "//x");  // empty segments stay, no "/./" appears
  BOOST_TEST(dispatch(app, "/a/./b/").req.path == "/a/b/");
}

BOOST_AUTO_TEST_CASE(websocket_paths_answer_426_to_plain_requests_and_404_to_unknown_upgrades) {
  tether::router app;
  app.websocket("/ws/{room}", nothing);
  app.get("/page", says("page"));
  BOOST_TEST((dispatch(app, "/ws/x").result == outcome::upgrade_required));
  BOOST_TEST((dispatch(app, "/ws/x", "GET", true).result == outcome::websocket));
  BOOST_TEST((dispatch(app, "/page", "GET", true).result == outcome::not_found));
  BOOST_TEST(dispatch(app, "/ws/kitchen", "GET", true).req.param("room") == "kitchen");
}

BOOST_AUTO_TEST_CASE(the_same_target_routes_by_origin) {
  tether::router app;
  app.get("/feed", says("partner"), {.origins = origin_policy::allow({"https://partner.example"})});
  app.get("/feed", says("public"));
  BOOST_TEST(dispatch(app, "/feed", "GET", false, "https://partner.example").body == "partner");
  BOOST_TEST(dispatch(app, "/feed", "GET", false, "https://other.example").body == "public");
  tether::router ws;
  ws.websocket("/live", nothing, {.origins = origin_policy::allow({"https://*.example.org"})});
  BOOST_TEST((dispatch(ws, "/live", "GET", true, "https://evil.example").result == outcome::forbidden_origin));
  BOOST_TEST((dispatch(ws, "/live", "GET", true, "https://app.example.org").result == outcome::websocket));
}

BOOST_AUTO_TEST_CASE(misconfiguration_throws_at_setup) {
  tether::router app;
  app.get("/a/{x}", says("a"));
  BOOST_CHECK_THROW(app.get("/a/{x}", says("again")), std::invalid_argument);
  BOOST_CHECK_THROW(app.get("/a/{y}", says("renamed")), std::invalid_argument);
  BOOST_CHECK_THROW(app.websocket("/a/{y}", nothing), std::invalid_argument);
  BOOST_CHECK_THROW(app.route("GE T", "/b", says("b")), std::invalid_argument);
  app.route("POST", "/a/{x}", says("post"));  // another method is fine
  app.get("/a/{x}", says("partner"), {.origins = origin_policy::allow({"https://p.example"})});  // another origin too
  BOOST_CHECK_THROW(origin_policy::allow({"example.org"}), std::invalid_argument);
  BOOST_CHECK_THROW(origin_policy::allow({"https://example.org/path"}), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(origins)

BOOST_AUTO_TEST_CASE(same_site_table) {
  struct row {
    char const* origin;
    char const* host;
    bool secure;
    bool admitted;
  };
  std::vector<row> const table{
      {"", "example.org", false, true},  // not a browser
      {"http://example.org", "example.org", false, true},
      {"http://EXAMPLE.org", "example.ORG", false, true},
      {"https://example.org", "example.org", true, true},
      {"https://example.org", "example.org", false, true},   // behind a TLS proxy
      {"https://example.org", "example.org:80", false, false},
      {"http://example.org", "example.org", true, false},    // 80 against 443
      {"http://example.org:443", "example.org", true, false},  // over TLS the scheme must be https
      {"http://example.org:8443", "example.org:8443", true, false},
      {"https://example.org:8443", "example.org:8443", true, true},
      {"http://example.org:8080", "example.org:8080", false, true},
      {"http://example.org:8080", "example.org", false, false},
      {"http://example.org:80", "example.org", false, true},
      {"http://evil.example", "example.org", false, false},
      {"http://example.org.evil.example", "example.org", false, false},
      {"null", "example.org", false, false},
      {"http://[::1]:8080", "[::1]:8080", false, true},
      {"http://[::1]:8080", "[::2]:8080", false, false},
      {"not an origin", "example.org", false, false},
  };
  auto const policy = origin_policy::same_site();
  for (auto const& r : table)
    BOOST_TEST(policy.admits(r.origin, r.host, r.secure) == r.admitted, "'" << r.origin << "' on " << r.host);
}

BOOST_AUTO_TEST_CASE(allow_list_table) {
  auto const policy = origin_policy::allow({"https://example.org", "http://127.0.0.1:8080", "https://*.example.net"});
  struct row {
    char const* origin;
    bool admitted;
  };
  std::vector<row> const table{
      {"https://example.org", true},
      {"https://EXAMPLE.ORG", true},
      {"https://example.org:443", true},
      {"http://example.org", false},
      {"https://example.org:8443", false},
      {"http://127.0.0.1:8080", true},
      {"http://127.0.0.1", false},
      {"https://a.example.net", true},
      {"https://a.b.example.net", true},
      {"https://example.net", false},  // the pattern admits subdomains only
      {"https://badexample.net", false},
      {"null", false},
      {"", false},  // an allow list wants a browser origin
  };
  for (auto const& r : table) BOOST_TEST(policy.admits(r.origin, "ignored") == r.admitted, "'" << r.origin << "'");
  BOOST_TEST(origin_policy::any().admits("null", "x"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(query_values_are_decoded) {
  request req;
  req.query = "name=J%C3%BCrgen+K&empty&x=1&x=2";
  BOOST_TEST(req.query_value("name").value() == "Jürgen K");
  BOOST_TEST(req.query_value("empty").value() == "");
  BOOST_TEST(req.query_value("x").value() == "1");
  BOOST_TEST(!req.query_value("missing").has_value());
  req.headers.push_back({"Sec-WebSocket-Protocol", "chat.v2, chat.v1"});
  BOOST_TEST(req.subprotocols().size() == 2u);
}

BOOST_AUTO_TEST_SUITE(tokens)

BOOST_AUTO_TEST_CASE(minted_tokens_verify_only_for_their_path_and_time) {
  using verdict = tether::url_token::verdict;
  using namespace std::chrono_literals;
  tether::url_token const signer("a secret of enough length");
  auto const now = std::chrono::system_clock::now();
  auto const token = signer.mint("/admin", 60s, now);
  BOOST_TEST((signer.verify(token, "/admin", now) == verdict::valid));
  BOOST_TEST((signer.verify(token, "/admin", now + 61s) == verdict::expired));
  BOOST_TEST((signer.verify(token, "/other", now) == verdict::bad_signature));
  std::string tampered = token;
  tampered.back() = tampered.back() == '0' ? '1' : '0';
  BOOST_TEST((signer.verify(tampered, "/admin", now) == verdict::bad_signature));
  // A later expiry with the old signature is refused too.
  std::string extended = std::to_string(std::stoll(token) + 3600) + token.substr(token.find('.'));
  BOOST_TEST((signer.verify(extended, "/admin", now) == verdict::bad_signature));
  BOOST_TEST((signer.verify("", "/admin", now) == verdict::missing));
  BOOST_TEST((signer.verify("nodot", "/admin", now) == verdict::malformed));
  BOOST_TEST((signer.verify("12x.abc", "/admin", now) == verdict::malformed));
  BOOST_TEST((signer.verify("0" + token, "/admin", now) == verdict::malformed));  // one spelling per token
  BOOST_TEST(!signer.mint("/admin", std::chrono::seconds(INT64_MAX), now).empty());  // saturates, no overflow
  BOOST_TEST((tether::url_token("another secret, also long").verify(token, "/admin", now) == verdict::bad_signature));
  BOOST_CHECK_THROW(tether::url_token("short"), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(gatekeeping)

BOOST_AUTO_TEST_CASE(an_ipv6_slash_64_counts_as_one_address_and_counts_are_returned) {
  using verdict = tether::detail::admission::verdict;
  tether::server_options options;
  options.max_connections_per_ip = 1;
  tether::detail::gate gate(options);
  BOOST_TEST((gate.admit({"2001:db8:1:2::1", 1}).what == verdict::admit));
  auto const same_64 = gate.admit({"2001:db8:1:2::99", 2});
  BOOST_TEST((same_64.what == verdict::over_capacity));
  BOOST_TEST(same_64.per_address);  // the log names the limit
  BOOST_TEST((gate.admit({"2001:db8:1:3::1", 3}).what == verdict::admit));           // another /64
  BOOST_TEST((gate.admit({"10.0.0.1", 4}).what == verdict::admit));
  BOOST_TEST((gate.admit({"10.0.0.2", 5}).what == verdict::admit));
  gate.leave("2001:db8:1:2::1");
  BOOST_TEST((gate.admit({"2001:db8:1:2::99", 6}).what == verdict::admit));
}

BOOST_AUTO_TEST_CASE(a_throwing_accept_filter_refuses_instead_of_escaping) {
  using verdict = tether::detail::admission::verdict;
  tether::server_options options;
  options.accept_filter = [](tether::endpoint const&) -> bool { throw std::runtime_error("filter bug"); };
  tether::detail::gate gate(options);
  BOOST_TEST((gate.admit({"127.0.0.1", 1}).what == verdict::filtered));
}

BOOST_AUTO_TEST_CASE(the_rate_limit_refills_over_time) {
  using verdict = tether::detail::admission::verdict;
  tether::server_options options;
  options.new_connections_per_second_per_ip = 2;
  options.new_connection_burst_per_ip = 2;
  tether::detail::gate gate(options);
  auto const t0 = tether::detail::gate::clock::now();
  BOOST_TEST((gate.admit({"10.0.0.1", 1}, t0).what == verdict::admit));
  BOOST_TEST((gate.admit({"10.0.0.1", 2}, t0).what == verdict::admit));
  auto const refused = gate.admit({"10.0.0.1", 3}, t0);
  BOOST_TEST((refused.what == verdict::rate_limited));
  BOOST_TEST(refused.retry_after.count() == 1);
  BOOST_TEST((gate.admit({"10.0.0.1", 4}, t0 + std::chrono::milliseconds(600)).what == verdict::admit));
}

BOOST_AUTO_TEST_CASE(trusted_proxies_are_addresses_or_networks_of_either_family) {
  tether::server_options options;
  options.trusted_proxies = {"127.0.0.1", "10.0.0.0/8", "2001:db8::/32", "[::1]"};
  tether::detail::gate gate(options);
  BOOST_TEST(gate.trusts("127.0.0.1"));
  BOOST_TEST(!gate.trusts("127.0.0.2"));
  BOOST_TEST(gate.trusts("10.200.3.4"));
  BOOST_TEST(gate.trusts("::ffff:10.1.2.3"));  // as a dual-stack listener reports it
  BOOST_TEST(!gate.trusts("11.0.0.1"));
  BOOST_TEST(gate.trusts("2001:db8:ffff::1"));
  BOOST_TEST(!gate.trusts("2001:db9::1"));
  BOOST_TEST(gate.trusts("::1"));
  BOOST_TEST(!gate.trusts(""));
  BOOST_TEST(!gate.trusts("not an address"));
  for (std::string bad : {"10.0.0.0/33", "nginx.local", "10.0.0.0/", "::1/129", "10.0.0.0/8x", ""}) {
    options.trusted_proxies = {bad};
    BOOST_CHECK_THROW(tether::detail::gate{options}, std::invalid_argument);
  }
}

BOOST_AUTO_TEST_CASE(the_client_is_the_last_forwarded_address_that_is_not_trusted) {
  tether::server_options options;
  options.trusted_proxies = {"127.0.0.1", "10.0.0.0/8"};
  tether::detail::gate gate(options);
  BOOST_TEST(gate.forwarded_client("203.0.113.7", "127.0.0.1") == "203.0.113.7");
  // A client may write anything on the left; the hops we trust wrote the right.
  BOOST_TEST(gate.forwarded_client("1.2.3.4, 203.0.113.7, 10.0.0.5", "127.0.0.1") == "203.0.113.7");
  BOOST_TEST(gate.forwarded_client("garbage, 203.0.113.7", "127.0.0.1") == "203.0.113.7");
  BOOST_TEST(gate.forwarded_client("  2001:DB8::7 ", "127.0.0.1") == "2001:db8::7");
  BOOST_TEST(gate.forwarded_client("[2001:db8::7]", "127.0.0.1") == "2001:db8::7");
  BOOST_TEST(gate.forwarded_client("203.0.113.7:5678", "127.0.0.1") == "203.0.113.7");  // some balancers add ports
  BOOST_TEST(gate.forwarded_client("[2001:db8::7]:443", "127.0.0.1") == "2001:db8::7");
  BOOST_TEST(gate.forwarded_client("::ffff:198.51.100.2", "127.0.0.1") == "198.51.100.2");
  BOOST_TEST(gate.forwarded_client("", "127.0.0.1") == "127.0.0.1");
  BOOST_TEST(gate.forwarded_client("unknown", "127.0.0.1") == "127.0.0.1");
  BOOST_TEST(gate.forwarded_client("203.0.113.7, not-an-ip", "127.0.0.1") == "127.0.0.1");
  BOOST_TEST(gate.forwarded_client("10.0.0.1, 10.0.0.2", "127.0.0.1") == "10.0.0.1");  // all trusted
}

BOOST_AUTO_TEST_CASE(a_trusted_proxy_counts_in_the_total_and_its_clients_per_address) {
  using verdict = tether::detail::admission::verdict;
  tether::server_options options;
  options.trusted_proxies = {"127.0.0.1"};
  options.max_connections_per_ip = 1;
  options.max_connections = 3;
  tether::detail::gate gate(options);
  auto const first = gate.admit({"127.0.0.1", 1});
  BOOST_TEST((first.what == verdict::admit));
  BOOST_TEST(first.proxied);
  BOOST_TEST((gate.admit({"127.0.0.1", 2}).what == verdict::admit));  // not per address: a proxy
  BOOST_TEST((gate.admit_forwarded("203.0.113.7").what == verdict::admit));
  BOOST_TEST((gate.admit_forwarded("203.0.113.7").what == verdict::over_capacity));
  BOOST_TEST((gate.admit_forwarded("203.0.113.8").what == verdict::admit));
  BOOST_TEST((gate.admit({"127.0.0.1", 3}).what == verdict::admit));
  BOOST_TEST((gate.admit({"127.0.0.1", 4}).what == verdict::over_capacity));  // the total holds
  gate.leave("203.0.113.7");
  BOOST_TEST((gate.admit_forwarded("203.0.113.7").what == verdict::admit));
  gate.leave_forwarded("203.0.113.7");  // its connection now speaks for another client
  BOOST_TEST((gate.admit_forwarded("203.0.113.7").what == verdict::admit));
  BOOST_TEST(!gate.admit({"192.0.2.1", 5}).proxied);
  // A dual-stack listener's mapped address and a forwarded one are one client.
  auto const total = gate.admit({"::ffff:192.0.2.9", 6});
  BOOST_TEST((total.what == verdict::over_capacity));  // the total: 3
  BOOST_TEST(!total.per_address);
  gate.leave("");
  BOOST_TEST((gate.admit({"::ffff:192.0.2.9", 7}).what == verdict::admit));
  BOOST_TEST((gate.admit_forwarded("192.0.2.9").what == verdict::over_capacity));
}

BOOST_AUTO_TEST_SUITE_END()
