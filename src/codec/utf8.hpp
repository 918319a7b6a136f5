#pragma once
// Incremental UTF-8 validation: bytes may arrive split at any position, and
// an invalid sequence is reported at the first byte that makes it invalid.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tether::detail {

class utf8_validator {
 public:
  /// False as soon as the bytes so far cannot start valid UTF-8.
  bool feed(std::string_view bytes) noexcept;
  /// True when no multi-byte character is left unfinished.
  bool complete() const noexcept { return pending_ == 0; }
  void reset() noexcept { pending_ = 0; }

 private:
  std::uint8_t pending_ = 0;  // continuation bytes still expected
  std::uint8_t low_ = 0x80;   // allowed range of the next continuation byte,
  std::uint8_t high_ = 0xBF;  // narrowed after E0, ED, F0 and F4
};

bool is_valid_utf8(std::string_view bytes) noexcept;

}  // namespace tether::detail
