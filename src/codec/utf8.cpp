#include "codec/utf8.hpp"

#include <cstring>

namespace tether::detail {

namespace {

constexpr std::uint64_t high_bits = 0x8080808080808080ull;

bool all_ascii(char const* p) noexcept {
  std::uint64_t word;
  std::memcpy(&word, p, sizeof word);
  return (word & high_bits) == 0;
}

// Four words at once: loads only, no dependency between them. A payload
// written as text is checked whole, so this is the speed of every large
// text write.
// (Four variables, not an array: GCC 12 copies an array through the stack
// and reloads it, which stalls every step.)
bool all_ascii_32(char const* p) noexcept {
  std::uint64_t a, b, c, d;
  std::memcpy(&a, p, 8);
  std::memcpy(&b, p + 8, 8);
  std::memcpy(&c, p + 16, 8);
  std::memcpy(&d, p + 24, 8);
  return ((a | b | c | d) & high_bits) == 0;
}

}  // namespace

bool utf8_validator::feed(std::string_view bytes) noexcept {
  char const* p = bytes.data();
  char const* const end = p + bytes.size();
  while (p != end) {
    if (pending_ == 0) {
      while (end - p >= 32 && all_ascii_32(p)) p += 32;
      while (end - p >= 8 && all_ascii(p)) p += 8;
      if (p == end) break;
      auto const lead = static_cast<std::uint8_t>(*p++);
      if (lead < 0x80) continue;
      low_ = 0x80;
      high_ = 0xBF;
      if (lead >= 0xC2 && lead <= 0xDF) {
        pending_ = 1;
      } else if (lead >= 0xE0 && lead <= 0xEF) {
        pending_ = 2;
        if (lead == 0xE0) low_ = 0xA0;   // overlong
        if (lead == 0xED) high_ = 0x9F;  // surrogates
      } else if (lead >= 0xF0 && lead <= 0xF4) {
        pending_ = 3;
        if (lead == 0xF0) low_ = 0x90;   // overlong
        if (lead == 0xF4) high_ = 0x8F;  // above U+10FFFF
      } else {
        return false;
      }
      continue;
    }
    auto const next = static_cast<std::uint8_t>(*p++);
    if (next < low_ || next > high_) return false;
    low_ = 0x80;
    high_ = 0xBF;
    --pending_;
  }
  return true;
}

bool is_valid_utf8(std::string_view bytes) noexcept {
  utf8_validator v;
  return v.feed(bytes) && v.complete();
}

}  // namespace tether::detail
