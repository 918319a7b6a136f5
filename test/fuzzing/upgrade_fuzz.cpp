// libFuzzer target: the upgrade-request checks and header token parsing.
// Input lines: method, HTTP version digit, Connection, Sec-WebSocket-Version,
// Sec-WebSocket-Key, Sec-WebSocket-Protocol.
#include "input.hpp"
#include "handshake.hpp"

#include <cstdint>
#include <string>
#include <string_view>

using fuzzing::check;
using fuzzing::next_line;

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  using namespace tether::detail;
  std::string_view input(reinterpret_cast<char const*>(data), size);
  auto const method = next_line(input);
  auto const version = next_line(input);
  auto const connection = next_line(input);
  auto const websocket_version = next_line(input);
  auto const key = next_line(input);
  auto const offered = next_line(input);
  unsigned const http_version = version.empty() ? 11 : static_cast<unsigned>(version[0]);
  auto const refusal = check_upgrade_request(method, http_version, connection, websocket_version, key);
  if (!refusal) {
    check(is_valid_client_key(key));
    check(accept_key(key).size() == 28);
  } else {
    check(refusal->status == 400 && !refusal->reason.empty());
  }
  for (auto const token : split_tokens(offered)) check(!token.empty() && token.front() != ' ' && token.back() != ' ');
  auto const chosen = choose_subprotocol(offered, {"chat.v2", "chat.v1", ""});
  check(chosen.empty() || chosen == "chat.v2" || chosen == "chat.v1");
  return 0;
}
