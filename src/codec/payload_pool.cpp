#include "codec/payload_pool.hpp"

#include <array>
#include <bit>
#include <utility>
#include <vector>

namespace tether::detail::payload_pool {

namespace {

// What a thread keeps at most of large strings: a few, 4 MiB in all.
constexpr std::size_t slots = 8;
constexpr std::size_t max_capacity = 2 * 1024 * 1024;
constexpr std::size_t max_total = 4 * 1024 * 1024;

// Small strings: classes of capacity 31, 63, ... 4095 (a power of two
// with the terminating zero), each a stack of at most 128 KiB of them. A
// pipelined echo's loop parses every ready connection's batch before it
// writes any (100 connections with 32 messages each: 3,200 strings), so
// the stacks are deep; a thread keeps at most 1 MiB of them, and only
// after such a burst.
constexpr std::size_t small_classes = 8;
constexpr std::size_t smallest_class_bytes = 32;
constexpr std::size_t bytes_per_class = 128 * 1024;
static_assert(smallest_class_bytes << (small_classes - 1) == max_small_capacity + 1);

struct pool {
  std::array<std::string, slots> kept;
  std::size_t count = 0;
  std::size_t total = 0;  // of the kept capacities
  std::array<std::vector<std::string>, small_classes> small;
};

pool& this_thread() {
  thread_local pool p;
  return p;
}

// The class whose strings all hold `size` bytes: the smallest power of two
// above it, from 32.
std::size_t class_for_size(std::size_t size) noexcept {
  std::size_t const bytes = std::bit_ceil(std::max(size + 1, smallest_class_bytes));
  return static_cast<std::size_t>(std::countr_zero(bytes) - std::countr_zero(smallest_class_bytes));
}

// The class a string of this capacity can serve: the largest power of two
// it holds with its terminating zero.
std::size_t class_for_capacity(std::size_t capacity) noexcept {
  std::size_t const bytes = std::bit_floor(capacity + 1);
  return static_cast<std::size_t>(std::countr_zero(bytes) - std::countr_zero(smallest_class_bytes));
}

}  // namespace

std::string take(std::size_t at_least, std::size_t at_most) {
  auto& p = this_thread();
  std::size_t best = p.count;
  for (std::size_t i = 0; i < p.count; ++i) {
    auto const c = p.kept[i].capacity();
    if (c >= at_least && c <= at_most && (best == p.count || c < p.kept[best].capacity())) best = i;
  }
  if (best == p.count) return {};
  std::string out = std::move(p.kept[best]);
  if (best != --p.count) p.kept[best] = std::move(p.kept[p.count]);
  p.total -= out.capacity();
  return out;
}

std::string take_small(std::size_t size) {
  std::string out;
  if (size > max_small_capacity) {
    out.reserve(size);
    return out;
  }
  auto const c = class_for_size(size);
  auto& stack = this_thread().small[c];
  if (!stack.empty()) {
    out = std::move(stack.back());
    stack.pop_back();
    return out;
  }
  out.reserve((smallest_class_bytes << c) - 1);
  return out;
}

void give(std::string&& payload) noexcept {
  auto const capacity = payload.capacity();
  auto& p = this_thread();
  if (capacity >= smallest_class_bytes - 1 && capacity <= 2 * max_small_capacity + 1) {
    // Capacities of the small tier's own making land in their class; a
    // string grown otherwise serves the class below its capacity.
    auto const c = std::min(class_for_capacity(capacity), small_classes - 1);
    auto& stack = p.small[c];
    if (stack.size() >= bytes_per_class / (smallest_class_bytes << c)) return;
    payload.clear();
    try {
      stack.push_back(std::move(payload));
    } catch (...) {
      // No memory for the slot: the string is freed instead.
    }
    return;
  }
  if (capacity < min_capacity || capacity > max_capacity) return;
  if (p.count == slots || p.total + capacity > max_total) return;
  payload.clear();
  p.total += capacity;
  p.kept[p.count++] = std::move(payload);
}

}  // namespace tether::detail::payload_pool
