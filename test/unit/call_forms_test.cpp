// Every way to pass options to an awaitable either is safe or does not
// compile (g++ 12 destroys an aggregate temporary made inside a co_await
// expression twice; docs/using.md, "Options are named variables"). The
// checks are concepts, so a form that compiled again would fail the build.
#define BOOST_TEST_MODULE call_forms
#include <boost/test/unit_test.hpp>

#include <tether/accept.hpp>
#include <tether/tether.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <memory>
#include <string>
#include <utility>

namespace net = boost::asio;

namespace {

template <class Options>
concept connect_takes = requires(std::string_view url, Options&& options) {
  tether::connect(url, std::forward<Options>(options));
};
template <class Url>
concept connect_takes_braced = requires(Url url) { tether::connect(url, {.origin = "http://x"}); };
template <class Url>
concept connect_takes_empty_braces = requires(Url url) { tether::connect(url, {}); };

template <class Options>
concept accept_takes = requires(net::ip::tcp::socket socket, Options&& options) {
  tether::accept(std::move(socket), std::forward<Options>(options));
};
template <class Socket>
concept accept_takes_braced = requires(Socket socket) { tether::accept(std::move(socket), {.max_header_bytes = 1}); };

template <class Options, class Session>
concept keep_connected_takes = requires(Options&& options, Session&& session, tether::backoff backoff) {
  tether::keep_connected("ws://127.0.0.1/", std::forward<Options>(options), backoff, std::forward<Session>(session));
};
template <class Options>
concept keep_connected_takes_braced_backoff = requires(Options& options) {
  tether::keep_connected("ws://127.0.0.1/", options, {.max_attempts = 3},
                         [](tether::websocket&) -> net::awaitable<bool> { co_return false; });
};

using session_by_reference = decltype([](tether::websocket&) -> net::awaitable<bool> { co_return false; });
auto const owning = [text = std::string(64, 'x')](tether::websocket&) -> net::awaitable<bool> {
  co_return text.empty();
};
using session_owning = decltype(owning);

// Named options: the only form.
static_assert(connect_takes<tether::client_options&>);
static_assert(connect_takes<tether::client_options const&>);
// Temporaries, typed or not, returned by a function or moved: deleted.
static_assert(!connect_takes<tether::client_options>);
static_assert(!connect_takes<tether::client_options&&>);
static_assert(!connect_takes_braced<std::string_view>);
static_assert(!connect_takes_empty_braces<std::string_view>);

static_assert(accept_takes<tether::accept_options&>);
static_assert(accept_takes<tether::accept_options const&>);
static_assert(!accept_takes<tether::accept_options>);
static_assert(!accept_takes_braced<net::ip::tcp::socket>);

static_assert(keep_connected_takes<tether::client_options&, session_by_reference>);
static_assert(keep_connected_takes<tether::client_options&, session_owning&>);
static_assert(!keep_connected_takes<tether::client_options, session_by_reference>);
// A lambda that owns a string, written inside the co_await: refused.
static_assert(!keep_connected_takes<tether::client_options&, session_owning>);
// A backoff in braces owns nothing: allowed.
static_assert(keep_connected_takes_braced_backoff<tether::client_options>);

}  // namespace

// The forms that compile copy the options at the call: the variable may
// change or go away once the awaitable exists.
BOOST_AUTO_TEST_CASE(options_are_copied_at_the_call) {
  net::io_context ctx;
  std::string outcome;
  auto options = std::make_unique<tether::client_options>();
  options->logger = tether::logger::silent();
  options->connect_timeout = std::chrono::milliseconds(1);
  auto pending = tether::connect("ws://", *options);
  options.reset();  // would be a use after free under ASan if kept by reference
  net::co_spawn(
      ctx,
      [&]() -> net::awaitable<void> {
        auto ws = co_await std::move(pending);
        outcome = ws ? "connected" : ws.error().message();
      },
      net::detached);
  ctx.run();
  BOOST_TEST(outcome.find("URL") != std::string::npos, outcome);
}
