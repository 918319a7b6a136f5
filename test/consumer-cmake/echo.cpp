// A CMake consumer's file: a server on 127.0.0.1 (port 0) and a client in
// one process, one message there and back. Exits 0 when the echo matched.
#include <tether/tether.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

namespace net = boost::asio;

namespace {

net::awaitable<void> echo(tether::websocket& ws, tether::request const&) {
  while (auto msg = co_await ws.read())
    if (co_await ws.write(std::move(*msg))) break;
}

net::awaitable<int> round_trip(std::string url) {
  auto ws = co_await tether::connect(url);
  if (!ws) {
    std::fprintf(stderr, "cmake consumer: cannot connect to %s: %s\n", url.c_str(), ws.error().message().c_str());
    co_return 1;
  }
  std::string const sent = "hello from CMake";
  if (auto ec = co_await ws->write(sent)) {
    std::fprintf(stderr, "cmake consumer: write failed: %s\n", ec.message().c_str());
    co_return 1;
  }
  auto reply = co_await ws->read();
  if (!reply) {
    std::fprintf(stderr, "cmake consumer: read failed: %s\n", reply.error().message().c_str());
    co_return 1;
  }
  co_await ws->close(tether::close_code::normal, "done");
  if (reply->payload != sent) {
    std::fprintf(stderr, "cmake consumer: sent '%s', got '%s'\n", sent.c_str(), reply->payload.c_str());
    co_return 1;
  }
  std::printf("cmake consumer: echo ok (%s)\n", reply->payload.c_str());
  co_return 0;
}

}  // namespace

int main() {
  tether::router app;
  app.websocket("/echo", echo);
  tether::server server(app, {.port = 0, .logger = tether::logger::silent()});
  std::thread serving([&] { server.run(); });

  int status = 1;
  net::io_context ctx;
  net::co_spawn(ctx, round_trip("ws://127.0.0.1:" + std::to_string(server.port()) + "/echo"),
                [&](std::exception_ptr failure, int result) {
                  status = failure ? 1 : result;
                  if (failure) std::fprintf(stderr, "cmake consumer: the client threw\n");
                });
  ctx.run();
  server.stop(std::chrono::seconds(1));
  serving.join();
  return status;
}
