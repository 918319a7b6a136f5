// The compile-time subject of bench/run: a hello-world Tether server,
// compiled with the same flags as beast_echo.cpp. Also the Tether server
// that bench/run measures (logging off).
#include <tether/tether.hpp>

#include <cstdlib>
#include <string_view>
#include <vector>

namespace net = boost::asio;

// Every message at hand in one operation each way.
net::awaitable<void> echo(tether::websocket& ws, tether::request const&) {
  std::vector<tether::message> batch;
  while (!co_await ws.read_batch(batch))
    if (co_await ws.write_batch(batch)) break;
}

// The loop most handlers are written as (--one-by-one).
net::awaitable<void> echo_one_by_one(tether::websocket& ws, tether::request const&) {
  while (auto msg = co_await ws.read())
    if (co_await ws.write(std::move(*msg))) break;
}

// hello_tether [--port N] [--threads N] [--compress] [--tls CHAIN KEY] [--one-by-one]
// (--tls: wss:// on the same port, with the PEM files given)
int main(int argc, char** argv) {
  // Every load generator connection comes from 127.0.0.1: the per-address
  // limit (1024 by default) would refuse most of them.
  tether::server_options options{
      .port = 9001, .max_connections = 100000, .max_connections_per_ip = 100000, .logger = tether::logger::silent()};
  tether::endpoint_options endpoint;
  endpoint.websocket.max_message_size = 64 << 20;
  auto handler = echo;
  for (int i = 1; i < argc; ++i) {
    std::string_view const arg = argv[i];
    if (arg == "--port" && i + 1 < argc) options.port = static_cast<std::uint16_t>(std::atoi(argv[++i]));
    else if (arg == "--threads" && i + 1 < argc) options.threads = static_cast<unsigned>(std::atoi(argv[++i]));
    else if (arg == "--compress") endpoint.websocket.compression.enabled = true;
    else if (arg == "--one-by-one") handler = echo_one_by_one;
    else if (arg == "--tls" && i + 2 < argc) {
      options.tls.certificates.push_back(tether::certificate::from_files(argv[i + 1], argv[i + 2]));
      i += 2;
    }
    else return 2;
  }
  tether::router app;
  app.get("/", [](tether::request const&) { return tether::response::html("<p>hi</p>"); });
  app.websocket("/echo", handler, endpoint);
  tether::server server(app, options);
  return server.run_until_signal();
}
