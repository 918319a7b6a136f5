// Topics on real loopback connections: fan-out to 1,000 subscribers from
// one framed buffer, slow subscribers under each overflow policy, and
// publishers on other threads with a server of two loops.
#define BOOST_TEST_MODULE hub
// The counting operator new below pairs malloc with free; g++ 12 cannot see
// that through inlining and warns at every delete.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#include "support.hpp"

#include <atomic>
#include <cstdlib>
#include <new>
#include <random>
#include <vector>

using namespace test;

namespace {

// Large allocations made on one watched thread (the server's): a publish
// that copied the message per subscriber would show here.
std::atomic<std::thread::id> watched_thread{};
std::atomic<std::size_t> watched_large_allocations{0};
constexpr std::size_t large = 16 * 1024;

}  // namespace

namespace {

void* counted_allocation(std::size_t size) noexcept {
  if (size >= large && watched_thread.load(std::memory_order_relaxed) == std::this_thread::get_id())
    watched_large_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size == 0 ? 1 : size);
}

void* counted_or_throw(std::size_t size) {
  if (void* p = counted_allocation(size)) return p;
  throw std::bad_alloc();
}

}  // namespace

// Every plain form is replaced, so that each allocation meets its own
// release (AddressSanitizer checks that they match).
void* operator new(std::size_t size) { return counted_or_throw(size); }
void* operator new[](std::size_t size) { return counted_or_throw(size); }
void* operator new(std::size_t size, std::nothrow_t const&) noexcept { return counted_allocation(size); }
void* operator new[](std::size_t size, std::nothrow_t const&) noexcept { return counted_allocation(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::nothrow_t const&) noexcept { std::free(p); }
void operator delete[](void* p, std::nothrow_t const&) noexcept { std::free(p); }

namespace {

// g++ 12 warns falsely (-Wrestrict) on `"literal" + std::string`.
std::string numbered(std::string_view prefix, int n) {
  std::string text(prefix);
  text.append(std::to_string(n));
  return text;
}

// Subscribes every connection to "news", then reads until the end.
tether::router subscriber_app(tether::hub& topics, std::atomic<std::thread::id>* server_thread = nullptr,
                              tether::subscription_options options = {}, std::size_t max_write_queue = 4 << 20) {
  tether::router app;
  tether::endpoint_options endpoint;
  endpoint.websocket.max_write_queue = max_write_queue;
  // A stalled peer drains megabytes of socket buffers before it sees a close.
  endpoint.websocket.close_timeout = std::chrono::seconds(60);
  app.websocket("/news", [&topics, server_thread, options](tether::websocket& ws, tether::request const&)
                             -> net::awaitable<void> {
    if (server_thread) *server_thread = std::this_thread::get_id();
    topics.subscribe(ws, "news", options);
    co_await ws.write("subscribed");
    while (co_await ws.read()) {
    }
  }, endpoint);
  return app;
}

tether::server_options many_from_one_address(unsigned threads = 1) {
  tether::server_options options;
  options.max_connections_per_ip = 100000;
  options.threads = threads;
  return options;
}

net::awaitable<tether::websocket> subscribe(std::string const& url, tether::client_options options) {
  auto ws = (co_await tether::connect(url, options)).value();
  auto const first = co_await ws.read();
  BOOST_REQUIRE(first && first->payload == "subscribed");
  co_return ws;
}

net::awaitable<tether::websocket> subscribe(std::string const& url) {
  auto options = quiet_client();
  co_return co_await subscribe(url, options);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(fanout)

BOOST_AUTO_TEST_CASE(every_subscriber_gets_every_message_once_and_in_order) {
  tether::hub topics;
  running_server server(subscriber_app(topics), many_from_one_address());
  run_client([&]() -> net::awaitable<void> {
    std::vector<tether::websocket> subscribers;
    for (int i = 0; i < 1000; ++i) subscribers.push_back(co_await subscribe(server.url("/news")));
    BOOST_TEST(topics.subscribers("news") == 1000u);
    for (int m = 0; m < 20; ++m) BOOST_TEST(topics.publish("news", numbered("message ", m)) == 1000u);
    for (auto& ws : subscribers)
      for (int m = 0; m < 20; ++m) {
        auto const msg = co_await ws.read();
        BOOST_REQUIRE(msg.has_value());
        BOOST_TEST(msg->payload == numbered("message ", m));
      }
    auto const c = topics.counters();
    BOOST_TEST(c.published == 20u);
    BOOST_TEST(c.queued == 20'000u);
    BOOST_TEST(c.dropped == 0u);
    for (auto& ws : subscribers) co_await ws.close();
  }, 120s);
  // Closed subscribers leave by themselves.
  BOOST_TEST(eventually([&] { return topics.subscribers("news") == 0; }));
}

BOOST_AUTO_TEST_CASE(a_published_message_is_framed_once_and_shared) {
  tether::hub topics;
  std::atomic<std::thread::id> server_thread{};
  running_server server(subscriber_app(topics, &server_thread), many_from_one_address());
  std::string const payload(64 * 1024, 'x');
  run_client([&]() -> net::awaitable<void> {
    std::vector<tether::websocket> subscribers;
    for (int i = 0; i < 1000; ++i) subscribers.push_back(co_await subscribe(server.url("/news")));
    watched_large_allocations = 0;
    watched_thread = server_thread.load();
    BOOST_TEST(topics.publish("news", payload, tether::message_kind::binary) == 1000u);
    for (auto& ws : subscribers) {
      auto const msg = co_await ws.read();
      BOOST_REQUIRE(msg.has_value());
      BOOST_TEST((msg->payload == payload));
    }
    watched_thread = std::thread::id{};
    // 1,000 deliveries of 64 KiB: the server's loop allocated nothing that large.
    BOOST_TEST(watched_large_allocations.load() == 0u);
    for (auto& ws : subscribers) co_await ws.close();
  }, 120s);
}

BOOST_AUTO_TEST_CASE(compressed_once_per_parameter_set_and_shared) {
  tether::hub topics;
  tether::endpoint_options endpoint;
  endpoint.websocket.compression.enabled = true;
  endpoint.websocket.compression.context_takeover = true;  // for the clients that ask for it
  tether::router app;
  app.websocket("/news", [&topics](tether::websocket& ws, tether::request const&) -> net::awaitable<void> {
    topics.subscribe(ws, "news");
    co_await ws.write("subscribed");
    while (co_await ws.read()) {
    }
  }, endpoint);
  running_server server(std::move(app), many_from_one_address());

  auto deflate = [](int window_bits, bool takeover) {
    auto options = quiet_client();
    options.websocket.compression.enabled = true;
    options.websocket.compression.window_bits = window_bits;
    options.websocket.compression.context_takeover = takeover;
    return options;
  };
  // Two parameter sets without context takeover, two subscribers with it,
  // two without compression.
  std::vector<tether::client_options> kinds;
  for (int i = 0; i < 5; ++i) kinds.push_back(deflate(15, false));
  for (int i = 0; i < 5; ++i) kinds.push_back(deflate(10, false));
  for (int i = 0; i < 2; ++i) kinds.push_back(deflate(15, true));
  for (int i = 0; i < 2; ++i) kinds.push_back(quiet_client());

  std::vector<std::pair<std::string, tether::message_kind>> messages;
  for (int m = 0; m < 8; ++m) messages.emplace_back(numbered("compressible ", m) + std::string(3000, 'a'), tether::message_kind::text);
  messages.emplace_back("short", tether::message_kind::text);  // under the threshold: plain for everyone
  std::string noise(4096, '\0');
  std::mt19937 random(7);
  for (auto& c : noise) c = static_cast<char>(random());
  messages.emplace_back(noise, tether::message_kind::binary);  // incompressible: goes plain

  run_client([&]() -> net::awaitable<void> {
    std::vector<tether::websocket> subscribers;
    for (auto const& options : kinds) subscribers.push_back(co_await subscribe(server.url("/news"), options));
    for (std::size_t i = 0; i < subscribers.size(); ++i)
      BOOST_TEST(subscribers[i].compressed() == kinds[i].websocket.compression.enabled);
    for (auto const& [payload, kind] : messages) BOOST_TEST(topics.publish("news", payload, kind) == subscribers.size());
    for (auto& ws : subscribers)
      for (auto const& [payload, kind] : messages) {
        auto const msg = co_await ws.read();
        BOOST_REQUIRE(msg.has_value());
        BOOST_TEST((msg->payload == payload));
        BOOST_TEST((msg->kind == kind));
      }
    auto const c = topics.counters();
    // Nine messages long enough to try, two parameter sets: 18 runs of
    // deflate for ten subscribers; the two with takeover framed their own.
    BOOST_TEST(c.compressed_once == 18u);
    BOOST_TEST(c.own_frames == 2u * messages.size());
    for (auto& ws : subscribers) co_await ws.close();
  });
}

BOOST_AUTO_TEST_CASE(invalid_text_is_refused_and_unknown_topics_reach_nobody) {
  tether::hub topics;
  running_server server(subscriber_app(topics));
  run_client([&]() -> net::awaitable<void> {
    auto ws = co_await subscribe(server.url("/news"));
    BOOST_TEST(topics.publish("nobody", "hello") == 0u);
    BOOST_TEST(topics.publish("news", "\xC3\x28") == 0u);  // not UTF-8: refused, not sent
    BOOST_TEST(topics.publish("news", "\xC3\x28", tether::message_kind::binary) == 1u);  // any bytes
    auto const msg = co_await ws.read();
    BOOST_REQUIRE(msg.has_value());
    BOOST_TEST(!msg->is_text());
    BOOST_TEST(topics.counters().published == 2u);
    co_await ws.close();
  });
}

BOOST_AUTO_TEST_CASE(a_client_connection_can_subscribe_masks_what_it_gets_and_unsubscribes) {
  // The server echoes: a client-side subscriber's frames must be masked, or
  // the server fails it with 1002 and the echo never comes.
  tether::hub topics;
  running_server server([] {
    tether::router app;
    app.websocket("/echo", echo_handler);
    return app;
  }());
  run_client([&]() -> net::awaitable<void> {
    auto ws = (co_await tether::connect(server.url("/echo"), quiet_client())).value();
    topics.subscribe(ws, "outgoing");
    BOOST_TEST(topics.publish("outgoing", "from the hub") == 1u);
    auto const echo = co_await ws.read();
    BOOST_REQUIRE(echo.has_value());
    BOOST_TEST(echo->payload == "from the hub");
    topics.unsubscribe(ws, "outgoing");
    BOOST_TEST(topics.publish("outgoing", "gone") == 0u);
    topics.subscribe(ws, "a");
    topics.subscribe(ws, "b");
    topics.subscribe(tether::websocket{}, "a");  // an empty handle is ignored
    BOOST_TEST(topics.subscribers("a") == 1u);
    topics.unsubscribe_all(ws);
    BOOST_TEST(topics.publish("a", "gone") + topics.publish("b", "gone") == 0u);
    co_await ws.close();
  });
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(overflow)

namespace {

// One subscriber that never reads and one that does; the publisher waits
// for the reader after every message, so only the stalled one falls behind.
struct stalled_and_reader {
  tether::hub topics;
  running_server server;
  raw_client stalled;

  explicit stalled_and_reader(tether::overflow policy)
      : server(subscriber_app(topics, nullptr, {.when_full = policy}, 64 * 1024)), stalled(server.port(), "/news") {
    auto const first = stalled.read_frame();
    BOOST_REQUIRE(first && first->payload == "subscribed");
  }

  // Publishes numbered 64 KiB messages until the stalled subscriber's queue
  // has overflowed (the socket buffers before it vary by machine) and a few
  // more; the reader must get every one. Returns how many were published.
  int publish_past_the_stalled_queue() {
    int count = 0;
    run_client([&]() -> net::awaitable<void> {
      auto reader = co_await subscribe(server.url("/news"));
      int after_overflow = 0;
      for (int m = 0; m < 4000 && after_overflow < 50; ++m, ++count) {
        auto const c = topics.counters();
        if (c.dropped > 0 || c.closed > 0) ++after_overflow;
        std::string payload = numbered("", m);
        payload.push_back(':');
        payload.append(64 * 1024 - payload.size(), '.');
        topics.publish("news", payload);
        auto const msg = co_await reader.read();
        BOOST_REQUIRE(msg.has_value());
        BOOST_TEST(msg->payload.substr(0, msg->payload.find(':')) == std::to_string(m));
      }
      co_await reader.close();
    }, 120s);
    BOOST_TEST_REQUIRE(count < 4000, "the stalled queue never overflowed");
    return count;
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(drop_newest_keeps_the_reader_at_full_speed) {
  stalled_and_reader s(tether::overflow::drop_newest);
  s.publish_past_the_stalled_queue();
  BOOST_TEST(s.topics.counters().dropped > 0u);
  BOOST_TEST(s.topics.counters().closed == 0u);
  // The reader closed and leaves; the stalled one stays.
  BOOST_TEST(eventually([&] { return s.topics.subscribers("news") == 1; }));
}

BOOST_AUTO_TEST_CASE(drop_oldest_keeps_the_newest_in_order) {
  stalled_and_reader s(tether::overflow::drop_oldest);
  int const count = s.publish_past_the_stalled_queue();
  BOOST_TEST(s.topics.counters().dropped > 0u);
  // The stalled subscriber finally reads: increasing numbers with gaps,
  // ending with the last message, which a drop of the oldest always keeps.
  int last = -1;
  int received = 0;
  s.stalled.set_timeout(2s);
  while (auto f = s.stalled.read_frame()) {
    if (f->opcode == 0x9) continue;  // keep-alive pings: it has been silent all along
    BOOST_REQUIRE(f->opcode == 0x1);
    int const m = std::stoi(f->payload.substr(0, f->payload.find(':')));
    BOOST_TEST(m > last);
    last = m;
    ++received;
    if (m == count - 1) break;
  }
  BOOST_TEST(last == count - 1);
  BOOST_TEST(received < count);
}

namespace {

void closes_the_slow_one_with(tether::overflow policy, unsigned code) {
  stalled_and_reader s(policy);
  s.publish_past_the_stalled_queue();
  BOOST_TEST(s.topics.counters().closed == 1u);
  s.stalled.set_timeout(10s);
  BOOST_TEST(s.stalled.read_close_code() == code);  // after what was queued before it
  BOOST_TEST(eventually([&] { return s.topics.subscribers("news") == 0; }));
}

}  // namespace

BOOST_AUTO_TEST_CASE(close_busy_closes_the_slow_one_with_1013) {
  closes_the_slow_one_with(tether::overflow::close_busy, 1013);
}

BOOST_AUTO_TEST_CASE(close_policy_closes_the_slow_one_with_1008) {
  closes_the_slow_one_with(tether::overflow::close_policy, 1008);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(threads)

BOOST_AUTO_TEST_CASE(publishers_on_other_threads_reach_subscribers_on_two_loops_in_order) {
  tether::hub topics;
  running_server server(subscriber_app(topics), many_from_one_address(2));
  run_client([&]() -> net::awaitable<void> {
    std::vector<tether::websocket> subscribers;
    for (int i = 0; i < 100; ++i) subscribers.push_back(co_await subscribe(server.url("/news")));
    std::vector<std::thread> publishers;
    for (char const name : {'a', 'b'})
      publishers.emplace_back([&topics, name] {
        for (int m = 0; m < 100; ++m) topics.publish("news", numbered(std::string_view(&name, 1), m));
      });
    for (auto& t : publishers) t.join();
    for (auto& ws : subscribers) {
      int next[2] = {0, 0};
      for (int i = 0; i < 200; ++i) {
        auto const msg = co_await ws.read();
        BOOST_REQUIRE(msg.has_value());
        int const who = msg->payload[0] - 'a';
        BOOST_TEST(std::stoi(msg->payload.substr(1)) == next[who]);  // each publisher's order holds
        ++next[who];
      }
    }
    BOOST_TEST(topics.counters().queued == 20'000u);
    for (auto& ws : subscribers) co_await ws.close();
  }, 120s);
}

BOOST_AUTO_TEST_SUITE_END()
