#pragma once
// The bound on every step before a connection is a WebSocket: connecting,
// the TLS handshake, each HTTP request and answer, the upgrade. Asio 1.81
// has no cancel_after, and racing each operation against a timer would
// cost a coroutine frame per wait; instead, when the deadline passes, its
// owner closes its sockets, which ends whatever operation waits on them.
// An open WebSocket keeps its own watchdog instead.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <memory>

namespace tether::detail {

/// Part of the object it guards (its owner). Thread safety: the owner's
/// executor only.
class deadline {
 public:
  explicit deadline(boost::asio::any_io_executor const& executor) : timer_(executor) {}

  /// After `timeout`, calls `expire()` and marks expired(), unless arm()
  /// or disarm() came first or `owner` (which holds this deadline) is gone.
  /// An expiry already queued when arm() or disarm() is called finds the
  /// generation moved on and does nothing.
  template <class Expire>
  void arm(std::chrono::milliseconds timeout, std::weak_ptr<void const> owner, Expire expire) {
    unsigned const generation = ++generation_;
    timer_.expires_after(timeout);
    timer_.async_wait([this, owner = std::move(owner), generation, expire = std::move(expire)](
                          boost::system::error_code ec) mutable {
      auto const alive = owner.lock();  // and with it this deadline
      if (ec || !alive || generation != generation_) return;
      expired_ = true;
      expire();
    });
  }

  void disarm() {
    ++generation_;
    timer_.cancel();
  }

  /// A deadline has passed: the failure it caused is a timeout.
  bool expired() const noexcept { return expired_; }

  boost::asio::any_io_executor get_executor() noexcept { return timer_.get_executor(); }

 private:
  boost::asio::steady_timer timer_;
  unsigned generation_ = 0;
  bool expired_ = false;
};

}  // namespace tether::detail
