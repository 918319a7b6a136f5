// Server and client in one process count to 10 with 1-byte binary messages
// over the subprotocol "count", with the debug logger on: every open, ping
// and close shows up on standard error.
//   04_count_with_logger [--to N] [--quiet]
#include <tether/tether.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

namespace net = boost::asio;

namespace {

// The server adds one to every number it receives.
net::awaitable<void> count_up(tether::websocket& ws, tether::request const&) {
  while (auto msg = co_await ws.read()) {
    if (msg->kind != tether::message_kind::binary || msg->payload.size() != 1) {
      co_await ws.close(tether::close_code::unsupported_data, "one byte, please");
      co_return;
    }
    char const next = static_cast<char>(msg->payload[0] + 1);
    if (co_await ws.write(std::string(1, next), tether::message_kind::binary)) co_return;
  }
}

net::awaitable<int> count_to(std::string url, int target, tether::logger log) {
  tether::client_options options;
  options.subprotocols = {"count"};
  options.logger = log;
  auto ws = co_await tether::connect(url, options);
  if (!ws) {
    std::fprintf(stderr, "cannot connect: %s\n", ws.error().message().c_str());
    co_return 1;
  }
  int value = 1;
  while (value < target) {
    std::printf("client sends %d\n", value);
    co_await ws->write(std::string(1, static_cast<char>(value)), tether::message_kind::binary);
    auto reply = co_await ws->read();
    if (!reply) {
      std::fprintf(stderr, "read failed: %s\n", reply.error().message().c_str());
      co_return 1;
    }
    value = reply->payload[0];
    std::printf("server says %d\n", value);
  }
  co_await ws->close(tether::close_code::normal, "counted to " + std::to_string(value));
  co_return value == target ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  int target = 10;
  auto log = tether::logger(tether::log_level::debug);
  for (int i = 1; i < argc; ++i) {
    std::string const arg = argv[i];
    if (arg == "--to" && i + 1 < argc) {
      target = std::atoi(argv[++i]);
    } else if (arg == "--quiet") {
      log = tether::logger(tether::log_level::warning);
    } else {
      bool const asked = arg == "--help" || arg == "-h";
      std::fprintf(asked ? stdout : stderr, "usage: %s [--to N (2..127)] [--quiet]\n", argv[0]);
      return asked ? 0 : 2;
    }
  }
  if (target < 2 || target > 127) {
    std::fprintf(stderr, "--to takes 2 to 127\n");
    return 2;
  }

  tether::router app;
  app.websocket("/count", count_up, {.subprotocols = {"count"}, .require_subprotocol = true});
  tether::server server(app, {.port = 0, .logger = log});
  std::thread serving([&] { server.run(); });

  net::io_context client;
  auto result = net::co_spawn(client, count_to("ws://127.0.0.1:" + std::to_string(server.port()) + "/count", target, log),
                              net::use_future);
  client.run();
  server.stop(std::chrono::seconds(1));
  serving.join();
  try {
    return result.get();
  } catch (std::exception const& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
