// A client. With messages as arguments it sends each and prints the reply;
// without, it is interactive: every line typed (or piped) on standard
// input is sent, and everything the server sends is printed as it comes.
//   02_echo_client ws://127.0.0.1:8080/echo hello world
//   02_echo_client ws://127.0.0.1:8080/echo          (type lines; Ctrl-D ends)
#include <tether/tether.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace net = boost::asio;

namespace {

net::awaitable<int> send_each(tether::websocket& ws, std::vector<std::string> const& lines) {
  for (auto const& line : lines) {
    if (auto ec = co_await ws.write(line)) {
      std::fprintf(stderr, "write failed: %s\n", ec.message().c_str());
      co_return 1;
    }
    auto reply = co_await ws.read();
    if (!reply) {
      std::fprintf(stderr, "read failed: %s\n", reply.error().message().c_str());
      co_return 1;
    }
    std::printf("%s\n", reply->payload.c_str());
  }
  co_await ws.close(tether::close_code::normal, "done");
  co_return 0;
}

// Standard input blocks, so a thread of its own reads it and writes to the
// websocket (writes may come from any thread); this coroutine prints.
net::awaitable<int> interactive(tether::websocket& ws, std::atomic<bool>& input_done) {
  // Lines sent and echoes seen, shared with the input thread, which may
  // outlive this coroutine.
  struct progress {
    std::atomic<std::size_t> sent{0};
    std::atomic<std::size_t> echoed{0};
  };
  auto const counts = std::make_shared<progress>();
  std::thread([ws, counts, &input_done]() mutable {
    net::io_context writer;
    net::co_spawn(writer, [&]() -> net::awaitable<void> {
      std::string line;
      while (std::getline(std::cin, line)) {
        if (co_await ws.write(line)) co_return;
        ++counts->sent;
      }
      // A server stops sending once our close frame arrives: closing at
      // once would lose the echoes still on their way. Wait for them, 2 s at most.
      net::steady_timer pause(writer);
      for (int i = 0; i < 200 && counts->echoed < counts->sent; ++i) {
        pause.expires_after(std::chrono::milliseconds(10));
        co_await pause.async_wait(net::use_awaitable);
      }
      co_await ws.close(tether::close_code::normal, "end of input");
    }, net::detached);
    writer.run();
    input_done = true;
  }).detach();
  while (auto msg = co_await ws.read()) {
    std::printf("%s\n", msg->payload.c_str());
    std::fflush(stdout);
    ++counts->echoed;
  }
  co_return ws.peer_close_code() == tether::close_code::normal ? 0 : 1;
}

net::awaitable<int> talk(std::string url, std::vector<std::string> lines, std::atomic<bool>& input_done) {
  auto ws = co_await tether::connect(url);
  if (!ws) {
    std::fprintf(stderr, "cannot connect: %s\n", ws.error().message().c_str());
    co_return 1;
  }
  if (lines.empty()) co_return co_await interactive(*ws, input_done);
  co_return co_await send_each(*ws, lines);
}

}  // namespace

int main(int argc, char** argv) {
  bool const asked = argc >= 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h");
  if (argc < 2 || asked) {
    std::fprintf(asked ? stdout : stderr, "usage: %s ws://host:port/path [message...]\n", argv[0]);
    return asked ? 0 : 2;
  }
  std::atomic<bool> input_done{false};
  net::io_context ctx;
  auto result = net::co_spawn(ctx, talk(argv[1], {argv + 2, argv + argc}, input_done), net::use_future);
  ctx.run();
  int status = 1;
  try {
    status = result.get();
  } catch (std::exception const& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
  }
  std::fflush(stdout);
  // When the server ended the conversation, the input thread may still sit
  // in getline; leave without waiting for it.
  if (!input_done) std::_Exit(status);
  return status;
}
