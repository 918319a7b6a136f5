#include "codec/frame_writer.hpp"

#include <tether/close_code.hpp>

#include <algorithm>
#include <utility>

namespace tether::detail {

frame_writer::frame_writer(role local, send_compression compression) noexcept
    : role_(local), compression_(compression) {
  compression_.level = std::clamp<std::int8_t>(compression_.level, 1, 9);
  compression_.mem_level = std::clamp<std::int8_t>(compression_.mem_level, 1, 9);
}

outgoing_frame frame_writer::make(opcode op, std::string payload) {
  outgoing_frame frame;
  frame.op = op;
  auto const& c = compression_;
  // A peer that limits our window to 8 bits gets plain messages: zlib
  // cannot write with a 256-byte window, and RFC 7692 lets any message go
  // uncompressed.
  bool compress = compresses(op, payload.size());
  if (compress) {
    if (c.reset_each) {
      thread_deflater(c.window_bits, c.mem_level, c.level).compress(payload, frame.payload, true);
      // Incompressible data goes out as it is; without shared history the
      // peer's inflater never needs to see it.
      if (frame.payload.size() >= payload.size()) {
        compress = false;
        frame.payload = std::move(payload);
      }
    } else {
      if (!deflater_) deflater_ = std::make_unique<deflate_stream>(c.window_bits, c.mem_level, c.level);
      deflater_->compress(payload, frame.payload, false);
    }
  } else {
    frame.payload = std::move(payload);
  }
  std::uint64_t const size = frame.payload.size();
  if (role_ == role::client) {
    mask_key const key = random_mask_key();
    frame.header_size = static_cast<std::uint8_t>(encode_header(frame.header, true, op, size, &key, compress));
    apply_mask({frame.payload.data(), frame.payload.size()}, key, 0);
  } else {
    frame.header_size = static_cast<std::uint8_t>(encode_header(frame.header, true, op, size, nullptr, compress));
  }
  return frame;
}

void frame_writer::append_plain(std::string& out, opcode op, std::string_view payload) const {
  header_bytes header;
  if (role_ == role::client) {
    mask_key const key = random_mask_key();
    out.append(header.data(), encode_header(header, true, op, payload.size(), &key, false));
    std::size_t const at = out.size();
    out.append(payload);
    apply_mask({out.data() + at, payload.size()}, key, 0);
  } else {
    out.append(header.data(), encode_header(header, true, op, payload.size(), nullptr, false));
    out.append(payload);
  }
}

outgoing_frame frame_writer::make_close(std::uint16_t code, std::string_view reason) {
  std::string payload;
  if (code != static_cast<std::uint16_t>(close_code::no_status)) {
    payload.push_back(static_cast<char>(code >> 8));
    payload.push_back(static_cast<char>(code & 0xFF));
    payload.append(reason);
  }
  return make(opcode::close, std::move(payload));
}

}  // namespace tether::detail
