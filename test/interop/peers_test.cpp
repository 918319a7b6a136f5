// Interoperability with implementations we did not write, in both roles:
// python3-websockets (Debian) and Node's ws (npm, from the committed lock
// file). Each peer runs as a child process.
#define BOOST_TEST_MODULE interop
#include "../integration/support.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <fstream>
#include <sstream>

using namespace test;

namespace {

struct peer {
  char const* name;
  std::string command;  // followed by "client URL" or "server"
};

std::string interop_dir() {
  char const* dir = std::getenv("TETHER_INTEROP_DIR");
  BOOST_REQUIRE_MESSAGE(dir, "TETHER_INTEROP_DIR is not set");
  return dir;
}

std::vector<peer> peers() {
  std::string const here = interop_dir();
  // Debian's interpreter: python3-websockets is installed for it.
  return {{"python3-websockets", "/usr/bin/python3 " + here + "/python_peer.py"},
          {"node ws", "node " + here + "/node/node_peer.mjs"}};
}

tether::websocket_options deflating(bool takeover) {
  tether::websocket_options o;
  o.max_message_size = 17 << 20;  // 16 MiB of random data grows a little when deflated
  o.compression.enabled = true;
  o.compression.context_takeover = takeover;
  return o;
}

// Highly compressible, repeated and incompressible messages, then a long
// run of small ones in flight together: inflaters have failed on exactly
// these (Beast 1.81, its issue #3028), and Autobahn's cases miss them.
net::awaitable<void> compression_stress(tether::websocket& ws, std::string const& who) {
  std::mt19937_64 gen(11);
  for (std::size_t size : {64u << 10, 1u << 20, 16u << 20}) {
    std::string random(size, '\0');
    for (std::size_t i = 0; i + 8 <= size; i += 8) {
      auto const bits = gen();
      std::memcpy(random.data() + i, &bits, 8);
    }
    std::string text;
    while (text.size() < size) text += "tether! ";
    // A named vector: g++ 12 mishandles braced temporaries in coroutines.
    std::vector<std::pair<std::string, tether::message_kind>> messages;
    messages.emplace_back(std::string(size, 'A'), tether::message_kind::binary);
    messages.emplace_back(text, tether::message_kind::text);
    messages.emplace_back(random, tether::message_kind::binary);
    for (auto const& [payload, kind] : messages) {
      BOOST_REQUIRE(!co_await ws.write(payload, kind));
      auto reply = co_await ws.read();
      BOOST_REQUIRE_MESSAGE(reply.has_value(), who << ": " << reply.error().message());
      BOOST_REQUIRE_MESSAGE(reply->payload == payload, who << ": echo of " << size << " bytes differs");
    }
  }
  for (int i = 0; i < 2000; ++i) BOOST_REQUIRE(!co_await ws.write("{\"seq\":" + std::to_string(i) + ",\"kind\":\"tick\"}"));
  for (int i = 0; i < 2000; ++i) {
    auto reply = co_await ws.read();
    BOOST_REQUIRE(reply.has_value());
    BOOST_REQUIRE_EQUAL(reply->payload, "{\"seq\":" + std::to_string(i) + ",\"kind\":\"tick\"}");
  }
}

}  // namespace

tether::router checks_app() {
  tether::router app;
  app.websocket("/echo", echo_handler, {.websocket = {.max_message_size = 2 << 20}});
  app.websocket("/deflate", echo_handler, {.websocket = deflating(false)});
  app.websocket("/deflate-takeover", echo_handler, {.websocket = deflating(true)});
  app.websocket("/sub", echo_handler, {.subprotocols = {"v2", "v1"}});
  app.websocket("/close", [](tether::websocket& ws, tether::request const&) -> net::awaitable<void> {
    co_await ws.close(static_cast<tether::close_code>(4001), "done");
  });
  return app;
}

BOOST_AUTO_TEST_CASE(peer_clients_against_tether_server) {
  running_server server(checks_app());
  for (auto const& p : peers()) {
    BOOST_TEST_CONTEXT(p.name) {
      std::string const command = "timeout 90 " + p.command + " client ws://127.0.0.1:" + std::to_string(server.port());
      BOOST_TEST(std::system(command.c_str()) == 0, command);
    }
  }
}

BOOST_AUTO_TEST_CASE(tether_client_against_peer_servers) {
  for (auto const& p : peers()) {
    BOOST_TEST_CONTEXT(p.name) {
      std::string const command = "timeout 150 " + p.command + " server";
      FILE* child = ::popen(command.c_str(), "r");
      BOOST_REQUIRE(child);
      char line[32] = {};
      BOOST_REQUIRE(std::fgets(line, sizeof line, child));
      std::string const base = "ws://127.0.0.1:" + std::to_string(std::atoi(line));

      run_client([&]() -> net::awaitable<void> {
        auto options = quiet_client();
        options.subprotocols = {"v1"};
        options.websocket.max_message_size = 2 << 20;
        auto ws = (co_await tether::connect(base + "/echo", options)).value();
        BOOST_TEST(ws.subprotocol() == "v1");
        for (std::size_t size : {0u, 1u, 125u, 126u, 127u, 65535u, 65536u, 1u << 20}) {
          for (auto kind : {tether::message_kind::text, tether::message_kind::binary}) {
            std::string const payload(size, kind == tether::message_kind::text ? 't' : '\x01');
            BOOST_REQUIRE(!co_await ws.write(payload, kind));
            auto reply = co_await ws.read();
            BOOST_REQUIRE(reply.has_value());
            BOOST_TEST((reply->kind == kind));
            BOOST_TEST((reply->payload == payload));
          }
        }
        BOOST_TEST(!co_await ws.ping("hello"));
        BOOST_TEST(!co_await ws.close(static_cast<tether::close_code>(4000), "bye"));
        BOOST_TEST(static_cast<unsigned>(ws.peer_close_code()) == 4000u);

        for (bool takeover : {false, true}) {
          auto compressing = quiet_client();
          compressing.websocket = deflating(takeover);
          auto deflate = co_await tether::connect(base + "/echo", compressing);
          BOOST_REQUIRE_MESSAGE(deflate.has_value(), deflate.error().message());
          BOOST_TEST(deflate->compressed());
          co_await compression_stress(*deflate, std::string(p.name) + (takeover ? " with" : " without") +
                                                    " context takeover");
          BOOST_TEST(!co_await deflate->close());
        }

        auto closing = (co_await tether::connect(base + "/close4001", quiet_client())).value();
        auto msg = co_await closing.read();
        BOOST_TEST((msg.error() == tether::error::closed));
        BOOST_TEST(static_cast<unsigned>(closing.peer_close_code()) == 4001u);
        BOOST_TEST(closing.peer_close_reason() == "server says bye");

        auto stop = co_await tether::connect(base + "/shutdown", quiet_client());
        if (stop) co_await stop->read();
      }, 120s);
      BOOST_TEST(::pclose(child) == 0);
    }
  }
}

tether::router browser_app() {
  std::ifstream file(interop_dir() + "/browser_page.html");
  std::stringstream page;
  page << file.rdbuf();
  auto app = checks_app();
  app.get("/page", [html = page.str()](tether::request const&) { return tether::response::html(html); });
  app.websocket("/partners-only", echo_handler, {.origins = tether::origin::allow({"https://partner.example"})});
  return app;
}

BOOST_AUTO_TEST_CASE(headless_chromium_against_tether_server) {
  running_server server(browser_app());
  std::string const command = "timeout 120 node " + interop_dir() + "/node/browser_peer.mjs http://127.0.0.1:" +
                              std::to_string(server.port()) + "/page";
  BOOST_TEST(std::system(command.c_str()) == 0, command);
}

BOOST_AUTO_TEST_CASE(headless_chromium_over_https_and_wss) {
  tether::server_options options;
  options.tls.certificates.push_back(tether::certificate::self_signed({"127.0.0.1"}));
  running_server server(browser_app(), options);
  std::string const command = "timeout 120 node " + interop_dir() + "/node/browser_peer.mjs https://127.0.0.1:" +
                              std::to_string(server.port()) + "/page";
  BOOST_TEST(std::system(command.c_str()) == 0, command);
}
