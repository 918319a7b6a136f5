// The broadcast server bench/run measures: every message that arrives on
// /publish goes to every connection on /subscribe, through a tether::hub.
// With --redis, instances share the topic (the latency case).
//   tether_broadcast [--port N] [--threads N] [--redis HOST:PORT]
#include <tether/tether.hpp>

#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

namespace net = boost::asio;

int main(int argc, char** argv) {
  tether::server_options options{
      .port = 9001, .max_connections = 100000, .max_connections_per_ip = 100000, .logger = tether::logger::silent()};
  std::string redis;
  for (int i = 1; i < argc; ++i) {
    std::string_view const arg = argv[i];
    if (arg == "--port" && i + 1 < argc) options.port = static_cast<std::uint16_t>(std::atoi(argv[++i]));
    else if (arg == "--threads" && i + 1 < argc) options.threads = static_cast<unsigned>(std::atoi(argv[++i]));
    else if (arg == "--redis" && i + 1 < argc) redis = argv[++i];
    else return 2;
  }
  tether::hub topics;
  std::optional<tether::redis_bridge> bridge;
  if (!redis.empty()) {
    tether::redis_options link;
    link.host = redis.substr(0, redis.rfind(':'));
    link.port = static_cast<std::uint16_t>(std::atoi(redis.c_str() + redis.rfind(':') + 1));
    link.logger = tether::logger::silent();
    bridge.emplace(topics, link);
  }
  tether::router app;
  app.websocket("/subscribe", [&topics](tether::websocket& ws, tether::request const&) -> net::awaitable<void> {
    topics.subscribe(ws, "all");
    while (co_await ws.read()) {
    }
  });
  app.websocket("/publish", [&topics](tether::websocket& ws, tether::request const&) -> net::awaitable<void> {
    while (auto msg = co_await ws.read()) topics.publish("all", msg->payload, msg->kind);
  });
  tether::server server(app, options);
  int const status = server.run_until_signal();
  bridge.reset();  // before the server's loops go
  return status;
}
