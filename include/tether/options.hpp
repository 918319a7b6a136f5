#pragma once
// Limits and timeouts of one WebSocket connection, for either role.

#include <chrono>
#include <cstddef>

namespace tether {

/// Every field has a default suited to a public server; a zero duration
/// turns that timer off.
struct websocket_options {
  /// Largest incoming message in bytes, all fragments together; a larger
  /// one closes the connection with 1009 as soon as its header arrives.
  std::size_t max_message_size = 16 * 1024 * 1024;
  /// Bytes of outgoing messages queued but not yet written; a writer that
  /// finds the queue this full awaits until it drains (backpressure).
  std::size_t max_write_queue = 4 * 1024 * 1024;
  /// Bytes of received messages waiting for read(); past this the
  /// connection stops reading the socket until the application catches up.
  std::size_t max_read_queue = 4 * 1024 * 1024;
  /// Send a ping when nothing was received for this long.
  std::chrono::milliseconds ping_interval = std::chrono::seconds(30);
  /// Drop the connection when a ping got no pong for this long.
  std::chrono::milliseconds pong_timeout = std::chrono::seconds(30);
  /// Close with 1001 when nothing at all was received for this long.
  std::chrono::milliseconds idle_timeout{0};
  /// Upper bound for the close handshake, from our close frame (or the
  /// peer's) to the end of the TCP connection.
  std::chrono::milliseconds close_timeout = std::chrono::seconds(5);
};

}  // namespace tether
