// file: client.cpp (example/quickstart/client.cpp)
// Sends "hello" to the echo server on 127.0.0.1:8080 and prints the echo.
#include <tether/tether.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <exception>
#include <iostream>

namespace net = boost::asio;

net::awaitable<int> hello() {
  auto connected = co_await tether::connect("ws://127.0.0.1:8080/echo");
  if (!connected) {
    // Which step failed, and the HTTP status if the server refused.
    std::cerr << "connect: " << connected.error().message() << '\n';
    co_return 1;
  }
  auto& ws = *connected;
  if (auto failed = co_await ws.write("hello")) {
    std::cerr << "write: " << failed.message() << '\n';
    co_return 1;
  }
  auto reply = co_await ws.read();
  if (!reply) {
    std::cerr << "read: " << reply.error().message() << '\n';
    co_return 1;
  }
  std::cout << reply->payload << '\n';
  co_await ws.close();
  co_return 0;
}

int main() {
  net::io_context ctx;
  int status = 1;
  net::co_spawn(ctx, hello(), [&](std::exception_ptr e, int result) {
    if (e) std::rethrow_exception(e);  // out of ctx.run()
    status = result;
  });
  ctx.run();
  return status;  // 0: "hello" came back
}
