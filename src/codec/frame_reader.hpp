#pragma once
// The receiving half of the sans-io codec: bytes in, events out. It never
// touches a socket; the connection feeds it whatever a read brought.

#include "codec/deflate.hpp"
#include "codec/frame.hpp"
#include "codec/utf8.hpp"

#include <tether/close_code.hpp>
#include <tether/error.hpp>
#include <tether/message.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace tether::detail {

class frame_reader {
 public:
  enum class event : std::uint8_t { need_more, message, ping, pong, close, failed };

  struct step {
    event what;
    std::size_t consumed;  // bytes of the input used up, events included
  };

  frame_reader(role local_role, std::size_t max_message_size) noexcept
      : role_(local_role), max_message_size_(max_message_size) {}

  /// Accepts RSV1 (permessage-deflate) on data messages from now on.
  /// `window_bits` is the peer's compression window; `reset_each` says the
  /// peer compresses each message afresh (no context takeover), so a
  /// stream shared per thread serves; otherwise the reader owns one.
  void enable_inflate(int window_bits, bool reset_each, std::size_t max_ratio);

  /// Consumes bytes until one event completes or the input runs out.
  /// The input is left as it was (payloads are unmasked as they are
  /// copied out). Only an incomplete frame header
  /// (under 14 bytes) is ever left unconsumed; the caller keeps it and
  /// passes it again in front of the next bytes.
  step next(std::span<char const> input);

  /// After event::message.
  message take_message() noexcept;
  /// After ping, pong or close: the control frame's payload.
  std::string_view control_payload() const noexcept { return control_; }
  /// After event::failed: what went wrong and the close code to send.
  tether::error failure() const noexcept { return failure_; }
  close_code failure_close_code() const noexcept;

  /// Inside a frame, or between the frames of a fragmented message: the
  /// peer owes us more bytes.
  bool mid_message() const noexcept { return state_ == state::payload || in_message_; }
  /// Payload bytes of the current frame not yet consumed; zero between frames.
  std::uint64_t frame_remaining() const noexcept { return state_ == state::payload ? frame_remaining_ : 0; }
  /// Bytes produced by inflating messages so far: the CPU a peer spent of ours.
  std::size_t inflated_total() const noexcept { return inflated_total_; }

 private:
  step fail(tether::error why, std::size_t consumed) noexcept;
  tether::error inflate_message();
  bool append_payload(char const* from, std::size_t size);
  void grow(std::size_t more);
  bool parse_header(std::span<char const> input, std::size_t& header_size);

  role role_;
  std::size_t max_message_size_;

  enum class state : std::uint8_t { header, payload, failed } state_ = state::header;
  opcode frame_opcode_ = opcode::continuation;
  bool frame_fin_ = false;
  bool frame_masked_ = false;
  mask_key frame_mask_{};
  std::uint64_t frame_remaining_ = 0;
  std::uint64_t frame_offset_ = 0;

  bool in_message_ = false;  // a fragmented data message has started
  bool message_compressed_ = false;
  bool inflate_ = false;
  bool inflate_reset_each_ = false;
  int inflate_window_bits_ = 15;
  std::size_t max_ratio_ = 0;
  std::unique_ptr<inflate_stream> own_inflater_;  // with context takeover only
  std::size_t inflated_total_ = 0;
  message message_;
  utf8_validator utf8_;
  std::string control_;
  tether::error failure_ = tether::error::protocol_error;
};

/// The content of a close frame, checked against RFC 6455 section 7.4.
struct close_payload {
  std::uint16_t code = static_cast<std::uint16_t>(close_code::no_status);
  std::string_view reason;
};

/// Returns error{} (zero) for a valid payload, error::protocol_error for a 1-byte payload or a code that may not be
/// sent; error::invalid_utf8 for a reason that is not UTF-8.
tether::error parse_close_payload(std::string_view payload, close_payload& out) noexcept;

}  // namespace tether::detail
