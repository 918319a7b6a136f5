// The first Tether program: an HTML page and a WebSocket echo on one port.
// The socket only admits pages of this site (the default origin policy)
// and echoes until it receives an empty message.
//   01_echo_server [--port N] [--debug]
// Open http://127.0.0.1:8080 and type; Ctrl-C stops the server gracefully.
#include <tether/tether.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string_view>

namespace net = boost::asio;

namespace {

// The empty icon spares browsers a request for /favicon.ico, and the log a 404.
constexpr std::string_view page = R"html(<!doctype html>
<meta charset="utf-8"><link rel="icon" href="data:,"><title>Tether echo</title>
<style>body{font:16px system-ui;margin:2em;max-width:40em}#log{white-space:pre-wrap;border:1px solid #ccc;padding:.5em;min-height:8em}</style>
<h1>Tether echo</h1>
<p>Status: <b id="status">connecting…</b></p>
<form id="form"><input id="text" autofocus size="40" value="hello, tether"> <button>Send</button></form>
<div id="log"></div>
<script>
const log = (line) => { document.getElementById('log').textContent += line + '\n'; };
const ws = new WebSocket(`ws://${location.host}/echo`);
ws.onopen = () => {
  document.getElementById('status').textContent = 'open';
  ws.send('hello from the browser');
  log('sent: hello from the browser');
};
ws.onmessage = (e) => log('echo: ' + e.data);
ws.onclose = (e) => { document.getElementById('status').textContent = `closed (${e.code})`; };
document.getElementById('form').onsubmit = (e) => {
  e.preventDefault();
  const text = document.getElementById('text').value;
  ws.send(text);
  log('sent: ' + text);
};
</script>
)html";

net::awaitable<void> echo(tether::websocket& ws, tether::request const&) {
  while (auto msg = co_await ws.read()) {
    if (msg->payload.empty()) break;  // returning closes with 1000
    if (co_await ws.write(std::move(*msg))) break;
  }
}

// Asked for (--help): on standard output, success. Otherwise a mistake.
int usage(char const* self, bool asked) {
  std::fprintf(asked ? stdout : stderr, "usage: %s [--port N] [--debug]\n", self);
  return asked ? 0 : 2;
}

}  // namespace

int main(int argc, char** argv) {
  tether::server_options options;
  for (int i = 1; i < argc; ++i) {
    std::string_view const arg = argv[i];
    if (arg == "--port" && i + 1 < argc) {
      options.port = static_cast<std::uint16_t>(std::atoi(argv[++i]));
    } else if (arg == "--debug") {
      options.logger = tether::logger(tether::log_level::debug);
    } else {
      return usage(argv[0], arg == "--help" || arg == "-h");
    }
  }

  tether::router app;
  app.get("/", [](tether::request const&) { return tether::response::html(std::string(page)); });
  app.websocket("/echo", echo);  // same-site origins only: other sites' pages get 403

  try {
    tether::server server(app, options);
    std::printf("Tether echo demo: http://127.0.0.1:%u  (Ctrl-C to stop)\n", server.port());
    std::fflush(stdout);
    return server.run_until_signal();
  } catch (std::exception const& e) {
    std::fprintf(stderr, "cannot start: %s\n", e.what());
    return 1;
  }
}
