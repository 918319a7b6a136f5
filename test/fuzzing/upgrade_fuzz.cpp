// libFuzzer target: the upgrade-request checks and header token parsing.
// Input lines: method, HTTP version digit, Connection, Sec-WebSocket-Version,
// Sec-WebSocket-Key, Sec-WebSocket-Protocol, Sec-WebSocket-Extensions (read
// as an offer by the server and as an answer by the client), a proxy URL
// (also read as a ws:// URL).
#include "ws/extensions.hpp"
#include "ws/handshake.hpp"
#include "input.hpp"
#include "client/proxy.hpp"
#include "client/ws_url.hpp"

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
  auto const extensions = next_line(input);
  auto const proxy_url = next_line(input);
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

  for (bool takeover : {false, true}) {
    tether::compression_options ours;
    ours.enabled = true;
    ours.context_takeover = takeover;
    ours.window_bits = 9 + static_cast<int>(size % 7);
    deflate_agreement agreed;
    auto const answer = answer_deflate_offer(extensions, ours, agreed);
    check(answer.empty() != agreed.on);
    if (agreed.on) {
      check(agreed.send_window_bits >= 8 && agreed.send_window_bits <= ours.window_bits);
      check(agreed.receive_window_bits >= 8 && agreed.receive_window_bits <= 15);
      // Our own answer must satisfy a client that made the same offer.
      deflate_agreement client_side;
      std::string why;
      (void)accept_deflate_answer(answer, ours, client_side, why);
    }
    std::string why;
    if (!accept_deflate_answer(extensions, ours, agreed, why)) check(!why.empty());
  }
  if (auto const proxy = parse_proxy_url(proxy_url)) check(!proxy->host.empty() && !proxy->port.empty());
  tether::error code{};
  std::string why;
  if (auto const url = parse_ws_url(proxy_url, code, why))
    check(!url->host_header.empty() && !url->port.empty() && url->target.front() == '/');
  else
    check((code == tether::error::bad_url || code == tether::error::unsupported_scheme) && !why.empty());
  (void)no_proxy_covers(proxy_url, extensions);
  return 0;
}
