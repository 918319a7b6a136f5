#pragma once
// Payload strings are recycled per thread, in two tiers.
// - Large ones: an echo or a relay of big messages would otherwise allocate
//   and free tens of KiB per message, and glibc would hand the memory back
//   to the kernel and fault it in again every time (measured: page faults
//   were 12 % of a 64 KiB echo).
// - Small ones, by size class: a pipelined echo parses a batch of messages
//   and frees them a batch later, more at once than glibc's per-thread
//   cache holds, so each one went through malloc's slow path (measured: 8 %
//   of a 16-byte echo with 32 in flight).

#include <cstddef>
#include <string>

namespace tether::detail::payload_pool {

/// Strings of this capacity and up are the large tier.
inline constexpr std::size_t min_capacity = 16 * 1024;
/// Strings of up to this capacity are the small tier.
inline constexpr std::size_t max_small_capacity = 4 * 1024 - 1;

/// The smallest kept large string whose capacity lies in [at_least, at_most],
/// or else an empty one without storage. Always empty.
std::string take(std::size_t at_least, std::size_t at_most);

/// An empty string with room for `size` bytes (at most twice that), from
/// the small tier when it has one. For sizes above max_small_capacity it
/// is a new string of exactly that capacity.
std::string take_small(std::size_t size);

/// Keeps `payload` if a tier has room for it; frees it otherwise.
void give(std::string&& payload) noexcept;

}  // namespace tether::detail::payload_pool
