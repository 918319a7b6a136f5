#pragma once
// Readiness for the WebSocket connections of one io_context, from an epoll
// set of our own. Asio re-arms a descriptor (epoll_ctl) on every
// async_wait, which is one system call per message; here each descriptor
// is registered once, edge-triggered, and one Asio wait on the set serves a
// whole batch of events.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <cstdint>
#include <optional>
#include <vector>

namespace tether::detail {

/// What a registered descriptor's owner is told: which directions may have
/// become ready since it last heard. Spurious calls are allowed.
class readiness_listener {
 public:
  /// `hangup`: the peer closed its side (or the socket failed); a read
  /// that returns less than asked no longer proves the socket drained.
  virtual void on_ready(bool readable, bool writable, bool hangup) = 0;
  /// The io_context is going away; nothing will be called any more.
  virtual void on_poller_shutdown() noexcept = 0;

 protected:
  ~readiness_listener() = default;
};

class poller : public boost::asio::execution_context::service {
 public:
  using key_type = poller;
  static boost::asio::execution_context::id id;

  explicit poller(boost::asio::execution_context& context);
  ~poller() override;

  /// The poller of the io_context behind `executor`, which must run on one
  /// thread: listeners are called there, and must only be touched there.
  static poller& of(boost::asio::any_io_executor const& executor);

  /// False when the descriptor cannot be added (the caller keeps Asio's
  /// waits). A listener must be removed before its descriptor is closed.
  bool add(int descriptor, readiness_listener& listener);
  void remove(int descriptor) noexcept;

 private:
  void shutdown() override;
  void start(boost::asio::any_io_executor const& executor);
  void wait();
  void dispatch();

  int set_ = -1;
  std::optional<boost::asio::posix::stream_descriptor> set_waiter_;
  bool waiting_ = false;
  bool shut_down_ = false;
  std::vector<readiness_listener*> listeners_;  // by descriptor
  std::size_t count_ = 0;
};

}  // namespace tether::detail
