// A client split in two: a reader coroutine fills an inbox channel and a
// writer coroutine drains an outbox channel. The application only talks to
// the channels; when it closes the outbox, the writer closes the socket.
// An echo server runs in the same process.
//   05_inbox_outbox [--messages N]

// g++ 12 at -O3 warns falsely that Asio's channel frees memory it got from a
// mismatched allocator (-Wmismatched-new-delete, reported inside Asio's
// memory.hpp, so it must be off before the first Asio header).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <tether/tether.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/channel.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

namespace net = boost::asio;
using box = net::experimental::channel<void(boost::system::error_code, std::string)>;

namespace {

net::awaitable<void> echo(tether::websocket& ws, tether::request const&) {
  while (auto msg = co_await ws.read())
    if (co_await ws.write(std::move(*msg))) break;
}

// Socket -> inbox, until the socket closes; then the inbox closes too.
net::awaitable<void> reader(tether::websocket ws, box& inbox) {
  while (auto msg = co_await ws.read()) co_await inbox.async_send({}, std::move(msg->payload), net::use_awaitable);
  inbox.close();
}

// Outbox -> socket, until the outbox closes; then a clean close.
net::awaitable<void> writer(tether::websocket ws, box& outbox) {
  for (;;) {
    auto [ec, text] = co_await outbox.async_receive(net::as_tuple(net::use_awaitable));
    if (ec) break;  // the application closed the outbox
    if (co_await ws.write(text)) break;
  }
  co_await ws.close(tether::close_code::normal, "outbox closed");
}

net::awaitable<int> application(std::string url, int count) {
  auto ws = co_await tether::connect(url);
  if (!ws) {
    std::fprintf(stderr, "cannot connect: %s\n", ws.error().message().c_str());
    co_return 1;
  }
  auto ex = co_await net::this_coro::executor;
  box inbox(ex, 16), outbox(ex, 16);
  net::co_spawn(ex, reader(*ws, inbox), net::detached);
  net::co_spawn(ex, writer(*ws, outbox), net::detached);

  for (int i = 1; i <= count; ++i) co_await outbox.async_send({}, "message " + std::to_string(i), net::use_awaitable);
  int received = 0;
  while (received < count) {
    auto [ec, text] = co_await inbox.async_receive(net::as_tuple(net::use_awaitable));
    if (ec) break;
    std::printf("inbox: %s\n", text.c_str());
    ++received;
  }
  outbox.close();  // the writer sends the close frame
  auto [ec, rest] = co_await inbox.async_receive(net::as_tuple(net::use_awaitable));  // ends when the reader does
  co_return received == count && ec ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  int count = 5;
  for (int i = 1; i < argc; ++i) {
    std::string const arg = argv[i];
    if (arg == "--messages" && i + 1 < argc) {
      count = std::atoi(argv[++i]);
    } else {
      bool const asked = arg == "--help" || arg == "-h";
      std::fprintf(asked ? stdout : stderr, "usage: %s [--messages N]\n", argv[0]);
      return asked ? 0 : 2;
    }
  }
  tether::router app;
  app.websocket("/echo", echo);
  tether::server server(app, {.port = 0, .logger = tether::logger(tether::log_level::warning)});
  std::thread serving([&] { server.run(); });

  net::io_context client;
  auto result = net::co_spawn(client, application("ws://127.0.0.1:" + std::to_string(server.port()) + "/echo", count),
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
