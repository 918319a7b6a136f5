// A client: sends each argument as a message and prints what comes back.
//   02_echo_client ws://127.0.0.1:8080/echo hello world
#include <tether/tether.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

namespace net = boost::asio;

namespace {

net::awaitable<int> talk(std::string url, std::vector<std::string> lines) {
  auto ws = co_await tether::connect(url);
  if (!ws) {
    std::fprintf(stderr, "cannot connect: %s\n", ws.error().message().c_str());
    co_return 1;
  }
  for (auto const& line : lines) {
    if (auto ec = co_await ws->write(line)) {
      std::fprintf(stderr, "write failed: %s\n", ec.message().c_str());
      co_return 1;
    }
    auto reply = co_await ws->read();
    if (!reply) {
      std::fprintf(stderr, "read failed: %s\n", reply.error().message().c_str());
      co_return 1;
    }
    std::printf("%s\n", reply->payload.c_str());
  }
  co_await ws->close(tether::close_code::normal, "done");
  co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help") {
    std::fprintf(stderr, "usage: %s ws://host:port/path [message...]\n", argv[0]);
    return 2;
  }
  std::vector<std::string> lines(argv + 2, argv + argc);
  if (lines.empty()) lines.push_back("hello from tether");

  net::io_context ctx;
  auto result = net::co_spawn(ctx, talk(argv[1], std::move(lines)), net::use_future);
  ctx.run();
  try {
    return result.get();
  } catch (std::exception const& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
