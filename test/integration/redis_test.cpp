// Topics across instances through a real redis-server on loopback: each
// message reaches every subscriber once; Redis down at start, killed and
// restarted mid-test, or asking for a password; foreign messages on our
// channels.
#define BOOST_TEST_MODULE redis
#include "processes.hpp"

#include <tether/redis.hpp>

#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <mutex>
#include <vector>

using namespace test;

namespace {

tether::redis_options bridge_options(std::uint16_t redis_port, std::string password = {}) {
  tether::redis_options options;
  options.port = redis_port;
  options.password = std::move(password);
  options.logger = tether::logger::silent();
  // Short waits keep the test quick when Redis comes and goes.
  options.retry.initial_delay = 50ms;
  options.retry.max_delay = 400ms;
  return options;
}

// One Tether instance, as a process would have it: a hub, its bridge, and
// a server whose /topic/{name} subscribes the socket to {name} and
// publishes what the client sends there.
struct instance {
  explicit instance(tether::redis_options options) : bridge(topics, std::move(options)), server(app(topics)) {}

  static tether::router app(tether::hub& topics) {
    tether::router r;
    r.websocket("/topic/{name}", [&topics](tether::websocket& ws, tether::request const& req) -> net::awaitable<void> {
      std::string const name(req.param("name"));
      topics.subscribe(ws, name);
      while (auto msg = co_await ws.read()) topics.publish(name, msg->payload, msg->kind);
    });
    return r;
  }

  tether::redis_status status() const { return bridge.status(); }

  tether::hub topics;
  tether::redis_bridge bridge;
  running_server server;
};

// A WebSocket client on a thread of its own that records every message.
class recorder {
 public:
  explicit recorder(std::string url) {
    net::co_spawn(ctx_, run(std::move(url)), net::detached);
    thread_ = std::thread([this] { ctx_.run(); });
    BOOST_REQUIRE_MESSAGE(eventually([&] { return open_.load() || ended_.load(); }), "client did not connect");
    BOOST_REQUIRE(open_.load());
  }

  ~recorder() {
    net::post(ctx_, [this] {
      if (ws_) net::co_spawn(ctx_, ws_->close(), net::detached);
    });
    eventually([&] { return ended_.load(); }, 2s);
    ctx_.stop();
    thread_.join();
  }

  std::vector<tether::message> messages() const {
    std::lock_guard lock(mutex_);
    return got_;
  }

  std::size_t count() const {
    std::lock_guard lock(mutex_);
    return got_.size();
  }

  bool has(std::string_view payload) const {
    std::lock_guard lock(mutex_);
    return std::any_of(got_.begin(), got_.end(), [&](tether::message const& m) { return m.payload == payload; });
  }

  bool waits_for(std::string_view payload) const {
    return eventually([&] { return has(payload); }, 10s);
  }

 private:
  net::awaitable<void> run(std::string url) {
    auto ws = co_await tether::connect(url, quiet_client());
    if (ws) {
      ws_ = *ws;
      open_ = true;
      while (auto msg = co_await ws_->read()) {
        std::lock_guard lock(mutex_);
        got_.push_back(std::move(*msg));
      }
    }
    ended_ = true;
  }

  net::io_context ctx_;
  std::thread thread_;
  std::optional<tether::websocket> ws_;
  std::atomic<bool> open_{false}, ended_{false};
  mutable std::mutex mutex_;
  std::vector<tether::message> got_;
};

std::string numbered(char origin, int n) {
  std::string text(1, origin);
  text.append(std::to_string(n));
  return text;
}

// Messages from `origin`, in the order received, as numbers.
std::vector<int> sequence_from(std::vector<tether::message> const& messages, char origin) {
  std::vector<int> out;
  for (auto const& m : messages)
    if (!m.payload.empty() && m.payload[0] == origin) out.push_back(std::stoi(m.payload.substr(1)));
  return out;
}

std::vector<int> up_to(int n) {
  std::vector<int> out(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) out[static_cast<std::size_t>(i)] = i;
  return out;
}

bool linked(instance const& i, std::size_t channels) {
  auto const s = i.status();
  return s.connected && s.channels == channels;
}

// A command straight to Redis, as another program would send it; returns
// the first line of the answer.
std::string redis_command(std::uint16_t port, std::vector<std::string> const& words) {
  net::io_context ctx;
  tcp::socket socket(ctx);
  socket.connect({net::ip::make_address("127.0.0.1"), port});
  std::string resp(1, '*');
  resp.append(std::to_string(words.size())).append("\r\n");
  for (auto const& w : words) resp.append("$").append(std::to_string(w.size())).append("\r\n").append(w).append("\r\n");
  net::write(socket, net::buffer(resp));
  net::streambuf answer;
  net::read_until(socket, answer, "\r\n");
  std::string line(net::buffers_begin(answer.data()), net::buffers_end(answer.data()));
  return line.substr(0, line.find("\r\n"));
}

}  // namespace

BOOST_AUTO_TEST_CASE(each_subscriber_gets_each_message_once_whichever_instance_publishes) {
  redis_server redis;
  instance a(bridge_options(redis.port())), b(bridge_options(redis.port()));
  recorder x(a.server.url("/topic/room")), y(b.server.url("/topic/room"));
  BOOST_REQUIRE_MESSAGE(eventually([&] { return linked(a, 1) && linked(b, 1); }, 10s), a.status().last_error);

  constexpr int per_instance = 200;
  for (int i = 0; i < per_instance; ++i) {
    BOOST_TEST(a.topics.publish("room", numbered('a', i)) == 1u);
    BOOST_TEST(b.topics.publish("room", numbered('b', i)) == 1u);
  }
  BOOST_REQUIRE(eventually([&] { return x.count() >= 2 * per_instance && y.count() >= 2 * per_instance; }, 10s));
  // The bridge counts what it hands to its hub: its own messages, which
  // Redis echoes back, must not be among them.
  BOOST_REQUIRE(eventually([&] { return a.status().received == per_instance && b.status().received == per_instance; }));
  std::this_thread::sleep_for(200ms);  // room for a duplicate to show
  for (auto* r : {&x, &y}) {
    auto const got = r->messages();
    BOOST_TEST(got.size() == 2u * per_instance);
    BOOST_TEST(sequence_from(got, 'a') == up_to(per_instance), boost::test_tools::per_element());
    BOOST_TEST(sequence_from(got, 'b') == up_to(per_instance), boost::test_tools::per_element());
  }
  for (auto* i : {&a, &b}) {
    auto const s = i->status();
    BOOST_TEST(s.forwarded == static_cast<std::uint64_t>(per_instance));
    BOOST_TEST(s.lost == 0u);
    BOOST_TEST(s.connects == 2u);  // one to publish, one to subscribe
    BOOST_TEST(s.last_error.empty());
  }

  // What a client sends is published by its handler: binary stays binary.
  run_client([&]() -> net::awaitable<void> {
    auto ws = (co_await tether::connect(a.server.url("/topic/room"), quiet_client())).value();
    std::string const bytes("\x00\x01\xff", 3);
    BOOST_REQUIRE(!co_await ws.write(bytes, tether::message_kind::binary));
    co_await ws.close();
  });
  BOOST_REQUIRE(eventually([&] { return y.count() == 2 * per_instance + 1; }));
  BOOST_TEST((y.messages().back().kind == tether::message_kind::binary));
  BOOST_TEST(y.messages().back().payload == std::string("\x00\x01\xff", 3));
}

BOOST_AUTO_TEST_CASE(redis_down_at_start_then_killed_and_restarted) {
  auto const port = free_port();
  instance a(bridge_options(port)), b(bridge_options(port));
  recorder x(a.server.url("/topic/room")), y(b.server.url("/topic/room"));

  // No Redis: a clear reason, and local delivery goes on.
  BOOST_REQUIRE(eventually([&] { return a.topics.subscribers("room") == 1 && !a.status().last_error.empty(); }));
  BOOST_TEST(!a.status().connected);
  BOOST_TEST(a.status().last_error.find("refused") != std::string::npos, a.status().last_error);
  BOOST_TEST(a.topics.publish("room", "local while down") == 1u);
  BOOST_TEST(x.waits_for("local while down"));
  BOOST_TEST(a.status().lost == 1u);

  redis_server redis(port);
  BOOST_REQUIRE_MESSAGE(eventually([&] { return linked(a, 1) && linked(b, 1); }, 10s), a.status().last_error);
  a.topics.publish("room", "across after start");
  BOOST_TEST(y.waits_for("across after start"));

  // Killed: both notice, and local delivery still goes on.
  redis.stop();
  auto const down = [](instance const& i) { return !i.status().publishing && !i.status().subscribed; };
  BOOST_REQUIRE(eventually([&] { return down(a) && down(b); }));
  BOOST_TEST(!a.status().last_error.empty());
  auto const lost_before = a.status().lost;
  a.topics.publish("room", "local during the outage");
  BOOST_TEST(x.waits_for("local during the outage"));
  BOOST_TEST(a.status().lost == lost_before + 1);

  // Restarted on the same port: the bridges come back and subscribe again.
  auto const connects_before = a.status().connects;
  redis.start();
  BOOST_REQUIRE_MESSAGE(eventually([&] { return linked(a, 1) && linked(b, 1); }, 10s), a.status().last_error);
  BOOST_TEST(a.status().connects == connects_before + 2);
  b.topics.publish("room", "across after restart");
  a.topics.publish("room", "and back");
  BOOST_TEST(x.waits_for("across after restart"));
  BOOST_TEST(y.waits_for("and back"));

  // Nothing was replayed: what the outage lost stays lost, once.
  BOOST_TEST(!y.has("local while down"));
  BOOST_TEST(!y.has("local during the outage"));
  auto const got = x.messages();
  BOOST_TEST(std::count_if(got.begin(), got.end(), [](auto const& m) { return m.payload == "and back"; }) == 1);
}

BOOST_AUTO_TEST_CASE(a_channel_is_given_up_when_its_topic_has_no_subscriber_left) {
  redis_server redis;
  instance a(bridge_options(redis.port())), b(bridge_options(redis.port()));
  recorder y(b.server.url("/topic/room"));
  {
    recorder x(a.server.url("/topic/room"));
    BOOST_REQUIRE(eventually([&] { return linked(a, 1) && linked(b, 1); }, 10s));
    b.topics.publish("room", "to both");
    BOOST_TEST(x.waits_for("to both"));
  }
  // The next message for a topic whose subscribers are all gone removes
  // the topic, and its channel with it.
  b.topics.publish("room", "to b only");
  BOOST_TEST(y.waits_for("to b only"));
  BOOST_TEST(eventually([&] { return a.status().channels == 0u; }));
}

BOOST_AUTO_TEST_CASE(foreign_messages_on_our_channels_are_ignored) {
  redis_server redis;
  instance a(bridge_options(redis.port()));
  recorder x(a.server.url("/topic/room"));
  BOOST_REQUIRE(eventually([&] { return linked(a, 1); }, 10s));

  // Kind, another instance's id, payload.
  auto const envelope = [](char kind, std::string_view payload) {
    std::string out(1, kind);
    out.append(16, 'z').append(payload);
    return out;
  };
  redis_command(redis.port(), {"PUBLISH", "tether:room", "not an envelope"});
  redis_command(redis.port(), {"PUBLISH", "tether:room", envelope('t', "\xff\xfe not UTF-8")});
  redis_command(redis.port(), {"PUBLISH", "tether:room", envelope('x', "unknown kind")});
  BOOST_TEST(redis_command(redis.port(), {"PUBLISH", "tether:room", envelope('t', "from a script")}) == ":1");
  BOOST_REQUIRE(x.waits_for("from a script"));
  BOOST_TEST(x.count() == 1u);
  BOOST_TEST(a.status().received == 1u);
  BOOST_TEST(a.status().connected);
}

BOOST_AUTO_TEST_CASE(a_redis_that_wants_a_password) {
  redis_server redis(free_port(), "open sesame");
  instance none(bridge_options(redis.port())), wrong(bridge_options(redis.port(), "guess"));
  instance right(bridge_options(redis.port(), "open sesame"));
  recorder x(right.server.url("/topic/room"));
  BOOST_REQUIRE(eventually([&] { return linked(right, 1); }, 10s));
  BOOST_REQUIRE(eventually([&] { return !none.status().last_error.empty() && !wrong.status().last_error.empty(); }));
  BOOST_TEST(none.status().last_error.find("NOAUTH") != std::string::npos, none.status().last_error);
  BOOST_TEST(wrong.status().last_error.find("AUTH refused") != std::string::npos, wrong.status().last_error);
  BOOST_TEST(!wrong.status().connected);
}

BOOST_AUTO_TEST_CASE(a_second_bridge_for_one_hub_is_refused) {
  tether::hub topics;
  tether::redis_bridge first(topics, bridge_options(free_port()));
  BOOST_CHECK_THROW(tether::redis_bridge(topics, bridge_options(free_port())), std::logic_error);
}

BOOST_AUTO_TEST_CASE(a_redis_that_goes_silent_is_given_up_after_the_health_interval) {
  // Answers each connection's first PING, then reads and never answers.
  net::io_context ctx;
  tcp::acceptor acceptor(ctx, {net::ip::make_address("127.0.0.1"), 0});
  std::atomic<int> accepted{0};
  std::thread fake([&] {
    std::vector<std::shared_ptr<tcp::socket>> peers;
    acceptor.non_blocking(true);
    auto const until = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < until && accepted < 4) {
      boost::system::error_code ec;
      auto peer = std::make_shared<tcp::socket>(acceptor.accept(ec));
      if (ec) {
        std::this_thread::sleep_for(5ms);
        continue;
      }
      ++accepted;
      char buffer[256];
      peer->read_some(net::buffer(buffer), ec);
      net::write(*peer, net::buffer(std::string_view("+PONG\r\n")), ec);
      peers.push_back(peer);  // open and silent from now on
    }
    std::this_thread::sleep_for(500ms);
  });
  auto options = bridge_options(acceptor.local_endpoint().port());
  options.health_interval = 200ms;
  tether::hub topics;
  {
    tether::redis_bridge bridge(topics, options);
    BOOST_TEST(eventually([&] { return bridge.status().connected; }));
    auto const started = std::chrono::steady_clock::now();
    BOOST_REQUIRE(eventually([&] { return !bridge.status().last_error.empty(); }));
    auto const why = bridge.status().last_error;
    BOOST_TEST(why.find("no answer to PING") != std::string::npos, why);
    // A PING after 200 ms of silence, then 200 ms for its answer.
    BOOST_TEST((std::chrono::steady_clock::now() - started < 2s));
  }
  fake.join();
}
