// A consumer's file: only <tether/tether.hpp>. Serves until --stop-after,
// and asks itself for "/" through plain_asio.cpp, which uses Asio on its own.
#include <tether/tether.hpp>

#include "plain_asio.hpp"

#include <cstdio>
#include <cstdlib>
#include <thread>

namespace net = boost::asio;

net::awaitable<void> echo(tether::websocket& ws, tether::request const&) {
  while (auto msg = co_await ws.read())
    if (co_await ws.write(*msg)) break;
}

int main(int argc, char** argv) {
  tether::router app;
  app.get("/", [](tether::request const&) { return tether::response::text("consumer ok"); });
  app.websocket("/echo", echo);
  tether::server server(app, {.port = 0, .logger = tether::logger::silent()});
  std::printf("%u\n", server.port());
  std::fflush(stdout);
  int const seconds = argc > 1 ? std::atoi(argv[1]) : 1;
  std::thread stopper([&] {
    std::printf("plain asio: %s\n", plain_asio_get(server.port()).c_str());
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::seconds(seconds));
    server.stop(std::chrono::seconds(1));
  });
  server.run();
  stopper.join();
  return 0;
}
