// The echo page over https:// and wss://, with compression, plus a plain
// http:// port that only sends browsers to the secure one.
//   06_tls_server [--port 8443] [--http-port 8080] [--name localhost] [--cert chain.pem --key key.pem] [--save DIR]
// Without --cert it makes a self-signed certificate for localhost,
// 127.0.0.1 and ::1 (browsers warn once; --save writes it out so that a
// client can trust it, e.g. tether-cat --ca DIR/cert.pem).
#include <tether/tether.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <thread>

namespace net = boost::asio;

namespace {

constexpr std::string_view page = R"html(<!doctype html>
<meta charset="utf-8"><link rel="icon" href="data:,"><title>Tether over TLS</title>
<style>body{font:16px system-ui;margin:2em;max-width:40em}#log{white-space:pre-wrap;border:1px solid #ccc;padding:.5em;min-height:8em}</style>
<h1>Tether over TLS</h1>
<p>Status: <b id="status">connecting…</b> <span id="ext"></span></p>
<form id="form"><input id="text" autofocus size="40" value="hello, tether"> <button>Send</button></form>
<div id="log"></div>
<script>
const log = (line) => { document.getElementById('log').textContent += line + '\n'; };
const ws = new WebSocket(`wss://${location.host}/echo`);
ws.onopen = () => {
  document.getElementById('status').textContent = 'open';
  document.getElementById('ext').textContent = ws.extensions ? `(${ws.extensions})` : '';
  ws.send('hello over wss');
};
ws.onmessage = (e) => log('echo: ' + e.data);
ws.onclose = (e) => { document.getElementById('status').textContent = `closed (${e.code})`; };
document.getElementById('form').onsubmit = (e) => {
  e.preventDefault();
  ws.send(document.getElementById('text').value);
};
</script>
)html";

net::awaitable<void> echo(tether::websocket& ws, tether::request const&) {
  while (auto msg = co_await ws.read()) {
    if (co_await ws.write(std::move(*msg))) break;
  }
}

// Asked for (--help): on standard output, success. Otherwise a mistake.
int usage(char const* self, bool asked = false) {
  std::fprintf(asked ? stdout : stderr,
               "usage: %s [--port N] [--http-port N] [--name HOST] [--cert FILE --key FILE] [--save DIR] [--debug]\n"
               "  --name  the host name the plain port redirects to (default localhost), with the TLS port\n",
               self);
  return asked ? 0 : 2;
}

// Everything on the plain port is sent to the same path over https; the
// upgrade to a WebSocket has no endpoint here (404). The name is ours,
// never the request's Host, which anyone may write. 302, not 301:
// browsers keep a permanent redirect, and development ports change.
tether::router redirects_to(std::string const& origin) {
  tether::router plain;
  plain.get("/*", [origin](tether::request const& req) {
    std::string location = origin + req.path;
    if (!req.query.empty()) location.append("?").append(req.query);
    return tether::response::redirect(location);
  });
  return plain;
}

void save(tether::certificate const& cert, std::filesystem::path const& dir) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "cert.pem") << cert.chain_pem;
  std::ofstream key(dir / "key.pem");
  std::filesystem::permissions(dir / "key.pem", std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  key << cert.key_pem;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint16_t https_port = 8443, http_port = 8080;
  std::string cert_file, key_file, save_dir, name = "localhost";
  tether::server_options options;
  for (int i = 1; i < argc; ++i) {
    std::string_view const arg = argv[i];
    bool const has_value = i + 1 < argc;
    if (arg == "--port" && has_value) https_port = static_cast<std::uint16_t>(std::atoi(argv[++i]));
    else if (arg == "--http-port" && has_value) http_port = static_cast<std::uint16_t>(std::atoi(argv[++i]));
    else if (arg == "--name" && has_value) name = argv[++i];
    else if (arg == "--cert" && has_value) cert_file = argv[++i];
    else if (arg == "--key" && has_value) key_file = argv[++i];
    else if (arg == "--save" && has_value) save_dir = argv[++i];
    else if (arg == "--debug") options.logger = tether::logger(tether::log_level::debug);
    else return usage(argv[0], arg == "--help" || arg == "-h");
  }
  if (cert_file.empty() != key_file.empty()) return usage(argv[0]);

  try {
    auto const cert = cert_file.empty() ? tether::certificate::self_signed({"localhost", "127.0.0.1", "::1"})
                                        : tether::certificate::from_files(cert_file, key_file);
    if (!save_dir.empty()) save(cert, save_dir);
    options.tls.certificates.push_back(cert);
    options.port = https_port;

    tether::router app;
    app.get("/", [](tether::request const&) { return tether::response::html(std::string(page)); });
    tether::endpoint_options secure_echo;
    secure_echo.websocket.compression.enabled = true;  // browsers offer permessage-deflate
    app.websocket("/echo", echo, secure_echo);
    tether::server server(app, options);

    // A router serves every listener of its server alike, so the plain port
    // is a server of its own: one listener beside the TLS one would serve
    // the echo in clear text too.
    auto const port = server.port();
    tether::server_options plain_options;
    plain_options.port = http_port;
    plain_options.logger = options.logger;
    std::string secure_origin = "https://" + name;
    if (port != 443) secure_origin.append(":").append(std::to_string(port));
    tether::server plain(redirects_to(secure_origin), plain_options);
    std::thread plain_loop([&plain] { plain.run(); });

    std::printf("Tether over TLS: https://127.0.0.1:%u  (http://127.0.0.1:%u redirects to %s; Ctrl-C to stop)\n",
                port, plain.port(), secure_origin.c_str());
    std::fflush(stdout);
    int const status = server.run_until_signal();
    plain.stop(std::chrono::seconds(1));
    plain_loop.join();
    return status;
  } catch (std::exception const& e) {
    std::fprintf(stderr, "cannot start: %s\n", e.what());
    return 1;
  }
}
