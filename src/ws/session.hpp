#pragma once
// The WebSocket protocol of one connection (RFC 6455 after the handshake),
// sans-io in both directions: events in (bytes received, bytes written,
// the transport ended, the clock passed a deadline, the application wrote,
// pinged or closed), actions out (frames to write, send FIN, end the
// transport, wake a reader or writers, re-arm the timer, read again). It
// never touches a socket, a timer or an executor, so every transition can
// be driven by a test with no network and a clock of its own
// (test/unit/session_test.cpp); `connection` runs it over a real stream.

#include "codec/frame_reader.hpp"
#include "codec/frame_writer.hpp"
#include "ws/extensions.hpp"

#include <tether/close_code.hpp>
#include <tether/error.hpp>
#include <tether/hub.hpp>
#include <tether/logger.hpp>
#include <tether/message.hpp>
#include <tether/options.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tether::detail {

/// What the connections of one endpoint (or of one connect()) read and
/// never change. Shared rather than copied into each: 128 bytes of every
/// idle connection.
struct connection_settings {
  websocket_options options;
  tether::logger log;
};

inline std::shared_ptr<connection_settings const> share_settings(websocket_options options, tether::logger log) {
  return std::make_shared<connection_settings const>(connection_settings{std::move(options), std::move(log)});
}

struct session_config {
  role local_role = role::server;
  std::shared_ptr<connection_settings const> settings;  // not null
  deflate_agreement deflate{};
  std::uint64_t id = 0;  // for log lines
};

/// What an absent optional string reads as: kept apart, a rarely set
/// string costs a pointer instead of 32 bytes in every connection.
inline std::string const& no_text() noexcept {
  static std::string const none;
  return none;
}

class session {
 public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;
  using error_code = boost::system::error_code;

  enum class state : std::uint8_t {
    open,              // messages flow both ways
    closing_sent,      // our close frame is queued; the peer's messages still arrive
    closing_received,  // the peer's close frame arrived; our answer is queued
    closed,            // both close frames are done; the transport's end is awaited
    failed,            // we closed for a protocol error or a timeout; input is ignored
    ended,             // the transport is gone; error() says why
  };

  /// What the I/O side must do after an event. They accumulate until
  /// take_actions(), so one pass after each event serves them all.
  enum action : std::uint16_t {
    write_output = 1 << 0,   // frames wait: write output()
    shutdown_send = 1 << 1,  // our last frame is written: send FIN
    end_transport = 1 << 2,  // close the transport ...
    wake_reader = 1 << 3,    // a message, or the end of messages
    wake_writer = 1 << 4,    // room in the write queue for the next writer
    wake_all = 1 << 5,       // the state changed: every waiting writer and closer
    rearm = 1 << 6,          // deadline() may now come before the armed timer
    read_again = 1 << 7,     // reading may go on (the inbox drained, or closing)
    end_with_reset = 1 << 8,  // ... with a reset (RST), not a FIN
  };

  /// What the I/O side should do about input next.
  enum class input : std::uint8_t { none, parse_set_aside, read };

  session(session_config config, time_point now);
  session(session const&) = delete;
  session& operator=(session const&) = delete;

  std::uint16_t take_actions() noexcept { return std::exchange(actions_, 0); }

  // ------------------------------------------------------------ input
  /// Bytes read from the transport (the first ones may be what arrived
  /// behind the handshake). Ignored once our side stopped taking messages.
  void receive(std::span<char const> bytes, time_point now);
  /// Parses input set aside when the inbox filled or a turn's inflation
  /// budget was spent; call on a later turn of the loop.
  void resume();
  input wanted_input() const noexcept;
  /// The most the next read may bring. Input set aside is what follows a
  /// completed message in one read, so a read of the current frame's rest,
  /// a header and 64 KiB keeps it within 64 KiB (and a header), however
  /// large the thread's read buffer; a 64 KiB message arrives in one read.
  std::size_t read_limit() const noexcept {
    return static_cast<std::size_t>(std::min<std::uint64_t>(
        reader_.frame_remaining() + max_header_size + max_set_aside, std::numeric_limits<std::size_t>::max()));
  }
  static constexpr std::size_t max_set_aside = 64 * 1024;
  /// The transport's read side ended (EOF or an error).
  void transport_ended(error_code ec);

  // ------------------------------------------------------------ output
  /// The rest of the batch being written, in order; when it is done, the
  /// next batch from the queues (control frames first). Empty: nothing to send.
  std::span<boost::asio::const_buffer const> output();
  /// `n` bytes of output() reached the transport.
  void wrote(std::size_t n, time_point now);
  void write_failed(error_code ec);

  // ------------------------------------------------------------ time
  /// The earliest moment a timer is due (max when none is).
  time_point deadline() const noexcept;
  void timer_fired(time_point now);

  // ------------------------------------------------------------ application
  std::optional<message> take_message() noexcept;
  /// Appends every message received to `into`; an empty `into` trades
  /// places with the inbox, so both vectors keep their room for the next
  /// turn.
  void take_messages(std::vector<message>& into);
  bool has_message() const noexcept { return inbox_head_ < inbox_.size(); }
  /// Why no more messages will come (once the inbox is empty); zero while
  /// they may.
  error_code read_error() const noexcept;

  /// Whether write() may queue now: zero, or why not.
  error_code write_refusal() const noexcept;
  /// Counted before compression: what the application hands over. A
  /// message larger than the queue fits into an empty one.
  bool write_fits(std::size_t size) const noexcept {
    return queued_bytes_ == 0 || queued_bytes_ + size <= options_.max_write_queue;
  }
  /// Whether queuing `size` more bytes (send() or deliver()) reads its
  /// `now`: only when nothing is being sent yet, or when the queue is full
  /// (a published message may then close the connection). Otherwise the
  /// caller may pass any time and save reading the clock.
  bool needs_time_to_queue(std::size_t size) const noexcept { return !sending_ || !write_fits(size); }
  /// Queues a data message; write_refusal() must be zero. Text must be
  /// UTF-8 (check_payload()).
  void send(std::string payload, message_kind kind, time_point now);
  static error_code check_payload(std::string_view payload, message_kind kind) noexcept;
  error_code ping(std::string payload, time_point now);
  /// Starts the closing handshake (if nothing did yet); the caller then
  /// waits for the state `ended`.
  error_code close(close_code code, std::string_view reason, time_point now);
  /// Ends at once, without a handshake; `reset` aborts the TCP connection.
  void abort(tether::error why, bool reset = false);

  // Writers waiting for room, and closers waiting for the end: room wakes
  // one writer (it passes the turn on if room remains), a change of state
  // wakes them all.
  void writer_waits() noexcept { ++waiting_writers_; }
  void writer_woke() noexcept { --waiting_writers_; }
  std::uint32_t waiting_writers() const noexcept { return waiting_writers_; }
  /// A woken writer that leaves without writing (cancelled) passes its turn on.
  void pass_turn() noexcept { note_room(); }

  // ------------------------------------------------------------ hubs
  /// How a published message can be framed for this connection, decided
  /// at the handshake: the hub's plain frame, a frame compressed once for
  /// everyone with the same parameters, or a frame of its own (a client
  /// masks each frame; with context takeover each frame is compressed
  /// against this connection's history).
  struct publish_format {
    enum class kind : std::uint8_t { plain, compressed, own } what = kind::plain;
    int window_bits = 0, mem_level = 0, level = 0;
    std::size_t threshold = 0;  // shorter messages go plain
  };
  publish_format format_for_publishing() const noexcept;

  /// A hub's message, framed by the hub in `framed` as format_for_publishing
  /// says, or, for kind::own, null. What became of it, and how many older
  /// published messages a full queue dropped to make room.
  enum class delivery : std::uint8_t { queued, dropped, closed, gone };
  delivery deliver(std::shared_ptr<std::string const> const& framed, std::string_view payload, message_kind kind,
                   overflow when_full, std::size_t& dropped_older, time_point now);

  // ------------------------------------------------------------ state
  state current() const noexcept { return state_; }
  bool is_open() const noexcept { return state_ == state::open; }
  bool ended() const noexcept { return state_ == state::ended; }
  tether::error error() const noexcept { return error_; }
  close_code peer_close_code() const noexcept { return peer_close_code_; }
  std::string const& peer_close_reason() const noexcept {
    return peer_close_reason_ ? *peer_close_reason_ : no_text();
  }
  bool compressed() const noexcept { return writer_.compression().on; }
  std::size_t queued_bytes() const noexcept { return queued_bytes_; }
  std::size_t inbox_bytes() const noexcept { return inbox_bytes_; }
  /// Input kept between reads: a header's start, or input set aside.
  std::size_t unparsed_bytes() const noexcept { return unparsed_.size(); }
  tether::logger const& log() const noexcept { return log_; }
  std::uint64_t id() const noexcept { return id_; }

 private:
  // Why parsing stopped before the end of the input.
  enum class parse_stop : std::uint8_t { need_more, ended, inbox_full, budget_spent };
  void consume(std::span<char const> bytes);
  parse_stop consume_frames(std::span<char const> bytes, std::size_t& used);
  void set_aside(parse_stop why, std::span<char const> rest);
  void note_message_progress();
  void on_control(frame_reader::event what);
  void on_peer_close();

  void queue_data(outgoing_frame frame, time_point now);
  outgoing_frame& run_with_room(std::size_t bytes);
  void queue_control(outgoing_frame frame, time_point now);
  void queue_close(close_code code, std::string_view reason, time_point now);
  void start_sending(time_point now);
  std::size_t drop_waiting_published(std::size_t down_to);
  void batch_written();
  void after_close_frame_written();
  void fail(tether::error why, close_code code, time_point now);
  void end(tether::error why, bool reset = false);
  void set_error(tether::error why) noexcept {
    if (error_ == tether::error{}) error_ = why;
  }
  void enter(state next) noexcept;
  void note_room() noexcept;
  void log_debug(std::string_view text) const;

  std::shared_ptr<connection_settings const> settings_;
  websocket_options const& options_;  // settings_'s
  tether::logger const& log_;         // settings_'s
  std::uint64_t id_;
  frame_reader reader_;
  frame_writer writer_;

  // Bytes read but not parsed yet: an incomplete frame header (at most 13
  // bytes), or, when deferred_, input set aside because the inbox filled or
  // this turn's inflation budget was spent (at most max_set_aside and a
  // header: see read_limit()).
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

  // Small fields together: every connection holds them.
  std::uint32_t waiting_writers_ = 0;
  tether::error error_{};  // zero until the connection ends
  std::uint16_t actions_ = 0;
  close_code peer_close_code_ = close_code::abnormal;
  state state_ = state::open;
  bool deferred_ = false;  // unparsed_ holds input set aside
  bool sending_ = false;   // frames are queued or being written
  bool close_written_ = false;
  bool send_shut_ = false;
  bool ping_outstanding_ = false;
  std::unique_ptr<std::string const> peer_close_reason_;  // made for a reason: most closes have none
  time_point last_received_;
  time_point ping_sent_;
  time_point last_sent_;  // when queued bytes last made progress
  time_point message_started_ = time_point::max();
  time_point close_deadline_ = time_point::max();
};

}  // namespace tether::detail
