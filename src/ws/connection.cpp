#include "ws/connection.hpp"

#include "codec/payload_pool.hpp"
#include "codec/utf8.hpp"

#include <boost/asio/append.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <utility>

namespace net = boost::asio;

namespace tether::detail {

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

// Every connection of a thread reads into this one buffer: the pump waits
// for readability first and reads synchronously, so no read is ever pending
// on it, and a connection keeps only an incomplete frame header between
// reads.
std::span<char> thread_read_buffer() {
  thread_local std::vector<char> buffer(64 * 1024);
  return buffer;
}

// Operations that stay pending for the life of a connection get memory of
// their exact size. Asio's recycling allocator would hand them whatever
// larger block a handshake operation left in its cache.
template <class T>
struct exact_allocator {
  using value_type = T;
  exact_allocator() noexcept = default;
  template <class U>
  exact_allocator(exact_allocator<U> const&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T))); }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p); }
  template <class U>
  bool operator==(exact_allocator<U> const&) const noexcept { return true; }
};

// Inflating runs at about 70 MB/s of output on a maximal-ratio message:
// past this much in one turn of the loop, the rest of what was read waits
// for the next turn, so that other connections are served in between.
constexpr std::size_t inflate_budget_per_turn = 1024 * 1024;

// Pongs waiting to be written: each ping gets its own answer up to this
// many, then the newest ping's answer replaces the last one, so that a
// ping flood against a peer that does not read stays flat in memory.
constexpr std::size_t max_waiting_pongs = 32;

// What one stored message counts against max_read_queue: a flood of empty
// messages must fill it too.
std::size_t inbox_cost(message const& msg) noexcept { return msg.payload.size() + sizeof(message); }

std::string describe_close(close_code code, std::string_view reason) {
  std::string text = std::to_string(static_cast<unsigned>(code));
  if (!reason.empty()) text.append(" \"").append(reason).append("\"");
  return text;
}

}  // namespace

std::uint64_t next_connection_id() noexcept {
  // Ids are unique per process so that log lines of two servers never clash.
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

connection::connection(transport stream, connection_config config)
    : executor_(stream.get_executor()),
      stream_(std::in_place, std::move(stream)),
      config_(std::move(config)),
      id_(next_connection_id()),
      reader_(config_.local_role, config_.options.max_message_size),
      wake_(std::in_place, executor_, clock::time_point::max()),
      watchdog_(std::in_place, executor_),
      liveness_(loop_liveness::of(executor_)),
      last_received_(clock::now()) {
  if (auto const& d = config_.deflate; d.on)
    reader_.enable_inflate(d.receive_window_bits, d.receive_reset, config_.options.compression.max_ratio);
  liveness_->enroll(*this);
}

connection::~connection() { liveness_->withdraw(*this); }

void connection::start(std::string early_bytes) {
  if (config_.readiness) polled_ = stream_->use_poller(*config_.readiness, *this);
  if (!early_bytes.empty()) consume({early_bytes.data(), early_bytes.size()});
  arm_watchdog();
  await_readable();
}

void connection::log_debug(std::string_view text) const {
  config_.log.log(log_level::debug, id_, text);
}

void connection::set_error(tether::error why) noexcept {
  if (error_ == tether::error{}) error_ = why;
}

// ---------------------------------------------------------------- reading

namespace {

// Completes a waiting read() with `ec` when its caller cancels it.
struct read_waiter_cancellation {
  std::weak_ptr<connection> weak;
  void operator()(net::cancellation_type type) const {
    if (type == net::cancellation_type::none) return;
    if (auto const self = weak.lock()) self->cancel_read_wait();
  }
};

}  // namespace

template <class Token>
auto connection::async_wait_for_input(Token&& token) {
  return net::async_initiate<Token, void(error_code)>(
      [this](auto handler) {
        // Boost 1.81's move assignment copies into a new wrapper, endlessly: swap instead.
        decltype(read_waiter_)(std::move(handler)).swap(read_waiter_);
        // The wrapper takes the handler's cancellation slot for a state of
        // its own (replacing whatever was there): ours goes into its slot.
        if (auto slot = read_waiter_.get_cancellation_slot(); slot.is_connected())
          slot.template emplace<read_waiter_cancellation>(weak_from_this());
      },
      token);
}

void connection::complete_read_wait(error_code ec) noexcept {
  if (!read_waiter_) return;
  try {
    net::post(executor_, net::append(std::move(read_waiter_), ec));
  } catch (...) {
    // Posting fails only when memory is gone; the waiter is dropped with it.
  }
  read_waiter_ = nullptr;
}

void connection::notify_reader() noexcept { complete_read_wait({}); }

void connection::cancel_read_wait() noexcept { complete_read_wait(net::error::operation_aborted); }


// The pump is a chain of callbacks rather than a coroutine: an idle
// connection then costs one pending wait, not a coroutine frame and a spawn.
void connection::await_readable() {
  if (read_armed_ || finished_) return;
  // Once a close frame is on its way, the peer's answer must be read even
  // if the application no longer reads messages.
  bool const closing = close_sent_ || close_received_ || failing_;
  // read() resumes us. Keep-alive checks go on meanwhile: a peer must not
  // be able to stall a connection forever by filling it.
  if (!closing && inbox_bytes_ >= config_.options.max_read_queue) return;
  if (deferred_) {
    post_pump();  // input set aside is parsed before the socket is read again
    return;
  }
  read_armed_ = true;
  if (polled_) {
    // Otherwise the poller calls on_ready() when the socket has more.
    if (ready_for(stream_->read_wants()) || stream_->has_buffered_input()) post_pump();
    return;
  }
  auto on_ready = net::bind_allocator(exact_allocator<void>(), [hold = pump_hold{shared_from_this()}](error_code ec) mutable {
    std::exchange(hold.self, nullptr)->on_readable(ec);
  });
  if (stream_->has_buffered_input())
    net::post(executor_, [on_ready = std::move(on_ready)]() mutable { on_ready(error_code{}); });
  else
    stream_->async_wait(stream_->read_wants(), std::move(on_ready));
}

void connection::post_pump() {
  if (pump_posted_) return;
  pump_posted_ = true;
  net::post(executor_, net::bind_allocator(exact_allocator<void>(), [hold = pump_hold{shared_from_this()}]() mutable {
    auto const self = std::exchange(hold.self, nullptr);
    self->pump_posted_ = false;
    if (self->deferred_)
      self->resume_parsing();
    else if (self->read_armed_)
      self->on_readable({});
  }));
}

void connection::on_ready(bool readable, bool writable, bool hangup) {
  auto const self = shared_from_this();  // what runs below may let go of the last owner
  in_ready_ = in_ready_ || readable;
  out_ready_ = out_ready_ || writable;
  hangup_seen_ = hangup_seen_ || hangup;
  if (write_blocked_ && ready_for(stream_->write_wants())) {
    write_blocked_ = false;
    write_more();
  }
  if (read_armed_ && !pump_posted_ && !finished_ && ready_for(stream_->read_wants())) on_readable({});
}

// With the poller no operation is pending while the pump waits, so this is
// where a read() waiting on a connection is let go.
void connection::on_poller_shutdown() noexcept {
  auto const self = shared_from_this();
  if (stream_) stream_->forget_poller();  // it is going away (the loop may have taken the stream already)
  read_waiter_ = nullptr;
}

// The pump's pending step holds the connection. When Asio destroys it
// unrun (its io_context is going away), a read() waiting in its slot would
// keep itself and the connection alive in a cycle: it is let go too.
connection::pump_hold::~pump_hold() {
  if (self) self->read_waiter_ = nullptr;
}

void connection::on_readable(error_code ec) {
  read_armed_ = false;
  if (finished_) return;
  if (ec) {
    on_transport_end(ec);
    return;
  }
  auto buffer = thread_read_buffer();
  std::size_t n = 0;
  // TLS hands out one record (16 KiB at most) per read; the bytes it still
  // holds are read now rather than after another wait.
  do {
    n += stream_->read_some(net::buffer(buffer.data() + n, buffer.size() - n), ec);
  } while (!ec && n < buffer.size() && stream_->has_buffered_input());
  if (polled_) {
    if (ec == net::error::would_block || ec == net::error::try_again)
      blocked_on(stream_->read_wants());
    else if (!ec && n < buffer.size() && !stream_->is_tls() && !hangup_seen_)
      in_ready_ = false;  // a short read drained the socket: new bytes bring a new event
  }
  if (n > 0) {
    last_received_ = clock::now();
    if (!close_received_ && !failing_) consume(buffer.first(n));  // data after a close is ignored
    if (finished_) return;
  }
  if (ec && ec != net::error::would_block && ec != net::error::try_again) {
    on_transport_end(ec);
    return;
  }
  await_readable();
}

void connection::consume(std::span<char> bytes) {
  inflated_at_turn_start_ = reader_.inflated_total();
  if (!unparsed_.empty()) {
    // Complete the split header from the new bytes; a header needs at most
    // max_header_size more, so only those are copied.
    std::size_t const old = unparsed_.size();
    unparsed_.append(bytes.data(), std::min(bytes.size(), max_header_size));
    std::size_t used = 0;
    auto const stop = consume_frames({unparsed_.data(), unparsed_.size()}, used);
    if (used < old) {
      unparsed_.erase(0, used);  // still incomplete: every new byte was taken
      note_message_progress();
      notify_reader();
      return;
    }
    unparsed_.clear();
    bytes = bytes.subspan(used - old);
    if (stop != parse_stop::need_more) {
      set_aside(stop, bytes);
      notify_reader();
      return;
    }
  }
  std::size_t used = 0;
  auto const stop = consume_frames(bytes, used);
  set_aside(stop, bytes.subspan(used));
  notify_reader();
}

// Keeps what consume_frames() left: a header tail to complete, or input to
// parse in a later turn (await_readable() schedules it).
void connection::set_aside(parse_stop why, std::span<char const> rest) {
  if (why == parse_stop::ended) return;  // data after a close or failure is ignored
  unparsed_.assign(rest.data(), rest.size());
  deferred_ = why != parse_stop::need_more && !rest.empty();
  note_message_progress();
}

void connection::resume_parsing() {
  deferred_ = false;
  if (finished_) return;
  inflated_at_turn_start_ = reader_.inflated_total();
  std::string input = std::exchange(unparsed_, {});
  std::size_t used = 0;
  auto const stop = consume_frames({input.data(), input.size()}, used);
  set_aside(stop, std::span<char const>(input).subspan(used));
  notify_reader();
  if (!finished_) await_readable();
}

// A message in progress has a deadline of its own, from its first byte:
// each byte the peer drips resets the keep-alive timer, not this one.
// consume_frames() forgets the deadline of each message it completes, so a
// stream of messages whose reads always end mid-message is not cut.
void connection::note_message_progress() {
  bool const mid = reader_.mid_message() || (!deferred_ && !unparsed_.empty());
  if (!mid) {
    message_started_ = clock::time_point::max();
  } else if (message_started_ == clock::time_point::max()) {
    message_started_ = clock::now();
    if (config_.options.message_timeout.count() > 0) arm_watchdog_by(message_started_ + config_.options.message_timeout);
  }
}

connection::parse_stop connection::consume_frames(std::span<char> bytes, std::size_t& used) {
  used = 0;
  for (;;) {
    auto const step = reader_.next(bytes.subspan(used));
    used += step.consumed;
    switch (step.what) {
      case frame_reader::event::need_more:
        return parse_stop::need_more;
      case frame_reader::event::message: {
        message_started_ = clock::time_point::max();  // the next one has a deadline of its own
        message msg = reader_.take_message();
        // After our close frame, messages nobody will read are dropped
        // rather than stored past the limit.
        if (close_sent_ && inbox_bytes_ >= config_.options.max_read_queue) break;
        inbox_bytes_ += inbox_cost(msg);
        inbox_.push_back(std::move(msg));
        if (used == bytes.size()) break;
        if (!close_sent_ && inbox_bytes_ >= config_.options.max_read_queue) return parse_stop::inbox_full;
        if (reader_.inflated_total() - inflated_at_turn_start_ >= inflate_budget_per_turn)
          return parse_stop::budget_spent;
        break;
      }
      case frame_reader::event::failed:
        fail(reader_.failure(), reader_.failure_close_code());
        return parse_stop::ended;
      case frame_reader::event::close:
        on_peer_close();
        return parse_stop::ended;
      case frame_reader::event::ping:
      case frame_reader::event::pong:
        on_control(step.what);
        break;
    }
  }
}

void connection::on_control(frame_reader::event what) {
  if (what == frame_reader::event::pong) {
    ping_outstanding_ = false;
    arm_watchdog();  // the next keep-alive ping, also when pong_timeout is off
    if (config_.log.enabled(log_level::trace)) config_.log.log(log_level::trace, id_, "pong received");
    return;
  }
  if (close_sent_) return;  // nothing may follow our close frame
  if (config_.log.enabled(log_level::debug))
    log_debug("ping received (" + std::to_string(reader_.control_payload().size()) + " bytes), answering");
  queue_control(make_frame(opcode::pong, std::string(reader_.control_payload())));
}

void connection::on_peer_close() {
  close_payload payload;
  if (auto const bad = parse_close_payload(reader_.control_payload(), payload); bad != tether::error{}) {
    fail(bad, bad == tether::error::invalid_utf8 ? close_code::invalid_payload
                                                 : close_code::protocol_error);
    return;
  }
  close_received_ = true;
  notify_writers();  // their writes now fail
  peer_close_code_ = static_cast<close_code>(payload.code);
  peer_close_reason_.assign(payload.reason);
  set_error(tether::error::closed);
  if (config_.log.enabled(log_level::debug))
    log_debug("peer closed with " + describe_close(peer_close_code_, peer_close_reason_));
  if (!close_sent_) {
    queue_close(peer_close_code_, {});  // echo the code, as RFC 6455 5.5.1 suggests
  } else if (close_flushed_) {
    after_close_frame_sent();
  }
}

void connection::on_transport_end(error_code ec) {
  if (!close_received_ && !failing_ && config_.log.enabled(log_level::debug))
    log_debug("connection lost: " + ec.message());
  finish(tether::error::connection_lost);
}

// Each operation may be awaited from any executor. The connection's state
// is only touched on its own, so a caller elsewhere runs the same operation
// there (one extra frame, only in that case).
// Once that loop is gone (a handle kept past its server), nothing can run
// there: the operation fails at once.
#define TETHER_RUN_ON_OWN_EXECUTOR(call)                                           \
  if (!owner) owner = shared_from_this();                                           \
  if (auto const caller = co_await net::this_coro::executor; caller != executor_) { \
    if (!liveness_->alive()) co_return make_error_code(tether::error::stopped);     \
    co_return co_await net::co_spawn(executor_, call, net::use_awaitable);          \
  }

net::awaitable<boost::system::result<message>> connection::read(std::shared_ptr<void> owner) {
  TETHER_RUN_ON_OWN_EXECUTOR(read(owner))
  if (reading_) co_return make_error_code(tether::error::operation_in_progress);
  reading_ = true;
  struct done_reading {
    bool& flag;
    ~done_reading() { flag = false; }
  } const guard{reading_};
  for (;;) {
    if (inbox_head_ < inbox_.size()) {
      message msg = std::move(inbox_[inbox_head_++]);
      bool const was_full = inbox_bytes_ >= config_.options.max_read_queue;
      inbox_bytes_ -= inbox_cost(msg);
      if (inbox_head_ == inbox_.size()) {
        inbox_.clear();
        inbox_head_ = 0;
      } else if (inbox_head_ >= 64 && 2 * inbox_head_ >= inbox_.size()) {
        // A reader that never quite catches up must not grow the vector forever.
        inbox_.erase(inbox_.begin(), inbox_.begin() + static_cast<std::ptrdiff_t>(inbox_head_));
        inbox_head_ = 0;
      }
      if (was_full) await_readable();
      co_return msg;
    }
    if (close_received_ || failing_ || finished_) co_return make_error_code(error_);
    auto const [ec] = co_await async_wait_for_input(use_tuple);
    // Cancelled (say by `read() || timer`): leave the messages for the next read.
    if (ec || (co_await net::this_coro::cancellation_state).cancelled() != net::cancellation_type::none)
      co_return make_error_code(net::error::operation_aborted);
  }
}

// ---------------------------------------------------------------- writing

// Takes the payload by value: a message written with its own string (an
// echo moving what it read) goes out without a copy.
connection::outgoing_frame connection::make_frame(opcode op, std::string payload) {
  outgoing_frame frame;
  frame.op = op;
  auto const& d = config_.deflate;
  auto const& c = config_.options.compression;
  // A peer that limits our window to 8 bits gets plain messages: zlib
  // cannot write with a 256-byte window, and RFC 7692 lets any message go
  // uncompressed.
  bool compress = d.on && !is_control(op) && payload.size() >= c.threshold && d.send_window_bits >= 9;
  if (compress) {
    int const level = std::clamp(c.level, 1, 9);
    int const mem_level = std::clamp(c.mem_level, 1, 9);
    if (d.send_reset) {
      thread_deflater(d.send_window_bits, mem_level, level).compress(payload, frame.payload, true);
      // Incompressible data goes out as it is; without shared history the
      // peer's inflater never needs to see it.
      if (frame.payload.size() >= payload.size()) {
        compress = false;
        frame.payload = std::move(payload);
      }
    } else {
      if (!deflater_) deflater_ = std::make_unique<deflate_stream>(d.send_window_bits, mem_level, level);
      deflater_->compress(payload, frame.payload, false);
    }
  } else {
    frame.payload = std::move(payload);
  }
  std::uint64_t const size = frame.payload.size();
  if (config_.local_role == role::client) {
    mask_key const key = random_mask_key();
    frame.header_size = static_cast<std::uint8_t>(encode_header(frame.header, true, op, size, &key, compress));
    apply_mask({frame.payload.data(), frame.payload.size()}, key, 0);
  } else {
    frame.header_size = static_cast<std::uint8_t>(encode_header(frame.header, true, op, size, nullptr, compress));
  }
  return frame;
}

void connection::queue_control(outgoing_frame frame) {
  if (frame.op == opcode::pong) {
    // Peers expect a pong for each ping, as Beast and python3-websockets
    // give. Past a few waiting, only the latest ping is answered (RFC 6455
    // 5.5.3 allows it): a ping flood cannot grow the queue.
    auto const waiting = std::count_if(control_queue_.begin(), control_queue_.end(),
                                       [](auto const& f) { return f.op == opcode::pong; });
    if (static_cast<std::size_t>(waiting) >= max_waiting_pongs) {
      auto const last = std::find_if(control_queue_.rbegin(), control_queue_.rend(),
                                     [](auto const& f) { return f.op == opcode::pong; });
      *last = std::move(frame);
      return;
    }
  }
  control_queue_.push_back(std::move(frame));
  start_flush();
}

void connection::queue_close(close_code code, std::string_view reason) {
  std::string payload;
  if (code != close_code::no_status) {
    auto const value = static_cast<std::uint16_t>(code);
    payload.push_back(static_cast<char>(value >> 8));
    payload.push_back(static_cast<char>(value & 0xFF));
    payload.append(reason);
  }
  data_queue_.push_back(make_frame(opcode::close, std::move(payload)));
  close_sent_ = true;
  notify_writers();  // their writes now fail
  if (config_.options.close_timeout.count() > 0) close_deadline_ = clock::now() + config_.options.close_timeout;
  arm_watchdog();
  start_flush();
  await_readable();  // the peer's answer must be read, even past max_read_queue
}

void connection::start_flush() {
  if (flushing_ || finished_) return;
  flushing_ = true;
  last_sent_ = clock::now();
  if (config_.options.send_timeout.count() > 0) arm_watchdog_by(last_sent_ + config_.options.send_timeout);
  // Deferred to the next turn of the loop, so that every write made before
  // the application next waits leaves in the same gather write.
  net::post(executor_, net::bind_allocator(exact_allocator<void>(), [self = shared_from_this()] { self->flush(); }));
}

void connection::flush() {
  if (finished_ || (control_queue_.empty() && data_queue_.empty())) {
    flushing_ = false;
    return;
  }
  in_flight_.swap(control_queue_);
  for (auto& frame : data_queue_) in_flight_.push_back(std::move(frame));
  data_queue_.clear();
  gather_.clear();
  gather_next_ = 0;
  for (auto const& frame : in_flight_) {
    if (frame.framed) {
      gather_.emplace_back(frame.framed->data(), frame.framed->size());
      continue;
    }
    gather_.emplace_back(frame.header.data(), frame.header_size);
    if (!frame.payload.empty()) gather_.emplace_back(frame.payload.data(), frame.payload.size());
  }
  write_more();
}

// Writes until done or the socket is full; then waits for it to drain.
void connection::write_more() {
  // Linux takes at most IOV_MAX (1024) buffers per sendmsg.
  constexpr std::size_t max_buffers = 1024;
  while (gather_next_ < gather_.size()) {
    error_code ec;
    std::size_t const count = std::min(max_buffers, gather_.size() - gather_next_);
    std::size_t written = stream_->write_some({gather_.data() + gather_next_, count}, ec);
    if (ec == net::error::would_block || ec == net::error::try_again) {
      if (polled_) {
        blocked_on(stream_->write_wants());
        write_blocked_ = true;  // on_ready() goes on
        return;
      }
      stream_->async_wait(stream_->write_wants(), [self = shared_from_this()](error_code ec) {
        // A wait that completed together with the pump's end of the
        // connection must not write: the stream is closed by now.
        if (ec || self->finished_)
          self->on_written(ec ? ec : make_error_code(net::error::operation_aborted));
        else
          self->write_more();
      });
      return;
    }
    if (ec) {
      on_written(ec);
      return;
    }
    if (written > 0) last_sent_ = clock::now();
    while (written > 0) {
      auto& next = gather_[gather_next_];
      std::size_t const step = std::min(written, next.size());
      next += step;
      written -= step;
      if (next.size() == 0) ++gather_next_;
    }
    while (gather_next_ < gather_.size() && gather_[gather_next_].size() == 0) ++gather_next_;
  }
  on_written({});
}

void connection::on_written(error_code ec) {
  bool carries_close = false;
  for (auto& frame : in_flight_) {
    if (frame.op == opcode::close) carries_close = true;
    else if (!is_control(frame.op)) queued_bytes_ -= frame.queued_size();
    payload_pool::give(std::move(frame.payload));
  }
  in_flight_.clear();
  if (ec) {
    flushing_ = false;
    if (!finished_ && config_.log.enabled(log_level::debug)) log_debug("write failed: " + ec.message());
    finish(tether::error::connection_lost);
    return;
  }
  if (carries_close) after_close_frame_sent();
  notify_writers();  // waiting for queue space
  flush();
}

void connection::after_close_frame_sent() {
  close_flushed_ = true;
  if ((close_received_ || failing_) && !send_shut_) {
    // Our FIN ends the exchange; the pump reads on until the peer's FIN so
    // that unread bytes never turn our last frames into a reset.
    send_shut_ = true;
    stream_->shutdown_send();
  }
}

net::awaitable<boost::system::error_code> connection::write(std::string payload, message_kind kind,
                                                            std::shared_ptr<void> owner) {
  TETHER_RUN_ON_OWN_EXECUTOR(write(std::move(payload), kind, owner))
  if (kind == message_kind::text && !is_valid_utf8(payload))
    co_return make_error_code(tether::error::invalid_utf8);
  // Writers take their turns in order: a new one waits behind those
  // already waiting, even if its message would fit.
  for (bool first = true;; first = false) {
    if (finished_ || close_sent_ || close_received_)
      co_return make_error_code(error_ == tether::error{} ? tether::error::closed : error_);
    // Counted before compression: what the application handed over.
    if ((!first || waiting_writers_ == 0) && write_fits(payload.size())) break;
    ++waiting_writers_;
    co_await wake_->async_wait(use_tuple);  // room for one writer, or a change of state
    --waiting_writers_;
    if ((co_await net::this_coro::cancellation_state).cancelled() != net::cancellation_type::none) {
      notify_writers();  // a turn given to us passes on
      co_return make_error_code(net::error::operation_aborted);
    }
  }
  data_queue_.push_back(make_frame(data_opcode(kind), std::move(payload)));
  queued_bytes_ += data_queue_.back().payload.size();  // what leaves, compressed or not
  start_flush();
  notify_writers();  // room may remain for the next one
  co_return error_code{};
}

// Published frames still waiting for the next flush. Frames in flight
// cannot move, and what write() accepted is never dropped.
std::size_t connection::drop_waiting_published(std::size_t down_to) {
  std::size_t dropped = 0;
  std::erase_if(data_queue_, [&](outgoing_frame const& f) {
    if (!f.published || queued_bytes_ < down_to) return false;
    queued_bytes_ -= f.queued_size();
    ++dropped;
    return true;
  });
  return dropped;
}

connection::publish_format connection::format_for_publishing() const noexcept {
  using kind = publish_format::kind;
  auto const& d = config_.deflate;
  if (config_.local_role == role::client || (d.on && !d.send_reset)) return {kind::own};
  // A window of 8 bits means plain messages (see make_frame).
  if (!d.on || d.send_window_bits < 9) return {kind::plain};
  auto const& c = config_.options.compression;
  return {kind::compressed, d.send_window_bits, std::clamp(c.mem_level, 1, 9), std::clamp(c.level, 1, 9), c.threshold};
}

connection::delivery connection::deliver(std::shared_ptr<std::string const> const& framed, std::string_view payload,
                                         message_kind kind, overflow when_full, std::size_t& dropped_older) {
  dropped_older = 0;
  if (finished_ || close_sent_ || close_received_) return delivery::gone;
  auto const limit = config_.options.max_write_queue;
  // With context takeover every compressed frame is history for the next:
  // none may be dropped once compressed.
  bool const droppable = !(config_.deflate.on && !config_.deflate.send_reset);
  std::size_t const incoming = framed ? framed->size() : payload.size();
  if (!write_fits(incoming)) {
    switch (when_full) {
      case overflow::drop_newest:
        return delivery::dropped;
      case overflow::close_policy:
      case overflow::close_busy:
        // The close frame goes right behind what is already being written.
        dropped_older = drop_waiting_published(0);
        if (config_.log.enabled(log_level::debug)) log_debug("write queue full for a published message: closing");
        fail(tether::error::too_slow,
             when_full == overflow::close_busy ? close_code::try_again_later : close_code::policy_violation);
        return delivery::closed;
      case overflow::drop_oldest:
        // The application's own writes waiting for room come first.
        if (waiting_writers_ > 0 || !droppable) return delivery::dropped;
        // The new one is queued even when this is not enough (the frames
        // in flight are over the limit on their own): the newest is what
        // this policy keeps, and the queue still holds at most the limit,
        // what is in flight, and this one message.
        dropped_older = drop_waiting_published(incoming <= limit ? limit - incoming + 1 : 0);
        break;
    }
  }
  outgoing_frame frame;
  if (!framed) {
    frame = make_frame(data_opcode(kind), std::string(payload));
  } else {
    frame.op = data_opcode(kind);
    frame.framed = framed;
  }
  frame.published = droppable;
  queued_bytes_ += frame.queued_size();
  data_queue_.push_back(std::move(frame));
  start_flush();
  return delivery::queued;
}

net::awaitable<boost::system::error_code> connection::ping(std::string payload, std::shared_ptr<void> owner) {
  TETHER_RUN_ON_OWN_EXECUTOR(ping(std::move(payload), owner))
  if (payload.size() > max_control_payload) co_return make_error_code(tether::error::invalid_argument);
  if (finished_ || close_sent_ || close_received_)
    co_return make_error_code(error_ == tether::error{} ? tether::error::closed : error_);
  queue_control(make_frame(opcode::ping, std::move(payload)));
  co_return error_code{};
}

net::awaitable<boost::system::error_code> connection::close(close_code code, std::string reason,
                                                            std::shared_ptr<void> owner) {
  TETHER_RUN_ON_OWN_EXECUTOR(close(code, std::move(reason), owner))
  if (!is_valid_on_wire(static_cast<std::uint16_t>(code)) || reason.size() > max_control_payload - 2 ||
      !is_valid_utf8(reason))
    co_return make_error_code(tether::error::invalid_argument);
  if (!close_sent_ && !finished_) {
    if (config_.log.enabled(log_level::debug)) log_debug("closing with " + describe_close(code, reason));
    queue_close(code, reason);
  }
  while (!finished_) {
    ++waiting_writers_;
    co_await wake_->async_wait(use_tuple);  // any change of state
    --waiting_writers_;
    if ((co_await net::this_coro::cancellation_state).cancelled() != net::cancellation_type::none)
      co_return make_error_code(net::error::operation_aborted);  // the close goes on without us
  }
  co_return error_ == tether::error::closed ? error_code{} : make_error_code(error_);
}

// ---------------------------------------------------------------- ending

void connection::fail(tether::error why, close_code code) {
  if (finished_ || failing_) return;
  set_error(why);
  failing_ = true;
  if (config_.log.enabled(log_level::debug))
    log_debug(std::string("failing: ") + make_error_code(why).message() + ", closing with " +
              std::to_string(static_cast<unsigned>(code)));
  if (!close_sent_) {
    queue_close(code, {});
  } else if (close_flushed_) {
    after_close_frame_sent();
  }
  notify();
}

void connection::abort(tether::error why) { finish(why); }

void connection::on_loop_gone() noexcept {
  try {
    finish(tether::error::stopped);
  } catch (...) {
    // Only its log line can fail; the stream is closed by then.
  }
  read_waiter_ = nullptr;
  // Asio's sockets and timers reach their io_context's services even when
  // destroyed idle: they go now, while those services exist.
  stream_.reset();
  watchdog_.reset();
  wake_.reset();
}

void connection::finish(tether::error why, bool reset) {
  if (finished_) return;
  set_error(why);
  finished_ = true;
  if (reset)
    stream_->reset();
  else
    stream_->close();
  watchdog_->cancel();
  control_queue_.clear();
  data_queue_.clear();
  notify();
  if (config_.log.enabled(log_level::debug))
    log_debug(std::string("ended: ") + make_error_code(error_).message());
}

// ---------------------------------------------------------------- timers

void connection::arm_watchdog() {
  if (finished_) return;
  auto const& o = config_.options;
  auto deadline = close_deadline_;
  if (!close_sent_ && !close_received_) {
    if (o.idle_timeout.count() > 0) deadline = std::min(deadline, last_received_ + o.idle_timeout);
    if (ping_outstanding_) {
      if (o.pong_timeout.count() > 0) deadline = std::min(deadline, ping_sent_ + o.pong_timeout);
    } else if (o.ping_interval.count() > 0) {
      deadline = std::min(deadline, last_received_ + o.ping_interval);
    }
    if (message_started_ != clock::time_point::max() && o.message_timeout.count() > 0)
      deadline = std::min(deadline, message_started_ + o.message_timeout);
  }
  if (flushing_ && o.send_timeout.count() > 0) deadline = std::min(deadline, last_sent_ + o.send_timeout);
  if (deadline == clock::time_point::max()) return;
  watchdog_deadline_ = deadline;
  watchdog_->expires_at(deadline);
  watchdog_->async_wait(net::bind_allocator(exact_allocator<void>(), [weak = weak_from_this()](error_code ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->on_watchdog();
  }));
}

// A new deadline re-arms the timer only when it comes before the armed one:
// the watchdog checks every condition when it fires, and re-arming on each
// flush would cost a timer operation per message.
void connection::arm_watchdog_by(clock::time_point deadline) {
  if (deadline < watchdog_deadline_) arm_watchdog();
}

void connection::on_watchdog() {
  watchdog_deadline_ = clock::time_point::max();
  if (finished_) return;
  auto const now = clock::now();
  auto const& o = config_.options;
  if (now >= close_deadline_) {
    if (config_.log.enabled(log_level::debug)) log_debug("close handshake timed out");
    finish(tether::error::close_timeout);
    return;
  }
  if (flushing_ && o.send_timeout.count() > 0 && now >= last_sent_ + o.send_timeout) {
    // A close frame would wait behind the same unread bytes: reset instead,
    // which also frees what the kernel holds for this peer.
    if (config_.log.enabled(log_level::debug)) log_debug("nothing sent within send_timeout: resetting");
    finish(tether::error::too_slow, true);
    return;
  }
  if (!close_sent_ && !close_received_) {
    if (message_started_ != clock::time_point::max() && o.message_timeout.count() > 0 &&
        now >= message_started_ + o.message_timeout) {
      fail(tether::error::message_timeout, close_code::policy_violation);
      return;  // queue_close armed the close deadline
    }
    if (o.idle_timeout.count() > 0 && now >= last_received_ + o.idle_timeout) {
      fail(tether::error::idle_timeout, close_code::going_away);
      return;
    }
    if (ping_outstanding_ && o.pong_timeout.count() > 0 && now >= ping_sent_ + o.pong_timeout) {
      if (config_.log.enabled(log_level::debug)) log_debug("no pong within pong_timeout");
      finish(tether::error::pong_timeout);
      return;
    }
    if (!ping_outstanding_ && o.ping_interval.count() > 0 && now >= last_received_ + o.ping_interval) {
      if (config_.log.enabled(log_level::debug)) log_debug("sending keep-alive ping");
      ping_outstanding_ = true;
      ping_sent_ = now;
      queue_control(make_frame(opcode::ping, std::string()));
    }
  }
  arm_watchdog();
}

}  // namespace tether::detail

#undef TETHER_RUN_ON_OWN_EXECUTOR
