#include "codec/payload_pool.hpp"

#include <array>
#include <utility>

namespace tether::detail::payload_pool {

namespace {

// What a thread keeps at most: a few strings, 4 MiB in all.
constexpr std::size_t slots = 8;
constexpr std::size_t max_capacity = 2 * 1024 * 1024;
constexpr std::size_t max_total = 4 * 1024 * 1024;

struct pool {
  std::array<std::string, slots> kept;
  std::size_t count = 0;
  std::size_t total = 0;  // of the kept capacities
};

pool& this_thread() {
  thread_local pool p;
  return p;
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

void give(std::string&& payload) noexcept {
  auto const capacity = payload.capacity();
  if (capacity < min_capacity || capacity > max_capacity) return;
  auto& p = this_thread();
  if (p.count == slots || p.total + capacity > max_total) return;
  payload.clear();
  p.total += capacity;
  p.kept[p.count++] = std::move(payload);
}

}  // namespace tether::detail::payload_pool
