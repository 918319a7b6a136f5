#pragma once
// Named topics of WebSockets: publish once, and every subscriber's write
// queue shares the one framed message.

#include <tether/message.hpp>
#include <tether/websocket.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace tether {

/// What one more published message does to a subscriber whose write queue
/// already holds max_write_queue bytes. A slow subscriber never slows the
/// publisher or the other subscribers.
enum class overflow : std::uint8_t {
  drop_oldest,   ///< published messages still waiting in its queue make room, oldest first, for the new one; but
                 ///< while the application waits in write(), or with compression context takeover, the new one goes
  drop_newest,   ///< the new message is not queued for it
  close_policy,  ///< it is closed with 1008 (policy violation)
  close_busy,    ///< it is closed with 1013 (try again later)
};

struct subscription_options {
  overflow when_full = overflow::drop_oldest;
};

/// Totals since the hub was made; every field only grows.
struct hub_counters {
  std::uint64_t published = 0;  ///< publish() calls
  std::uint64_t queued = 0;     ///< messages put in a subscriber's queue
  std::uint64_t dropped = 0;    ///< messages a full queue did not keep (either policy)
  std::uint64_t closed = 0;     ///< subscribers closed by close_policy or close_busy
  /// Compressions of published messages for sharing: at most one per
  /// publish() and permessage-deflate parameter set (window bits, memory
  /// level, level), for every subscriber without context takeover.
  std::uint64_t compressed_once = 0;
  /// Deliveries that a subscriber framed for itself: client-side
  /// connections (they mask each frame) and those with context takeover
  /// (each frame is compressed against that connection's history).
  std::uint64_t own_frames = 0;
};

/// Topics and their subscribers. Every member may be called from any thread
/// or coroutine. A message is framed once per publish() and shared by the
/// queues of all subscribers; for subscribers that agreed to compression
/// without context takeover it is compressed once per parameter set and
/// shared too (see hub_counters for those that frame their own). Messages reach each subscriber in the order of
/// the publish() calls of one thread. A closed connection leaves its topics
/// by itself; so does every subscriber when the hub is destroyed.
/// Publishing must stop before a server whose connections subscribe is
/// destroyed: a publish() that races it may post to a loop that is gone.
class hub {
 public:
  hub();
  ~hub();
  hub(hub const&) = delete;
  hub& operator=(hub const&) = delete;

  /// Subscribing again to the same topic replaces the options.
  void subscribe(websocket const& ws, std::string_view topic, subscription_options options = {});
  void unsubscribe(websocket const& ws, std::string_view topic);
  void unsubscribe_all(websocket const& ws);

  /// Queues the message for every subscriber of `topic`, on each one's own
  /// executor, and hands it to the hub's redis_bridge if it has one.
  /// Returns how many subscribers of this process it went to. Text must be
  /// valid UTF-8; invalid text is refused (0) and counted nowhere.
  std::size_t publish(std::string_view topic, std::string_view payload, message_kind kind = message_kind::text);

  /// Subscribers of `topic` whose connections still have a handle (a closed
  /// one leaves when its handler ends, or at the next publish that reaches it).
  std::size_t subscribers(std::string_view topic) const;
  hub_counters counters() const;

 private:
  friend class redis_bridge;
  struct state;
  std::shared_ptr<state> state_;
};

}  // namespace tether
