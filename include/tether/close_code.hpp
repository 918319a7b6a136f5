#pragma once
// WebSocket close status codes (RFC 6455 section 7.4) and the rules for them.

#include <cstdint>

namespace tether {

enum class close_code : std::uint16_t {
  normal = 1000,
  going_away = 1001,
  protocol_error = 1002,
  unsupported_data = 1003,
  no_status = 1005,   ///< never sent: stands for "the close frame had no code"
  abnormal = 1006,    ///< never sent: stands for "no close frame at all"
  invalid_payload = 1007,
  policy_violation = 1008,
  message_too_big = 1009,
  mandatory_extension = 1010,
  internal_error = 1011,
  service_restart = 1012,
  try_again_later = 1013,
  bad_gateway = 1014,
};

/// True for codes that may appear in a close frame on the wire: the
/// registered ones (1000-1003, 1007-1014) and the application ranges
/// 3000-4999. 1004, 1005, 1006 and 1015 are reserved and never sent.
constexpr bool is_valid_on_wire(std::uint16_t code) noexcept {
  if (code >= 3000 && code <= 4999) return true;
  if (code >= 1000 && code <= 1003) return true;
  return code >= 1007 && code <= 1014;
}

}  // namespace tether
