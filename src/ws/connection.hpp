#pragma once
// The implementation behind tether::websocket: one connection, driven by a
// pump (socket -> codec -> inbox), a flush (queue -> one gather write) and a
// watchdog timer (pings, idle, message and send progress, close deadline),
// all plain callbacks.

#include "codec/deflate.hpp"
#include "codec/frame.hpp"
#include "codec/frame_reader.hpp"
#include "ws/extensions.hpp"
#include "net/loop_liveness.hpp"
#include "net/poller.hpp"
#include "net/transport.hpp"

#include <tether/close_code.hpp>
#include <tether/error.hpp>
#include <tether/hub.hpp>
#include <tether/logger.hpp>
#include <tether/message.hpp>
#include <tether/options.hpp>
#include <tether/request.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/result.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tether::detail {

struct connection_config {
  role local_role = role::server;
  websocket_options options;
  tether::logger log;
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

  connection(transport stream, connection_config config);
  ~connection();
  connection(connection const&) = delete;
  connection& operator=(connection const&) = delete;

  /// Starts reading; `early_bytes` arrived behind the handshake.
  void start(std::string early_bytes);

  // Each operation holds `owner` (the caller's handle; the connection
  // itself when empty) from the moment it is created: one that is spawned
  // and starts later still finds its connection.
  boost::asio::awaitable<boost::system::result<message>> read(std::shared_ptr<void> owner = {});
  boost::asio::awaitable<error_code> write(std::string payload, message_kind kind, std::shared_ptr<void> owner = {});
  // By value, as write(): a lazy coroutine must own what it reads later
  // (an awaitable kept, then awaited after the caller's string is gone).
  boost::asio::awaitable<error_code> ping(std::string payload, std::shared_ptr<void> owner = {});
  boost::asio::awaitable<error_code> close(close_code code, std::string reason, std::shared_ptr<void> owner = {});

  /// Ends the connection now, without a handshake. Call on the executor.
  void abort(tether::error why);

  /// Its io_context is shutting down (loop_liveness): ends the connection
  /// and cancels every wait while the loop's services still exist.
  void on_loop_gone() noexcept;
  loop_liveness& liveness() const noexcept { return *liveness_; }

  /// How a published message can be framed for this connection, decided
  /// at the handshake and constant after it (so any thread may ask):
  /// the hub's plain frame, a frame compressed once for everyone with the
  /// same parameters, or a frame of its own (a client masks each frame;
  /// with context takeover each frame is compressed against this
  /// connection's history).
  struct publish_format {
    enum class kind : std::uint8_t { plain, compressed, own } what = kind::plain;
    int window_bits = 0, mem_level = 0, level = 0;
    std::size_t threshold = 0;  // shorter messages go plain
  };
  publish_format format_for_publishing() const noexcept;

  /// A hub's message, framed by the hub in `framed` as format_for_publishing
  /// says, or, for kind::own, null. Call on the executor. What became of
  /// it, and how many older published messages a full queue dropped to
  /// make room.
  enum class delivery : std::uint8_t { queued, dropped, closed, gone };
  delivery deliver(std::shared_ptr<std::string const> const& framed, std::string_view payload, message_kind kind,
                   overflow when_full, std::size_t& dropped_older);

  /// A read() waiting for input completes with operation_aborted.
  void cancel_read_wait() noexcept;

  bool is_open() const noexcept { return !close_sent_ && !close_received_ && !finished_; }
  bool finished() const noexcept { return finished_; }
  close_code peer_close_code() const noexcept { return peer_close_code_; }
  std::string const& peer_close_reason() const noexcept { return peer_close_reason_; }
  std::string const& subprotocol() const noexcept { return config_.subprotocol; }
  bool compressed() const noexcept { return config_.deflate.on; }
  endpoint const& remote() const noexcept { return config_.remote; }
  std::uint64_t id() const noexcept { return id_; }
  boost::asio::any_io_executor const& executor() const noexcept { return executor_; }
  tether::logger const& log() const noexcept { return config_.log; }

 private:
  friend class loop_liveness;

  struct outgoing_frame {
    header_bytes header;
    std::uint8_t header_size = 0;
    opcode op = opcode::text;
    bool published = false;  // from a hub: a full queue may drop it
    std::string payload;
    std::shared_ptr<std::string const> framed;  // instead: header and payload, shared by a hub's subscribers
    std::size_t queued_size() const noexcept { return framed ? framed->size() : payload.size(); }
  };

  struct pump_hold {
    std::shared_ptr<connection> self;
    pump_hold(std::shared_ptr<connection> owner) noexcept : self(std::move(owner)) {}
    pump_hold(pump_hold&&) noexcept = default;
    ~pump_hold();
  };

  void on_ready(bool readable, bool writable, bool hangup) override;
  void on_poller_shutdown() noexcept override;
  bool ready_for(transport::wait_type direction) const noexcept {
    return direction == transport::socket_type::wait_write ? out_ready_ : in_ready_;
  }
  void blocked_on(transport::wait_type direction) noexcept {
    (direction == transport::socket_type::wait_write ? out_ready_ : in_ready_) = false;
  }
  void post_pump();

  void await_readable();
  void on_readable(error_code ec);
  void flush();
  void write_more();
  void on_written(error_code ec);
  // Why parsing stopped before the end of the input.
  enum class parse_stop : std::uint8_t { need_more, ended, inbox_full, budget_spent };
  void consume(std::span<char> bytes);
  parse_stop consume_frames(std::span<char> bytes, std::size_t& used);
  void set_aside(parse_stop why, std::span<char const> rest);
  void resume_parsing();
  void note_message_progress();
  void on_control(frame_reader::event what);
  void on_peer_close();
  void on_transport_end(error_code ec);

  outgoing_frame make_frame(opcode op, std::string payload);
  void queue_control(outgoing_frame frame);
  std::size_t drop_waiting_published(std::size_t down_to);
  void queue_close(close_code code, std::string_view reason);
  void start_flush();
  void after_close_frame_sent();
  void fail(tether::error why, close_code code);
  void finish(tether::error why, bool reset = false);
  void set_error(tether::error why) noexcept;

  // read() waits in its own slot, so that a message wakes the reader
  // without a timer, and a finished write does not wake it at all.
  template <class Token>
  auto async_wait_for_input(Token&& token);
  void notify_reader() noexcept;
  void complete_read_wait(error_code ec) noexcept;
  // Room in the queue wakes one writer (it passes the turn on if room
  // remains); a change of state wakes every writer and closer.
  void notify_writers() noexcept {
    if (waiting_writers_ == 0 || !wake_) return;
    if (close_sent_ || close_received_ || finished_)
      wake_->cancel();
    else if (queued_bytes_ < config_.options.max_write_queue)
      wake_->cancel_one();
  }
  bool write_fits(std::size_t size) const noexcept {
    return queued_bytes_ == 0 || queued_bytes_ + size <= config_.options.max_write_queue;
  }
  void notify() noexcept {
    notify_reader();
    notify_writers();
  }

  void arm_watchdog();
  void arm_watchdog_by(clock::time_point deadline);
  void on_watchdog();
  void log_debug(std::string_view text) const;

  boost::asio::any_io_executor executor_;
  // Optional only so that on_loop_gone() can destroy them before their
  // io_context; present for the whole life of the loop.
  std::optional<transport> stream_;
  connection_config config_;
  std::uint64_t id_;
  frame_reader reader_;
  std::unique_ptr<deflate_stream> deflater_;  // with context takeover only

  // Bytes read but not parsed yet: an incomplete frame header (at most 13
  // bytes), or, when deferred_, input set aside because the inbox filled or
  // this turn's inflation budget was spent (at most one read, 64 KiB).
  std::string unparsed_;
  std::size_t inflated_at_turn_start_ = 0;
  std::vector<message> inbox_;
  std::size_t inbox_head_ = 0;
  std::size_t inbox_bytes_ = 0;

  std::vector<outgoing_frame> control_queue_;  // sent ahead of data
  std::vector<outgoing_frame> data_queue_;     // messages, then at most one close frame
  std::vector<outgoing_frame> in_flight_;
  std::vector<boost::asio::const_buffer> gather_;
  std::size_t gather_next_ = 0;  // the first buffer not yet written in full
  std::size_t queued_bytes_ = 0;
  bool flushing_ = false;

  boost::asio::any_completion_handler<void(error_code)> read_waiter_;
  std::optional<boost::asio::steady_timer> wake_;  // writers and closers: cancel() wakes every one
  std::uint32_t waiting_writers_ = 0;
  std::optional<boost::asio::steady_timer> watchdog_;
  // After the timers: a service made after theirs is shut down before them,
  // so on_loop_gone() finds them (and the stream) still whole.
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

  bool reading_ = false;         // a read() is waiting
  bool read_armed_ = false;      // the pump waits for the socket
  bool deferred_ = false;        // unparsed_ holds input set aside
  bool close_sent_ = false;      // our close frame is queued
  bool close_flushed_ = false;   // ... and written
  bool close_received_ = false;
  bool failing_ = false;         // we closed for a protocol error or timeout
  bool send_shut_ = false;
  bool finished_ = false;
  bool ping_outstanding_ = false;
  tether::error error_{};        // zero until the connection ends
  close_code peer_close_code_ = close_code::abnormal;
  std::string peer_close_reason_;
  clock::time_point last_received_;
  clock::time_point ping_sent_;
  clock::time_point last_sent_;  // when queued bytes last made progress
  clock::time_point message_started_ = clock::time_point::max();
  clock::time_point watchdog_deadline_ = clock::time_point::max();
  clock::time_point close_deadline_ = clock::time_point::max();
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
