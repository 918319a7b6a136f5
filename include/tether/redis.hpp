#pragma once
// Topics across processes: a hub's publishes travel through Redis pub/sub
// to the hubs of other instances, and theirs come back.

#include <tether/backoff.hpp>
#include <tether/hub.hpp>
#include <tether/logger.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace tether {

struct redis_options {
  /// An address, or a name resolved on every connection (a resolution
  /// cannot be interrupted: while DNS hangs, destroying the bridge waits).
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  std::string password{};  ///< sent with AUTH on every connection when set
  /// Topic T travels on channel prefix + T: instances that share a Redis
  /// and a prefix share their topics.
  std::string channel_prefix = "tether:";
  std::chrono::milliseconds connect_timeout = std::chrono::seconds(2);
  /// Waits between attempts to reconnect: 100 ms, doubling up to 5 s, each
  /// shortened by up to a quarter at random, so that instances restarted
  /// together do not retry together. The bridge never gives up:
  /// max_attempts must stay 0.
  backoff retry{.initial_delay = std::chrono::milliseconds(100),
                .max_delay = std::chrono::seconds(5),
                .multiplier = 2.0,
                .jitter = 0.25,
                .max_attempts = 0};
  /// A connection that heard nothing for this long sends a PING; no answer
  /// within as long again, or bytes that TCP cannot get acknowledged for
  /// twice this long, and it counts as lost.
  std::chrono::milliseconds health_interval = std::chrono::seconds(5);
  /// Publishes waiting to be written to Redis, in bytes; past it new ones
  /// are not forwarded (they count as lost).
  std::size_t max_pending_bytes = 16 * 1024 * 1024;
  tether::logger logger{};
};

/// A snapshot; the counters only grow.
struct redis_status {
  bool connected = false;       ///< both connections to Redis are up
  bool publishing = false;      ///< the one that forwards this instance's publishes is up
  bool subscribed = false;      ///< the one that receives other instances' messages is up
  std::size_t channels = 0;     ///< channels Redis has confirmed we receive
  std::uint64_t forwarded = 0;  ///< local publishes written to Redis
  std::uint64_t received = 0;   ///< other instances' messages handed to the local hub
  std::uint64_t lost = 0;       ///< local publishes not forwarded: Redis was down, or slower than them
  std::uint64_t connects = 0;   ///< connections made to Redis, the first ones included
  std::string last_error{};     ///< why the last connection failed or ended; empty while none has
};

/// Links a hub to the hubs of other processes through Redis pub/sub. Every
/// publish() of the hub is delivered here directly and forwarded to Redis;
/// what other instances publish to a topic with local subscribers comes
/// back and is delivered here. An instance drops its own messages when
/// Redis echoes them, so each subscriber gets each message once.
///
/// It runs on a thread of its own, with two connections to Redis (one
/// publishes, one subscribes to the channels of the topics that have local
/// subscribers). Redis being unreachable, at start or later, is not an
/// error for the application: local delivery goes on, the bridge logs why,
/// reconnects with backoff, and counts the publishes it could not forward.
/// Nothing is queued for later: docs/scaling.md describes the loss window.
class redis_bridge {
 public:
  /// Starts connecting at once and returns. One bridge per hub: a second
  /// throws std::logic_error. The hub and the bridge may be destroyed in
  /// either order, but the bridge before a server whose connections
  /// subscribe to the hub: what it receives is published there, and
  /// publishing must stop first (hub.hpp).
  explicit redis_bridge(hub& topics, redis_options options = {});
  ~redis_bridge();
  redis_bridge(redis_bridge const&) = delete;
  redis_bridge& operator=(redis_bridge const&) = delete;

  redis_status status() const;

 private:
  class impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace tether
