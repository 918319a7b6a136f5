#pragma once
// An in-memory byte_stream for tests: two ends joined by a pipe of bounded
// capacity each way, readiness like a socket's, and a failure counter that
// fails the nth read, write or wait (Beast's fail-count idea), so that a
// connection can be failed at every step in turn without a kernel.

#include "net/byte_stream.hpp"

#include <boost/asio/append.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>

namespace test {

namespace net = boost::asio;
using boost::system::error_code;
using tether::detail::byte_stream;

/// Fails every step from the nth on (counting from 0) with connection_reset.
struct fail_counter {
  explicit fail_counter(std::size_t fail_at) : remaining(fail_at) {}
  std::size_t remaining;
  std::size_t steps = 0;
  bool failed = false;

  bool fail_now() noexcept {
    ++steps;
    if (!failed && remaining-- == 0) failed = true;
    return failed;
  }
};

class test_stream final : public byte_stream {
  struct direction {
    std::string bytes;
    bool shut = false;         // the writer sent FIN: reads end with eof once drained
    bool reset = false;        // the writer reset: reads fail
    bool reader_gone = false;  // the reader closed: writes fail
    wait_handler reader;       // waiting for bytes
    wait_handler writer;       // waiting for room
  };
  struct pipe {
    net::any_io_executor executor;
    std::size_t capacity;
    direction to_b, to_a;
  };

 public:
  /// Two joined ends.
  static std::pair<test_stream, test_stream> pair(net::any_io_executor executor, std::size_t capacity = 16 * 1024) {
    auto shared = std::make_shared<pipe>(pipe{std::move(executor), capacity, {}, {}});
    return {test_stream(shared, true), test_stream(shared, false)};
  }

  test_stream(test_stream&& other) noexcept
      : pipe_(std::move(other.pipe_)), is_a_(other.is_a_), fail_(std::exchange(other.fail_, nullptr)),
        closed_(other.closed_) {}
  ~test_stream() override {
    if (pipe_) end(false);
  }

  /// Steps of this end count against `counter` (which must outlive it).
  void fail_with(fail_counter* counter) noexcept { fail_ = counter; }

  net::any_io_executor executor() override { return pipe_->executor; }

  std::size_t read_some(net::mutable_buffer buffer, error_code& ec) override {
    ec = {};
    if (failing(ec)) return 0;
    auto& from = in();
    if (from.reset) {
      ec = net::error::connection_reset;
      return 0;
    }
    if (from.bytes.empty()) {
      ec = from.shut ? error_code(net::error::eof) : error_code(net::error::would_block);
      return 0;
    }
    std::size_t const n = std::min(buffer.size(), from.bytes.size());
    from.bytes.copy(static_cast<char*>(buffer.data()), n);
    from.bytes.erase(0, n);
    wake(from.writer, {});
    return n;
  }

  std::size_t write_some(std::span<net::const_buffer const> buffers, error_code& ec) override {
    ec = {};
    if (failing(ec)) return 0;
    auto& to = out();
    if (to.reader_gone || to.shut) {
      ec = net::error::broken_pipe;
      return 0;
    }
    std::size_t room = pipe_->capacity - std::min(pipe_->capacity, to.bytes.size());
    if (room == 0) {
      ec = net::error::would_block;
      return 0;
    }
    std::size_t n = 0;
    for (auto const& b : buffers) {
      std::size_t const take = std::min(room, b.size());
      to.bytes.append(static_cast<char const*>(b.data()), take);
      n += take;
      room -= take;
      if (room == 0) break;
    }
    wake(to.reader, {});
    return n;
  }

  wait_type read_wants() const noexcept override { return wait_type::wait_read; }
  wait_type write_wants() const noexcept override { return wait_type::wait_write; }
  bool has_buffered_input() const noexcept override { return false; }

  void wait(wait_type what, wait_handler handler) override {
    error_code ec;
    if (failing(ec)) {
      net::post(pipe_->executor, net::append(std::move(handler), ec));
      return;
    }
    if (what == wait_type::wait_read) {
      auto& from = in();
      if (!from.bytes.empty() || from.shut || from.reset || closed_)
        net::post(pipe_->executor, net::append(std::move(handler), ec));
      else
        keep(from.reader, std::move(handler));
    } else {
      auto& to = out();
      if (to.bytes.size() < pipe_->capacity || to.reader_gone || closed_)
        net::post(pipe_->executor, net::append(std::move(handler), ec));
      else
        keep(to.writer, std::move(handler));
    }
  }

  bool use_poller(tether::detail::poller&, tether::detail::readiness_listener&) override { return false; }
  void forget_poller() noexcept override {}
  bool is_tls() const noexcept override { return false; }

  void shutdown_send() override {
    out().shut = true;
    wake(out().reader, {});
  }
  void close() override { end(false); }
  void reset() override { end(true); }

  /// What the other end wrote and this end has not read.
  std::string const& unread() const { return in().bytes; }

 private:
  test_stream(std::shared_ptr<pipe> shared, bool is_a) : pipe_(std::move(shared)), is_a_(is_a) {}

  direction& in() const { return is_a_ ? pipe_->to_a : pipe_->to_b; }
  direction& out() const { return is_a_ ? pipe_->to_b : pipe_->to_a; }

  bool failing(error_code& ec) {
    if (closed_) {
      ec = net::error::bad_descriptor;
      return true;
    }
    if (fail_ && fail_->fail_now()) {
      ec = net::error::connection_reset;
      return true;
    }
    return false;
  }

  // Boost 1.81's move assignment of any_completion_handler wraps the
  // handler in a new wrapper, endlessly: swap instead.
  static void keep(wait_handler& slot, wait_handler handler) { handler.swap(slot); }

  void wake(wait_handler& waiter, error_code ec) {
    if (!waiter) return;
    wait_handler handler;
    handler.swap(waiter);
    net::post(pipe_->executor, net::append(std::move(handler), ec));
  }

  void end(bool with_reset) {
    if (closed_) return;
    closed_ = true;
    auto& to = out();
    if (with_reset) to.reset = true;
    to.shut = true;
    in().reader_gone = true;
    wake(to.reader, {});
    wake(in().writer, {});
    // Our own waits end as a closed socket's do.
    wake(in().reader, net::error::operation_aborted);
    wake(to.writer, net::error::operation_aborted);
  }

  std::shared_ptr<pipe> pipe_;
  bool is_a_;
  fail_counter* fail_ = nullptr;
  bool closed_ = false;
};

}  // namespace test
