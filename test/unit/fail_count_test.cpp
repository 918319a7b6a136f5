// Beast's fail-count idea for a whole connection: the same exchange runs
// again and again over an in-memory stream whose first, second, third ...
// read, write or wait fails, until one run meets no failure. Every run must
// end (no hang), report the failure as an error value (no exception, no
// crash), and free the connection (no leak; ASan checks the rest). A
// failure after both close frames were exchanged may end the run as a
// success: the close handshake was done.
#define BOOST_TEST_MODULE fail_count
#include <boost/test/unit_test.hpp>

#include "support/test_stream.hpp"
#include "ws/connection.hpp"

#include <tether/websocket.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <memory>
#include <thread>
#include <string>
#include <vector>

using namespace std::chrono_literals;
namespace net = boost::asio;
using tether::detail::connection;
using tether::detail::connection_config;
using tether::detail::role;

namespace {

connection_config config_for(role r) {
  connection_config config;
  config.local_role = r;
  tether::websocket_options options;
  options.close_timeout = 500ms;  // a peer that stops answering cannot hold a run
  config.settings = tether::detail::share_settings(options, tether::logger::silent());
  return config;
}

struct run_result {
  bool finished = false;
  bool peer_finished = false;
  std::vector<boost::system::error_code> errors;
  std::size_t steps = 0;
  bool failure_injected = false;
  bool freed = false;
  bool closing_handshake_done = false;  // the peer's answer to our close frame arrived
};

// One exchange between the connection under test (failing at step
// `fail_at`) and a peer that echoes: text, a ping, a message larger than
// the pipe, then the close handshake.
run_result run_once(role tested, std::size_t fail_at) {
  net::io_context ctx;
  test::fail_counter counter(fail_at);
  auto [ours, theirs] = test::test_stream::pair(ctx.get_executor(), 16 * 1024);
  ours.fail_with(&counter);
  auto mine = std::make_shared<connection>(std::move(ours), config_for(tested));
  auto peer = std::make_shared<connection>(std::move(theirs),
                                           config_for(tested == role::client ? role::server : role::client));
  std::weak_ptr<connection> const mine_weak = mine, peer_weak = peer;
  // Started on the loop, as the server and the client do.
  net::post(ctx, [mine, peer] {
    mine->start({});
    peer->start({});
  });
  // From here only the applications' handles (and pending operations)
  // hold the connections.
  auto mine_handle = tether::detail::make_websocket(std::exchange(mine, nullptr));
  auto peer_handle = tether::detail::make_websocket(std::exchange(peer, nullptr));

  run_result result;
  net::co_spawn(
      ctx,
      [&result, ws = std::move(peer_handle)]() mutable -> net::awaitable<void> {
        while (auto msg = co_await ws.read())
          if (co_await ws.write(std::move(*msg))) break;
        result.peer_finished = true;
      },
      net::detached);
  net::co_spawn(
      ctx,
      [&result, ws = std::move(mine_handle)]() mutable -> net::awaitable<void> {
        auto note = [&](boost::system::error_code ec) {
          if (ec) result.errors.push_back(ec);
        };
        note(co_await ws.write(std::string("hello"), tether::message_kind::text));
        if (auto echo = co_await ws.read(); !echo)
          note(echo.error());
        else
          BOOST_TEST(echo->payload == "hello");
        note(co_await ws.ping("are you there"));
        std::string const big(100 * 1024, 'x');  // six times the pipe
        note(co_await ws.write(big, tether::message_kind::binary));
        if (auto echo = co_await ws.read(); !echo)
          note(echo.error());
        else
          BOOST_TEST((echo->payload == big));
        note(co_await ws.close(tether::close_code::normal));
        result.closing_handshake_done = ws.peer_close_code() == tether::close_code::normal;
        result.finished = true;
      },
      net::detached);
  // A run that is not over in 10 s of loop time hangs; bounded, not waited for.
  ctx.run_for(10s);
  result.steps = counter.steps;
  result.failure_injected = counter.failed;
  result.freed = mine_weak.expired() && peer_weak.expired();
  return result;
}

void fail_every_step(role tested) {
  std::size_t runs = 0;
  for (std::size_t fail_at = 0; fail_at < 10'000; ++fail_at) {
    auto const r = run_once(tested, fail_at);
    ++runs;
    BOOST_TEST_CONTEXT("failing step " << fail_at) {
      BOOST_TEST(r.finished);
      BOOST_TEST(r.peer_finished);
      BOOST_TEST(r.freed);
      if (!r.failure_injected) {
        BOOST_TEST(r.errors.empty());
        BOOST_TEST_MESSAGE("no failure at step " << fail_at << " of " << r.steps << ": done after " << runs
                                                 << " runs");
        BOOST_TEST(runs > 10u);  // the exchange has many steps, each failed once
        return;
      }
      // The failure reached the application as a value, unless it came
      // after both close frames, while waiting for the peer's FIN: the
      // close had succeeded by then.
      BOOST_TEST((!r.errors.empty() || r.closing_handshake_done));
    }
    if (!r.finished || !r.freed) return;  // one hang or leak says enough
  }
  BOOST_FAIL("the exchange never completed without a failure");
}

}  // namespace

BOOST_AUTO_TEST_CASE(client_connection_fails_at_every_step) { fail_every_step(role::client); }

BOOST_AUTO_TEST_CASE(server_connection_fails_at_every_step) { fail_every_step(role::server); }

// The single-thread contract, checked in debug builds: a connection used
// from a thread that is not running its io_context aborts at once (in a
// child process, so that this test lives on).
BOOST_AUTO_TEST_CASE(a_connection_used_off_its_executor_aborts_in_debug_builds) {
#ifdef TETHER_CHECK_EXECUTOR
  pid_t const child = ::fork();
  BOOST_REQUIRE(child >= 0);
  if (child == 0) {
    std::signal(SIGABRT, SIG_DFL);  // Boost.Test's handler would turn the abort into a report
    net::io_context ctx;
    auto [ours, theirs] = test::test_stream::pair(ctx.get_executor());
    auto const conn = std::make_shared<connection>(std::move(ours), config_for(role::server));
    std::thread([&] { conn->abort(tether::error::stopped); }).join();  // nobody runs ctx there
    ::_exit(0);
  }
  int status = 0;
  BOOST_REQUIRE(::waitpid(child, &status, 0) == child);
  BOOST_TEST(WIFSIGNALED(status));
  BOOST_TEST((WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT));
#else
  BOOST_TEST_MESSAGE("release build: the check is compiled out");
#endif
}
