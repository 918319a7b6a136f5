#include "codec/frame.hpp"

#include <openssl/rand.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <span>
#include <thread>

namespace tether::detail {

std::size_t encode_header(header_bytes& out, bool fin, opcode op, std::uint64_t payload_size,
                          mask_key const* mask, bool compressed) noexcept {
  out[0] = static_cast<char>((fin ? 0x80 : 0x00) | (compressed ? 0x40 : 0x00) | static_cast<std::uint8_t>(op));
  std::uint8_t const mask_bit = mask ? 0x80 : 0x00;
  std::size_t size = 2;
  if (payload_size < 126) {
    out[1] = static_cast<char>(mask_bit | payload_size);
  } else if (payload_size <= 0xFFFF) {
    out[1] = static_cast<char>(mask_bit | 126);
    out[2] = static_cast<char>(payload_size >> 8);
    out[3] = static_cast<char>(payload_size);
    size = 4;
  } else {
    out[1] = static_cast<char>(mask_bit | 127);
    for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<char>(payload_size >> (56 - 8 * i));
    size = 10;
  }
  if (mask) {
    std::memcpy(out.data() + size, mask->data(), 4);
    size += 4;
  }
  return size;
}

void apply_mask(std::span<char> data, mask_key const& mask, std::uint64_t offset) noexcept {
  // In place: unmask_into() reads each block before it writes it back.
  unmask_into(data.data(), data.data(), data.size(), mask, offset);
}

bool unmask_into(char* to, char const* from, std::size_t size, mask_key const& mask, std::uint64_t offset) noexcept {
  std::uint8_t key[8];
  for (int i = 0; i < 8; ++i) key[i] = mask[(offset + i) % 4];
  std::uint64_t wide;
  std::memcpy(&wide, key, 8);
  // Two 16-byte vectors per step (GCC and Clang vector types: SSE2 on
  // x86-64, NEON on ARM). Whole vectors in and out: an array of words
  // here makes the compiler store words and reload them as a vector, which
  // stalls on every step (measured: 26 % of a 64 KiB echo).
  using vector = std::uint64_t __attribute__((vector_size(16)));
  vector const key_vector = {wide, wide};
  vector seen = {0, 0};
  for (; size >= 32; size -= 32, from += 32, to += 32) {
    vector a, b;
    std::memcpy(&a, from, 16);
    std::memcpy(&b, from + 16, 16);
    a ^= key_vector;
    b ^= key_vector;
    seen |= a | b;
    std::memcpy(to, &a, 16);
    std::memcpy(to + 16, &b, 16);
  }
  std::uint64_t rest = seen[0] | seen[1];
  for (; size >= 8; size -= 8, from += 8, to += 8) {
    std::uint64_t word;
    std::memcpy(&word, from, 8);
    word ^= wide;
    rest |= word;
    std::memcpy(to, &word, 8);
  }
  for (std::size_t i = 0; i < size; ++i) {
    auto const byte = static_cast<std::uint8_t>(static_cast<std::uint8_t>(from[i]) ^ key[i]);
    rest |= byte;
    to[i] = static_cast<char>(byte);
  }
  return (rest & 0x8080808080808080ull) == 0;
}

namespace {

// Only when OpenSSL's generator fails: unpredictable enough to keep a
// proxy from reading our frames as its own protocol, which is all that
// masking is for (RFC 6455 10.3), and it cannot fail.
void fill_without_openssl(std::span<unsigned char> out) noexcept {
  thread_local std::mt19937_64 generator = [] {
    std::uint64_t seed = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    seed ^= reinterpret_cast<std::uintptr_t>(&seed);
    seed ^= static_cast<std::uint64_t>(std::hash<std::thread::id>{}(std::this_thread::get_id())) << 1;
    return std::mt19937_64(seed);
  }();
  for (auto& byte : out) byte = static_cast<unsigned char>(generator());
}

}  // namespace

// Never throws: it runs on the watchdog's path (a client's keep-alive
// ping), where an exception would end the whole event loop.
mask_key random_mask_key() noexcept {
  // One RAND_bytes call per 1024 keys keeps masking cheap for small messages.
  constexpr std::size_t batch = 1024;
  thread_local std::array<mask_key, batch> pool;
  thread_local std::size_t next = batch;
  if (next == batch) {
    auto* bytes = reinterpret_cast<unsigned char*>(pool.data());
    if (RAND_bytes(bytes, sizeof pool) != 1) fill_without_openssl({bytes, sizeof pool});
    next = 0;
  }
  return pool[next++];
}

}  // namespace tether::detail
