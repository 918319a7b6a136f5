// libFuzzer target: the frame codec in both roles, with and without
// permessage-deflate, fed in pieces whose size the first input byte
// chooses, as reads would bring them. Also: any bytes, compressed and
// framed, come back unchanged.
#include "input.hpp"
#include "codec/deflate.hpp"
#include "codec/frame_reader.hpp"
#include "codec/utf8.hpp"

#include <cstdint>
#include <string>

using fuzzing::check;

namespace {

void run(tether::detail::role role, std::string bytes, std::size_t piece, int inflate_bits = 0, bool reset = true) {
  using tether::detail::frame_reader;
  frame_reader reader(role, 1 << 16);
  if (inflate_bits != 0) reader.enable_inflate(inflate_bits, reset, 0);
  std::string pending;
  for (std::size_t at = 0; at < bytes.size(); at += piece) {
    pending += bytes.substr(at, piece);
    std::size_t used = 0;
    for (;;) {
      auto const step = reader.next({pending.data() + used, pending.size() - used});
      used += step.consumed;
      check(used <= pending.size());
      if (step.what == frame_reader::event::need_more) break;
      if (step.what == frame_reader::event::failed) return;
      if (step.what == frame_reader::event::message) {
        auto const msg = reader.take_message();
        check(msg.payload.size() <= (1u << 16));
        if (msg.is_text()) check(tether::detail::is_valid_utf8(msg.payload));
      }
      if (step.what == frame_reader::event::close) {
        tether::detail::close_payload payload;
        (void)tether::detail::parse_close_payload(reader.control_payload(), payload);
        return;
      }
      if (step.what == frame_reader::event::ping || step.what == frame_reader::event::pong)
        check(reader.control_payload().size() <= 125);
    }
    pending.erase(0, used);
    check(pending.size() < tether::detail::max_header_size);  // only a partial header is ever kept
  }
}

void round_trip(std::string const& plain, int bits, bool reset) {
  using namespace tether::detail;
  deflate_stream deflater(bits, 8, 6);
  inflate_stream inflater(bits);
  for (int i = 0; i < 2; ++i) {
    std::string packed, back;
    deflater.compress(plain, packed, reset);
    check(inflater.decompress(packed, plain.size(), 0, back, reset) == tether::error{});
    check(back == plain);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  if (size == 0) return 0;
  std::size_t const piece = 1 + data[0] % 64;
  int const bits = 9 + data[0] % 7;
  bool const reset = (data[0] & 0x80) != 0;
  std::string const bytes(reinterpret_cast<char const*>(data) + 1, size - 1);
  run(tether::detail::role::server, bytes, piece);
  run(tether::detail::role::client, bytes, piece);
  run(tether::detail::role::server, bytes, piece, bits, reset);
  run(tether::detail::role::client, bytes, piece, bits, reset);
  round_trip(bytes, bits, reset);
  return 0;
}
