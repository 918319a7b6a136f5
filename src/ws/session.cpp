#include "ws/session.hpp"

#include "codec/payload_pool.hpp"
#include "codec/utf8.hpp"

#include <algorithm>
#include <utility>

namespace tether::detail {

namespace {

// Inflating runs at about 70 MB/s of output on a maximal-ratio message:
// past this much in one turn of the loop, the rest of what was read waits
// for the next turn, so that other connections are served in between.
constexpr std::size_t inflate_budget_per_turn = 1024 * 1024;

// Pongs waiting to be written: each ping gets its own answer up to this
// many, then the newest ping's answer replaces the last one, so that a
// ping flood against a peer that does not read stays flat in memory.
constexpr std::size_t max_waiting_pongs = 32;

// Linux takes at most IOV_MAX (1024) buffers per sendmsg.
constexpr std::size_t max_output_buffers = 1024;

// Runs of small frames (session::run_with_room): a frame this large is the
// largest copied into one, and a run holds at most max_run_size bytes.
constexpr std::size_t max_packed_frame = 1024;
constexpr std::size_t max_run_size = 64 * 1024;
constexpr std::size_t first_run_capacity = 1023;  // a size class of payload_pool's

// What one stored message counts against max_read_queue: a flood of empty
// messages must fill it too.
std::size_t inbox_cost(message const& msg) noexcept { return msg.payload.size() + sizeof(message); }

std::string describe_close(close_code code, std::string_view reason) {
  std::string text = std::to_string(static_cast<unsigned>(code));
  if (!reason.empty()) text.append(" \"").append(reason).append("\"");
  return text;
}

send_compression compression_for(deflate_agreement const& d, compression_options const& c) noexcept {
  auto const small = [](int value) { return static_cast<std::int8_t>(std::clamp(value, 1, 15)); };
  return {.on = d.on,
          .reset_each = d.send_reset,
          .window_bits = small(d.send_window_bits),
          .mem_level = small(c.mem_level),
          .level = small(c.level),
          .threshold = c.threshold};
}

}  // namespace

session::session(session_config config, time_point now)
    : settings_(std::move(config.settings)),
      options_(settings_->options),
      log_(settings_->log),
      id_(config.id),
      reader_(config.local_role, options_.max_message_size),
      writer_(config.local_role, compression_for(config.deflate, options_.compression)),
      last_received_(now) {
  if (auto const& d = config.deflate; d.on)
    reader_.enable_inflate(d.receive_window_bits, d.receive_reset, options_.compression.max_ratio);
}

void session::log_debug(std::string_view text) const { log_.log(log_level::debug, id_, text); }

// Every change of state may end reads and writes: the waiting ones look again.
void session::enter(state next) noexcept {
  state_ = next;
  actions_ |= wake_reader;
  if (waiting_writers_ > 0) actions_ |= wake_all;
}

void session::note_room() noexcept {
  if (waiting_writers_ == 0) return;
  if (state_ != state::open)
    actions_ |= wake_all;
  else if (queued_bytes_ < options_.max_write_queue)
    actions_ |= wake_writer;
}

// ---------------------------------------------------------------- input

session::input session::wanted_input() const noexcept {
  if (state_ == state::ended) return input::none;
  // Once a close frame is on its way, the peer's answer must be read even
  // if the application no longer reads messages. Otherwise a full inbox
  // waits for read(); keep-alive checks go on meanwhile.
  if (state_ == state::open && inbox_bytes_ >= options_.max_read_queue) return input::none;
  return deferred_ ? input::parse_set_aside : input::read;
}

void session::receive(std::span<char const> bytes, time_point now) {
  last_received_ = now;
  // Data after a close frame, ours for a failure or the peer's, is ignored.
  if (state_ == state::open || state_ == state::closing_sent) consume(bytes);
}

void session::consume(std::span<char const> bytes) {
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
      return;
    }
    unparsed_.clear();
    bytes = bytes.subspan(used - old);
    if (stop != parse_stop::need_more) {
      set_aside(stop, bytes);
      return;
    }
  }
  std::size_t used = 0;
  auto const stop = consume_frames(bytes, used);
  set_aside(stop, bytes.subspan(used));
}

// Keeps what consume_frames() left: a header tail to complete, or input to
// parse in a later turn (the I/O side asks wanted_input()).
void session::set_aside(parse_stop why, std::span<char const> rest) {
  if (why == parse_stop::ended) return;  // data after a close or failure is ignored
  unparsed_.assign(rest.data(), rest.size());
  deferred_ = why != parse_stop::need_more && !rest.empty();
  note_message_progress();
}

void session::resume() {
  deferred_ = false;
  if (state_ != state::open && state_ != state::closing_sent) return;
  inflated_at_turn_start_ = reader_.inflated_total();
  std::string input = std::exchange(unparsed_, {});
  std::size_t used = 0;
  auto const stop = consume_frames({input.data(), input.size()}, used);
  set_aside(stop, std::span<char const>(input).subspan(used));
}

// A message in progress has a deadline of its own, from its first byte:
// each byte the peer drips resets the keep-alive timer, not this one.
// consume_frames() forgets the deadline of each message it completes, so a
// stream of messages whose reads always end mid-message is not cut.
void session::note_message_progress() {
  bool const mid = reader_.mid_message() || (!deferred_ && !unparsed_.empty());
  if (!mid) {
    message_started_ = time_point::max();
  } else if (message_started_ == time_point::max()) {
    message_started_ = last_received_;
    actions_ |= rearm;
  }
}

session::parse_stop session::consume_frames(std::span<char const> bytes, std::size_t& used) {
  used = 0;
  for (;;) {
    auto const step = reader_.next(bytes.subspan(used));
    used += step.consumed;
    switch (step.what) {
      case frame_reader::event::need_more:
        return parse_stop::need_more;
      case frame_reader::event::message: {
        message_started_ = time_point::max();  // the next one has a deadline of its own
        message msg = reader_.take_message();
        bool const closing = state_ == state::closing_sent;
        // After our close frame, messages nobody will read are dropped
        // rather than stored past the limit.
        if (closing && inbox_bytes_ >= options_.max_read_queue) break;
        inbox_bytes_ += inbox_cost(msg);
        inbox_.push_back(std::move(msg));
        actions_ |= wake_reader;
        if (used == bytes.size()) break;
        if (!closing && inbox_bytes_ >= options_.max_read_queue) return parse_stop::inbox_full;
        if (reader_.inflated_total() - inflated_at_turn_start_ >= inflate_budget_per_turn)
          return parse_stop::budget_spent;
        break;
      }
      case frame_reader::event::failed:
        fail(reader_.failure(), reader_.failure_close_code(), last_received_);
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

void session::on_control(frame_reader::event what) {
  if (what == frame_reader::event::pong) {
    ping_outstanding_ = false;
    actions_ |= rearm;  // the next keep-alive ping, also when pong_timeout is off
    if (log_.enabled(log_level::trace)) log_.log(log_level::trace, id_, "pong received");
    return;
  }
  if (state_ != state::open) return;  // nothing may follow our close frame
  if (log_.enabled(log_level::debug))
    log_debug("ping received (" + std::to_string(reader_.control_payload().size()) + " bytes), answering");
  queue_control(writer_.make(opcode::pong, std::string(reader_.control_payload())), last_received_);
}

void session::on_peer_close() {
  close_payload payload;
  if (auto const bad = parse_close_payload(reader_.control_payload(), payload); bad != tether::error{}) {
    fail(bad, bad == tether::error::invalid_utf8 ? close_code::invalid_payload : close_code::protocol_error,
         last_received_);
    return;
  }
  peer_close_code_ = static_cast<close_code>(payload.code);
  if (!payload.reason.empty()) peer_close_reason_ = std::make_unique<std::string const>(payload.reason);
  set_error(tether::error::closed);
  if (log_.enabled(log_level::debug))
    log_debug("peer closed with " + describe_close(peer_close_code_, peer_close_reason()));
  if (state_ == state::open) {
    enter(state::closing_received);
    queue_close(peer_close_code_, {}, last_received_);  // echo the code, as RFC 6455 5.5.1 suggests
  } else {
    enter(state::closed);
    if (close_written_) after_close_frame_written();
  }
}

void session::transport_ended(error_code ec) {
  if (state_ == state::ended) return;
  if (state_ != state::closing_received && state_ != state::closed && state_ != state::failed &&
      log_.enabled(log_level::debug))
    log_debug("connection lost: " + ec.message());
  end(tether::error::connection_lost);
}

std::optional<message> session::take_message() noexcept {
  if (inbox_head_ == inbox_.size()) return std::nullopt;
  message msg = std::move(inbox_[inbox_head_++]);
  bool const was_full = inbox_bytes_ >= options_.max_read_queue;
  inbox_bytes_ -= inbox_cost(msg);
  if (inbox_head_ == inbox_.size()) {
    inbox_.clear();
    inbox_head_ = 0;
  } else if (inbox_head_ >= 64 && 2 * inbox_head_ >= inbox_.size()) {
    // A reader that never quite catches up must not grow the vector forever.
    inbox_.erase(inbox_.begin(), inbox_.begin() + static_cast<std::ptrdiff_t>(inbox_head_));
    inbox_head_ = 0;
  }
  if (was_full) actions_ |= read_again;
  return msg;
}

void session::take_messages(std::vector<message>& into) {
  if (inbox_head_ == inbox_.size()) return;
  bool const was_full = inbox_bytes_ >= options_.max_read_queue;
  if (into.empty() && inbox_head_ == 0) {
    into.swap(inbox_);
  } else {
    into.insert(into.end(), std::make_move_iterator(inbox_.begin() + static_cast<std::ptrdiff_t>(inbox_head_)),
                std::make_move_iterator(inbox_.end()));
  }
  inbox_.clear();
  inbox_head_ = 0;
  inbox_bytes_ = 0;
  if (was_full) actions_ |= read_again;
}

session::error_code session::read_error() const noexcept {
  switch (state_) {
    case state::open:
    case state::closing_sent:
      return {};
    default:
      return make_error_code(error_);
  }
}

// ---------------------------------------------------------------- output

void session::start_sending(time_point now) {
  actions_ |= write_output;
  if (sending_) return;
  sending_ = true;
  last_sent_ = now;
  if (options_.send_timeout.count() > 0) actions_ |= rearm;
}

void session::queue_data(outgoing_frame frame, time_point now) {
  queued_bytes_ += frame.queued_size();  // what leaves, compressed or not
  data_queue_.push_back(std::move(frame));
  start_sending(now);
}

// Small frames are copied, as they are queued, into one buffer of many
// (a run: an outgoing_frame whose header is part of its payload), and
// their payloads recycled at once. The kernel copies one buffer of many
// frames far faster than as many small buffers (measured: a 16-byte echo
// with 32 in flight spent 9 % of its time in the kernel's per-buffer
// copy), and a run costs one queue entry. Larger frames, compressed ones, and
// published ones (a full queue may drop them one by one) keep their own
// entries (queue_data()).
outgoing_frame& session::run_with_room(std::size_t bytes) {
  if (data_queue_.empty() || !data_queue_.back().is_run() ||
      data_queue_.back().payload.size() + bytes > max_run_size) {
    outgoing_frame run;
    run.payload = payload_pool::take_small(std::max(bytes, first_run_capacity));
    data_queue_.push_back(std::move(run));
  }
  return data_queue_.back();
}

void session::queue_control(outgoing_frame frame, time_point now) {
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
  start_sending(now);
}

// The caller has entered the closing state.
void session::queue_close(close_code code, std::string_view reason, time_point now) {
  data_queue_.push_back(writer_.make_close(static_cast<std::uint16_t>(code), reason));
  if (options_.close_timeout.count() > 0) close_deadline_ = now + options_.close_timeout;
  actions_ |= rearm | read_again;  // the peer's answer must be read, even past max_read_queue
  start_sending(now);
}

std::span<boost::asio::const_buffer const> session::output() {
  if (state_ == state::ended) {
    sending_ = false;
    return {};
  }
  if (gather_next_ == gather_.size()) {
    if (control_queue_.empty() && data_queue_.empty()) {
      sending_ = false;
      return {};
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
      if (frame.header_size > 0) gather_.emplace_back(frame.header.data(), frame.header_size);
      if (!frame.payload.empty()) gather_.emplace_back(frame.payload.data(), frame.payload.size());
    }
  }
  return std::span<boost::asio::const_buffer const>(gather_).subspan(gather_next_).first(
      std::min(max_output_buffers, gather_.size() - gather_next_));
}

void session::wrote(std::size_t n, time_point now) {
  if (n > 0) last_sent_ = now;
  while (n > 0 && gather_next_ < gather_.size()) {
    auto& next = gather_[gather_next_];
    std::size_t const step = std::min(n, next.size());
    next += step;
    n -= step;
    if (next.size() == 0) ++gather_next_;
  }
  while (gather_next_ < gather_.size() && gather_[gather_next_].size() == 0) ++gather_next_;
  if (gather_next_ == gather_.size() && !in_flight_.empty()) batch_written();
}

void session::batch_written() {
  bool carries_close = false;
  for (auto& frame : in_flight_) {
    if (frame.op == opcode::close)
      carries_close = true;
    else if (!is_control(frame.op))
      queued_bytes_ -= frame.queued_size();
    payload_pool::give(std::move(frame.payload));
  }
  in_flight_.clear();
  gather_.clear();
  gather_next_ = 0;
  if (carries_close) {
    close_written_ = true;
    if (state_ == state::closing_received) enter(state::closed);
    after_close_frame_written();
  }
  note_room();
}

void session::after_close_frame_written() {
  if ((state_ == state::closed || state_ == state::failed) && !send_shut_) {
    // Our FIN ends the exchange; the I/O side reads on until the peer's FIN
    // so that unread bytes never turn our last frames into a reset.
    send_shut_ = true;
    actions_ |= shutdown_send;
  }
}

void session::write_failed(error_code ec) {
  if (state_ != state::ended && log_.enabled(log_level::debug)) log_debug("write failed: " + ec.message());
  end(tether::error::connection_lost);
}

// ---------------------------------------------------------------- application

session::error_code session::write_refusal() const noexcept {
  if (state_ == state::open) return {};
  return make_error_code(error_ == tether::error{} ? tether::error::closed : error_);
}

session::error_code session::check_payload(std::string_view payload, message_kind kind) noexcept {
  if (kind == message_kind::text && !is_valid_utf8(payload)) return make_error_code(tether::error::invalid_utf8);
  return {};
}

void session::send(std::string payload, message_kind kind, time_point now) {
  auto const op = data_opcode(kind);
  if (payload.size() + max_header_size <= max_packed_frame && !writer_.compresses(op, payload.size())) {
    auto& run = run_with_room(payload.size() + max_header_size);
    writer_.append_plain(run.payload, op, payload);
    run.run_payloads += payload.size();
    queued_bytes_ += payload.size();
    payload_pool::give(std::move(payload));
    start_sending(now);
  } else {
    queue_data(writer_.make(op, std::move(payload)), now);
  }
  note_room();  // room may remain for the next one
}

session::error_code session::ping(std::string payload, time_point now) {
  if (payload.size() > max_control_payload) return make_error_code(tether::error::invalid_argument);
  if (auto const refused = write_refusal()) return refused;
  queue_control(writer_.make(opcode::ping, std::move(payload)), now);
  return {};
}

session::error_code session::close(close_code code, std::string_view reason, time_point now) {
  if (!is_valid_on_wire(static_cast<std::uint16_t>(code)) || reason.size() > max_control_payload - 2 ||
      !is_valid_utf8(reason))
    return make_error_code(tether::error::invalid_argument);
  if (state_ == state::open) {
    if (log_.enabled(log_level::debug)) log_debug("closing with " + describe_close(code, reason));
    enter(state::closing_sent);
    queue_close(code, reason, now);
  }
  return {};
}

void session::abort(tether::error why, bool reset) { end(why, reset); }

// ---------------------------------------------------------------- hubs

session::publish_format session::format_for_publishing() const noexcept {
  using kind = publish_format::kind;
  auto const& c = writer_.compression();
  if (writer_.local_role() == role::client || (c.on && !c.reset_each)) return {kind::own};
  // A window of 8 bits means plain messages (see frame_writer::make).
  if (!c.on || c.window_bits < 9) return {kind::plain};
  return {kind::compressed, c.window_bits, c.mem_level, c.level, c.threshold};
}

// Published frames still waiting for the next batch. Frames in flight
// cannot move, and what write() accepted is never dropped.
std::size_t session::drop_waiting_published(std::size_t down_to) {
  std::size_t dropped = 0;
  std::erase_if(data_queue_, [&](outgoing_frame const& f) {
    if (!f.published || queued_bytes_ < down_to) return false;
    queued_bytes_ -= f.queued_size();
    ++dropped;
    return true;
  });
  return dropped;
}

session::delivery session::deliver(std::shared_ptr<std::string const> const& framed, std::string_view payload,
                                   message_kind kind, overflow when_full, std::size_t& dropped_older, time_point now) {
  dropped_older = 0;
  if (state_ != state::open) return delivery::gone;
  auto const limit = options_.max_write_queue;
  // With context takeover every compressed frame is history for the next:
  // none may be dropped once compressed.
  bool const droppable = !(writer_.compression().on && !writer_.compression().reset_each);
  std::size_t const incoming = framed ? framed->size() : payload.size();
  if (!write_fits(incoming)) {
    switch (when_full) {
      case overflow::drop_newest:
        return delivery::dropped;
      case overflow::close_policy:
      case overflow::close_busy:
        // The close frame goes right behind what is already being written.
        dropped_older = drop_waiting_published(0);
        if (log_.enabled(log_level::debug)) log_debug("write queue full for a published message: closing");
        fail(tether::error::too_slow,
             when_full == overflow::close_busy ? close_code::try_again_later : close_code::policy_violation, now);
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
    frame = writer_.make(data_opcode(kind), std::string(payload));
  } else {
    frame.op = data_opcode(kind);
    frame.framed = framed;
  }
  frame.published = droppable;
  queue_data(std::move(frame), now);
  return delivery::queued;
}

// ---------------------------------------------------------------- ending

void session::fail(tether::error why, close_code code, time_point now) {
  if (state_ == state::ended || state_ == state::failed) return;
  set_error(why);
  if (log_.enabled(log_level::debug))
    log_debug(std::string("failing: ") + make_error_code(why).message() + ", closing with " +
              std::to_string(static_cast<unsigned>(code)));
  bool const close_queued = state_ != state::open;
  enter(state::failed);
  if (!close_queued)
    queue_close(code, {}, now);
  else if (close_written_)
    after_close_frame_written();
}

void session::end(tether::error why, bool reset) {
  if (state_ == state::ended) return;
  set_error(why);
  enter(state::ended);
  actions_ |= reset ? end_transport | end_with_reset : end_transport;
  control_queue_.clear();
  data_queue_.clear();
  if (log_.enabled(log_level::debug)) log_debug(std::string("ended: ") + make_error_code(error_).message());
}

// ---------------------------------------------------------------- time

session::time_point session::deadline() const noexcept {
  if (state_ == state::ended) return time_point::max();
  auto const& o = options_;
  auto deadline = close_deadline_;
  if (state_ == state::open) {
    if (o.idle_timeout.count() > 0) deadline = std::min(deadline, last_received_ + o.idle_timeout);
    if (ping_outstanding_) {
      if (o.pong_timeout.count() > 0) deadline = std::min(deadline, ping_sent_ + o.pong_timeout);
    } else if (o.ping_interval.count() > 0) {
      deadline = std::min(deadline, last_received_ + o.ping_interval);
    }
    if (message_started_ != time_point::max() && o.message_timeout.count() > 0)
      deadline = std::min(deadline, message_started_ + o.message_timeout);
  }
  if (sending_ && o.send_timeout.count() > 0) deadline = std::min(deadline, last_sent_ + o.send_timeout);
  return deadline;
}

void session::timer_fired(time_point now) {
  if (state_ == state::ended) return;
  auto const& o = options_;
  actions_ |= rearm;
  if (now >= close_deadline_) {
    if (log_.enabled(log_level::debug)) log_debug("close handshake timed out");
    end(tether::error::close_timeout);
    return;
  }
  if (sending_ && o.send_timeout.count() > 0 && now >= last_sent_ + o.send_timeout) {
    // A close frame would wait behind the same unread bytes: reset instead,
    // which also frees what the kernel holds for this peer.
    if (log_.enabled(log_level::debug)) log_debug("nothing sent within send_timeout: resetting");
    end(tether::error::too_slow, true);
    return;
  }
  if (state_ != state::open) return;
  if (message_started_ != time_point::max() && o.message_timeout.count() > 0 &&
      now >= message_started_ + o.message_timeout) {
    fail(tether::error::message_timeout, close_code::policy_violation, now);
    return;
  }
  if (o.idle_timeout.count() > 0 && now >= last_received_ + o.idle_timeout) {
    fail(tether::error::idle_timeout, close_code::going_away, now);
    return;
  }
  if (ping_outstanding_ && o.pong_timeout.count() > 0 && now >= ping_sent_ + o.pong_timeout) {
    if (log_.enabled(log_level::debug)) log_debug("no pong within pong_timeout");
    end(tether::error::pong_timeout);
    return;
  }
  if (!ping_outstanding_ && o.ping_interval.count() > 0 && now >= last_received_ + o.ping_interval) {
    if (log_.enabled(log_level::debug)) log_debug("sending keep-alive ping");
    ping_outstanding_ = true;
    ping_sent_ = now;
    queue_control(writer_.make(opcode::ping, std::string()), now);
  }
}

}  // namespace tether::detail
