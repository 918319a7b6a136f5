#pragma once
// What a WebSocket connection needs of its byte stream: non-blocking reads
// and writes, readiness, and the ways to end it. `transport` (a kernel
// socket, plain or TLS, TCP or Unix, with Asio's waits or the poller) is
// the implementation every user runs; tests bring an in-memory one that
// fails on command (test/support/test_stream.hpp), so that a connection can
// be failed at every step without a kernel.

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/system/error_code.hpp>

#include <cstddef>
#include <span>

namespace tether::detail {

class poller;
class readiness_listener;

class byte_stream {
 public:
  using error_code = boost::system::error_code;
  using wait_type = boost::asio::socket_base::wait_type;
  using wait_handler = boost::asio::any_completion_handler<void(error_code)>;

  virtual ~byte_stream() = default;

  virtual boost::asio::any_io_executor executor() = 0;

  /// Non-blocking. would_block when nothing can move now: wait with
  /// wait(read_wants()) or wait(write_wants()).
  virtual std::size_t read_some(boost::asio::mutable_buffer buffer, error_code& ec) = 0;
  virtual std::size_t write_some(std::span<boost::asio::const_buffer const> buffers, error_code& ec) = 0;
  virtual wait_type read_wants() const noexcept = 0;
  virtual wait_type write_wants() const noexcept = 0;
  /// Bytes held above the socket (a TLS record): read again before waiting.
  virtual bool has_buffered_input() const noexcept = 0;
  /// Completes once `what` may make progress (or the stream failed).
  virtual void wait(wait_type what, wait_handler handler) = 0;

  /// Hands readiness to the poller instead of waits; false when this
  /// stream cannot (it then keeps using wait()).
  virtual bool use_poller(poller& readiness, readiness_listener& listener) = 0;
  virtual void forget_poller() noexcept = 0;
  /// A short read proves the socket drained only without TLS buffering.
  virtual bool is_tls() const noexcept = 0;

  /// Ends our direction (close_notify for TLS, then FIN).
  virtual void shutdown_send() = 0;
  virtual void close() = 0;
  /// Ends with a reset instead of a FIN.
  virtual void reset() = 0;

 protected:
  byte_stream() = default;
  byte_stream(byte_stream&&) = default;
  byte_stream& operator=(byte_stream&&) = delete;
};

}  // namespace tether::detail
