#pragma once
// The implementation behind tether::websocket: the adapter that runs a
// session (the protocol, sans-io) over a transport. A pump (socket ->
// session), a flush (session's output -> one gather write) and a watchdog
// (the session's deadline), all plain callbacks, carry the session's
// events in and do what it asks after each one (act()). The watchdog is an
// entry in the loop's deadline_queue, set for the session's earliest deadline.

#include "ws/awaited_handler.hpp"
#include "ws/extensions.hpp"
#include "ws/session.hpp"
#include "net/loop_liveness.hpp"
#include "net/poller.hpp"
#include "net/transport.hpp"

#include <tether/close_code.hpp>
#include <tether/error.hpp>
#include <tether/failure.hpp>
#include <tether/hub.hpp>
#include <tether/logger.hpp>
#include <tether/message.hpp>
#include <tether/options.hpp>
#include <tether/request.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/result.hpp>

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tether::detail {

struct connection_config {
  role local_role = role::server;
  std::shared_ptr<connection_settings const> settings;  // not null
  std::string subprotocol;
  endpoint remote;
  deflate_agreement deflate{};
  /// Readiness from Tether's own epoll set (server connections on a loop
  /// of one thread); null: Asio's waits.
  poller* readiness = nullptr;
};

std::uint64_t next_connection_id() noexcept;

class connection : public std::enable_shared_from_this<connection>, private readiness_listener {
 public:
  using clock = std::chrono::steady_clock;
  using error_code = boost::system::error_code;

  /// Runs over `stream`, kept inside the connection: a kernel `transport`,
  /// or a test's stream of no larger size.
  template <class Stream>
    requires std::derived_from<Stream, byte_stream>
  connection(Stream stream, connection_config config)
      : connection(std::move(config), stream.executor(), &move_stream_into<Stream>, &stream) {
    static_assert(sizeof(Stream) <= sizeof(stream_space_) && alignof(Stream) <= alignof(transport));
  }
  ~connection();
  connection(connection const&) = delete;
  connection& operator=(connection const&) = delete;

  /// Starts reading; `early_bytes` arrived behind the handshake.
  void start(std::string early_bytes);

  // Each operation holds `owner` (the caller's handle; the connection
  // itself when empty) from the moment it is created: one that is spawned
  // and starts later still finds its connection.
  boost::asio::awaitable<result<message>> read(std::shared_ptr<void> owner = {});
  boost::asio::awaitable<failure> write(std::string payload, message_kind kind, std::shared_ptr<void> owner = {});
  // The caller awaits these at once (websocket says so), so references do.
  // read_batch() replaces what `into` held.
  boost::asio::awaitable<failure> read_batch(std::vector<message>& into, std::shared_ptr<void> owner = {});
  boost::asio::awaitable<failure> write_batch(std::span<message> messages, std::shared_ptr<void> owner = {});
  // By value, as write(): a lazy coroutine must own what it reads later
  // (an awaitable kept, then awaited after the caller's string is gone).
  boost::asio::awaitable<failure> ping(std::string payload, std::shared_ptr<void> owner = {});
  boost::asio::awaitable<failure> close(close_code code, std::string reason, std::shared_ptr<void> owner = {});

  /// Ends the connection now, without a handshake. Call on the executor.
  void abort(tether::error why);

  /// Its io_context is shutting down (loop_liveness): ends the connection
  /// and cancels every wait while the loop's services still exist.
  void on_loop_gone() noexcept;
  loop_liveness& liveness() const noexcept { return *liveness_; }

  /// The deadline set in the loop's deadline_queue has passed (called on
  /// the queue's executor).
  void deadline_reached();

  using publish_format = session::publish_format;
  publish_format format_for_publishing() const noexcept { return session_.format_for_publishing(); }

  /// A hub's message (see session::deliver). Call on the executor.
  using delivery = session::delivery;
  delivery deliver(std::shared_ptr<std::string const> const& framed, std::string_view payload, message_kind kind,
                   overflow when_full, std::size_t& dropped_older);

  /// A read() waiting for input completes with operation_aborted.
  void cancel_read_wait() noexcept;

  bool is_open() const noexcept { return session_.is_open(); }
  bool finished() const noexcept { return session_.ended(); }
  close_code peer_close_code() const noexcept { return session_.peer_close_code(); }
  std::string const& peer_close_reason() const noexcept { return session_.peer_close_reason(); }
  std::string const& subprotocol() const noexcept { return subprotocol_ ? *subprotocol_ : no_text(); }
  bool compressed() const noexcept { return session_.compressed(); }
  endpoint const& remote() const noexcept { return remote_; }
  std::uint64_t id() const noexcept { return session_.id(); }
  boost::asio::any_io_executor const& executor() const noexcept { return executor_; }
  tether::logger const& log() const noexcept { return session_.log(); }

 private:
  friend class loop_liveness;
  friend class deadline_queue;

  using stream_mover = byte_stream* (*)(void* at, void* from);
  template <class Stream>
  static byte_stream* move_stream_into(void* at, void* from) {
    return ::new (at) Stream(std::move(*static_cast<Stream*>(from)));
  }
  connection(connection_config config, boost::asio::any_io_executor executor, stream_mover move_stream,
             void* stream);
  void destroy_stream() noexcept;

  struct pump_hold {
    std::shared_ptr<connection> self;
    pump_hold(std::shared_ptr<connection> owner) noexcept : self(std::move(owner)) {}
    pump_hold(pump_hold&&) noexcept = default;
    ~pump_hold();
  };

  void on_ready(bool readable, bool writable, bool hangup) override;
  void on_poller_shutdown() noexcept override;
  bool ready_for(byte_stream::wait_type direction) const noexcept {
    return direction == byte_stream::wait_type::wait_write ? out_ready_ : in_ready_;
  }
  void blocked_on(byte_stream::wait_type direction) noexcept {
    (direction == byte_stream::wait_type::wait_write ? out_ready_ : in_ready_) = false;
  }
  void post_pump();

  void await_readable();
  void on_readable(error_code ec);
  void resume_parsing();
  void start_flush();
  void write_more();
  // Does what the session asked for after the last event.
  void act();
  void check_executor() const noexcept;

  // read() waits in its own slot, so that a message wakes the reader
  // without a timer, and a finished write does not wake it at all.
  enum class wakeup : bool { input, cancelled };
  struct input_wait;
  template <class Handler>
  void wait_for_input(Handler handler);
  void notify_reader() noexcept;
  template <class Result>
  boost::asio::awaitable<Result> read_as(std::vector<message>* into, std::shared_ptr<void> owner);
  result<message> take_message();
  failure take_messages(std::vector<message>& into);
  // write() and write_batch(): `one` when `batch` is empty.
  boost::asio::awaitable<failure> queue_messages(std::span<message> batch, message one, std::shared_ptr<void> owner);
  void complete_read_wait(wakeup why) noexcept;
  void arm_watchdog();
  void disarm_watchdog() noexcept;
  void on_watchdog();
  session::time_point time_to_queue(std::size_t size) const noexcept;

  boost::asio::any_io_executor executor_;
  // executor_'s own, when it is an io_context's: on_own_thread() asks it.
  // Asking reads the io_context, so on_loop_gone() clears it first: a
  // handle kept past its server then takes the slow path, which fails.
  std::atomic<boost::asio::io_context::executor_type const*> own_executor_;
  bool on_own_thread() const noexcept {
    auto const* own = own_executor_.load(std::memory_order_acquire);
    return own && own->running_in_this_thread();
  }
  // The stream lives in the connection's own memory, not an allocation of
  // its own: an idle connection's size is the product. stream_ points into
  // stream_space_; null only once on_loop_gone() destroyed the stream
  // before its io_context.
  alignas(transport) std::byte stream_space_[sizeof(transport)];
  byte_stream* stream_ = nullptr;
  session session_;
  std::unique_ptr<std::string const> subprotocol_;  // most connections agree none
  endpoint remote_;

  // The waiting read()'s coroutine, kept here rather than type-erased on
  // the heap: every idle connection has one.
  std::optional<awaited_handler<void(wakeup)>> read_waiter_;
  // Writers and closers wait on it; cancel() wakes every one. Made when
  // the first one waits (back-pressure or a close), so that an idle
  // connection does not hold a timer (120 bytes) for it.
  std::unique_ptr<boost::asio::steady_timer> wake_;
  boost::asio::steady_timer& wake_timer();
  // After the timer: a service made after its own is shut down before it,
  // so on_loop_gone() finds it (and the stream) still whole.
  std::shared_ptr<loop_liveness> liveness_;
  connection* loop_prev_ = nullptr;  // loop_liveness's list
  connection* loop_next_ = nullptr;

  // With the poller: whether each direction may have something, that is,
  // has not blocked since the poller last said it was ready.
  bool polled_ = false;
  bool in_ready_ = true;
  bool out_ready_ = true;
  bool hangup_seen_ = false;
  bool pump_posted_ = false;
  bool write_blocked_ = false;

  bool reading_ = false;     // a read() is waiting
  bool read_armed_ = false;  // the pump waits for the socket
  bool flushing_ = false;    // a flush is posted or writing
  clock::time_point watchdog_deadline_ = clock::time_point::max();  // what the queue holds for us, or max
  std::uint32_t deadline_slot_ = deadline_queue::no_slot;  // the queue's, under its lock
};

}  // namespace tether::detail

namespace tether {
class websocket;
}

namespace tether::detail {

/// The handle given to applications. When its last copy is gone the
/// connection is closed normally, so a forgotten websocket cannot leak.
tether::websocket make_websocket(std::shared_ptr<connection> const& conn);

}  // namespace tether::detail
