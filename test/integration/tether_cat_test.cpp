// tether-cat, the command-line tool, run as a user would run it.
#define BOOST_TEST_MODULE tether_cat
#include "support.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
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
  std::string output;
};

// Runs a shell command line; its standard output and error together.
run_result run(std::string const& command) {
  run_result r;
  FILE* child = ::popen(("timeout 30 " + command + " 2>&1").c_str(), "r");
  BOOST_REQUIRE(child);
  char buffer[512];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, child)) r.output.append(buffer, n);
  int const raw = ::pclose(child);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return r;
}

}  // namespace

BOOST_AUTO_TEST_CASE(lines_become_messages_and_replies_are_printed) {
  tether::router app;
  app.websocket("/echo", echo_handler);
  running_server server(std::move(app));
  auto const r = run("printf 'one\\ntwo\\n' | " + tool() + " " + server.url("/echo"));
  BOOST_TEST(r.status == 0, r.output);
  BOOST_TEST(r.output == "one\ntwo\n");
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
  BOOST_TEST(r.status == 0, r.output);
  BOOST_TEST(echoed.get_future().get() == "yes:ab");
}

BOOST_AUTO_TEST_CASE(failures_have_their_exit_codes_and_messages) {
  tether::router app;
  app.websocket("/echo", echo_handler);
  running_server server(std::move(app));
  auto const refused = run(tool() + " " + server.url("/missing") + " < /dev/null");
  BOOST_TEST(refused.status == 1);
  BOOST_TEST(refused.output.find("404") != std::string::npos, refused.output);
  auto const unreachable = run(tool() + " ws://127.0.0.1:" + std::to_string(free_port()) + "/ < /dev/null");
  BOOST_TEST(unreachable.status == 1);
  BOOST_TEST(unreachable.output.find("cannot connect") != std::string::npos, unreachable.output);
  auto const usage = run(tool() + " --no-such-option");
  BOOST_TEST(usage.status == 2);
  BOOST_TEST(usage.output.find("usage:") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(ports_out_of_range_are_refused_with_a_clear_message) {
  auto const url = run(tool() + " ws://127.0.0.1:99999/ < /dev/null");
  BOOST_TEST(url.status == 1);
  BOOST_TEST(url.output.find("port must be from 1 to 65535") != std::string::npos, url.output);
  for (std::string const bad : {"70000", "abc", "-1", "80x"}) {
    auto const listen = run(tool() + " --listen " + bad + " < /dev/null");
    BOOST_TEST(listen.status == 2, bad);
    BOOST_TEST(listen.output.find("--listen takes a whole number from 0 to 65535") != std::string::npos, listen.output);
  }
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
  BOOST_TEST(r.status == 0, r.output);
  BOOST_TEST(r.output == "compressed hi\n");
  r = run("printf 'hi\\n' | " + tool() + " " + url);
  BOOST_TEST(r.status == 1, r.output);
  BOOST_TEST(r.output.find("self-signed") != std::string::npos, r.output);
  r = run("printf 'hi\\n' | " + tool() + " -k " + url);
  BOOST_TEST(r.status == 0, r.output);
  BOOST_TEST(r.output.find("verification is off") != std::string::npos, r.output);
  BOOST_TEST(r.output.find("plain hi\n") != std::string::npos, r.output);
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
