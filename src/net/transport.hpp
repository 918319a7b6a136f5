#pragma once
// One byte stream, plain or TLS, over a TCP or Unix socket. The connection
// drives it with readiness waits and non-blocking calls (so idle
// connections hold no buffer); Beast's HTTP code sees an ordinary Asio
// stream through async_read_some/async_write_some.

#include "net/byte_stream.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>

#include <array>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace tether::detail {
class poller;
class readiness_listener;
}  // namespace tether::detail

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace tether::detail {

// Not `final`: Asio's executor detection derives from the types it inspects.
class transport : public byte_stream {
 public:
  using socket_type = boost::asio::generic::stream_protocol::socket;
  using executor_type = socket_type::executor_type;
  using error_code = boost::system::error_code;
  using wait_type = boost::asio::socket_base::wait_type;

  explicit transport(socket_type socket);
  transport(transport&&) noexcept;
  transport& operator=(transport&&) = delete;
  ~transport() override;

  /// Makes the stream TLS; the handshake itself is handshake_step(). On
  /// the client side `host` is the peer's name (SNI unless it is an IP
  /// address) and, when `verify_host`, the name its certificate must
  /// carry. False when that check cannot be set up (a name OpenSSL cannot
  /// match): the caller must not go on, or any trusted certificate would do.
  bool use_tls(SSL_CTX* context, bool server, std::string const& host = {}, bool verify_host = true);
  bool is_tls() const noexcept override { return ssl() != nullptr; }
  SSL* native_tls() const noexcept { return ssl(); }

  /// One step of the TLS handshake; would_block means wait for wants_for_handshake().
  error_code handshake_step();
  wait_type handshake_wants() const noexcept { return handshake_wants_; }

  /// Non-blocking. would_block when nothing can move now: wait with
  /// async_wait(read_wants()) or async_wait(write_wants()).
  std::size_t read_some(boost::asio::mutable_buffer buffer, error_code& ec) override;
  std::size_t write_some(std::span<boost::asio::const_buffer const> buffers, error_code& ec) override;
  wait_type read_wants() const noexcept override { return read_wants_; }
  wait_type write_wants() const noexcept override { return write_wants_; }

  /// TLS may hold bytes the socket no longer shows: read again before
  /// waiting. False after a read that needed the socket, even when OpenSSL
  /// holds part of a record (waiting is then right).
  bool has_buffered_input() const noexcept override;

  /// Moves the socket out of Asio into `readiness` (true), or leaves it
  /// where it is (false). Afterwards only the non-blocking calls work: no
  /// waits, no Beast; the listener hears of readiness instead.
  bool use_poller(poller& readiness, readiness_listener& listener) override;
  bool polled() const noexcept { return descriptor_ >= 0; }
  void forget_poller() noexcept override { poller_ = nullptr; }

  /// Ends our direction: close_notify for TLS, then FIN.
  void shutdown_send() override;
  void cancel();
  void close() override;
  /// Closes with a reset instead of a FIN: for a peer that stopped reading,
  /// whose unsent bytes would otherwise sit in the kernel until it gives up.
  void reset() override;
  bool is_open() const noexcept { return descriptor_ >= 0 || socket_.is_open(); }

  /// The OpenSSL reason for the last failure, for log lines and errors.
  std::string const& tls_failure() const noexcept;

  template <class Token>
  auto async_wait(wait_type what, Token&& token) {
    return socket_.async_wait(what, std::forward<Token>(token));
  }
  void wait(wait_type what, wait_handler handler) override { socket_.async_wait(what, std::move(handler)); }
  boost::asio::any_io_executor executor() override { return socket_.get_executor(); }

  // The Asio stream interface, for Beast.
  executor_type get_executor() noexcept { return socket_.get_executor(); }

  template <class MutableBuffers, class Token>
  auto async_read_some(MutableBuffers const& buffers, Token&& token) {
    return boost::asio::async_compose<Token, void(error_code, std::size_t)>(
        io_op<read_step>{*this, {first_buffer<boost::asio::mutable_buffer>(buffers)}}, token, socket_);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(ConstBuffers const& buffers, Token&& token) {
    write_step step;
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers) && step.count < step.buffers.size(); ++it)
      if (boost::asio::const_buffer const b(*it); b.size() > 0) step.buffers[step.count++] = b;
    return boost::asio::async_compose<Token, void(error_code, std::size_t)>(io_op<write_step>{*this, step}, token,
                                                                            socket_);
  }

 private:
  struct ssl_free {
    void operator()(SSL* ssl) const noexcept;
  };

  template <class Buffer, class Sequence>
  static Buffer first_buffer(Sequence const& buffers) {
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it)
      if (Buffer const b(*it); b.size() > 0) return b;
    return {};
  }

  // Beast's reads and writes: one non-blocking step, then a readiness wait
  // whenever the step would block.
  template <class Step>
  struct io_op {
    transport& self;
    Step step;
    bool started = false;

    template <class Self>
    void operator()(Self& op, error_code ec = {}) {
      if (ec) {
        op.complete(ec, 0);
        return;
      }
      std::size_t const n = step(self, ec);
      if (ec == boost::asio::error::would_block) {
        started = true;
        self.socket_.async_wait(step.wants(self), std::move(op));
      } else if (started) {
        op.complete(ec, n);
      } else {  // completing inside the initiating call is not allowed
        started = true;
        boost::asio::post(self.socket_.get_executor(), [op = std::move(op), ec, n]() mutable { op.complete(ec, n); });
      }
    }
  };

  struct read_step {
    boost::asio::mutable_buffer buffer;
    std::size_t operator()(transport& t, error_code& ec) const { return buffer.size() == 0 ? 0 : t.read_some(buffer, ec); }
    wait_type wants(transport const& t) const noexcept { return t.read_wants_; }
  };

  struct write_step {
    std::array<boost::asio::const_buffer, 16> buffers{};
    std::size_t count = 0;
    std::size_t operator()(transport& t, error_code& ec) const {
      return count == 0 ? 0 : t.write_some({buffers.data(), count}, ec);
    }
    wait_type wants(transport const& t) const noexcept { return t.write_wants_; }
  };

  error_code tls_error(int result, wait_type& wants);
  std::size_t receive(boost::asio::mutable_buffer buffer, error_code& ec);
  std::size_t send(std::span<boost::asio::const_buffer const> buffers, error_code& ec);

  socket_type socket_;
  int descriptor_ = -1;  // the socket once it has left Asio for the poller
  poller* poller_ = nullptr;
  wait_type read_wants_ = socket_type::wait_read;
  wait_type write_wants_ = socket_type::wait_write;
  wait_type handshake_wants_ = socket_type::wait_read;
  bool read_blocked_ = false;  // the last TLS read needed more from the socket
  // Apart, so that a plain connection does not carry it (56 bytes). It
  // outlives the SSL object, which close() frees: the failure stays.
  struct tls_state {
    std::unique_ptr<SSL, ssl_free> ssl;
    std::vector<char> staging;  // small TLS writes gathered into one record
    std::string failure;
  };
  std::unique_ptr<tls_state> tls_;
  SSL* ssl() const noexcept { return tls_ ? tls_->ssl.get() : nullptr; }
};

}  // namespace tether::detail
