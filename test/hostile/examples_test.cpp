// The examples as an attacker meets them: started as processes, attacked
// over loopback with raw sockets, their memory read from /proc.
#define BOOST_TEST_MODULE hostile_examples
#include "../integration/processes.hpp"

#include <cstdlib>
#include <fstream>

using namespace test;

namespace {


std::size_t resident_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6));
  return 0;
}

// One request, as written, on a connection of its own; everything the
// server sent until it closed (or 10 s of silence).
std::string round_trip(std::uint16_t port, std::string const& request) {
  raw_client peer(port, "", false);
  peer.send_raw(request);
  std::string all;
  boost::system::error_code ec;
  char buffer[4096];
  while (!ec) all.append(buffer, peer.socket().read_some(net::buffer(buffer), ec));
  return all;
}

// The value of a response header, empty if absent.
std::string header_of(std::string const& response, std::string const& name) {
  auto const at = response.find("\r\n" + name + ": ");
  if (at == std::string::npos || at > response.find("\r\n\r\n")) return {};
  auto const start = at + name.size() + 4;
  return response.substr(start, response.find("\r\n", start) - start);
}

std::string const upgrade_headers =
    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n";

// A client frame that sends one click at (10, 20), as the page does.
std::string const click = raw_client::encode(tether::detail::opcode::text, "{\"click\":[10,20]}");

}  // namespace

// Example 08 gives every page a write queue of 64 KiB with drop_oldest
// and a read queue of 64 KiB. A page that stops reading holds at most its
// queue, what is being written (up to as much again) and the newest frame
// (frames are shared among the pages); a page that clicks faster than it is
// served holds at most its read queue, in a vector that may have doubled.
// So each page costs at most 4 x 64 KiB, and the server may grow by
// viewers x 256 KiB plus 8 MiB for what no page owns (the loop's read
// buffer, the hub's posts of one read's worth of clicks, the allocator's
// high-water mark): 9 MiB. Release builds grow by about 4.2 MiB and stay
// there; millions of clicks mean that even a few bytes kept per click
// would show. Before the hub, each frame and click started one write per
// page that waited for room: 2.6 GB in 5 s.
BOOST_AUTO_TEST_CASE(live_svg_holds_bounded_memory_for_pages_that_never_read) {
  // ASan keeps freed memory in a quarantine and pads every allocation: with
  // the quarantine off, RSS measures what the example holds, and twice the
  // bound covers the padding (it grows by about 6 MiB there; the old
  // example, much slower under ASan, by over 20 MiB in 5 s).
  std::size_t const factor = sanitized ? 2 : 1;
  char const* given = std::getenv("ASAN_OPTIONS");
  std::string const asan_options = given ? given : "";
  if (sanitized)
    ::setenv("ASAN_OPTIONS", (asan_options + ":quarantine_size_mb=0:thread_local_quarantine_size_kb=0").c_str(), 1);
  auto const port = free_port();
  child server({examples_dir() + "/08_live_svg", "--port", std::to_string(port), "--rate", "50"});
  if (sanitized) ::setenv("ASAN_OPTIONS", asan_options.c_str(), 1);  // for the other examples, all of ASan
  BOOST_REQUIRE(server.line().find("http://127.0.0.1:" + std::to_string(port)) != std::string::npos);

  constexpr std::size_t viewers = 4;  // three that never read, and the clicker, which never reads either
  std::size_t const allowed_kib = factor * (viewers * 4 * 64 + 8 * 1024);
  std::vector<std::unique_ptr<raw_client>> pages;
  for (std::size_t i = 0; i < viewers; ++i) pages.push_back(std::make_unique<raw_client>(port, "/live"));
  auto& clicker = *pages.back();
  std::this_thread::sleep_for(300ms);  // a few frames to every page
  auto const base = resident_kib(server.pid());
  BOOST_REQUIRE(base > 0);

  // Clicks as fast as the server takes them, for 5 s or until the bound is
  // broken (the old example would take the machine's memory).
  std::string batch;
  for (int i = 0; i < 1000; ++i) batch += click;
  std::size_t sent = 0, peak = base;
  auto const start = std::chrono::steady_clock::now();
  auto next_sample = start;
  while (std::chrono::steady_clock::now() - start < 5s && peak - base <= allowed_kib) {
    auto const n = ::send(clicker.socket().native_handle(), batch.data() + sent % batch.size(),
                          batch.size() - sent % batch.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) sent += static_cast<std::size_t>(n);
    else std::this_thread::sleep_for(1ms);  // the server has not read the last batch yet
    if (auto const now = std::chrono::steady_clock::now(); now >= next_sample) {
      peak = std::max(peak, resident_kib(server.pid()));
      next_sample = now + 50ms;
    }
  }
  peak = std::max(peak, resident_kib(server.pid()));
  BOOST_TEST_MESSAGE("08_live_svg: " << sent / click.size() << " clicks sent; RSS " << base << " KiB, peak " << peak
                                     << " KiB, allowed growth " << allowed_kib << " KiB");
  BOOST_TEST(sent / click.size() > 10000u);
  BOOST_TEST(peak - base <= allowed_kib);

  // Still serving, and the clicks were heard: a new page gets frames, and
  // the next marker counts the clicks before it.
  pages.resize(viewers - 1);  // the clicker goes; its unread clicks with it
  raw_client witness(port, "/live");
  raw_client late_clicker(port, "/live");
  bool counted = false;
  for (int i = 0; i < 2000 && !counted; ++i) {
    if (i % 50 == 0) late_clicker.send_raw(click);
    auto const frame = witness.read_frame();
    BOOST_REQUIRE(frame.has_value());
    if (auto const at = frame->payload.find("\"count\":"); at != std::string::npos) {
      BOOST_TEST(std::stoul(frame->payload.substr(at + 8)) > 1000u, frame->payload);
      counted = true;
    }
  }
  BOOST_TEST(counted);
  pages.clear();  // so that the close handshake does not wait for them
  BOOST_TEST(server.stop() == 0);
}

// Example 03's admin page minted a valid token for anyone who asked. It
// now needs the admin secret (HTTP Basic, user "admin"), is off without
// one, and each token opens one socket.
BOOST_AUTO_TEST_CASE(chat_rooms_admin_page_needs_the_secret_and_tokens_are_single_use) {
  std::string const get_admin = "GET /admin HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  // base64("admin:correct horse battery staple") and a wrong password
  std::string const right = "Authorization: Basic YWRtaW46Y29ycmVjdCBob3JzZSBiYXR0ZXJ5IHN0YXBsZQ==\r\n";
  std::string const wrong = "Authorization: Basic YWRtaW46Y29ycmVjdCBob3JzZQ==\r\n";
  ::unsetenv("TETHER_ADMIN_SECRET");
  {  // no secret: no admin page, whatever the request says
    auto const port = free_port();
    child server({examples_dir() + "/03_chat_rooms", "--port", std::to_string(port), "--stop-after", "60"});
    BOOST_REQUIRE(server.line().find("127.0.0.1:" + std::to_string(port)) != std::string::npos);
    for (auto const& extra : {std::string(), right}) {
      auto const answer = round_trip(port, get_admin + extra + "\r\n");
      BOOST_TEST(answer.rfind("HTTP/1.1 404", 0) == 0u, answer);
      BOOST_TEST(answer.find("token=") == std::string::npos, answer);
    }
    BOOST_TEST(server.stop() == 0);
  }
  auto const port = free_port();
  child server({examples_dir() + "/03_chat_rooms", "--port", std::to_string(port), "--stop-after", "60",
                "--admin-secret", "correct horse battery staple"});
  BOOST_REQUIRE(server.line().find("127.0.0.1:" + std::to_string(port)) != std::string::npos);
  for (auto const& extra : {std::string(), wrong}) {
    auto const answer = round_trip(port, get_admin + extra + "\r\n");
    BOOST_TEST(answer.rfind("HTTP/1.1 401", 0) == 0u, answer);
    BOOST_TEST(header_of(answer, "WWW-Authenticate").rfind("Basic ", 0) == 0u, answer);
    BOOST_TEST(answer.find("token=") == std::string::npos, answer);
  }
  auto const page = round_trip(port, get_admin + right + "\r\n");
  BOOST_REQUIRE_MESSAGE(page.rfind("HTTP/1.1 200", 0) == 0u, page);
  auto const from = page.find("/admin/");
  BOOST_REQUIRE(from != std::string::npos);
  auto const socket_url = "ws://127.0.0.1:" + std::to_string(port) + page.substr(from, page.find('`', from) - from);
  BOOST_REQUIRE(socket_url.find("?token=") != std::string::npos);
  run_client([&]() -> net::awaitable<void> {
    auto admin = (co_await tether::connect(socket_url, quiet_client())).value();
    auto const summary = co_await admin.read();
    BOOST_REQUIRE(summary.has_value());
    BOOST_TEST(summary->payload.rfind("rooms on ", 0) == 0u, summary->payload);
    co_await admin.close();
    // The same token again, as if read from a proxy's log.
    auto replay = (co_await tether::connect(socket_url, quiet_client())).value();
    auto const refused = co_await replay.read();
    BOOST_TEST(!refused.has_value());
    BOOST_TEST((replay.peer_close_code() == tether::close_code::policy_violation));
  });
  BOOST_TEST(server.stop() == 0);

  // The environment gives the secret as well.
  ::setenv("TETHER_ADMIN_SECRET", "correct horse battery staple", 1);
  auto const env_port = free_port();
  child from_env({examples_dir() + "/03_chat_rooms", "--port", std::to_string(env_port), "--stop-after", "60"});
  ::unsetenv("TETHER_ADMIN_SECRET");
  BOOST_REQUIRE(from_env.line().find("127.0.0.1:" + std::to_string(env_port)) != std::string::npos);
  BOOST_TEST(round_trip(env_port, get_admin + "\r\n").rfind("HTTP/1.1 401", 0) == 0u);
  BOOST_TEST(round_trip(env_port, get_admin + right + "\r\n").rfind("HTTP/1.1 200", 0) == 0u);
  BOOST_TEST(from_env.stop() == 0);
}

// Example 06's plain port redirected to whatever Host said, and served the
// echo WebSocket in clear text. It now only redirects, to --name (default
// localhost) and the TLS port.
BOOST_AUTO_TEST_CASE(tls_server_plain_port_only_redirects_to_its_own_name) {
  for (std::string const name : {"", "tether.test"}) {
    auto const https = free_port(), http = free_port();
    std::vector<std::string> args{examples_dir() + "/06_tls_server", "--port", std::to_string(https), "--http-port",
                                  std::to_string(http)};
    if (!name.empty()) args.insert(args.end(), {"--name", name});
    child server(args);
    BOOST_REQUIRE(server.line().find("https://127.0.0.1:" + std::to_string(https)) != std::string::npos);
    std::string const target = "https://" + (name.empty() ? "localhost" : name) + ":" + std::to_string(https);

    auto const own = round_trip(http, "GET /a?b=c HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(http) +
                                        "\r\nConnection: close\r\n\r\n");
    BOOST_TEST(own.rfind("HTTP/1.1 302", 0) == 0u, own);
    BOOST_TEST(header_of(own, "Location") == target + "/a?b=c", own);

    // A foreign Host is never echoed: the redirect goes to our name (or,
    // where the server refuses foreign Host names, nowhere).
    auto const foreign = round_trip(http, "GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n");
    BOOST_TEST(foreign.find("evil.example") == std::string::npos, foreign);
    if (foreign.rfind("HTTP/1.1 3", 0) == 0) BOOST_TEST(header_of(foreign, "Location") == target + "/", foreign);
    else BOOST_TEST(foreign.rfind("HTTP/1.1 4", 0) == 0u, foreign);

    // No WebSocket in clear text, not even for a same-site page.
    raw_client upgrade(http, "", false);
    upgrade.send_raw("GET /echo HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(http) + "\r\n" + upgrade_headers +
                     "Origin: http://127.0.0.1:" + std::to_string(http) + "\r\n\r\n");
    auto const head = upgrade.read_http_head();
    BOOST_TEST(head.rfind("HTTP/1.1 404", 0) == 0u, head);
    BOOST_TEST(server.stop() == 0);
  }
}
