#pragma once
// Whether an io_context can still run a connection's handlers. A websocket
// handle may outlive the server (or the client's io_context) that ran its
// connection, and posting to a destroyed io_context, or destroying a timer
// or socket after it with a wait pending, is undefined. So every
// connection enrolls with its loop's liveness; when the io_context shuts
// down, each connection still alive is ended there, while the loop's
// services exist, and a handle kept afterwards fails at once instead of
// posting.

#include "net/deadline_queue.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>

#include <memory>
#include <mutex>
#include <utility>

namespace tether::detail {

class connection;

class loop_liveness {
 public:
  /// The liveness of the io_context behind `executor` (made on first use).
  static std::shared_ptr<loop_liveness> of(boost::asio::any_io_executor const& executor);

  void enroll(connection& c);
  void withdraw(connection& c) noexcept;

  bool alive() const noexcept {
    std::lock_guard lock(mutex_);
    return alive_;
  }

  /// Posts `handler` to `executor` (of this loop) unless the loop is gone;
  /// false then, and `handler` is dropped.
  template <class Handler>
  bool post(boost::asio::any_io_executor const& executor, Handler&& handler) {
    std::lock_guard lock(mutex_);
    if (!alive_) return false;
    boost::asio::post(executor, std::forward<Handler>(handler));
    return true;
  }

  /// The io_context shuts down: ends every enrolled connection.
  void shut_down() noexcept;

  /// The deadlines of the loop's connections.
  deadline_queue& deadlines() noexcept { return deadlines_; }

 private:
  deadline_queue deadlines_;
  mutable std::mutex mutex_;
  bool alive_ = true;
  connection* first_ = nullptr;  // an intrusive list through the connections
};

}  // namespace tether::detail
