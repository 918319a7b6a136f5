// tether-cat, the command-line tool, run as a user would run it.
#define BOOST_TEST_MODULE tether_cat
#include "support.hpp"

#include "ws/handshake.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <unistd.h>

using namespace test;

namespace {

std::string tool() {
  char const* path = std::getenv("TETHER_CAT");
  BOOST_REQUIRE_MESSAGE(path, "TETHER_CAT is not set");
  return path;
}

struct run_result {
  int status = -1;
  std::string out;  // standard output: the messages only
  std::string err;  // standard error: what happened to the connection
};

// Runs a shell command line (bounded by timeout(1)); its standard output
// and standard error apart, so that a test can say which one a line is on.
run_result run(std::string const& command) {
  run_result r;
  auto const err_file = std::filesystem::temp_directory_path() / ("tether-cat-err-" + std::to_string(::getpid()));
  FILE* child = ::popen(("timeout 30 " + command + " 2>" + err_file.string()).c_str(), "r");
  BOOST_REQUIRE(child);
  char buffer[512];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, child)) r.out.append(buffer, n);
  int const raw = ::pclose(child);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  std::ifstream in(err_file);
  r.err.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  std::filesystem::remove(err_file);
  return r;
}

bool has(std::string const& text, std::string const& part) { return text.find(part) != std::string::npos; }

// A server whose handler closes every connection at once with `code` and `reason`.
tether::router closing_with(tether::close_code code, std::string reason) {
  tether::router app;
  app.websocket("/", [code, reason](tether::websocket& ws, tether::request const&) -> net::awaitable<void> {
    co_await ws.close(code, reason);
  });
  return app;
}

}  // namespace

BOOST_AUTO_TEST_CASE(lines_become_messages_and_replies_are_printed) {
  tether::router app;
  app.websocket("/echo", echo_handler);
  running_server server(std::move(app));
  auto const r = run("printf 'one\\ntwo\\n' | " + tool() + " " + server.url("/echo"));
  BOOST_TEST(r.status == 0, r.err);
  BOOST_TEST(r.out == "one\ntwo\n");
  BOOST_TEST(r.err == "tether-cat: closed at the end of input; the server answered 1000 normal\n");
}

BOOST_AUTO_TEST_CASE(echo_mode_sends_back_until_the_server_closes) {
  std::promise<std::string> echoed;
  tether::router app;
  app.websocket("/talk", [&](tether::websocket& ws, tether::request const& req) -> net::awaitable<void> {
    std::string got = std::string(req.header("X-Test")) + ":";
    for (auto text : {"a", "b"}) {
      co_await ws.write(text);
      auto msg = co_await ws.read();
      if (msg) got += msg->payload;
    }
    echoed.set_value(got);
  }, {.subprotocols = {"chat"}, .require_subprotocol = true});
  running_server server(std::move(app));
  auto const r = run(tool() + " --echo -s chat -H 'X-Test: yes' " + server.url("/talk") + " < /dev/null");
  BOOST_TEST(r.status == 0, r.err);
  BOOST_TEST(has(r.err, "closed by the server: 1000 normal"), r.err);
  BOOST_TEST(echoed.get_future().get() == "yes:ab");
}

BOOST_AUTO_TEST_CASE(failures_have_their_exit_codes_and_messages) {
  tether::router app;
  app.websocket("/echo", echo_handler);
  running_server server(std::move(app));
  auto const refused = run(tool() + " " + server.url("/missing") + " < /dev/null");
  BOOST_TEST(refused.status == 1);
  BOOST_TEST(has(refused.err, "404"), refused.err);
  auto const unreachable = run(tool() + " ws://127.0.0.1:" + std::to_string(free_port()) + "/ < /dev/null");
  BOOST_TEST(unreachable.status == 1);
  BOOST_TEST(has(unreachable.err, "cannot connect"), unreachable.err);
  auto const usage = run(tool() + " --no-such-option");
  BOOST_TEST(usage.status == 2);
  BOOST_TEST(has(usage.err, "usage:"), usage.err);
}

BOOST_AUTO_TEST_CASE(ports_out_of_range_are_refused_with_a_clear_message) {
  auto const url = run(tool() + " ws://127.0.0.1:99999/ < /dev/null");
  BOOST_TEST(url.status == 1);
  BOOST_TEST(has(url.err, "port must be from 1 to 65535"), url.err);
  for (std::string const bad : {"70000", "abc", "-1", "80x"}) {
    auto const listen = run(tool() + " --listen " + bad + " < /dev/null");
    BOOST_TEST(listen.status == 2, bad);
    BOOST_TEST(has(listen.err, "--listen takes a whole number from 0 to 65535"), listen.err);
  }
}

BOOST_AUTO_TEST_CASE(how_the_server_closed_is_printed_with_its_exit_status) {
  {
    running_server server(closing_with(tether::close_code::going_away, "server stopping"));
    auto const r = run(tool() + " --echo " + server.url("/") + " < /dev/null");
    BOOST_TEST(r.status == 0);
    BOOST_TEST(r.out.empty(), r.out);
    BOOST_TEST(r.err == "tether-cat: closed by the server: 1001 going away \"server stopping\"\n");
  }
  {
    running_server server(closing_with(tether::close_code::internal_error, "it broke"));
    auto const r = run(tool() + " --echo " + server.url("/") + " < /dev/null");
    BOOST_TEST(r.status == 3);
    BOOST_TEST(r.err == "tether-cat: closed by the server: 1011 internal error \"it broke\"\n");
  }
  {
    // The reason is the server's text: it may not move the terminal's cursor.
    running_server server(closing_with(tether::close_code::policy_violation, "no\x1b[2Jway"));
    auto const r = run(tool() + " --echo " + server.url("/") + " < /dev/null");
    BOOST_TEST(r.status == 3);
    BOOST_TEST(r.err == "tether-cat: closed by the server: 1008 policy violation \"no\\x1B[2Jway\"\n");
  }
}

BOOST_AUTO_TEST_CASE(a_connection_lost_without_a_close_frame_says_so) {
  // A raw listener answers the upgrade and hangs up: the TCP connection
  // ends without a close frame, which a Tether server never does.
  net::io_context ctx;
  tcp::acceptor acceptor(ctx, {net::ip::make_address("127.0.0.1"), 0});
  std::thread peer([&] {
    tcp::socket socket(ctx);
    acceptor.accept(socket);
    std::string request;
    char c;
    while (!request.ends_with("\r\n\r\n") && socket.read_some(net::buffer(&c, 1)) == 1) request += c;
    auto const at = request.find("Sec-WebSocket-Key: ") + 19;
    auto const key = request.substr(at, request.find("\r\n", at) - at);
    net::write(socket, net::buffer("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                   "Sec-WebSocket-Accept: " + tether::detail::accept_key(key) + "\r\n\r\n"));
    socket.close();
  });
  auto const r = run(tool() + " --echo ws://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) +
                     "/ < /dev/null");
  peer.join();
  BOOST_TEST(r.status == 3);
  BOOST_TEST(r.err == "tether-cat: the connection ended: the connection was lost without a close frame\n");
}

BOOST_AUTO_TEST_CASE(verbose_says_what_the_handshake_agreed) {
  tether::router app;
  tether::endpoint_options deflate;
  deflate.websocket.compression.enabled = true;
  deflate.subprotocols = {"chat"};
  app.websocket("/", echo_handler, deflate);
  running_server server(std::move(app));
  auto r = run(tool() + " -v -z -s chat " + server.url("/") + " < /dev/null");
  BOOST_TEST(r.status == 0, r.err);
  BOOST_TEST(has(r.err, "subprotocol: \"chat\"; compression: permessage-deflate\n"), r.err);
  r = run(tool() + " -v " + server.url("/") + " < /dev/null");
  BOOST_TEST(r.status == 0, r.err);
  BOOST_TEST(has(r.err, "subprotocol: none; compression: none\n"), r.err);
  r = run(tool() + " -z " + server.url("/") + " < /dev/null");
  BOOST_TEST(!has(r.err, "compression"), "only -v tells: " << r.err);
}

BOOST_AUTO_TEST_CASE(version_and_help) {
  auto const version = run(tool() + " --version");
  BOOST_TEST(version.status == 0);
  char const* project_version = std::getenv("TETHER_VERSION");
  BOOST_REQUIRE_MESSAGE(project_version, "TETHER_VERSION is not set");
  BOOST_TEST(version.out == "tether-cat " + std::string(project_version) + "\n");
  auto const help = run(tool() + " --help");
  BOOST_TEST(help.status == 0);
  BOOST_TEST(help.err.empty());
  for (std::string const option : {"--path", "--broadcast", "--version", "exit status"})
    BOOST_TEST(has(help.out, option), option);
}

BOOST_AUTO_TEST_CASE(server_mode_echoes) {
  FILE* child = ::popen(("timeout 30 " + tool() + " --listen 0 --path /cat 2>&1").c_str(), "r");
  BOOST_REQUIRE(child);
  char line[256] = {};
  BOOST_REQUIRE(std::fgets(line, sizeof line, child));
  std::string const announced(line);
  auto const at = announced.find("ws://");
  BOOST_REQUIRE_MESSAGE(at != std::string::npos, announced);
  std::string const url = announced.substr(at, announced.find_first_of("\r\n", at) - at);
  run_client([&]() -> net::awaitable<void> {
    auto ws = (co_await tether::connect(url, quiet_client())).value();
    co_await ws.write("through the cat");
    BOOST_TEST((co_await ws.read()).value().payload == "through the cat");
    co_await ws.close();
  });
  std::system("pkill -INT -f 'tether-cat --listen 0 --path /cat'");
  ::pclose(child);
}

BOOST_AUTO_TEST_CASE(wss_with_a_custom_ca_compression_and_insecure_mode) {
  auto const cert = tether::certificate::self_signed({"127.0.0.1"});
  auto const dir = std::filesystem::temp_directory_path() / ("tether-cat-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto const ca_file = (dir / "cert.pem").string();
  std::ofstream(ca_file) << cert.chain_pem;

  tether::router app;
  tether::endpoint_options deflate;
  deflate.websocket.compression.enabled = true;
  app.websocket("/echo", [](tether::websocket& ws, tether::request const&) -> net::awaitable<void> {
    auto msg = co_await ws.read();
    if (msg) co_await ws.write((ws.compressed() ? "compressed " : "plain ") + msg->payload);
  }, deflate);
  tether::server_options options;
  options.tls.certificates.push_back(cert);
  running_server server(std::move(app), options);
  std::string const url = "wss://127.0.0.1:" + std::to_string(server.port()) + "/echo";

  auto r = run("printf 'hi\\n' | " + tool() + " -z --ca " + ca_file + " " + url);
  BOOST_TEST(r.status == 0, r.err);
  BOOST_TEST(r.out == "compressed hi\n");
  r = run("printf 'hi\\n' | " + tool() + " " + url);
  BOOST_TEST(r.status == 1, r.err);
  BOOST_TEST(has(r.err, "self-signed"), r.err);
  r = run("printf 'hi\\n' | " + tool() + " -k " + url);
  BOOST_TEST(r.status == 0, r.err);
  BOOST_TEST(has(r.err, "verification is off"), r.err);
  BOOST_TEST(r.out == "plain hi\n");
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(server_mode_broadcasts_standard_input) {
  auto const port = std::to_string(free_port());
  // The lines come after a pause, so that the client below has joined.
  FILE* server = ::popen(("(sleep 2; echo to everyone; sleep 3) | timeout 30 " + tool() + " --listen " + port +
                          " --broadcast 2>&1").c_str(),
                         "r");
  BOOST_REQUIRE(server);
  run_client([&]() -> net::awaitable<void> {
    std::optional<tether::websocket> ws;
    net::steady_timer pause(co_await net::this_coro::executor);
    for (int attempt = 0; attempt < 100 && !ws; ++attempt) {  // until it listens
      auto c = co_await tether::connect("ws://127.0.0.1:" + port + "/", quiet_client());
      if (c) {
        ws = *c;
      } else {
        pause.expires_after(20ms);
        co_await pause.async_wait(net::use_awaitable);
      }
    }
    BOOST_REQUIRE(ws);
    auto msg = co_await ws->read();
    BOOST_REQUIRE(msg.has_value());
    BOOST_TEST(msg->payload == "to everyone");
    co_await ws->close();
  });
  std::system(("pkill -INT -f 'tether-cat --listen " + port + "'").c_str());
  ::pclose(server);
}
