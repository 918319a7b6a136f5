#include "ws/handshake.hpp"


#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <array>
#include <stdexcept>

namespace tether::detail {

namespace {

constexpr std::string_view websocket_guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

std::string base64(unsigned char const* data, int size) {
  std::string out(static_cast<std::size_t>(4 * ((size + 2) / 3)), '\0');
  int const written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, size);
  out.resize(static_cast<std::size_t>(written));
  return out;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<upgrade_refusal> check_upgrade_request(std::string_view method, unsigned http_version,
                                                     std::string_view connection, std::string_view websocket_version,
                                                     std::string_view key) {
  if (method != "GET" || http_version < 11) return upgrade_refusal{400, "a WebSocket upgrade must be an HTTP/1.1 GET"};
  if (!has_token(connection, "upgrade")) return upgrade_refusal{400, "a WebSocket upgrade needs \"Connection: Upgrade\""};
  if (websocket_version != "13")
    return upgrade_refusal{400, "unsupported Sec-WebSocket-Version; this server speaks 13", true};
  if (!is_valid_client_key(key)) return upgrade_refusal{400, "missing or malformed Sec-WebSocket-Key"};
  return std::nullopt;
}

std::string accept_key(std::string_view client_key) {
  std::string input(client_key);
  input.append(websocket_guid);
  std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
  SHA1(reinterpret_cast<unsigned char const*>(input.data()), input.size(), digest.data());
  return base64(digest.data(), static_cast<int>(digest.size()));
}

std::string random_client_key() {
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1)
    throw std::runtime_error("tether: OpenSSL RAND_bytes failed");
  return base64(bytes.data(), static_cast<int>(bytes.size()));
}

bool is_valid_client_key(std::string_view key) noexcept {
  // 16 bytes are 22 base64 characters and "==".
  if (key.size() != 24 || key.substr(22) != "==") return false;
  for (char c : key.substr(0, 22)) {
    bool const ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '+' || c == '/';
    if (!ok) return false;
  }
  // The last character before "==" carries only 2 bits of data.
  return std::string_view("AQgw").find(key[21]) != std::string_view::npos;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::vector<std::string_view> split_tokens(std::string_view value) {
  std::vector<std::string_view> tokens;
  while (!value.empty()) {
    auto const comma = value.find(',');
    auto const token = trim(value.substr(0, comma));
    if (!token.empty()) tokens.push_back(token);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return tokens;
}

bool has_token(std::string_view value, std::string_view token) noexcept {
  for (auto const t : split_tokens(value))
    if (iequals(t, token)) return true;
  return false;
}

std::string choose_subprotocol(std::string_view offered, std::vector<std::string> const& supported) {
  auto const tokens = split_tokens(offered);
  for (auto const& mine : supported)
    for (auto const t : tokens)
      if (t == mine) return mine;  // subprotocol names are case-sensitive
  return {};
}

}  // namespace tether::detail
