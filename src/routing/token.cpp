#include <tether/token.hpp>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <charconv>
#include <cstdint>
#include <stdexcept>

namespace tether {

url_token::url_token(std::string secret) : secret_(std::move(secret)) {
  if (secret_.size() < 16) throw std::invalid_argument("tether::url_token: the secret needs at least 16 bytes");
}

url_token url_token::with_random_secret() {
  std::string secret(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(secret.data()), static_cast<int>(secret.size())) != 1)
    throw std::runtime_error("tether: OpenSSL RAND_bytes failed");
  return url_token(std::move(secret));
}

std::string url_token::sign(std::string_view path, std::int64_t expiry) const {
  // The path and the expiry are separated by a byte no path contains, so no
  // two (path, expiry) pairs sign the same text.
  std::string text(path);
  text += '\n';
  text += std::to_string(expiry);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
       reinterpret_cast<unsigned char const*>(text.data()), text.size(), mac, &size);
  static constexpr char digits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * size);
  for (unsigned i = 0; i < size; ++i) {
    hex += digits[mac[i] >> 4];
    hex += digits[mac[i] & 0xF];
  }
  return hex;
}

std::string url_token::mint(std::string_view path, std::chrono::seconds lifetime,
                            std::chrono::system_clock::time_point now) const {
  // In seconds, saturated: nanosecond time points overflow for absurd lifetimes.
  std::int64_t expiry = 0;
  auto const start = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  if (__builtin_add_overflow(start, static_cast<std::int64_t>(lifetime.count()), &expiry))
    expiry = lifetime.count() > 0 ? INT64_MAX : INT64_MIN;
  return std::to_string(expiry) + "." + sign(path, expiry);
}

url_token::verdict url_token::verify(std::string_view token, std::string_view path,
                                     std::chrono::system_clock::time_point now) const {
  if (token.empty()) return verdict::missing;
  auto const dot = token.find('.');
  if (dot == std::string_view::npos) return verdict::malformed;
  std::int64_t expiry = 0;
  auto const [end, ec] = std::from_chars(token.data(), token.data() + dot, expiry);
  if (ec != std::errc{} || end != token.data() + dot) return verdict::malformed;
  if (token.substr(0, dot) != std::to_string(expiry)) return verdict::malformed;  // one spelling per token
  auto const expected = sign(path, expiry);
  auto const given = token.substr(dot + 1);
  if (given.size() != expected.size() || CRYPTO_memcmp(given.data(), expected.data(), expected.size()) != 0)
    return verdict::bad_signature;
  auto const seconds_now = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  return seconds_now < expiry ? verdict::valid : verdict::expired;
}

}  // namespace tether
