#include <tether/redis.hpp>

#include "codec/utf8.hpp"
#include "topics/hub_state.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <hiredis/hiredis.h>
#include <netinet/tcp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <tuple>
#include <array>
#include <atomic>
#include <initializer_list>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>

namespace net = boost::asio;
using tcp = net::ip::tcp;
using boost::system::error_code;
using clock_type = std::chrono::steady_clock;

namespace tether {

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

// Appends the RESP encoding of one command, by hiredis.
void append_command(std::string& out, std::vector<std::string_view> const& words) {
  std::vector<char const*> argv;
  std::vector<std::size_t> lengths;
  for (auto w : words) {
    argv.push_back(w.data());
    lengths.push_back(w.size());
  }
  char* formatted = nullptr;
  int const size = redisFormatCommandArgv(&formatted, static_cast<int>(argv.size()), argv.data(), lengths.data());
  if (size < 0) throw std::bad_alloc();
  out.append(formatted, static_cast<std::size_t>(size));
  redisFreeCommand(formatted);
}

std::string command(std::initializer_list<std::string_view> words) {
  std::string out;
  append_command(out, words);
  return out;
}

// SUBSCRIBE or UNSUBSCRIBE for many channels, in commands of at most 1,024.
void append_channel_commands(std::string& out, std::string_view verb, std::string const& prefix,
                             std::vector<std::string_view> const& topics) {
  for (std::size_t first = 0; first < topics.size(); first += 1024) {
    auto const last = std::min(topics.size(), first + 1024);
    std::vector<std::string> channels;
    channels.reserve(last - first);
    std::vector<std::string_view> words{verb};
    for (auto i = first; i < last; ++i) words.push_back(channels.emplace_back(prefix).append(topics[i]));
    append_command(out, words);
  }
}

struct reply_deleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

struct reader_deleter {
  void operator()(redisReader* r) const { redisReaderFree(r); }
};

std::string_view text_of(redisReply const* r) {
  if (!r || !r->str) return {};
  return {r->str, r->len};
}

// A message on the wire: kind ('t' or 'b'), the publishing instance's id,
// then the payload. The id lets an instance skip its own messages.
constexpr std::size_t instance_id_size = 16;
using instance_id = std::array<char, instance_id_size>;
constexpr std::size_t envelope_header = 1 + instance_id_size;

// One TCP connection to Redis, for as long as it lasts.
struct redis_connection {
  explicit redis_connection(net::io_context& ctx) : socket(ctx), resolver(ctx), wake(ctx) {
    if (!reader) throw std::bad_alloc();
  }

  tcp::socket socket;
  tcp::resolver resolver;
  net::steady_timer wake;  // the writer sleeps here until there is something to send
  std::unique_ptr<redisReader, reader_deleter> reader{redisReaderCreate()};
  clock_type::time_point last_heard = clock_type::now();
  clock_type::time_point ping_sent_at{};
  bool ping_sent = false;
  bool connected = false;
  bool done = false;
  std::string why;  // why it ended

  // The first reason wins; later failures are its consequences.
  void fail(std::string reason) {
    if (done) return;
    done = true;
    why = std::move(reason);
    error_code ignored;
    resolver.cancel();
    socket.close(ignored);
    wake.cancel();
  }
};

enum class role { publisher, subscriber };

}  // namespace

class redis_bridge::impl final : public detail::hub_link, public std::enable_shared_from_this<impl> {
 public:
  impl(std::shared_ptr<hub::state> topics, redis_options options)
      : topics_(std::move(topics)), options_(std::move(options)) {
    if (options_.host.empty()) throw std::invalid_argument("tether::redis_bridge: no host");
    if (!options_.retry.valid() || options_.retry.max_attempts != 0)
      throw std::invalid_argument(
          "tether::redis_bridge: retry needs 0 < initial_delay <= max_delay, multiplier >= 1, jitter in 0..1 "
          "and max_attempts 0");
    if (options_.connect_timeout.count() <= 0)
      throw std::invalid_argument("tether::redis_bridge: connect_timeout must be positive");
    if (options_.health_interval.count() <= 0)
      throw std::invalid_argument("tether::redis_bridge: health_interval must be positive");
    if (RAND_bytes(reinterpret_cast<unsigned char*>(id_.data()), static_cast<int>(id_.size())) != 1)
      throw std::runtime_error("tether::redis_bridge: no randomness for the instance id");
    where_ = "redis " + options_.host + ":" + std::to_string(options_.port);
  }

  void start() {
    for (auto r : {role::publisher, role::subscriber})
      net::co_spawn(ctx_, keep_linked(r), net::bind_cancellation_slot(stops_[index(r)].slot(), net::detached));
    thread_ = std::thread([this] { ctx_.run(); });
  }

  void detach_from_hub() { topics_->detach(this); }

  // Every coroutine ends by itself once cancelled; then run() returns.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      closing_ = true;
      accepting_ = false;
    }
    net::post(ctx_, [this] {
      stopping_ = true;
      for (auto r : {role::publisher, role::subscriber}) {
        if (auto& c = current_[index(r)]) c->fail("bridge stopped");
        stops_[index(r)].emit(net::cancellation_type::terminal);
      }
    });
    if (thread_.joinable()) thread_.join();
  }

  // hub_link, with the hub's mutex held.
  void topic_opened(std::string_view topic) override {
    std::lock_guard lock(mutex_);
    if (!wanted_.emplace(topic).second || !subscriber_up_) return;
    append_channel_commands(changes_, "SUBSCRIBE", options_.channel_prefix, {topic});
    wake_locked(role::subscriber);
  }

  void topic_closed(std::string_view topic) override {
    std::lock_guard lock(mutex_);
    auto const it = wanted_.find(topic);
    if (it == wanted_.end()) return;
    wanted_.erase(it);
    if (!subscriber_up_) return;
    append_channel_commands(changes_, "UNSUBSCRIBE", options_.channel_prefix, {topic});
    wake_locked(role::subscriber);
  }

  // hub_link, from any publishing thread.
  void forward(std::string_view topic, std::string_view payload, message_kind kind) override {
    if (!accepting_.load(std::memory_order_relaxed)) {  // no copy while Redis is away
      lost_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    std::string channel = options_.channel_prefix;
    channel.append(topic);
    std::string envelope;
    envelope.reserve(envelope_header + payload.size());
    envelope.push_back(kind == message_kind::text ? 't' : 'b');
    envelope.append(id_.data(), id_.size()).append(payload);
    auto const publish = command({"PUBLISH", channel, envelope});
    std::lock_guard lock(mutex_);
    if (closing_ || !publisher_up_ || outgoing_.size() + publish.size() > options_.max_pending_bytes) {
      lost_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    outgoing_.append(publish);
    ++outgoing_count_;
    wake_locked(role::publisher);
  }

  redis_status status() const {
    redis_status s;
    {
      std::lock_guard lock(mutex_);
      s.publishing = publisher_up_;
      s.subscribed = subscriber_up_;
      s.connected = publisher_up_ && subscriber_up_;
      s.last_error = last_error_;
    }
    s.channels = channels_.load(std::memory_order_relaxed);
    s.forwarded = forwarded_.load(std::memory_order_relaxed);
    s.received = received_.load(std::memory_order_relaxed);
    s.lost = lost_.load(std::memory_order_relaxed);
    s.connects = connects_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  static std::size_t index(role r) { return r == role::publisher ? 0 : 1; }
  static char const* name(role r) { return r == role::publisher ? "publish" : "subscribe"; }

  // One wake-up in flight per role, however many publishes come.
  void wake_locked(role r) {
    if (wake_posted_[index(r)]) return;
    wake_posted_[index(r)] = true;
    net::post(ctx_, [this, r] {
      {
        std::lock_guard lock(mutex_);
        wake_posted_[index(r)] = false;
      }
      if (auto& c = current_[index(r)]) c->wake.cancel();
    });
  }

  // A sink that throws must not take the bridge down with it.
  void log(log_level level, std::string const& text) const noexcept {
    try {
      if (options_.logger.enabled(level)) options_.logger.log(level, 0, where_ + ": " + text);
    } catch (...) {
    }
  }

  // Connects, reconnects with backoff, and serves each connection, until
  // the bridge stops. Nothing but the stop ends it: an exception (a log
  // sink that throws, memory) ends one connection, which is then retried.
  net::awaitable<void> keep_linked(role r) {
    auto const& retry = options_.retry;
    auto delay = retry.initial_delay;
    bool failing = false;
    std::minstd_rand random(std::random_device{}());
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    while (!stopping_) {
      std::shared_ptr<redis_connection> conn;
      bool was_up = false;
      auto since = clock_type::now();
      try {
        conn = std::make_shared<redis_connection>(ctx_);
        current_[index(r)] = conn;
        co_await open(*conn);
        if (!stopping_ && !conn->done) {
          was_up = true;
          connects_.fetch_add(1, std::memory_order_relaxed);
          begin(r);
          log(failing ? log_level::info : log_level::debug, std::string("connected (") + name(r) + ")");
          failing = false;
          net::co_spawn(ctx_, write_loop(conn, r), net::detached);
          since = clock_type::now();
          co_await read_loop(*conn, r);
        }
      } catch (std::exception const& e) {
        // Also the cancellation at stop(); then the reason is not shown.
        if (conn) conn->fail(std::string("unexpected failure: ") + e.what());
      }
      if (was_up) {
        end(r);
        // A connection that lasted starts the backoff afresh; one that
        // fails at once (a refused command) keeps doubling it.
        if (clock_type::now() - since >= retry.max_delay) delay = retry.initial_delay;
      }
      current_[index(r)].reset();
      if (stopping_) break;
      auto const wait = retry.jittered(delay, unit(random));
      std::string const why = conn ? conn->why : "out of memory";
      {
        std::lock_guard lock(mutex_);
        last_error_ = why;
      }
      log(failing ? log_level::debug : log_level::warning,
          std::string(name(r)) + " connection: " + why + "; next try in " + std::to_string(wait.count()) +
              " ms; local delivery goes on");
      failing = true;
      try {
        net::steady_timer pause(ctx_, wait);
        co_await pause.async_wait(use_tuple);
      } catch (std::exception const&) {
        // Cancelled: stopping_ is set.
      }
      delay = retry.after(delay);
    }
    current_[index(r)].reset();
  }

  // Resolves, connects and authenticates, within connect_timeout; on
  // failure the connection is done and says why.
  net::awaitable<void> open(redis_connection& conn) {
    net::steady_timer limit(ctx_, options_.connect_timeout);
    limit.async_wait([weak = std::weak_ptr(current_shared(conn))](error_code ec) {
      if (ec) return;
      if (auto c = weak.lock(); c && !c->connected) c->fail("no connection within the connect timeout");
    });
    error_code connect_error;
    error_code not_literal;
    auto const literal = net::ip::make_address(options_.host, not_literal);
    if (!not_literal) {
      // No resolver: getaddrinfo cannot be interrupted, and would hold up
      // the bridge's destruction for as long as DNS takes.
      tcp::endpoint const where(literal, options_.port);
      std::tie(connect_error) = co_await conn.socket.async_connect(where, use_tuple);
    } else {
      std::string const service = std::to_string(options_.port);
      auto [resolve_error, endpoints] = co_await conn.resolver.async_resolve(options_.host, service, use_tuple);
      if (resolve_error) {
        conn.fail("cannot resolve " + options_.host + ": " + resolve_error.message());
        co_return;
      }
      if (conn.done) co_return;  // the timeout came first
      std::tie(connect_error, std::ignore) = co_await net::async_connect(conn.socket, endpoints, use_tuple);
    }
    if (connect_error) {
      conn.fail(connect_error.message());  // a no-op after the timeout's own
      co_return;
    }
    error_code ignored;
    conn.socket.set_option(tcp::no_delay(true), ignored);
    // Bytes that TCP cannot get acknowledged for this long end the
    // connection, even while a write is blocked.
    unsigned const user_timeout =
        static_cast<unsigned>(std::min<long long>(2 * options_.health_interval.count(), 0x7fffffff));
    ::setsockopt(conn.socket.native_handle(), IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof user_timeout);
    // A PING proves the link before it counts as up: a Redis that wants a
    // password says so here, not at the first publish.
    static std::string const ping = command({"PING"});
    std::string hello = options_.password.empty() ? std::string() : command({"AUTH", options_.password});
    hello.append(ping);
    auto [write_error, n] = co_await net::async_write(conn.socket, net::buffer(hello), use_tuple);
    if (write_error) {
      conn.fail(write_error.message());
      co_return;
    }
    for (int answers = options_.password.empty() ? 1 : 2; answers > 0; --answers) {
      auto reply = co_await read_reply(conn);
      if (conn.done) co_return;
      bool const to_auth = answers == 2;
      if (reply->type == REDIS_REPLY_ERROR) {
        conn.fail((to_auth ? "AUTH refused: " : "Redis answered ") + std::string(text_of(reply.get())));
        co_return;
      }
      // Anything else is not Redis (a port that connected to itself
      // echoes our own command back).
      if (reply->type != REDIS_REPLY_STATUS || text_of(reply.get()) != (to_auth ? "OK" : "PONG")) {
        conn.fail("the server on this port does not answer as Redis does");
        co_return;
      }
    }
    conn.last_heard = clock_type::now();
    conn.connected = true;
    limit.cancel();
  }

  std::shared_ptr<redis_connection> current_shared(redis_connection& conn) {
    for (auto& c : current_)
      if (c.get() == &conn) return c;
    return {};
  }

  // One reply, outside the message loop (the answer to AUTH).
  net::awaitable<reply_ptr> read_reply(redis_connection& conn) {
    std::array<char, 512> buffer;
    for (;;) {
      void* reply = nullptr;
      if (redisReaderGetReply(conn.reader.get(), &reply) != REDIS_OK) {
        conn.fail(std::string("malformed reply: ") + conn.reader->errstr);
        co_return nullptr;
      }
      if (reply) co_return reply_ptr(static_cast<redisReply*>(reply));
      auto [ec, n] = co_await conn.socket.async_read_some(net::buffer(buffer), use_tuple);
      if (ec) {
        conn.fail(ec.message());
        co_return nullptr;
      }
      if (redisReaderFeed(conn.reader.get(), buffer.data(), n) != REDIS_OK) {
        conn.fail("cannot buffer Redis's reply");
        co_return nullptr;
      }
    }
  }

  // The connection is up: publishes may queue, or the channels of every
  // topic with local subscribers are asked for.
  void begin(role r) {
    std::lock_guard lock(mutex_);
    if (r == role::publisher) {
      publisher_up_ = true;
      accepting_ = !closing_;
      return;
    }
    subscriber_up_ = true;
    changes_.clear();
    std::vector<std::string_view> const all(wanted_.begin(), wanted_.end());
    append_channel_commands(changes_, "SUBSCRIBE", options_.channel_prefix, all);
  }

  void end(role r) {
    std::lock_guard lock(mutex_);
    if (r == role::publisher) {
      publisher_up_ = false;
      accepting_ = false;
      lost_.fetch_add(outgoing_count_, std::memory_order_relaxed);
      outgoing_.clear();
      outgoing_count_ = 0;
      return;
    }
    subscriber_up_ = false;
    changes_.clear();
    confirmed_.clear();
    channels_.store(0, std::memory_order_relaxed);
  }

  // Writes what is queued for this role, and PINGs a quiet Redis. A batch
  // taken from the queue and not written counts as lost, whatever ends it.
  net::awaitable<void> write_loop(std::shared_ptr<redis_connection> conn, role r) {
    static std::string const ping = command({"PING"});
    std::string batch;
    std::uint64_t count = 0;
    try {
      while (!conn->done) {
        auto const now = clock_type::now();
        if (conn->ping_sent && now - conn->ping_sent_at >= options_.health_interval) {
          conn->fail("no answer to PING for " + std::to_string(options_.health_interval.count()) + " ms");
          break;
        }
        {
          std::lock_guard lock(mutex_);
          if (r == role::publisher) {
            batch.swap(outgoing_);
            count = std::exchange(outgoing_count_, 0);
          } else {
            batch.swap(changes_);
          }
        }
        if (!conn->ping_sent && now - conn->last_heard >= options_.health_interval) {
          batch.append(ping);
          conn->ping_sent = true;
          conn->ping_sent_at = now;
        }
        if (batch.empty()) {
          conn->wake.expires_after(options_.health_interval / 2);
          co_await conn->wake.async_wait(use_tuple);
          continue;
        }
        auto [ec, n] = co_await net::async_write(conn->socket, net::buffer(batch), use_tuple);
        if (ec) {
          conn->fail(ec.message());
          break;
        }
        if (r == role::publisher) forwarded_.fetch_add(count, std::memory_order_relaxed);
        batch.clear();
        count = 0;
      }
    } catch (std::exception const& e) {
      conn->fail(std::string("unexpected failure: ") + e.what());
    }
    lost_.fetch_add(count, std::memory_order_relaxed);
  }

  net::awaitable<void> read_loop(redis_connection& conn, role r) {
    std::vector<char> buffer(16 * 1024);
    while (!conn.done) {
      auto [ec, n] = co_await conn.socket.async_read_some(net::buffer(buffer), use_tuple);
      if (ec) {
        conn.fail(ec == net::error::eof ? "Redis closed the connection" : ec.message());
        break;
      }
      conn.last_heard = clock_type::now();
      conn.ping_sent = false;
      if (redisReaderFeed(conn.reader.get(), buffer.data(), n) != REDIS_OK) {
        conn.fail("cannot buffer Redis's replies");
        break;
      }
      for (;;) {
        void* raw = nullptr;
        if (redisReaderGetReply(conn.reader.get(), &raw) != REDIS_OK) {
          conn.fail(std::string("malformed reply: ") + conn.reader->errstr);
          break;
        }
        if (!raw) break;
        reply_ptr reply(static_cast<redisReply*>(raw));
        if (reply->type == REDIS_REPLY_ERROR) {
          conn.fail("Redis answered " + std::string(text_of(reply.get())));
          break;
        }
        if (r == role::subscriber) on_push(*reply);
      }
    }
  }

  // What the subscriber connection hears: messages and confirmations.
  void on_push(redisReply const& reply) {
    if (reply.type != REDIS_REPLY_ARRAY || reply.elements < 2) return;  // a PONG
    auto const what = text_of(reply.element[0]);
    auto const channel = text_of(reply.element[1]);
    if (what == "subscribe") {
      confirmed_.emplace(channel);
    } else if (what == "unsubscribe") {
      confirmed_.erase(std::string(channel));
    } else if (what == "message" && reply.elements >= 3) {
      deliver(channel, text_of(reply.element[2]));
    }
    channels_.store(confirmed_.size(), std::memory_order_relaxed);
  }

  void deliver(std::string_view channel, std::string_view envelope) {
    if (!channel.starts_with(options_.channel_prefix) || envelope.size() < envelope_header) return;
    if (std::equal(id_.begin(), id_.end(), envelope.begin() + 1)) return;  // ours: delivered when published
    auto const topic = channel.substr(options_.channel_prefix.size());
    auto const payload = envelope.substr(envelope_header);
    message_kind kind;
    if (envelope[0] == 't' && detail::is_valid_utf8(payload)) {
      kind = message_kind::text;
    } else if (envelope[0] == 'b') {
      kind = message_kind::binary;
    } else {
      log(log_level::debug, "ignored a message on " + std::string(channel) + " that is not a Tether envelope");
      return;
    }
    received_.fetch_add(1, std::memory_order_relaxed);
    topics_->deliver(topic, payload, kind);
  }

  std::shared_ptr<hub::state> topics_;
  redis_options const options_;
  std::string where_;
  instance_id id_{};

  mutable std::mutex mutex_;  // guards what publishing threads and the hub touch
  bool closing_ = false;
  bool publisher_up_ = false;
  bool subscriber_up_ = false;
  std::string outgoing_;  // PUBLISH commands not yet written
  std::uint64_t outgoing_count_ = 0;
  std::set<std::string, std::less<>> wanted_;  // topics with local subscribers
  std::string changes_;  // SUBSCRIBE / UNSUBSCRIBE not yet written
  std::array<bool, 2> wake_posted_{};
  std::string last_error_;

  std::atomic<bool> accepting_{false};  // publisher_up_ && !closing_, read without the mutex
  std::atomic<std::size_t> channels_{0};
  std::atomic<std::uint64_t> forwarded_{0}, received_{0}, lost_{0}, connects_{0};

  // The bridge's own thread only.
  net::io_context ctx_{1};
  std::array<net::cancellation_signal, 2> stops_;
  std::array<std::shared_ptr<redis_connection>, 2> current_;
  std::set<std::string, std::less<>> confirmed_;
  bool stopping_ = false;
  std::thread thread_;
};

redis_bridge::redis_bridge(hub& topics, redis_options options)
    : impl_(std::make_shared<impl>(topics.state_, std::move(options))) {
  topics.state_->attach(impl_);
  try {
    impl_->start();
  } catch (...) {
    impl_->detach_from_hub();
    throw;
  }
}

redis_bridge::~redis_bridge() {
  // A publish() that took the link before this still finds it alive (it
  // holds a reference) and closed (it counts as lost).
  impl_->detach_from_hub();
  impl_->stop();
}

redis_status redis_bridge::status() const { return impl_->status(); }

}  // namespace tether
