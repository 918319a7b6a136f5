#pragma once
// A complete WebSocket data message, as read or written.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace tether {

enum class message_kind : std::uint8_t { text, binary };

// Not an aggregate on purpose: g++ 12 mishandles aggregate temporaries in a
// co_await expression, which would break `co_await ws.write(message{...})`.
struct message {
  message() = default;
  message(message_kind k, std::string p) : kind(k), payload(std::move(p)) {}

  message_kind kind = message_kind::text;
  std::string payload;  ///< text messages are valid UTF-8; binary, any bytes

  bool is_text() const noexcept { return kind == message_kind::text; }
  std::string_view view() const noexcept { return payload; }
};

}  // namespace tether
