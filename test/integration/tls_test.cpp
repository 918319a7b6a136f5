// wss:// and https:// on loopback with certificates made for each run:
// echo, every way a certificate can be wrong, SNI, mixed listeners, and the
// other transports (Unix sockets, IPv6).
#define BOOST_TEST_MODULE tls
#include "support.hpp"

#include "net/tls.hpp"

#include <boost/asio/local/stream_protocol.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <system_error>
#include <mutex>
#include <sys/resource.h>
#include <unistd.h>

using namespace test;
using tether::detail::certificate_spec;
using tether::detail::make_certificate;

namespace {

// One authority per run, and leaves it signed, each wrong in one way.
struct authority {
  tether::certificate ca;
  tether::certificate good;       // 127.0.0.1, ::1 and localhost
  tether::certificate expired;
  tether::certificate wrong_host;  // only example.org
  tether::certificate other_name;  // tether.test, for SNI
  tether::certificate stranger;    // signed by an authority nobody trusts

  authority() {
    certificate_spec spec;
    spec.is_ca = true;
    spec.common_name = "tether test CA";
    ca = make_certificate(spec);
    good = leaf({"127.0.0.1", "::1", "localhost"}, ca);
    certificate_spec old;
    old.names = {"127.0.0.1"};
    old.issuer = &ca;
    old.not_before = std::chrono::hours(-48);
    old.not_after = std::chrono::hours(-24);
    expired = make_certificate(old);
    wrong_host = leaf({"example.org"}, ca);
    other_name = leaf({"tether.test"}, ca);
    spec.common_name = "someone else's CA";
    auto const unknown = make_certificate(spec);
    stranger = leaf({"127.0.0.1"}, unknown);
  }

  static tether::certificate leaf(std::vector<std::string> names, tether::certificate const& issuer) {
    certificate_spec spec;
    spec.names = std::move(names);
    spec.issuer = &issuer;
    return make_certificate(spec);
  }
};

authority const& certs() {
  static authority const instance;
  return instance;
}

tether::router echo_app() {
  tether::router app;
  app.get("/", [](tether::request const& r) { return tether::response::text(r.secure ? "secure" : "plain"); });
  app.websocket("/echo", echo_handler);
  return app;
}

tether::server_options tls_server(tether::certificate const& cert) {
  tether::server_options options;
  options.tls.certificates.push_back(cert);
  return options;
}

tether::client_options trusting_our_ca() {
  tether::client_options options;
  options.logger = tether::logger::silent();
  options.tls.ca_pem = certs().ca.chain_pem;
  return options;
}

std::string wss_url(running_server const& server, std::string const& host = "127.0.0.1") {
  return "wss://" + host + ":" + std::to_string(server.port()) + "/echo";
}

std::string pattern(std::size_t size) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>('a' + i % 26);
  return s;
}

// Connects with `options` and returns the failure (the test fails if it connects).
tether::failure refusal(std::string const& url, tether::client_options options) {
  return run_client([&]() -> net::awaitable<tether::failure> {
    auto ws = co_await tether::connect(url, options);
    BOOST_REQUIRE_MESSAGE(!ws.has_value(), "connected to " << url);
    co_return ws.error();
  });
}

void expect_echo(std::string const& url, tether::client_options options,
                 std::initializer_list<std::size_t> sizes = {0u, 125u, 126u, 65535u, 65536u, 1u << 20}) {
  std::vector<std::size_t> const lengths(sizes);
  run_client([&]() -> net::awaitable<void> {
    auto ws = co_await tether::connect(url, options);
    BOOST_REQUIRE_MESSAGE(ws.has_value(), ws.error().message());
    for (std::size_t size : lengths) {
      for (auto kind : {tether::message_kind::text, tether::message_kind::binary}) {
        auto const payload = pattern(size);
        BOOST_REQUIRE(!co_await ws->write(payload, kind));
        auto reply = co_await ws->read();
        BOOST_REQUIRE(reply.has_value());
        BOOST_TEST((reply->kind == kind));
        BOOST_TEST((reply->payload == payload));
      }
    }
    BOOST_TEST(!co_await ws->close());
    BOOST_TEST((ws->peer_close_code() == tether::close_code::normal));
  });
}

}  // namespace

BOOST_AUTO_TEST_SUITE(tls)

BOOST_AUTO_TEST_CASE(wss_echo_at_every_length_boundary) {
  running_server server(echo_app(), tls_server(certs().good));
  expect_echo(wss_url(server), trusting_our_ca());
}

BOOST_AUTO_TEST_CASE(many_small_messages_in_flight_survive_tls_records) {
  running_server server(echo_app(), tls_server(certs().good));
  run_client([&]() -> net::awaitable<void> {
    auto const options = trusting_our_ca();
    auto ws = (co_await tether::connect(wss_url(server), options)).value();
    constexpr int count = 5000;
    for (int i = 0; i < count; ++i) BOOST_REQUIRE(!co_await ws.write(std::to_string(i)));
    for (int i = 0; i < count; ++i) {
      auto reply = co_await ws.read();
      BOOST_REQUIRE(reply.has_value());
      BOOST_REQUIRE_EQUAL(reply->payload, std::to_string(i));
    }
    BOOST_TEST(!co_await ws.close());
  });
}

BOOST_AUTO_TEST_CASE(hostname_localhost_and_ipv6_literal_verify) {
  running_server v4(echo_app(), tls_server(certs().good));
  expect_echo(wss_url(v4, "localhost"), trusting_our_ca(), {5});
  tether::server_options options = tls_server(certs().good);
  options.address = "::1";
  running_server v6(echo_app(), options);
  expect_echo(wss_url(v6, "[::1]"), trusting_our_ca(), {5});
}

BOOST_AUTO_TEST_CASE(each_bad_certificate_is_refused_with_its_reason) {
  struct bad_case {
    tether::certificate const* cert;
    std::string reason;
  };
  for (auto const& [cert, reason] : {bad_case{&certs().expired, "expired"},
                                     bad_case{&certs().wrong_host, "mismatch"},
                                     bad_case{&certs().stranger, "unable to get local issuer certificate"}}) {
    running_server server(echo_app(), tls_server(*cert));
    auto const e = refusal(wss_url(server), trusting_our_ca());
    BOOST_TEST((e == tether::error::certificate_rejected));
    BOOST_TEST(e.message().find(reason) != std::string::npos, e.message() << " should say " << reason);
  }
}

BOOST_AUTO_TEST_CASE(the_system_store_does_not_trust_a_self_signed_certificate) {
  auto const self_signed = tether::certificate::self_signed({"127.0.0.1"});
  running_server server(echo_app(), tls_server(self_signed));
  auto const e = refusal(wss_url(server), quiet_client());
  BOOST_TEST((e == tether::error::certificate_rejected));
  BOOST_TEST(e.message().find("self-signed") != std::string::npos, e.message());
}

BOOST_AUTO_TEST_CASE(verification_off_connects_and_warns) {
  running_server server(echo_app(), tls_server(certs().stranger));
  auto warnings = std::make_shared<std::vector<std::string>>();
  auto mutex = std::make_shared<std::mutex>();
  tether::client_options options;
  options.tls.verify = false;
  options.logger = tether::logger(tether::log_level::warning, [warnings, mutex](tether::log_record const& r) {
    std::lock_guard lock(*mutex);
    warnings->emplace_back(r.text);
  });
  expect_echo(wss_url(server), options, {10});
  std::lock_guard lock(*mutex);
  BOOST_REQUIRE_EQUAL(warnings->size(), 1u);
  BOOST_TEST(warnings->front().find("verification is off") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(custom_ca_from_a_file) {
  auto const dir = std::filesystem::temp_directory_path() / ("tether-ca-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto const file = (dir / "ca.pem").string();
  {
    std::ofstream out(file);
    out << certs().ca.chain_pem;
  }
  running_server server(echo_app(), tls_server(certs().good));
  tether::client_options options = quiet_client();
  options.tls.ca_file = file;
  expect_echo(wss_url(server), options, {3});
  options.tls.ca_file = (dir / "missing.pem").string();
  auto const e = refusal(wss_url(server), options);
  BOOST_TEST((e == tether::error::invalid_argument));
  BOOST_TEST(e.message().find("missing.pem") != std::string::npos, e.message());
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(a_missing_ca_file_is_called_missing) {
  tether::client_options options = quiet_client();
  options.tls.ca_file = (std::filesystem::temp_directory_path() / "tether-no-such-ca.pem").string();
  // No server: the file is checked before anything is sent.
  auto const e = refusal("wss://127.0.0.1:" + std::to_string(free_port()) + "/echo", options);
  BOOST_TEST((e == tether::error::invalid_argument));
  BOOST_TEST(e.message() == "the CA file \"" + options.tls.ca_file + "\" does not exist");
}

BOOST_AUTO_TEST_CASE(wss_to_a_plain_server_suggests_plain_ws) {
  running_server server(echo_app());
  auto const e = refusal(wss_url(server), trusting_our_ca());
  BOOST_TEST((e == tether::error::tls_failed));
  BOOST_TEST(e.message().find("the server may speak plain ws://") != std::string::npos, e.message());
}

BOOST_AUTO_TEST_CASE(sni_picks_the_certificate_for_the_name) {
  tether::server_options options = tls_server(certs().good);
  options.tls.certificates.push_back(certs().other_name);
  running_server server(echo_app(), options);
  tether::client_options client = trusting_our_ca();
  client.tls.server_name = "tether.test";
  expect_echo(wss_url(server), client, {4});  // verifies only with the second certificate
  client.tls.server_name = "unknown.test";    // the default certificate, which does not carry that name
  auto const e = refusal(wss_url(server), client);
  BOOST_TEST((e == tether::error::certificate_rejected));
}

BOOST_AUTO_TEST_CASE(plain_and_tls_listeners_in_one_server) {
  tether::server_options options = tls_server(certs().good);
  options.listeners = {{.port = 0}, {.port = 0, .tls = true}};
  running_server server(echo_app(), options);
  auto const plain_port = server.get().port(0);
  auto const tls_port = server.get().port(1);
  BOOST_TEST(http_exchange(plain_port, "GET", "/").find("plain") != std::string::npos);
  expect_echo("ws://127.0.0.1:" + std::to_string(plain_port) + "/echo", quiet_client(), {7});
  expect_echo("wss://127.0.0.1:" + std::to_string(tls_port) + "/echo", trusting_our_ca(), {7});
  // A plain client at the TLS port gets a clear failure, not a hang.
  auto const e = refusal("ws://127.0.0.1:" + std::to_string(tls_port) + "/echo", quiet_client());
  BOOST_TEST((e != tether::error::handshake_timeout));
  // And a TLS client at the plain port.
  auto const f = refusal("wss://127.0.0.1:" + std::to_string(plain_port) + "/echo", trusting_our_ca());
  BOOST_TEST((f == tether::error::tls_failed), f.message());
}

BOOST_AUTO_TEST_CASE(a_silent_client_is_cut_off_by_the_tls_handshake_timeout) {
  tether::server_options options = tls_server(certs().good);
  options.handshake_timeout = 300ms;
  running_server server(echo_app(), options);
  raw_client silent(server.port(), "", false);
  auto const start = std::chrono::steady_clock::now();
  BOOST_TEST(silent.ended_by_peer());
  BOOST_TEST((std::chrono::steady_clock::now() - start < 5s));
  BOOST_TEST(eventually([&] { return server.get().connections() == 0; }));
}

BOOST_AUTO_TEST_CASE(stop_does_not_wait_for_a_client_silent_in_its_tls_handshake) {
  running_server server(echo_app(), tls_server(certs().good));  // handshake_timeout 10 s
  raw_client silent(server.port(), "", false);  // like a browser's spare connection
  BOOST_TEST(eventually([&] { return server.get().connections() == 1; }));
  auto const start = std::chrono::steady_clock::now();
  server.stop(5s);
  BOOST_TEST((std::chrono::steady_clock::now() - start < 2s));
}

BOOST_AUTO_TEST_CASE(a_tls_peer_that_resets_while_the_server_floods_it) {
  // Writes to a peer that has gone must fail as errors, never as SIGPIPE
  // (OpenSSL's own socket BIO uses write(2); Tether's sends with
  // MSG_NOSIGNAL). examples_test caught the signal with Chromium.
  std::atomic<int> ended{0};
  tether::router app;
  app.websocket("/flood", [&](tether::websocket& ws, tether::request const&) -> net::awaitable<void> {
    std::string const chunk(64 * 1024, 'f');
    while (!co_await ws.write(chunk)) {
    }
    ++ended;
  });
  app.websocket("/echo", echo_handler);
  running_server server(std::move(app), tls_server(certs().good));
  std::string const vanish =
      "import socket, ssl, struct\n"
      "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE\n"
      "s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', " + std::to_string(server.port()) + ")))\n"
      "s.sendall(b'GET /flood HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n'\n"
      "          b'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n')\n"
      "assert s.recv(4096).startswith(b'HTTP/1.1 101')\n"
      "s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))\n"
      "s.close()\n";
  for (int i = 0; i < 3; ++i) {
    std::string const command = "/usr/bin/python3 -c \"" + vanish + "\"";
    BOOST_REQUIRE(std::system(command.c_str()) == 0);
  }
  BOOST_TEST(eventually([&] { return ended == 3; }));
  expect_echo(wss_url(server), trusting_our_ca(), {5});  // and the server still serves
}

BOOST_AUTO_TEST_CASE(half_a_tls_record_is_waited_for_without_spinning) {
  // OpenSSL reads ahead and then holds the half record: "buffered input"
  // that is no message yet. The pump must wait for the socket, not retry.
  running_server server(echo_app(), tls_server(certs().good));
  char const* test_dir = std::getenv("TETHER_TEST_DIR");
  BOOST_REQUIRE_MESSAGE(test_dir, "TETHER_TEST_DIR is not set");
  std::string const command = "timeout 30 /usr/bin/python3 " + std::string(test_dir) +
                              "/integration/partial_tls_record.py " + std::to_string(server.port()) + " 1.5";
  FILE* client = ::popen(command.c_str(), "r");
  BOOST_REQUIRE(client);
  char line[64] = {};
  BOOST_REQUIRE(std::fgets(line, sizeof line, client));
  BOOST_REQUIRE_EQUAL(std::string(line), "ready\n");
  auto cpu = [] {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  };
  double const before = cpu();
  std::this_thread::sleep_for(1s);
  double const used = cpu() - before;
  BOOST_TEST(used < 0.3, "the server used " << used << " s of CPU in 1 s while waiting");
  BOOST_REQUIRE(std::fgets(line, sizeof line, client));
  BOOST_TEST(std::string(line) == "echoed\n");
  BOOST_TEST(::pclose(client) == 0);
}

BOOST_AUTO_TEST_CASE(a_server_without_certificates_for_a_tls_listener_is_refused) {
  tether::server_options options;
  options.port = 0;
  options.listeners = {{.port = 0, .tls = true}};
  BOOST_CHECK_THROW(tether::server(echo_app(), options), std::invalid_argument);
  tether::certificate broken = certs().good;
  broken.key_pem = certs().other_name.key_pem;
  options.tls.certificates = {broken};
  try {
    tether::server s(echo_app(), options);
    BOOST_FAIL("a key that does not match its certificate was accepted");
  } catch (std::invalid_argument const& e) {
    BOOST_TEST(std::string(e.what()).find("does not match") != std::string::npos, e.what());
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(transports)

BOOST_AUTO_TEST_CASE(unix_socket_echo_and_http) {
  auto const path = (std::filesystem::temp_directory_path() / ("tether-" + std::to_string(::getpid()) + ".sock")).string();
  {
    std::ofstream stale(path);  // not a socket: the server must refuse to remove it
  }
  tether::server_options options;
  options.listeners = {{.unix_path = path}};
  try {
    tether::server refused(echo_app(), options);
    BOOST_FAIL("the server replaced a file that is not a socket");
  } catch (std::system_error const& e) {
    BOOST_TEST(std::string(e.what()) == "tether::server: cannot listen on unix:" + path + ": Address already in use");
  }
  std::filesystem::remove(path);
  {
    running_server server(echo_app(), options);
    tether::client_options client = quiet_client();
    client.unix_socket = path;
    expect_echo("ws://localhost/echo", client, {0u, 126u, 70000u});
    BOOST_TEST(server.get().port() == 0);
  }
  BOOST_TEST(!std::filesystem::exists(path), "the socket file is removed with the server");
}

BOOST_AUTO_TEST_CASE(unix_socket_with_tls) {
  auto const path = (std::filesystem::temp_directory_path() / ("tether-tls-" + std::to_string(::getpid()) + ".sock")).string();
  tether::server_options options = tls_server(certs().good);
  options.listeners = {{.tls = true, .unix_path = path}};
  running_server server(echo_app(), options);
  tether::client_options client = trusting_our_ca();
  client.unix_socket = path;
  expect_echo("wss://localhost/echo", client, {9});
}

BOOST_AUTO_TEST_CASE(ipv6_loopback_echo) {
  tether::server_options options;
  options.address = "::1";
  running_server server(echo_app(), options);
  expect_echo("ws://[::1]:" + std::to_string(server.port()) + "/echo", quiet_client(), {0u, 126u, 70000u});
}

BOOST_AUTO_TEST_SUITE_END()
