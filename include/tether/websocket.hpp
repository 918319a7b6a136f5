#pragma once
// One WebSocket connection, in either role.

#include <tether/close_code.hpp>
#include <tether/failure.hpp>
#include <tether/message.hpp>
#include <tether/request.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tether {

namespace detail {
class connection;
}

/// A handle to one WebSocket connection; copies refer to the same
/// connection, which lives while any copy or operation needs it. When the
/// io_context that runs the connection is destroyed (its server with it),
/// the connection ends there; a copy kept past that stays safe to use and
/// to destroy, and its operations fail at once with `error::stopped`.
///
/// Errors: operations return a tether::failure instead of throwing (read()
/// inside a result). A read that ends because the close handshake happened
/// fails with `error::closed`; the peer's close code and reason are then
/// available. write(), ping() and close() return an empty failure on
/// success, so `if (auto failed = co_await ws.write(m))` reads as it runs.
///
/// Thread safety: write, ping and close may be awaited from any coroutine on
/// any executor, concurrently; they are carried out on the connection's
/// executor, in the order they were made per caller. read() and the
/// observers belong to one coroutine on the connection's executor. The
/// connection's executor must not run handlers concurrently (an io_context
/// run by one thread, or a strand).
///
/// Cancellation: closing the connection (or the server stopping) ends every
/// pending operation with an error.
class websocket {
 public:
  websocket() = default;  ///< an empty handle; every operation fails
  explicit websocket(std::shared_ptr<detail::connection> impl) noexcept;

  /// The next complete message. Pings are answered and pongs consumed
  /// while waiting, and also while no read is pending.
  boost::asio::awaitable<result<message>> read();

  /// Queues one message. Completes when the message is queued: it is then
  /// sent before any close frame, unless the connection fails. Awaits while
  /// the write queue holds more than max_write_queue bytes.
  boost::asio::awaitable<failure> write(
      std::string_view payload, message_kind kind = message_kind::text);
  boost::asio::awaitable<failure> write(message const& msg) {
    return write(msg.payload, msg.kind);
  }
  /// Takes the payload without copying it: `co_await ws.write(std::move(*msg))`
  /// echoes a message at the cost of none.
  boost::asio::awaitable<failure> write(message&& msg);

  /// Batches, for throughput: one operation for every message at hand
  /// instead of one each (a pipelined echo spends about a quarter less).
  ///
  /// read_batch() waits for a message as read() does, then replaces what
  /// `into` held with every message already received, in order; it fails
  /// as read() does, once no message is left. write_batch() queues
  /// `messages` in order and takes their payloads, as write(std::move(m))
  /// would one by one; when one fails, those before it are queued (their
  /// payloads taken) and it and those after are not (theirs kept). Await
  /// each at once: it refers to its argument until it completes.
  ///
  ///     std::vector<tether::message> batch;
  ///     while (!co_await ws.read_batch(batch))
  ///       if (co_await ws.write_batch(batch)) break;
  boost::asio::awaitable<failure> read_batch(std::vector<message>& into);
  boost::asio::awaitable<failure> write_batch(std::span<message> messages);

  /// Sends a ping (at most 125 bytes) ahead of queued messages.
  boost::asio::awaitable<failure> ping(std::string_view payload = {});

  /// Starts the close handshake after the messages already queued and
  /// completes when the TCP connection has ended, within close_timeout.
  /// Returns success when the handshake completed (also when the peer
  /// closed first).
  boost::asio::awaitable<failure> close(
      close_code code = close_code::normal, std::string_view reason = {});

  bool is_open() const noexcept;
  /// The code of the peer's close frame; no_status when it had none,
  /// abnormal when none arrived (yet).
  close_code peer_close_code() const noexcept;
  /// The peer's close reason: untrusted peer input, valid UTF-8.
  std::string const& peer_close_reason() const noexcept;
  /// The subprotocol agreed in the handshake, empty if none.
  std::string const& subprotocol() const noexcept;
  /// Whether permessage-deflate was agreed in the handshake.
  bool compressed() const noexcept;
  endpoint const& remote() const noexcept;
  /// Unique per process; the number in log lines.
  std::uint64_t id() const noexcept;
  boost::asio::any_io_executor get_executor() const noexcept;

  explicit operator bool() const noexcept { return impl_ != nullptr; }

 private:
  friend class hub;
  std::shared_ptr<detail::connection> impl_;
};

}  // namespace tether
