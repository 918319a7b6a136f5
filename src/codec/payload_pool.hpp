#pragma once
// Large payload strings are recycled per thread. An echo or a relay of big
// messages would otherwise allocate and free tens of KiB per message, and
// glibc would hand the memory back to the kernel and fault it in again
// every time (measured: page faults were 12 % of a 64 KiB echo).

#include <cstddef>
#include <string>

namespace tether::detail::payload_pool {

/// Strings of this capacity and up are worth keeping.
inline constexpr std::size_t min_capacity = 16 * 1024;

/// The smallest kept string whose capacity lies in [at_least, at_most],
/// or else an empty one without storage. Always empty.
std::string take(std::size_t at_least, std::size_t at_most);

/// Keeps `payload` if it is large and the pool has room; frees it otherwise.
void give(std::string&& payload) noexcept;

}  // namespace tether::detail::payload_pool
