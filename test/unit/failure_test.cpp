// The one failure type: how it reads in an `if`, compares, prints and
// throws, and that every operation of the public API fails with it.
#define BOOST_TEST_MODULE failure
#include <boost/test/unit_test.hpp>

#include <tether/accept.hpp>
#include <tether/tether.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/system/system_error.hpp>

#include <sstream>
#include <type_traits>

namespace net = boost::asio;

namespace {

template <class Awaitable, class Value>
constexpr bool yields = std::is_same_v<Awaitable, net::awaitable<Value>>;

tether::websocket ws;

// The shapes are the API's promise: a value in a result, or the failure
// itself. write() returning result<void> would turn every existing
// `if (auto ec = co_await ws.write(m)) break;` upside down without a word.
static_assert(yields<decltype(ws.read()), tether::result<tether::message>>);
static_assert(yields<decltype(ws.write("")), tether::failure>);
static_assert(yields<decltype(ws.write(tether::message{})), tether::failure>);
static_assert(yields<decltype(ws.ping()), tether::failure>);
static_assert(yields<decltype(ws.close()), tether::failure>);
static_assert(yields<decltype(tether::connect("")), tether::result<tether::websocket>>);
static_assert(std::is_same_v<decltype(tether::accept(std::declval<net::ip::tcp::socket>(), std::declval<tether::accept_options&>())),
                             net::awaitable<tether::result<tether::accepted>>>);
static_assert(std::is_same_v<tether::connect_result, tether::result<tether::websocket>>);
// A failure is tested in a condition, never converted to bool by accident.
static_assert(!std::is_convertible_v<tether::failure, bool>);
static_assert(std::is_constructible_v<bool, tether::failure>);

}  // namespace

BOOST_AUTO_TEST_CASE(an_empty_failure_is_success_and_says_so_in_a_condition) {
  tether::failure const none;
  BOOST_TEST(!none);
  BOOST_TEST(!none.failed());
  BOOST_TEST(none.detail().empty());
  BOOST_TEST(none.http_status() == 0);
  tether::failure const closed = tether::error::closed;
  BOOST_TEST(static_cast<bool>(closed));
  BOOST_TEST(closed.failed());
}

BOOST_AUTO_TEST_CASE(compares_with_error_enums_codes_and_conditions) {
  tether::failure const f = tether::error::message_too_big;
  BOOST_TEST((f == tether::error::message_too_big));
  BOOST_TEST((f != tether::error::closed));
  BOOST_TEST((f == make_error_code(tether::error::message_too_big)));
  BOOST_TEST((tether::error::message_too_big == f));  // either side
  tether::failure const refused = make_error_code(boost::system::errc::connection_refused);
  BOOST_TEST((refused == boost::system::errc::connection_refused));
  BOOST_TEST((refused == boost::system::error_condition(boost::system::errc::connection_refused)));
  tether::failure const aborted = net::error::operation_aborted;
  BOOST_TEST((aborted == net::error::operation_aborted));
  BOOST_TEST((aborted == tether::failure(net::error::operation_aborted)));
  // Code written for error_code keeps working.
  boost::system::error_code const ec = f;
  BOOST_TEST((ec == tether::error::message_too_big));
}

BOOST_AUTO_TEST_CASE(message_prefers_our_words_and_names_the_http_status) {
  tether::failure const plain = tether::error::bad_url;
  BOOST_TEST(plain.message() == make_error_code(tether::error::bad_url).message());
  tether::failure const refused(make_error_code(tether::error::handshake_rejected),
                                "the server refused the upgrade: 404 Not Found", 404, "no WebSocket endpoint here\n");
  BOOST_TEST(refused.message() == "the server refused the upgrade: 404 Not Found (HTTP 404)");
  BOOST_TEST(refused.detail() == "the server refused the upgrade: 404 Not Found");
  BOOST_TEST(refused.http_status() == 404);
  BOOST_TEST(refused.http_body() == "no WebSocket endpoint here\n");
  std::ostringstream out;
  out << refused;
  BOOST_TEST(out.str() == refused.message());
  // Copies share the words.
  auto const copy = refused;
  BOOST_TEST(copy.detail().data() == refused.detail().data());
}

BOOST_AUTO_TEST_CASE(value_throws_a_system_error_whose_what_is_the_message) {
  tether::result<int> const r(tether::failure(make_error_code(tether::error::bad_url), "the URL has no scheme"));
  try {
    (void)r.value();
    BOOST_ERROR("value() did not throw");
  } catch (boost::system::system_error const& e) {
    BOOST_TEST(std::string(e.what()) == "the URL has no scheme");
    BOOST_TEST((e.code() == tether::error::bad_url));
  }
}

BOOST_AUTO_TEST_CASE(every_operation_on_an_empty_handle_fails_with_a_failure) {
  net::io_context ctx;
  tether::websocket empty;
  int checked = 0;
  net::co_spawn(
      ctx,
      [&]() -> net::awaitable<void> {
        auto const read = co_await empty.read();
        BOOST_TEST(!read.has_value());
        BOOST_TEST((read.error() == net::error::not_connected));
        if (auto const failed = co_await empty.write("x")) ++checked;
        if (auto const failed = co_await empty.ping()) ++checked;
        if (auto const failed = co_await empty.close()) ++checked;
      },
      [&](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  ctx.run();
  BOOST_TEST(checked == 3);
}
