#pragma once
// Outgoing frames: the sending half of the codec, beside frame_reader.
// Sans-io: a message in, a header and a payload (compressed and masked as
// the connection agreed) out.

#include "codec/deflate.hpp"
#include "codec/frame.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace tether::detail {

/// One frame waiting to be written: its header and payload, or a frame a
/// hub encoded once and shares between its subscribers.
struct outgoing_frame {
  header_bytes header;
  std::uint8_t header_size = 0;
  opcode op = opcode::text;
  bool published = false;  // from a hub: a full queue may drop it
  std::string payload;
  std::shared_ptr<std::string const> framed;  // instead: header and payload
  std::size_t run_payloads = 0;  // a run's: its frames' payload bytes
  /// Whether this is a run of small frames: no header of its own, whole
  /// frames in its payload (session::run_with_room).
  bool is_run() const noexcept { return header_size == 0 && !framed; }
  /// What counts against max_write_queue: payloads, as they leave.
  std::size_t queued_size() const noexcept {
    return framed ? framed->size() : is_run() ? run_payloads : payload.size();
  }
};

/// How this side compresses what it sends, as permessage-deflate agreed.
/// Small on purpose: every connection holds one.
struct send_compression {
  bool on = false;
  bool reset_each = false;       // no context takeover: every message starts afresh
  std::int8_t window_bits = 15;  // 8: the peer cannot take our compressed data, send plain
  std::int8_t mem_level = 8;     // 1..9
  std::int8_t level = 6;         // 1..9
  std::size_t threshold = 64;    // shorter messages go plain
};

class frame_writer {
 public:
  /// `compression` levels are clamped to zlib's 1..9.
  frame_writer(role local, send_compression compression) noexcept;

  /// Frames one whole message or control frame. Takes the payload by value:
  /// a message written with its own string (an echo moving what it read)
  /// goes out without a copy.
  outgoing_frame make(opcode op, std::string payload);

  /// Whether make() would compress a message of this size.
  bool compresses(opcode op, std::size_t size) const noexcept {
    auto const& c = compression_;
    return c.on && !is_control(op) && size >= c.threshold && c.window_bits >= 9;
  }

  /// Appends one frame, header and payload (masked as the role needs), to
  /// `out`: for a message compresses() leaves as it is.
  void append_plain(std::string& out, opcode op, std::string_view payload) const;

  /// A close frame: the code (none for no_status) and reason.
  outgoing_frame make_close(std::uint16_t code, std::string_view reason);

  send_compression const& compression() const noexcept { return compression_; }
  role local_role() const noexcept { return role_; }

 private:
  role role_;
  send_compression compression_;
  std::unique_ptr<deflate_stream> deflater_;  // with context takeover only
};

}  // namespace tether::detail
