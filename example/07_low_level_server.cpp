// Example 01 again, from the lower-level pieces: our own Asio acceptor and
// accept loop, and tether::accept() on each socket instead of a server and
// a router. Shows what the server does for you, and how to fit Tether into
// a program that already owns its sockets.
//   07_low_level_server [--port N]
#include <tether/accept.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string_view>

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

constexpr std::string_view page = R"html(<!doctype html>
<meta charset="utf-8"><link rel="icon" href="data:,"><title>Tether, low level</title>
<h1>Tether, low level</h1>
<pre id="log"></pre>
<script>
const ws = new WebSocket(`ws://${location.host}/echo`);
ws.onopen = () => ws.send('hello from the low-level page');
ws.onmessage = (e) => { document.getElementById('log').textContent += 'echo: ' + e.data + '\n'; };
</script>
)html";

// One connection: the HTTP request decides between the page and the socket.
net::awaitable<void> serve(tcp::socket socket) {
  tether::accept_options options;  // options.endpoint: same-site origins, as a router endpoint
  options.http = [](tether::request const& req) {
    if (req.method == "GET" && req.path == "/") return tether::response::html(std::string(page));
    return tether::response::text("not found\n", 404);
  };
  auto accepted = co_await tether::accept(std::move(socket), options);
  if (!accepted) co_return;  // the page, a refusal, or a client that went away
  auto& ws = accepted->ws;
  if (accepted->req.path != "/echo") {
    co_await ws.close(tether::close_code::policy_violation, "no such socket");
    co_return;
  }
  while (auto msg = co_await ws.read()) {
    if (msg->payload.empty()) break;
    if (co_await ws.write(std::move(*msg))) break;
  }
  co_await ws.close();
}

net::awaitable<void> accept_loop(tcp::acceptor& acceptor) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(net::as_tuple(net::use_awaitable));
    if (ec == net::error::operation_aborted) co_return;  // closed by the signal handler
    if (ec) continue;  // e.g. out of descriptors: a real server would also pause here
    net::co_spawn(acceptor.get_executor(), serve(std::move(socket)), net::detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::uint16_t port = 8080;
  if (argc == 3 && std::string_view(argv[1]) == "--port") {
    port = static_cast<std::uint16_t>(std::atoi(argv[2]));
  } else if (argc != 1) {
    bool const asked = argc == 2 && (std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h");
    std::fprintf(asked ? stdout : stderr, "usage: %s [--port N]\n", argv[0]);
    return asked ? 0 : 2;
  }
  try {
    net::io_context ctx;
    tcp::acceptor acceptor(ctx, {net::ip::make_address("127.0.0.1"), port});
    net::signal_set signals(ctx, SIGINT, SIGTERM);
    // Unlike server::stop(), this does not close open WebSockets with 1001:
    // stopping the loop simply drops them.
    signals.async_wait([&](boost::system::error_code, int) {
      acceptor.close();
      ctx.stop();
    });
    net::co_spawn(ctx, accept_loop(acceptor), net::detached);
    std::printf("Tether, low level: http://127.0.0.1:%u  (Ctrl-C to stop)\n", acceptor.local_endpoint().port());
    std::fflush(stdout);
    ctx.run();
    return 0;
  } catch (boost::system::system_error const& e) {
    // what() would end with "[system:98 at /usr/include/boost/asio/...]".
    std::fprintf(stderr, "cannot listen on 127.0.0.1:%u: %s\n", unsigned{port}, e.code().message().c_str());
    return 1;
  } catch (std::exception const& e) {
    std::fprintf(stderr, "cannot start: %s\n", e.what());
    return 1;
  }
}
