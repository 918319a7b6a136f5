#pragma once
// The RFC 6455 frame format: opcodes, header encoding, masking.

#include <tether/message.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace tether::detail {

enum class opcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

constexpr bool is_control(opcode op) noexcept { return static_cast<std::uint8_t>(op) >= 0x8; }

/// The opcode that starts a data message of this kind.
constexpr opcode data_opcode(message_kind kind) noexcept {
  return kind == message_kind::text ? opcode::text : opcode::binary;
}

enum class role : std::uint8_t { server, client };

constexpr std::size_t max_header_size = 14;
constexpr std::size_t max_control_payload = 125;

using mask_key = std::array<std::uint8_t, 4>;
using header_bytes = std::array<char, max_header_size>;

/// Writes a header with the shortest length encoding; returns its size.
/// `compressed` sets RSV1, which permessage-deflate uses on a message's
/// first frame.
std::size_t encode_header(header_bytes& out, bool fin, opcode op, std::uint64_t payload_size,
                          mask_key const* mask, bool compressed = false) noexcept;

/// XORs `data` with the mask, `offset` bytes into the masked payload, so a
/// payload may be unmasked in pieces.
void apply_mask(std::span<char> data, mask_key const& mask, std::uint64_t offset) noexcept;

/// Copies `size` bytes from `from` to `to`, XORed with the mask as
/// apply_mask() would (a zero mask copies them as they are): the one pass a
/// received payload needs. Returns true when every byte written is ASCII,
/// so that text of ASCII alone needs no second pass to validate.
bool unmask_into(char* to, char const* from, std::size_t size, mask_key const& mask, std::uint64_t offset) noexcept;

/// A fresh masking key from OpenSSL's CSPRNG, drawn in batches. Never
/// throws: should OpenSSL fail, keys come from a generator seeded per thread.
mask_key random_mask_key() noexcept;

}  // namespace tether::detail
