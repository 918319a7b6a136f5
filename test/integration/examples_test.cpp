// The example servers run as users run them: started as processes, used
// over loopback, stopped with SIGTERM.
#define BOOST_TEST_MODULE examples
#include "processes.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <tuple>

using namespace test;

namespace {

std::string env(char const* name) {
  char const* value = std::getenv(name);
  BOOST_REQUIRE_MESSAGE(value, name << " is not set");
  return value;
}

// Headless Chromium opens the page and waits for `expected` in its text;
// the screenshot is kept as a test artifact.
// Standard output of a shell command (which must succeed within 30 s).
std::string output_of(std::string const& command) {
  FILE* pipe = ::popen(("timeout 30 sh -c \"" + command + "\"").c_str(), "r");
  BOOST_REQUIRE(pipe);
  std::string out;
  char buffer[512];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
  BOOST_TEST(::pclose(pipe) == 0, command);
  return out;
}

std::filesystem::path artifacts() {
  auto const dir = std::filesystem::path(env("TETHER_ARTIFACTS_DIR"));
  std::filesystem::create_directories(dir);
  return dir;
}

void expect_page_shows(std::string const& url, std::string const& expected, std::string const& name,
                       std::string const& click = "", std::string const& after_click = "") {
  std::string command = "timeout 60 node " + env("TETHER_INTEROP_DIR") + "/node/page_check.mjs '" + url + "' '" +
                        expected + "' " + (artifacts() / (name + ".png")).string();
  if (!click.empty()) command += " '" + click + "' '" + after_click + "'";
  BOOST_TEST(std::system(command.c_str()) == 0, command);
}

void expect_echo(std::string const& url, tether::client_options options, bool compressed) {
  run_client([&]() -> net::awaitable<void> {
    auto ws = co_await tether::connect(url, options);
    BOOST_REQUIRE_MESSAGE(ws.has_value(), ws.error().message());
    BOOST_TEST(ws->compressed() == compressed);
    BOOST_REQUIRE(!co_await ws->write(std::string(5000, 'e')));
    auto reply = co_await ws->read();
    BOOST_REQUIRE(reply.has_value());
    BOOST_TEST(reply->payload == std::string(5000, 'e'));
    BOOST_TEST(!co_await ws->close());
  });
}

void expect_empty_message_ends_it(std::string const& url) {
  run_client([&]() -> net::awaitable<void> {
    auto ws = (co_await tether::connect(url, quiet_client())).value();
    BOOST_REQUIRE(!co_await ws.write("still here"));
    BOOST_TEST((co_await ws.read())->payload == "still here");
    BOOST_REQUIRE(!co_await ws.write(""));
    auto end = co_await ws.read();
    BOOST_TEST((end.error() == tether::error::closed));
    BOOST_TEST((ws.peer_close_code() == tether::close_code::normal));
  });
}

}  // namespace

BOOST_AUTO_TEST_CASE(echo_server_serves_its_page_and_echoes) {
  auto const port = std::to_string(free_port());
  child server({examples_dir() + "/01_echo_server", "--port", port});
  BOOST_TEST(server.line().find("http://127.0.0.1:" + port) != std::string::npos);
  BOOST_TEST(http_exchange(static_cast<std::uint16_t>(std::stoi(port)), "GET", "/").find("new WebSocket") !=
             std::string::npos);
  expect_echo("ws://127.0.0.1:" + port + "/echo", quiet_client(), false);
  expect_page_shows("http://127.0.0.1:" + port + "/", "echo: hello from the browser", "01_echo_server");
  expect_empty_message_ends_it("ws://127.0.0.1:" + port + "/echo");

  // Example 02 against it: messages as arguments, then interactively.
  std::string const client = examples_dir() + "/02_echo_client ws://127.0.0.1:" + port + "/echo";
  BOOST_TEST(output_of(client + " one two") == "one\ntwo\n");
  BOOST_TEST(output_of("printf 'typed\\nlines\\n' | " + client) == "typed\nlines\n");
  BOOST_TEST(server.stop() == 0);
}

BOOST_AUTO_TEST_CASE(low_level_server_does_the_same_with_its_own_accept_loop) {
  auto const port = std::to_string(free_port());
  child server({examples_dir() + "/07_low_level_server", "--port", port});
  BOOST_TEST(server.line().find("http://127.0.0.1:" + port) != std::string::npos);
  auto const p = static_cast<std::uint16_t>(std::stoi(port));
  BOOST_TEST(http_exchange(p, "GET", "/missing").find("404") != std::string::npos);
  {
    raw_client foreign(p, "", false);
    foreign.send_raw("GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                     "Origin: https://evil.example\r\n\r\n");
    BOOST_TEST(foreign.read_http_head().rfind("HTTP/1.1 403", 0) == 0u);
  }
  expect_echo("ws://127.0.0.1:" + port + "/echo", quiet_client(), false);
  expect_page_shows("http://127.0.0.1:" + port + "/", "echo: hello from the low-level page", "07_low_level_server");
  expect_empty_message_ends_it("ws://127.0.0.1:" + port + "/echo");
  BOOST_TEST(server.stop() == 0);
}

BOOST_AUTO_TEST_CASE(tls_server_with_its_own_certificate) {
  auto const dir = std::filesystem::temp_directory_path() / ("tether-example-" + std::to_string(::getpid()));
  auto const https = std::to_string(free_port());
  auto const http = std::to_string(free_port());
  child server({examples_dir() + "/06_tls_server", "--port", https, "--http-port", http, "--save", dir.string()});
  BOOST_TEST(server.line().find("https://127.0.0.1:" + https) != std::string::npos);

  auto const redirect = http_exchange(static_cast<std::uint16_t>(std::stoi(http)), "GET", "/");
  BOOST_TEST(redirect.find("302") != std::string::npos, redirect);
  BOOST_TEST(redirect.find("Location: https://localhost:" + https + "/") != std::string::npos, redirect);

  tether::client_options options = quiet_client();
  options.tls.ca_file = (dir / "cert.pem").string();
  options.websocket.compression.enabled = true;
  expect_echo("wss://127.0.0.1:" + https + "/echo", options, true);
  expect_echo("wss://localhost:" + https + "/echo", options, true);
  expect_page_shows("https://127.0.0.1:" + https + "/", "echo: hello over wss", "06_tls_server");
  BOOST_TEST(server.stop() == 0);
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(chat_rooms_two_browser_pages_talk) {
  auto const port = std::to_string(free_port());
  child server({examples_dir() + "/03_chat_rooms", "--port", port, "--stop-after", "60"});
  BOOST_TEST(server.line().find("127.0.0.1:" + port) != std::string::npos);
  std::string const command = "timeout 60 node " + env("TETHER_INTEROP_DIR") + "/node/chat_check.mjs http://127.0.0.1:" +
                              port + "/ " + artifacts().string();
  BOOST_TEST(std::system(command.c_str()) == 0, command);
  BOOST_TEST(server.stop() == 0);
}

namespace {

// nginx with example/nginx/chat_cluster.conf, its ports replaced by free
// ones, in a directory of its own.
class nginx_proxy {
 public:
  nginx_proxy(std::uint16_t port, std::uint16_t first, std::uint16_t second)
      : dir_(std::filesystem::temp_directory_path() / ("tether-nginx-" + std::to_string(::getpid()))) {
    std::ifstream in(env("TETHER_TEST_DIR") + "/../example/nginx/chat_cluster.conf");
    std::string conf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    BOOST_REQUIRE_MESSAGE(!conf.empty(), "example/nginx/chat_cluster.conf is missing");
    // Whole "127.0.0.1:PORT" tokens, each searched for after its own
    // replacement: a new port never matches an old one.
    for (auto [from, to] : {std::pair{"127.0.0.1:8090", port}, std::pair{"127.0.0.1:8091", first},
                            std::pair{"127.0.0.1:8092", second}}) {
      std::string const replacement = "127.0.0.1:" + std::to_string(to);
      for (auto at = conf.find(from); at != std::string::npos; at = conf.find(from, at + replacement.size()))
        conf.replace(at, std::string_view(from).size(), replacement);
    }
    std::filesystem::create_directories(dir_ / "temp");
    std::ofstream(dir_ / "nginx.conf") << conf;
    process_.emplace(std::vector<std::string>{"/usr/sbin/nginx", "-p", dir_.string(), "-e", "stderr", "-c",
                                              (dir_ / "nginx.conf").string(), "-g",
                                              "daemon off; pid " + (dir_ / "nginx.pid").string() + ";"});
    BOOST_REQUIRE_MESSAGE(accepts(port), "nginx did not start");
  }

  ~nginx_proxy() {
    process_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

 private:
  std::filesystem::path dir_;
  std::optional<child> process_;
};

// Example 03 as one instance of a cluster: behind nginx on `proxy_port`,
// linked through Redis on `redis_port`.
std::unique_ptr<child> chat_instance(std::uint16_t port, std::string const& name, std::uint16_t redis_port,
                                     std::uint16_t proxy_port) {
  auto instance = std::make_unique<child>(std::vector<std::string>{
      examples_dir() + "/03_chat_rooms", "--port", std::to_string(port), "--name", name, "--redis",
      "127.0.0.1:" + std::to_string(redis_port), "--trust-proxy", "127.0.0.1", "--origin",
      "http://127.0.0.1:" + std::to_string(proxy_port)});
  BOOST_REQUIRE(instance->line().find(" as " + name) != std::string::npos);
  return instance;
}

// Linked to Redis; with members, also with the channels of the lobby and
// the announcements.
bool linked(std::uint16_t port, bool with_members = true) {
  auto const status = http_exchange(port, "GET", "/status");
  return status.find(with_members ? "\"connected\":true,\"channels\":2" : "\"connected\":true") != std::string::npos;
}

struct chat_member {
  tether::websocket ws;
  std::string instance;  // from "welcome to lobby on NAME"
};

net::awaitable<chat_member> join_lobby(std::string const& url, tether::client_options const& options) {
  auto ws = (co_await tether::connect(url, options)).value();
  auto welcome = co_await ws.read();
  BOOST_REQUIRE(welcome.has_value());
  BOOST_REQUIRE(welcome->payload.rfind("welcome to lobby on ", 0) == 0);
  co_return chat_member{ws, welcome->payload.substr(welcome->payload.rfind(' ') + 1)};
}

// Reads until `expected` arrives (true) or the connection ends (false).
net::awaitable<bool> hears(tether::websocket& ws, std::string expected) {
  while (auto msg = co_await ws.read())
    if (msg->payload == expected) co_return true;
  co_return false;
}

}  // namespace

BOOST_AUTO_TEST_CASE(chat_rooms_as_two_instances_behind_nginx_through_restarts) {
  redis_server redis;
  auto const proxy_port = free_port(), a_port = free_port(), b_port = free_port();
  auto a = chat_instance(a_port, "A", redis.port(), proxy_port);
  auto b = chat_instance(b_port, "B", redis.port(), proxy_port);
  nginx_proxy proxy(proxy_port, a_port, b_port);
  std::string const lobby = "ws://127.0.0.1:" + std::to_string(proxy_port) + "/rooms/lobby?name=";
  tether::client_options options = quiet_client();
  options.origin = "http://127.0.0.1:" + std::to_string(proxy_port);

  run_client([&]() -> net::awaitable<void> {
    // Round robin: joining until the two are on different instances.
    auto alice = co_await join_lobby(lobby + "alice", options);
    auto bob = co_await join_lobby(lobby + "bob", options);
    for (int i = 0; i < 6 && bob.instance == alice.instance; ++i) {
      co_await bob.ws.close();
      bob = co_await join_lobby(lobby + "bob", options);
    }
    BOOST_REQUIRE(alice.instance != bob.instance);
    BOOST_REQUIRE(eventually([&] { return linked(a_port) && linked(b_port); }, 10s));

    BOOST_REQUIRE(!co_await bob.ws.write("from " + bob.instance));
    BOOST_TEST(co_await hears(alice.ws, "bob: from " + bob.instance));
    BOOST_REQUIRE(!co_await alice.ws.write("from " + alice.instance));
    BOOST_TEST(co_await hears(bob.ws, "alice: from " + alice.instance));

    // Redis restarted: both instances link again and the rooms carry on.
    redis.stop();
    BOOST_REQUIRE(eventually([&] { return !linked(a_port) && !linked(b_port); }));
    redis.start();
    BOOST_REQUIRE(eventually([&] { return linked(a_port) && linked(b_port); }, 10s));
    BOOST_REQUIRE(!co_await bob.ws.write("after the Redis restart"));
    BOOST_TEST(co_await hears(alice.ws, "bob: after the Redis restart"));

    // An instance stopping says 1001; nginx sends the comeback to the other.
    auto& alices = alice.instance == "A" ? a : b;
    auto const alices_port = alice.instance == "A" ? a_port : b_port;
    alices->signal(SIGTERM);  // not stop(): this thread must answer the close
    BOOST_TEST(!co_await hears(alice.ws, "never said"));
    BOOST_TEST((alice.ws.peer_close_code() == tether::close_code::going_away));
    BOOST_TEST(alices->stop() == 0);
    auto again = co_await join_lobby(lobby + "alice", options);
    BOOST_TEST(again.instance == bob.instance);
    alices = chat_instance(alices_port, alice.instance, redis.port(), proxy_port);
    BOOST_REQUIRE(eventually([&] { return linked(alices_port, false); }, 10s));
    co_await again.ws.close();
    co_await bob.ws.close();
  }, 60s);

  // A browser page through a rolling restart of both instances.
  child page({"/usr/bin/node", env("TETHER_INTEROP_DIR") + "/node/cluster_check.mjs",
              "http://127.0.0.1:" + std::to_string(proxy_port) + "/", artifacts().string()});
  BOOST_REQUIRE(page.line() == "joined\n");
  for (auto [instance, port, name] : {std::tuple{&a, a_port, "A"}, std::tuple{&b, b_port, "B"}}) {
    BOOST_TEST((*instance)->stop() == 0);
    *instance = chat_instance(port, name, redis.port(), proxy_port);
    BOOST_REQUIRE(eventually([&] { return linked(port, false); }, 10s));
    std::this_thread::sleep_for(2500ms);  // past nginx's fail_timeout for the instance that was away
  }
  BOOST_TEST(page.line() == "rejoined\n");
  BOOST_TEST(page.stop() == 0);
}

BOOST_AUTO_TEST_CASE(live_svg_pushes_frames_and_hears_clicks) {
  auto const port = std::to_string(free_port());
  child server({examples_dir() + "/08_live_svg", "--port", port, "--rate", "30"});
  BOOST_TEST(server.line().find("http://127.0.0.1:" + port) != std::string::npos);
  run_client([&]() -> net::awaitable<void> {
    auto ws = (co_await tether::connect("ws://127.0.0.1:" + port + "/live", quiet_client())).value();
    for (int i = 0; i < 5; ++i) {
      auto frame = co_await ws.read();
      BOOST_REQUIRE(frame.has_value());
      BOOST_TEST(frame->payload.find("\"frame\":true") != std::string::npos);
    }
    BOOST_REQUIRE(!co_await ws.write("{\"click\":[10,20]}"));
    for (;;) {  // frames keep coming; the marker is among them
      auto msg = co_await ws.read();
      BOOST_REQUIRE(msg.has_value());
      if (msg->payload.find("marker") != std::string::npos) {
        BOOST_TEST(msg->payload == "{\"marker\":[10,20],\"count\":1}");
        break;
      }
    }
  });
  expect_page_shows("http://127.0.0.1:" + port + "/", "receiving frames", "08_live_svg", "#svg", "the server saw click 2");
  BOOST_TEST(server.stop() == 0);
}

BOOST_AUTO_TEST_CASE(every_example_prints_its_usage_on_help_and_exits_0) {
  for (std::string const name : {"01_echo_server", "02_echo_client", "03_chat_rooms", "04_count_with_logger",
                                 "05_inbox_outbox", "06_tls_server", "07_low_level_server", "08_live_svg",
                                 "demo_index"}) {
    // output_of() fails the test unless the exit status is 0; standard
    // error is dropped, so the usage has to be on standard output.
    auto const help = output_of(examples_dir() + "/" + name + " --help 2>/dev/null");
    BOOST_TEST(help.starts_with("usage: "), name << ": " << help);
  }
}

// The demo holds 8080 and getting-started leads to a server on 8080: a
// taken port must be one plain sentence, not an abort with Boost's source
// location.
BOOST_AUTO_TEST_CASE(a_taken_port_is_a_plain_message_and_exit_1) {
  net::io_context ctx;
  tcp::acceptor taken(ctx, {net::ip::make_address("127.0.0.1"), 0});
  auto const port = std::to_string(taken.local_endpoint().port());
  for (std::string const name : {"01_echo_server", "03_chat_rooms", "08_live_svg", "demo_index"}) {
    auto const command = examples_dir() + "/" + name + " --port " + port + " 2>&1; echo \"exit $?\"";
    std::string said;
    if (FILE* out = ::popen(command.c_str(), "r")) {
      char line[512];
      while (std::fgets(line, sizeof line, out)) said += line;
      ::pclose(out);
    }
    BOOST_TEST(said.find("cannot listen on 127.0.0.1:" + port + ": Address already in use") != std::string::npos,
               name << ": " << said);
    BOOST_TEST(said.find('[') == std::string::npos, name << ": " << said);
    BOOST_TEST(said.find("exit 1") != std::string::npos, name << ": " << said);
  }
}

// A page without an icon link makes every browser ask for /favicon.ico,
// a 404 in the console and the log of every example.
BOOST_AUTO_TEST_CASE(every_page_declares_its_icon) {
  auto page_of = [](std::vector<std::string> args, std::string const& scheme, std::uint16_t port) {
    child server(std::move(args));
    BOOST_TEST(server.line().find(scheme + "://127.0.0.1:" + std::to_string(port)) != std::string::npos);
    if (scheme == "https") return output_of("curl -sk https://127.0.0.1:" + std::to_string(port) + "/");
    return http_exchange(port, "GET", "/");
  };
  for (std::string const name : {"01_echo_server", "03_chat_rooms", "07_low_level_server", "08_live_svg",
                                 "demo_index"}) {
    auto const port = free_port();
    auto const page = page_of({examples_dir() + "/" + name, "--port", std::to_string(port)}, "http", port);
    BOOST_TEST(page.find("<link rel=\"icon\"") != std::string::npos, name << ": " << page);
  }
  auto const https = free_port();
  auto const page = page_of({examples_dir() + "/06_tls_server", "--port", std::to_string(https), "--http-port",
                             std::to_string(free_port())},
                            "https", https);
  BOOST_TEST(page.find("<link rel=\"icon\"") != std::string::npos, page);
}

BOOST_AUTO_TEST_CASE(demo_index_links_the_examples) {
  auto const port = std::to_string(free_port());
  child index({examples_dir() + "/demo_index", "--port", port, "Echo=http://127.0.0.1:8081/=an <echo>",
               "Live SVG=http://127.0.0.1:8084/=a drawing"});
  BOOST_TEST(index.line().find("http://127.0.0.1:" + port) != std::string::npos);
  auto const page = http_exchange(static_cast<std::uint16_t>(std::stoi(port)), "GET", "/");
  BOOST_TEST(page.find("<a href=\"http://127.0.0.1:8081/\">Echo</a>: an &lt;echo&gt;") != std::string::npos, page);
  BOOST_TEST(page.find("<a href=\"http://127.0.0.1:8084/\">Live SVG</a>") != std::string::npos, page);
  BOOST_TEST(index.stop() == 0);
}
