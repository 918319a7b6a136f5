// file: server.cpp (example/quickstart/server.cpp)
// An echo server on 127.0.0.1:8080: a page at / and a WebSocket at /echo
// that sends every message back. Ctrl-C stops it.
#include <tether/tether.hpp>

#include <iostream>
#include <system_error>

namespace net = boost::asio;

net::awaitable<void> echo(tether::websocket& ws, tether::request const&) {
  // An error value ends the loop: the client closed, a timeout, bad input.
  while (auto msg = co_await ws.read())
    if (auto failed = co_await ws.write(std::move(*msg))) break;  // moved, not copied
}  // returning closes with 1000

int main() {
  tether::router app;
  app.get("/", [](tether::request const&) { return tether::response::html("<h1>echo at /echo</h1>"); });
  app.websocket("/echo", echo);
  try {
    tether::server server(app, {.port = 8080});  // 127.0.0.1 unless told otherwise
    return server.run_until_signal();            // Ctrl-C: 1001 to every client, then 0
  } catch (std::system_error const& e) {         // the port is taken, say
    std::cerr << e.what() << '\n';
    return 1;
  }
}
