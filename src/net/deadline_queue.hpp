#pragma once
// The deadlines of one loop's WebSocket connections (keep-alive ping, pong,
// idle, message, send and close timeouts: each connection's earliest), in
// one heap under one Asio timer set for the earliest of all. A timer and a
// pending wait of its own cost every idle connection about 320 bytes; an
// entry here costs 16, and a change of deadline costs no allocation.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

namespace tether::detail {

class connection;

class deadline_queue {
 public:
  using clock = std::chrono::steady_clock;
  /// A connection's place in no heap.
  static constexpr std::uint32_t no_slot = UINT32_MAX;

  deadline_queue() = default;
  deadline_queue(deadline_queue const&) = delete;
  deadline_queue& operator=(deadline_queue const&) = delete;

  /// The timer runs on `executor` (a connection's, on this loop); only the
  /// first call makes it. Asio's reactor is older than the loop's liveness
  /// (a connection's socket came first), so the timer's waits are still
  /// there to cancel when shut_down() runs.
  void use_executor(boost::asio::any_io_executor const& executor);

  /// `c`'s deadline is now `when` (replacing the one it had): at or after
  /// it, c.deadline_reached() is called on the timer's executor, with the
  /// entry removed.
  void schedule(connection& c, clock::time_point when);
  void cancel(connection& c) noexcept;

  /// The loop is going away: the timer goes now, while its services exist,
  /// and nothing is scheduled any more.
  void shut_down() noexcept;

 private:
  struct entry {
    clock::time_point when;
    connection* owner;
  };
  void put(std::size_t slot, entry e) noexcept;
  void sift_up(std::size_t slot) noexcept;
  void sift_down(std::size_t slot) noexcept;
  void remove(std::size_t slot) noexcept;
  // Sets the timer for the earliest entry if it fires later than that;
  // cancels it when there is none (a pending wait would keep run() going).
  void arm() noexcept;
  void on_timer(boost::system::error_code ec);

  std::mutex mutex_;
  std::vector<entry> heap_;  // a min-heap by `when`; each owner knows its slot
  std::optional<boost::asio::steady_timer> timer_;
  clock::time_point armed_ = clock::time_point::max();
  bool shut_down_ = false;
};

}  // namespace tether::detail
