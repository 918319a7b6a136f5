#include "codec/frame_reader.hpp"

#include "codec/payload_pool.hpp"

#include <algorithm>
#include <cstring>

namespace tether::detail {

namespace {

bool known_opcode(std::uint8_t op) noexcept {
  return op <= 0x2 || (op >= 0x8 && op <= 0xA);
}

}  // namespace

frame_reader::step frame_reader::fail(tether::error why, std::size_t consumed) noexcept {
  state_ = state::failed;
  failure_ = why;
  return {event::failed, consumed};
}

close_code frame_reader::failure_close_code() const noexcept {
  switch (failure_) {
    case tether::error::invalid_utf8: return close_code::invalid_payload;
    case tether::error::message_too_big: return close_code::message_too_big;
    default: return close_code::protocol_error;
  }
}

// Returns false when the header is complete but breaks a rule (state_ is
// then failed); header_size stays 0 while more bytes are needed.
bool frame_reader::parse_header(std::span<char const> in, std::size_t& header_size) {
  header_size = 0;
  if (in.size() < 2) return true;
  auto const b0 = static_cast<std::uint8_t>(in[0]);
  auto const b1 = static_cast<std::uint8_t>(in[1]);
  std::size_t const length_bytes = (b1 & 0x7F) == 126 ? 2 : (b1 & 0x7F) == 127 ? 8 : 0;
  bool const masked = (b1 & 0x80) != 0;
  std::size_t const size = 2 + length_bytes + (masked ? 4 : 0);
  if (in.size() < size) return true;

  bool const fin = (b0 & 0x80) != 0;
  std::uint8_t const raw_opcode = b0 & 0x0F;
  if ((b0 & 0x30) != 0 || !known_opcode(raw_opcode)) return false;
  auto const op = static_cast<opcode>(raw_opcode);
  // RSV1 marks a compressed message, on its first frame only (RFC 7692 6).
  bool const rsv1 = (b0 & 0x40) != 0;
  if (rsv1 && (!inflate_ || is_control(op) || op == opcode::continuation)) return false;
  // Clients mask, servers do not (RFC 6455 5.1).
  if (masked != (role_ == role::server)) return false;

  std::uint64_t length = b1 & 0x7F;
  if (length_bytes != 0) {
    length = 0;
    for (std::size_t i = 0; i < length_bytes; ++i)
      length = (length << 8) | static_cast<std::uint8_t>(in[2 + i]);
    if (length_bytes == 8 && (length >> 63) != 0) return false;
  }

  if (is_control(op)) {
    if (!fin || length > max_control_payload) return false;
  } else if (op == opcode::continuation) {
    if (!in_message_) return false;
  } else if (in_message_) {
    return false;  // a new message inside a fragmented one
  }

  if (!is_control(op)) {
    if (length > max_message_size_ - std::min(max_message_size_, message_.payload.size())) {
      failure_ = tether::error::message_too_big;
      state_ = state::failed;
      return false;
    }
  }

  if (!is_control(op) && op != opcode::continuation) message_compressed_ = rsv1;
  frame_fin_ = fin;
  frame_opcode_ = op;
  frame_masked_ = masked;
  if (masked)
    std::memcpy(frame_mask_.data(), in.data() + 2 + length_bytes, 4);
  else
    frame_mask_ = {};  // unmask_into() then copies as it is
  frame_remaining_ = length;
  frame_offset_ = 0;
  header_size = size;
  return true;
}

frame_reader::step frame_reader::next(std::span<char const> input) {
  std::size_t pos = 0;
  for (;;) {
    if (state_ == state::failed) return {event::failed, pos};
    if (state_ == state::header) {
      std::size_t header_size = 0;
      if (!parse_header(input.subspan(pos), header_size)) {
        return fail(state_ == state::failed ? failure_ : tether::error::protocol_error, pos);
      }
      if (header_size == 0) return {event::need_more, pos};
      pos += header_size;
      state_ = state::payload;
      if (is_control(frame_opcode_)) {
        control_.clear();
      } else if (frame_opcode_ != opcode::continuation) {
        in_message_ = true;
        message_.kind =
            frame_opcode_ == opcode::text ? message_kind::text : message_kind::binary;
        message_.payload.clear();
        utf8_.reset();
      }
    }

    auto const available = input.size() - pos;
    auto const n = static_cast<std::size_t>(std::min<std::uint64_t>(frame_remaining_, available));
    if (n > 0) {
      char const* from = input.data() + pos;
      if (is_control(frame_opcode_)) {
        std::size_t const old = control_.size();
        control_.resize(old + n);
        unmask_into(control_.data() + old, from, n, frame_mask_, frame_offset_);
      } else if (!append_payload(from, n)) {
        return fail(tether::error::invalid_utf8, pos + n);
      }
      pos += n;
      frame_remaining_ -= n;
      frame_offset_ += n;
    }
    if (frame_remaining_ > 0) return {event::need_more, pos};

    state_ = state::header;
    switch (frame_opcode_) {
      case opcode::ping: return {event::ping, pos};
      case opcode::pong: return {event::pong, pos};
      case opcode::close: return {event::close, pos};
      default: break;
    }
    if (frame_fin_) {
      if (message_compressed_) {
        if (auto const bad = inflate_message(); bad != tether::error{}) return fail(bad, pos);
        if (message_.kind == message_kind::text && !is_valid_utf8(message_.payload))
          return fail(tether::error::invalid_utf8, pos);
      } else if (message_.kind == message_kind::text && !utf8_.complete()) {
        return fail(tether::error::invalid_utf8, pos);
      }
      in_message_ = false;
      return {event::message, pos};
    }
  }
}

void frame_reader::enable_inflate(int window_bits, bool reset_each, std::size_t max_ratio) {
  inflate_ = true;
  // A raw inflater cannot be made with 8 bits; a larger window reads
  // anything a smaller one wrote.
  inflate_window_bits_ = std::clamp(window_bits, 9, 15);
  inflate_reset_each_ = reset_each;
  max_ratio_ = max_ratio;
}

tether::error frame_reader::inflate_message() {
  inflate_stream* stream = nullptr;
  if (inflate_reset_each_) {
    stream = &thread_inflater(inflate_window_bits_);
  } else {
    if (!own_inflater_) own_inflater_ = std::make_unique<inflate_stream>(inflate_window_bits_);
    stream = own_inflater_.get();
  }
  std::string plain;
  auto const bad = stream->decompress(message_.payload, max_message_size_, max_ratio_, plain, inflate_reset_each_);
  inflated_total_ += plain.size();
  if (bad != tether::error{}) return bad;
  payload_pool::give(std::move(message_.payload));
  message_.payload = std::move(plain);
  return {};
}

// The payload is unmasked straight from the read into the message, and
// text that is ASCII alone is validated on the way: one pass over the
// bytes instead of unmasking, validating and copying in three. False:
// invalid UTF-8.
bool frame_reader::append_payload(char const* from, std::size_t size) {
  grow(size);
  auto& payload = message_.payload;
  bool const check = message_.kind == message_kind::text && !message_compressed_;  // compressed: once inflated
  // resize() writes zeros first; in blocks, they are still in the first-level
  // cache when overwritten.
  constexpr std::size_t block = 8 * 1024;
  for (std::size_t done = 0; done < size;) {
    std::size_t const step = std::min(block, size - done);
    std::size_t const old = payload.size();
    payload.resize(old + step);
    char* to = payload.data() + old;
    bool const ascii = unmask_into(to, from + done, step, frame_mask_, frame_offset_ + done);
    if (check && !(ascii && utf8_.complete()) && !utf8_.feed({to, step})) return false;
    done += step;
  }
  return true;
}

// Room for `more` bytes of the current frame. The capacity is at most
// twice what will then be present (std::string's own growth): a peer must
// not make us allocate memory for bytes it never sends, so a header's
// promise buys nothing. Within that, no more than the frame has left to
// bring, so that a large message that arrives in a few reads grows a few
// times (a 64 KiB one arriving whole gets exactly its size), and a kept
// string saves the allocation and its page faults.
void frame_reader::grow(std::size_t more) {
  auto& payload = message_.payload;
  std::size_t const needed = payload.size() + more;
  if (needed <= payload.capacity()) return;
  std::size_t const target = static_cast<std::size_t>(
      std::max<std::uint64_t>(needed, std::min<std::uint64_t>(2 * needed, payload.size() + frame_remaining_)));
  if (payload.empty() && target <= payload_pool::max_small_capacity) {
    payload = payload_pool::take_small(target);
    return;
  }
  if (needed >= payload_pool::min_capacity) {
    std::string kept = payload_pool::take(target, 2 * needed);
    if (kept.capacity() < needed) kept = payload_pool::take(needed, 2 * needed);
    if (kept.capacity() >= needed) {
      kept.append(payload);
      payload_pool::give(std::move(payload));
      payload = std::move(kept);
      return;
    }
  }
  payload.reserve(target);
}

message frame_reader::take_message() noexcept {
  message out = std::move(message_);
  message_ = {};
  return out;
}

tether::error parse_close_payload(std::string_view payload, close_payload& out) noexcept {
  out = {};
  if (payload.empty()) return {};
  if (payload.size() == 1) return tether::error::protocol_error;
  out.code = static_cast<std::uint16_t>((static_cast<std::uint8_t>(payload[0]) << 8) |
                                        static_cast<std::uint8_t>(payload[1]));
  if (!is_valid_on_wire(out.code)) return tether::error::protocol_error;
  out.reason = payload.substr(2);
  if (!is_valid_utf8(out.reason)) return tether::error::invalid_utf8;
  return {};
}

}  // namespace tether::detail
