// The reference point: a minimal raw Beast C++20 coroutine echo server,
// single-threaded, built with the same Boost and flags as Tether.
//   beast_echo PORT
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <cstdio>
#include <cstdlib>

namespace net = boost::asio;
namespace websocket = boost::beast::websocket;
using tcp = net::ip::tcp;

net::awaitable<void> session(tcp::socket socket) {
  socket.set_option(tcp::no_delay(true));  // like every server measured here
  websocket::stream<tcp::socket> ws(std::move(socket));
  ws.read_message_max(64 << 20);
  try {
    co_await ws.async_accept(net::use_awaitable);
    boost::beast::flat_buffer buffer;
    for (;;) {
      co_await ws.async_read(buffer, net::use_awaitable);
      ws.text(ws.got_text());
      co_await ws.async_write(buffer.data(), net::use_awaitable);
      buffer.consume(buffer.size());
    }
  } catch (std::exception const&) {
  }
}

net::awaitable<void> listen(tcp::acceptor& acceptor) {
  for (;;) {
    auto socket = co_await acceptor.async_accept(net::use_awaitable);
    net::co_spawn(acceptor.get_executor(), session(std::move(socket)), net::detached);
  }
}

int main(int argc, char** argv) {
  net::io_context ctx(1);
  tcp::acceptor acceptor(ctx, {net::ip::make_address("127.0.0.1"),
                               static_cast<unsigned short>(argc > 1 ? std::atoi(argv[1]) : 9002)});
  net::co_spawn(ctx, listen(acceptor), net::detached);
  std::printf("beast echo on %u\n", acceptor.local_endpoint().port());
  std::fflush(stdout);
  ctx.run();
}
