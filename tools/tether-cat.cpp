// tether-cat: a WebSocket client and server for the terminal. The usage
// text below is its manual, exit statuses included.
#include <tether/tether.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/system/system_error.hpp>

#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <system_error>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace net = boost::asio;
using namespace std::chrono_literals;

namespace {

constexpr char usage[] =
    "usage: tether-cat [options] ws[s]://host:port/path\n"
    "       tether-cat --listen PORT [--path /] [--broadcast] [--cert FILE --key FILE] [-z]\n"
    "As a client, each line of standard input becomes a message and each message received\n"
    "is printed on a line of standard output; at the end of input it closes with 1000.\n"
    "How the connection ended goes to standard error.\n"
    "options:\n"
    "  -s, --subprotocol NAME   offer a subprotocol (repeatable)\n"
    "  -H, --header 'K: V'      extra request header (repeatable)\n"
    "  -o, --origin ORIGIN      send an Origin header\n"
    "  -b, --binary             send lines as binary messages\n"
    "  -p, --ping-interval SEC  keep-alive ping interval (0: off; default 30)\n"
    "  -e, --echo               send back every message received, until the server closes\n"
    "  -d, --close-delay MS     after the end of input, wait this long for replies before\n"
    "                           closing (default 500)\n"
    "  -z, --compress           permessage-deflate (offer it; as a server, accept it)\n"
    "      --ca FILE            trust the CAs in this PEM file instead of the system store\n"
    "  -k, --insecure           do not verify the server's certificate (warns)\n"
    "      --unix PATH          connect through this Unix socket\n"
    "      --proxy URL          HTTP proxy (default: http_proxy/https_proxy; 'direct': none)\n"
    "  -v, --verbose            debug log on standard error, and what the handshake agreed\n"
    "                           (subprotocol, compression)\n"
    "  -h, --help               this text\n"
    "      --version            the version of tether-cat\n"
    "server options:\n"
    "      --listen PORT        serve WebSockets on 127.0.0.1:PORT (0: any free port; the\n"
    "                           URL is printed on standard error) and print every message\n"
    "                           received; without --broadcast each is echoed to its sender\n"
    "      --path PATH          the path that accepts WebSockets (default /); others get 404\n"
    "      --broadcast          do not echo: send each line of standard input to every\n"
    "                           connected client instead\n"
    "      --cert FILE, --key FILE  serve wss:// with this certificate chain and key\n"
    "exit status: 0 when the connection closed with 1000 (normal) or 1001 (going away),\n"
    "  1 when it could not be opened (or the server could not listen), 2 for a usage error,\n"
    "  3 for any other ending: another close code, or the connection lost or failed\n";

struct settings {
  std::string url;
  tether::client_options client;
  bool binary = false;
  bool echo = false;
  std::chrono::milliseconds close_delay{500};
  int listen_port = -1;
  std::string path = "/";
  bool broadcast = false;
  bool verbose = false;
  std::string cert_file, key_file;
};

int fail_usage(std::string const& why) {
  std::fprintf(stderr, "tether-cat: %s\n%s", why.c_str(), usage);
  return 2;
}

// The peer's close reason is untrusted: control bytes would reach the
// terminal as escape sequences, so they are written as \xNN.
std::string printable(std::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7F) {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02X", c);
      out += hex;
    } else {
      if (c == '"' || c == '\\') out += '\\';
      out += static_cast<char>(c);
    }
  }
  return out + '"';
}

std::string describe(tether::close_code code, std::string_view reason) {
  using enum tether::close_code;
  static std::map<tether::close_code, char const*> const names{
      {normal, "normal"}, {going_away, "going away"}, {protocol_error, "protocol error"},
      {unsupported_data, "unsupported data"}, {invalid_payload, "invalid payload"},
      {policy_violation, "policy violation"}, {message_too_big, "message too big"},
      {mandatory_extension, "mandatory extension"}, {internal_error, "internal error"},
      {service_restart, "service restart"}, {try_again_later, "try again later"}, {bad_gateway, "bad gateway"}};
  if (code == no_status) return "no status code";
  std::string text = std::to_string(static_cast<unsigned>(code));
  if (auto const name = names.find(code); name != names.end()) text.append(" ").append(name->second);
  if (!reason.empty()) text.append(" ").append(printable(reason));
  return text;
}

// One line for standard error: who ended the connection, and how.
std::string ending(boost::system::error_code ended, tether::websocket const& ws, bool closed_at_end_of_input) {
  auto const code = ws.peer_close_code();
  if (ended == tether::error::closed) {
    auto const what = describe(code, ws.peer_close_reason());
    return closed_at_end_of_input ? "closed at the end of input; the server answered " + what
                                  : "closed by the server: " + what;
  }
  std::string text = "the connection ended: " + ended.message();
  if (code != tether::close_code::abnormal) text += "; the server's close frame: " + describe(code, ws.peer_close_reason());
  return text;
}

net::awaitable<int> run_client(settings const& s) {
  auto ws = co_await tether::connect(s.url, s.client);
  if (!ws) {
    std::fprintf(stderr, "tether-cat: %s\n", ws.error().message().c_str());
    if (auto const body = ws.error().http_body(); !body.empty()) std::fprintf(stderr, "%.*s", static_cast<int>(body.size()), body.data());
    co_return 1;
  }
  if (s.verbose)
    std::fprintf(stderr, "tether-cat: connected to %s; subprotocol: %s; compression: %s\n", s.url.c_str(),
                 ws->subprotocol().empty() ? "none" : printable(ws->subprotocol()).c_str(),
                 ws->compressed() ? "permessage-deflate" : "none");
  auto const kind = s.binary ? tether::message_kind::binary : tether::message_kind::text;
  // Set before our close frame goes out, so that the server's answer to it
  // is not reported as the server's own decision.
  auto closed_at_end_of_input = std::make_shared<std::atomic<bool>>(false);
  std::thread input;
  if (!s.echo) {
    // Standard input is read by a thread of its own; the websocket accepts
    // writes from any thread.
    input = std::thread([socket = *ws, kind, delay = s.close_delay, closed_at_end_of_input]() mutable {
      net::io_context writer;
      net::co_spawn(writer, [&]() -> net::awaitable<void> {
        std::string line;
        while (std::getline(std::cin, line))
          if (co_await socket.write(line, kind)) co_return;
        // Replies to the last lines may still be on their way; once our
        // close frame is sent, the server may not send them any more.
        net::steady_timer grace(writer, delay);
        co_await grace.async_wait(net::use_awaitable);
        *closed_at_end_of_input = true;
        co_await socket.close(tether::close_code::normal, "end of input");
      }, net::detached);
      writer.run();
    });
  }
  boost::system::error_code ended;
  for (;;) {
    auto msg = co_await ws->read();
    if (!msg) {
      ended = msg.error();
      break;
    }
    std::fwrite(msg->payload.data(), 1, msg->payload.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
    if (s.echo) {
      if (auto ec = co_await ws->write(std::move(*msg))) {
        ended = ec;
        break;
      }
    }
  }
  std::fprintf(stderr, "tether-cat: %s\n", ending(ended, *ws, *closed_at_end_of_input).c_str());
  auto const code = ws->peer_close_code();
  // The input thread may be blocked in getline for good; main ends the
  // process with _Exit, so nothing it still holds is ever destroyed.
  if (input.joinable()) input.detach();
  co_return code == tether::close_code::normal || code == tether::close_code::going_away ? 0 : 3;
}

int run_server(settings const& s) {
  tether::router app;
  std::mutex clients_mutex;
  std::map<std::uint64_t, tether::websocket> clients;
  app.websocket(s.path, [&](tether::websocket& ws, tether::request const&) -> net::awaitable<void> {
    {
      std::lock_guard lock(clients_mutex);
      clients[ws.id()] = ws;
    }
    while (auto msg = co_await ws.read()) {
      std::printf("%s\n", msg->payload.c_str());
      std::fflush(stdout);
      if (!s.broadcast && co_await ws.write(std::move(*msg))) break;
    }
    std::lock_guard lock(clients_mutex);
    clients.erase(ws.id());
  }, {.origins = tether::origin::any(), .websocket = s.client.websocket});
  tether::server_options options;
  options.port = static_cast<std::uint16_t>(s.listen_port);
  options.logger = s.client.logger;
  if (!s.cert_file.empty()) options.tls.certificates.push_back(tether::certificate::from_files(s.cert_file, s.key_file));
  tether::server server(app, options);
  std::fprintf(stderr, "tether-cat: listening on %s://127.0.0.1:%u%s\n", s.cert_file.empty() ? "ws" : "wss",
               server.port(), s.path.c_str());
  if (s.broadcast) {
    std::thread([&] {
      net::io_context writer;
      std::string line;
      while (std::getline(std::cin, line)) {
        std::lock_guard lock(clients_mutex);
        for (auto& [id, ws] : clients)
          net::co_spawn(writer, [ws, line]() mutable -> net::awaitable<void> { co_await ws.write(line); }, net::detached);
        writer.restart();
        writer.run();
      }
    }).detach();
  }
  return server.run_until_signal();
}

}  // namespace

namespace {

// A whole number in [low, high], or an error that names the option.
long number(std::string const& option, std::string const& text, long low, long high) {
  long out = 0;
  auto const [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (ec != std::errc{} || end != text.data() + text.size() || out < low || out > high)
    throw std::invalid_argument(option + " takes a whole number from " + std::to_string(low) + " to " +
                                std::to_string(high) + ", not \"" + text + "\"");
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  settings s;
  s.client.logger = tether::logger(tether::log_level::warning);
  for (int i = 1; i < argc; ++i) {
    std::string const arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
      return argv[++i];
    };
    try {
      if (arg == "-h" || arg == "--help") {
        std::printf("%s", usage);
        return 0;
      } else if (arg == "--version") {
        std::printf("tether-cat %s\n", TETHER_VERSION);
        return 0;
      } else if (arg == "-s" || arg == "--subprotocol") {
        s.client.subprotocols.push_back(value());
      } else if (arg == "-H" || arg == "--header") {
        auto const header = value();
        auto const colon = header.find(':');
        if (colon == std::string::npos) return fail_usage("a header needs 'Name: value'");
        auto start = header.find_first_not_of(' ', colon + 1);
        s.client.headers.push_back({header.substr(0, colon), start == std::string::npos ? "" : header.substr(start)});
      } else if (arg == "-o" || arg == "--origin") {
        s.client.origin = value();
      } else if (arg == "-b" || arg == "--binary") {
        s.binary = true;
      } else if (arg == "-p" || arg == "--ping-interval") {
        s.client.websocket.ping_interval = std::chrono::seconds(number(arg, value(), 0, 86400));
      } else if (arg == "-e" || arg == "--echo") {
        s.echo = true;
      } else if (arg == "-d" || arg == "--close-delay") {
        s.close_delay = std::chrono::milliseconds(number(arg, value(), 0, 3600 * 1000));
      } else if (arg == "-z" || arg == "--compress") {
        s.client.websocket.compression.enabled = true;
      } else if (arg == "--ca") {
        s.client.tls.ca_file = value();
      } else if (arg == "-k" || arg == "--insecure") {
        s.client.tls.verify = false;
      } else if (arg == "--unix") {
        s.client.unix_socket = value();
      } else if (arg == "--proxy") {
        s.client.proxy = value();
      } else if (arg == "--cert") {
        s.cert_file = value();
      } else if (arg == "--key") {
        s.key_file = value();
      } else if (arg == "-v" || arg == "--verbose") {
        s.client.logger = tether::logger(tether::log_level::debug);
        s.verbose = true;
      } else if (arg == "--listen") {
        s.listen_port = static_cast<int>(number(arg, value(), 0, 65535));
      } else if (arg == "--path") {
        s.path = value();
      } else if (arg == "--broadcast") {
        s.broadcast = true;
      } else if (!arg.empty() && arg[0] != '-' && s.url.empty()) {
        s.url = arg;
      } else {
        return fail_usage("unknown option " + arg);
      }
    } catch (std::exception const& e) {
      return fail_usage(e.what());
    }
  }
  // Standard input is read by threads that may be blocked in getline when
  // the connection ends; the process then ends at once (_Exit), without
  // destroying what those threads still use.
  auto finish = [](int status) {
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(status);
  };
  if (s.cert_file.empty() != s.key_file.empty()) return fail_usage("--cert and --key go together");
  if (s.listen_port >= 0) {
    try {
      finish(run_server(s));
    } catch (std::system_error const& e) {
      // tether::server's own sentence names the address and the reason.
      std::fprintf(stderr, "tether-cat: %s\n", e.what());
      finish(1);
    } catch (boost::system::system_error const& e) {
      // what() would end with Boost's source location of the throw.
      std::fprintf(stderr, "tether-cat: cannot listen on 127.0.0.1:%d: %s\n", s.listen_port, e.code().message().c_str());
      finish(1);
    } catch (std::exception const& e) {
      std::fprintf(stderr, "tether-cat: cannot listen: %s\n", e.what());
      finish(1);
    }
  }
  if (s.url.empty()) return fail_usage("no URL");
  net::io_context ctx;
  auto result = net::co_spawn(ctx, run_client(s), net::use_future);
  ctx.run();
  try {
    finish(result.get());
  } catch (std::exception const& e) {
    std::fprintf(stderr, "tether-cat: %s\n", e.what());
    finish(1);
  }
}
