// HTTP/1.1 as an attacker writes it, against a real server on loopback:
// smuggled bodies, missing or doubled Host, DNS rebinding, and the request
// shapes RFC 9110 and 9112 say a server must accept (header lists split
// over lines, absolute-form targets, empty lines before a request).
#define BOOST_TEST_MODULE hostile_http
#include "../integration/support.hpp"

#include "net/tls.hpp"

#include <tether/accept.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <poll.h>

using namespace test;

namespace {

constexpr char const* upgrade_headers =
    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n";

tether::router app() {
  tether::router r;
  r.get("/", [](tether::request const&) { return tether::response::text("index"); });
  r.get("/smuggled", [](tether::request const&) { return tether::response::text("smuggled"); });
  r.get("/target", [](tether::request const& req) { return tether::response::text(req.target); });
  r.route("POST", "/form", [](tether::request const& req) { return tether::response::text("got " + req.body); });
  r.websocket("/echo", echo_handler,
              {.subprotocols = {"echo.v1"}, .websocket = {.compression = {.enabled = true}}});
  return r;
}

struct conversation {
  std::string text;     // everything the server sent
  bool closed = false;  // and then it closed the connection (not a timeout)
};

// Sends `bytes` from a fresh connection to `address` and reads until the
// server closes, or 5 s pass (poll, since Asio's blocking reads wait on
// past SO_RCVTIMEO).
conversation converse(std::uint16_t port, std::string const& bytes, std::string const& address = "127.0.0.1") {
  net::io_context ctx;
  tcp::socket socket(ctx);
  socket.connect({net::ip::make_address(address), port});
  net::write(socket, net::buffer(bytes));
  conversation c;
  char buffer[4096];
  auto const deadline = std::chrono::steady_clock::now() + 5s;
  for (;;) {
    auto const left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd ready{socket.native_handle(), POLLIN, 0};
    if (left <= 0ms || ::poll(&ready, 1, static_cast<int>(left.count())) <= 0) break;
    boost::system::error_code ec;
    auto const n = socket.read_some(net::buffer(buffer), ec);
    c.text.append(buffer, n);
    if (ec) {
      c.closed = ec == net::error::eof || ec == net::error::connection_reset;
      break;
    }
  }
  return c;
}

bool starts_with(std::string const& text, std::string const& prefix) { return text.rfind(prefix, 0) == 0; }

// The status line of the only answer to one request.
std::string status_of(std::uint16_t port, std::string const& request) {
  raw_client peer(port, "", false);
  peer.send_raw(request);
  auto const head = peer.read_http_head();
  return head.substr(0, head.find("\r\n"));
}

std::string get(std::string const& target, std::string const& host, std::string const& extra = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n" + extra + "\r\n";
}

std::string with_port(std::string const& host, std::uint16_t port) { return host + ":" + std::to_string(port); }

}  // namespace

BOOST_AUTO_TEST_CASE(a_last_coding_other_than_chunked_gets_400_and_the_body_is_never_a_request) {
  running_server server(app());
  std::string const smuggled = get("/smuggled", "127.0.0.1");
  for (std::string const te : {"xchunked", "chunked, identity", "identity"}) {
    auto const c = converse(server.port(), "POST /form HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: " + te +
                                               "\r\n\r\n" + smuggled);
    BOOST_TEST(starts_with(c.text, "HTTP/1.1 400"), te << ": " << c.text);
    BOOST_TEST(c.text.find("smuggled") == std::string::npos, te);
    BOOST_TEST(c.closed, te);
  }
}

BOOST_AUTO_TEST_CASE(transfer_encoding_with_content_length_gets_400_and_close) {
  running_server server(app());
  // Beast refuses Content-Length before Transfer-Encoding, and either
  // beside "chunked"; a coding it does not frame, then a length, it took.
  std::string const smuggled = get("/smuggled", "127.0.0.1");
  auto const c = converse(server.port(), "POST /form HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip\r\n"
                                         "Content-Length: 5\r\n\r\nhello" + smuggled);
  BOOST_TEST(starts_with(c.text, "HTTP/1.1 400"), c.text);
  BOOST_TEST(c.text.find("smuggled") == std::string::npos);
  BOOST_TEST(c.closed);
}

BOOST_AUTO_TEST_CASE(a_coding_before_chunked_that_we_cannot_decode_gets_501_and_close) {
  running_server server(app());
  auto const c = converse(server.port(), "POST /form HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip\r\n"
                                         "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
  BOOST_TEST(starts_with(c.text, "HTTP/1.1 501"), c.text);
  BOOST_TEST(c.closed);
}

BOOST_AUTO_TEST_CASE(a_plain_chunked_body_still_works_and_keeps_the_connection) {
  running_server server(app());
  raw_client peer(server.port(), "", false);
  peer.send_raw("POST /form HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
  BOOST_TEST(starts_with(peer.read_http_head(), "HTTP/1.1 200"));
  BOOST_TEST(peer.read_exact(9) == "got hello");
  peer.send_raw(get("/", "127.0.0.1"));
  BOOST_TEST(starts_with(peer.read_http_head(), "HTTP/1.1 200"));
}

BOOST_AUTO_TEST_CASE(an_http_1_1_request_without_host_gets_400) {
  running_server server(app());
  auto const c = converse(server.port(), "GET / HTTP/1.1\r\n\r\n");
  BOOST_TEST(starts_with(c.text, "HTTP/1.1 400"), c.text);
  BOOST_TEST(c.closed);
  auto const upgrade = converse(server.port(), std::string("GET /echo HTTP/1.1\r\n") + upgrade_headers + "\r\n");
  BOOST_TEST(starts_with(upgrade.text, "HTTP/1.1 400"), upgrade.text);
}

BOOST_AUTO_TEST_CASE(two_host_lines_get_400_even_when_they_agree) {
  running_server server(app());
  for (std::string const second : {"127.0.0.1", "localhost"}) {
    auto const c = converse(server.port(), "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: " + second + "\r\n\r\n");
    BOOST_TEST(starts_with(c.text, "HTTP/1.1 400"), second << ": " << c.text);
    BOOST_TEST(c.closed);
  }
}

BOOST_AUTO_TEST_CASE(a_loopback_server_answers_only_loopback_hosts_and_others_get_421_for_http_and_websocket) {
  running_server server(app());
  auto const port = server.port();
  auto const attacker = with_port("attacker.example", port);
  auto const page = converse(port, get("/", attacker));
  BOOST_TEST(starts_with(page.text, "HTTP/1.1 421"), page.text);
  BOOST_TEST(page.closed);
  // DNS rebinding: the page's origin is the attacker's name, so same-site
  // admits it; only Host tells.
  auto const ws = converse(port, get("/echo", attacker, std::string(upgrade_headers) + "Origin: http://" + attacker + "\r\n"));
  BOOST_TEST(starts_with(ws.text, "HTTP/1.1 421"), ws.text);
  // A loopback address behind a name that is not a loopback name is still
  // the attacker's name.
  BOOST_TEST(status_of(port, get("/", with_port("127.0.0.1.attacker.example", port))) == "HTTP/1.1 421 Misdirected Request");
  BOOST_TEST(status_of(port, get("/", "localhost.attacker.example")) == "HTTP/1.1 421 Misdirected Request");
  for (std::string const host : {"localhost", "LocalHost", "app.localhost", "127.0.0.1", "127.1.2.3", "[::1]",
                                 "[0:0:0:0:0:0:0:1]", "localhost."}) {
    BOOST_TEST(status_of(port, get("/", with_port(host, port))) == "HTTP/1.1 200 OK", host);
    BOOST_TEST(status_of(port, get("/", host)) == "HTTP/1.1 200 OK", host);
  }
  raw_client local(port, "", false);
  local.send_raw(get("/echo", with_port("localhost", port),
                     std::string(upgrade_headers) + "Origin: http://" + with_port("localhost", port) + "\r\n"));
  BOOST_TEST(starts_with(local.read_http_head(), "HTTP/1.1 101"));
  // HTTP/1.0 needs no Host; a browser always sends one.
  BOOST_TEST(status_of(port, "GET / HTTP/1.0\r\n\r\n") == "HTTP/1.0 200 OK");
}

BOOST_AUTO_TEST_CASE(an_ipv6_loopback_server_refuses_foreign_hosts_too) {
  running_server server(app(), {.address = "::1"});
  auto const c = converse(server.port(), get("/", with_port("[::1]", server.port())) + get("/", "attacker.example"), "::1");
  BOOST_TEST(starts_with(c.text, "HTTP/1.1 200"), c.text);
  BOOST_TEST(c.text.find("indexHTTP/1.1 421") != std::string::npos, c.text);
  BOOST_TEST(c.closed);
}

BOOST_AUTO_TEST_CASE(a_malformed_host_gets_400) {
  running_server server(app());
  for (std::string const host : {"", "a b", "attacker.example:99999", "[::1", "user@127.0.0.1"}) {
    BOOST_TEST(status_of(server.port(), get("/", host)) == "HTTP/1.1 400 Bad Request", "'" << host << "'");
  }
}

BOOST_AUTO_TEST_CASE(allowed_hosts_opens_the_names_listed_and_only_those) {
  running_server server(app(), {.allowed_hosts = {"chat.test", "*.example.org", "::1"}});
  auto const port = server.port();
  for (std::string const host : {"chat.test", "CHAT.test", "a.example.org", "b.a.example.org", "[::1]"})
    BOOST_TEST(status_of(port, get("/", with_port(host, port))) == "HTTP/1.1 200 OK", host);
  for (std::string const host : {"example.org", "chat.test.attacker.example", "localhost", "127.0.0.1"})
    BOOST_TEST(status_of(port, get("/", with_port(host, port))) == "HTTP/1.1 421 Misdirected Request", host);
  running_server open(app(), {.allowed_hosts = {"*"}});
  BOOST_TEST(status_of(open.port(), get("/", "anything.example")) == "HTTP/1.1 200 OK");
}

BOOST_AUTO_TEST_CASE(allowed_hosts_entries_that_are_not_hosts_throw_at_setup) {
  for (std::string const bad : {"example.org:8080", "http://example.org", "*.[::1]", "a b", ""}) {
    tether::server_options options;
    options.port = 0;
    options.allowed_hosts = {bad};
    BOOST_CHECK_THROW((tether::server{app(), options}), std::invalid_argument);
  }
}

BOOST_AUTO_TEST_CASE(a_server_bound_to_all_addresses_answers_any_host_by_default) {
  running_server server(app(), {.address = "0.0.0.0"});
  BOOST_TEST(status_of(server.port(), get("/", "chat.example.org")) == "HTTP/1.1 200 OK");
}

BOOST_AUTO_TEST_CASE(a_trusted_proxy_passing_the_browsers_host_is_checked_like_anyone) {
  // nginx in example/nginx/chat_cluster.conf listens on loopback and
  // forwards the browser's Host ($http_host).
  running_server server(app(), {.trusted_proxies = {"127.0.0.1"}});
  auto const forwarded = "X-Forwarded-For: 127.0.0.1\r\n";
  BOOST_TEST(status_of(server.port(), get("/", "127.0.0.1:8090", forwarded)) == "HTTP/1.1 200 OK");
  BOOST_TEST(status_of(server.port(), get("/", "attacker.example:8090", forwarded)) ==
             "HTTP/1.1 421 Misdirected Request");
}

BOOST_AUTO_TEST_CASE(accept_refuses_a_foreign_host_on_a_loopback_socket_and_admits_loopback_names) {
  net::io_context ctx;
  tcp::acceptor acceptor(ctx, {net::ip::make_address("127.0.0.1"), 0});
  auto const port = acceptor.local_endpoint().port();
  std::vector<std::string> outcomes;
  auto serve = [&]() -> net::awaitable<void> {
    for (int i = 0; i < 2; ++i) {
      auto socket = co_await acceptor.async_accept(net::use_awaitable);
      tether::accept_options options;
      options.logger = tether::logger::silent();
      auto accepted = co_await tether::accept(std::move(socket), options);
      outcomes.push_back(accepted ? std::string("accepted") : accepted.error().message());
      if (accepted) co_await accepted->ws.close();  // the peer has gone: ends at once
    }
  };
  net::co_spawn(ctx, serve(), net::detached);
  std::thread loop([&] { ctx.run_for(20s); });
  auto const refused = converse(port, get("/", with_port("attacker.example", port), upgrade_headers));
  BOOST_TEST(starts_with(refused.text, "HTTP/1.1 421"), refused.text);
  {
    // Absolute-form too: its host is the one checked.
    raw_client peer(port, "", false);
    peer.send_raw(get("http://" + with_port("localhost", port) + "/", "localhost", upgrade_headers));
    BOOST_TEST(starts_with(peer.read_http_head(), "HTTP/1.1 101"));
  }
  loop.join();
  BOOST_TEST(outcomes.size() == 2u);
  BOOST_TEST(outcomes.back() == "accepted");
}

BOOST_AUTO_TEST_CASE(connection_lines_are_one_list_so_keep_alive_then_upgrade_upgrades) {
  running_server server(app());
  raw_client peer(server.port(), "", false);
  peer.send_raw(
      "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  BOOST_TEST(starts_with(peer.read_http_head(), "HTTP/1.1 101"));
  peer.send(tether::detail::opcode::text, "through");
  auto const reply = peer.read_frame();
  BOOST_REQUIRE(reply.has_value());
  BOOST_TEST(reply->payload == "through");
}

BOOST_AUTO_TEST_CASE(every_line_of_upgrade_extensions_and_protocol_is_read) {
  running_server server(app());
  raw_client peer(server.port(), "", false);
  peer.send_raw(
      "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: h2c\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
      "Sec-WebSocket-Extensions: x-unknown-extension\r\nSec-WebSocket-Extensions: permessage-deflate\r\n"
      "Sec-WebSocket-Protocol: chat.v9\r\nSec-WebSocket-Protocol: echo.v1\r\n\r\n");
  auto const head = peer.read_http_head();
  BOOST_TEST(starts_with(head, "HTTP/1.1 101"), head);
  BOOST_TEST(head.find("Sec-WebSocket-Extensions: permessage-deflate") != std::string::npos, head);
  BOOST_TEST(head.find("Sec-WebSocket-Protocol: echo.v1") != std::string::npos, head);
}

BOOST_AUTO_TEST_CASE(an_absolute_form_target_is_served_by_its_path_and_query) {
  running_server server(app());
  auto const port = server.port();
  auto const here = with_port("127.0.0.1", port);
  raw_client peer(port, "", false);
  peer.send_raw(get("http://" + here + "/target?room=a%20b", here));
  BOOST_TEST(starts_with(peer.read_http_head(), "HTTP/1.1 200"));
  BOOST_TEST(peer.read_exact(18) == "/target?room=a%20b");
  raw_client ws(port, "", false);
  ws.send_raw(get("http://" + here + "/echo", here, upgrade_headers));
  BOOST_TEST(starts_with(ws.read_http_head(), "HTTP/1.1 101"));
  // The target's host is the one that counts (RFC 9112 3.2.2).
  BOOST_TEST(status_of(port, get("http://attacker.example/", here)) == "HTTP/1.1 421 Misdirected Request");
  BOOST_TEST(status_of(port, get("ftp://" + here + "/", here)) == "HTTP/1.1 400 Bad Request");
}

BOOST_AUTO_TEST_CASE(empty_lines_before_a_request_are_ignored_a_few_times) {
  running_server server(app());
  BOOST_TEST(status_of(server.port(), "\r\n\r\n" + get("/", "127.0.0.1")) == "HTTP/1.1 200 OK");
  BOOST_TEST(status_of(server.port(), "\n" + get("/", "127.0.0.1")) == "HTTP/1.1 200 OK");
  // Old clients send CRLF after a POST body; the next request follows it.
  raw_client peer(server.port(), "", false);
  peer.send_raw("POST /form HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\nhi\r\n");
  BOOST_TEST(starts_with(peer.read_http_head(), "HTTP/1.1 200"));
  BOOST_TEST(peer.read_exact(6) == "got hi");
  peer.send_raw(get("/", "127.0.0.1"));
  BOOST_TEST(starts_with(peer.read_http_head(), "HTTP/1.1 200"));
  // Endless empty lines are not a request.
  std::string flood;
  for (int i = 0; i < 1000; ++i) flood += "\r\n";
  auto const c = converse(server.port(), flood + get("/", "127.0.0.1"));
  BOOST_TEST(starts_with(c.text, "HTTP/1.1 400"), c.text);
}

BOOST_AUTO_TEST_CASE(a_peer_sending_only_empty_lines_is_dropped_at_the_handshake_timeout) {
  running_server server(app(), {.handshake_timeout = 300ms});
  auto const start = std::chrono::steady_clock::now();
  auto const c = converse(server.port(), "\r\n\r\n");
  BOOST_TEST(c.text.empty(), c.text);
  BOOST_TEST(c.closed);
  BOOST_TEST((std::chrono::steady_clock::now() - start < 3s));
}

BOOST_AUTO_TEST_CASE(over_tls_an_http_origin_is_not_same_site) {
  tether::detail::certificate_spec ca_spec;
  ca_spec.is_ca = true;
  ca_spec.common_name = "hostile_http test CA";
  auto const ca = tether::detail::make_certificate(ca_spec);
  tether::detail::certificate_spec leaf;
  leaf.names = {"127.0.0.1"};
  leaf.issuer = &ca;
  tether::server_options options;
  options.tls.certificates.push_back(tether::detail::make_certificate(leaf));
  running_server server(app(), options);
  auto const here = with_port("127.0.0.1", server.port());
  auto const try_origin = [&](std::string origin) {
    tether::client_options client;
    client.logger = tether::logger::silent();
    client.tls.ca_pem = ca.chain_pem;
    client.origin = std::move(origin);
    std::string const url = "wss://" + here + "/echo";
    return run_client([&]() -> net::awaitable<int> {
      auto ws = co_await tether::connect(url, client);
      if (!ws) co_return ws.error().http_status();
      co_await ws->close();
      co_return 101;
    });
  };
  BOOST_TEST(try_origin("https://" + here) == 101);
  BOOST_TEST(try_origin("http://" + here) == 403);
}

namespace {

// tether::accept() on a loopback socket of its own, for every connection
// that comes, until destroyed.
class accept_server {
 public:
  explicit accept_server(tether::accept_options options)
      : acceptor_(ctx_, {net::ip::make_address("127.0.0.1"), 0}) {
    net::co_spawn(ctx_, serve(std::move(options)), net::detached);
    thread_ = std::thread([this] { ctx_.run_for(60s); });
  }

  ~accept_server() {
    ctx_.stop();
    thread_.join();
  }

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

 private:
  net::awaitable<void> serve(tether::accept_options options) {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(net::as_tuple(net::use_awaitable));
      if (ec) co_return;
      net::co_spawn(ctx_, answer(std::move(socket), options), net::detached);
    }
  }

  static net::awaitable<void> answer(tcp::socket socket, tether::accept_options options) {
    auto accepted = co_await tether::accept(std::move(socket), options);
    if (accepted) co_await accepted->ws.close();
  }

  net::io_context ctx_;
  tcp::acceptor acceptor_;
  std::thread thread_;
};

}  // namespace

BOOST_AUTO_TEST_CASE(the_server_and_accept_answer_a_bad_upgrade_byte_for_byte_alike) {
  tether::router r;
  r.websocket("/echo", echo_handler, {.subprotocols = {"echo.v1"}, .require_subprotocol = true});
  running_server server(std::move(r));
  tether::accept_options options;
  options.endpoint.subprotocols = {"echo.v1"};
  options.endpoint.require_subprotocol = true;
  options.logger = tether::logger::silent();
  accept_server accepting(std::move(options));

  std::string const upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\n";
  std::string const key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
  std::string const version = "Sec-WebSocket-Version: 13\r\n";
  std::string const protocol = "Sec-WebSocket-Protocol: echo.v1\r\n";
  struct bad_upgrade {
    std::string what, request, status;
  };
  std::vector<bad_upgrade> const cases{
      {"no key", get("/echo", "127.0.0.1", upgrade + version + protocol), "HTTP/1.1 400"},
      {"a malformed key", get("/echo", "127.0.0.1", upgrade + "Sec-WebSocket-Key: c2hvcnQ=\r\n" + version + protocol),
       "HTTP/1.1 400"},
      {"version 8", get("/echo", "127.0.0.1", upgrade + key + "Sec-WebSocket-Version: 8\r\n" + protocol), "HTTP/1.1 400"},
      {"no Connection: Upgrade",
       get("/echo", "127.0.0.1", "Upgrade: websocket\r\nConnection: keep-alive\r\n" + key + version + protocol),
       "HTTP/1.1 400"},
      {"HTTP/1.0", "GET /echo HTTP/1.0\r\nHost: 127.0.0.1\r\n" + upgrade + key + version + protocol + "\r\n",
       "HTTP/1.0 400"},
      {"none of our subprotocols", get("/echo", "127.0.0.1", upgrade + key + version + "Sec-WebSocket-Protocol: chat\r\n"),
       "HTTP/1.1 400"},
      {"a foreign origin", get("/echo", "127.0.0.1", upgrade + key + version + protocol + "Origin: http://attacker.example\r\n"),
       "HTTP/1.1 403"},
      // Origin first, then the handshake: the same order in both.
      {"a foreign origin and version 8",
       get("/echo", "127.0.0.1", upgrade + key + "Sec-WebSocket-Version: 8\r\n" + protocol +
                                     "Origin: http://attacker.example\r\n"),
       "HTTP/1.1 403"},
  };
  for (auto const& c : cases) {
    auto const from_server = converse(server.port(), c.request);
    auto const from_accept = converse(accepting.port(), c.request);
    BOOST_TEST(starts_with(from_server.text, c.status), c.what << ": " << from_server.text);
    BOOST_TEST(from_server.text == from_accept.text, c.what);
    BOOST_TEST(from_server.closed, c.what);
    BOOST_TEST(from_accept.closed, c.what);
  }
  BOOST_TEST(converse(server.port(), cases[2].request).text.find("Sec-WebSocket-Version: 13\r\n") != std::string::npos);

  // And a good one gets the same 101.
  auto const good = get("/echo", "127.0.0.1", upgrade + key + version + "Sec-WebSocket-Protocol: chat, echo.v1\r\n");
  raw_client to_server(server.port(), "", false);
  raw_client to_accept(accepting.port(), "", false);
  to_server.send_raw(good);
  to_accept.send_raw(good);
  auto const head = to_server.read_http_head();
  BOOST_TEST(starts_with(head, "HTTP/1.1 101"), head);
  BOOST_TEST(head.find("Sec-WebSocket-Protocol: echo.v1\r\n") != std::string::npos, head);
  BOOST_TEST(head == to_accept.read_http_head());
}

// accept() takes the router's endpoint_options whole: its token too. Each
// refusal comes back to the caller with the status that was sent and why.
BOOST_AUTO_TEST_CASE(accept_requires_the_endpoint_token_and_reports_each_refusal) {
  auto const signer = std::make_shared<tether::url_token const>(tether::url_token::with_random_secret());
  tether::accept_options options;
  options.endpoint.token = signer;
  options.logger = tether::logger::silent();

  net::io_context server_ctx;
  tcp::acceptor acceptor(server_ctx, {net::ip::make_address("127.0.0.1"), 0});
  std::vector<tether::failure> refusals;
  net::co_spawn(
      server_ctx,
      [&]() -> net::awaitable<void> {
        for (int i = 0; i < 3; ++i) {
          auto socket = co_await acceptor.async_accept(net::use_awaitable);
          auto accepted = co_await tether::accept(std::move(socket), options);
          if (!accepted) {
            refusals.push_back(accepted.error());
            continue;
          }
          for (;;) {
            auto msg = co_await accepted->ws.read();
            if (!msg) break;
            auto const failed = co_await accepted->ws.write(std::move(*msg));
            if (failed) break;
          }
        }
      },
      net::detached);
  std::thread serving([&] { server_ctx.run_for(30s); });
  auto const url = "ws://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/live";

  auto const seen = run_client([&]() -> net::awaitable<std::vector<int>> {
    std::vector<int> statuses;
    auto const client = quiet_client();
    for (auto const* query : {"", "?token=1.00"}) {
      auto ws = co_await tether::connect(url + query, client);
      BOOST_TEST(!ws.has_value());
      if (!ws) statuses.push_back(ws.error().http_status());
    }
    auto ws = co_await tether::connect(url + "?token=" + signer->mint("/live", 60s), client);
    BOOST_REQUIRE_MESSAGE(ws.has_value(), ws.error().message());
    auto const failed = co_await ws->write("with a token");
    BOOST_TEST(!failed, failed.message());
    auto echo = co_await ws->read();
    BOOST_TEST((echo && echo->payload == "with a token"));
    co_await ws->close();
    co_return statuses;
  });
  serving.join();
  BOOST_TEST((seen == std::vector<int>{401, 403}));
  BOOST_REQUIRE_EQUAL(refusals.size(), 2u);
  BOOST_TEST((refusals[0] == tether::error::upgrade_refused));
  BOOST_TEST(refusals[0].http_status() == 401);
  BOOST_TEST(refusals[0].message() == "refused the request: 401 this endpoint needs a token (HTTP 401)");
  BOOST_TEST(refusals[1].http_status() == 403);
  BOOST_TEST(refusals[1].detail().find("token") != std::string_view::npos, refusals[1].message());
}
