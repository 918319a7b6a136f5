#include <tether/backoff.hpp>

#include <algorithm>

namespace tether {

std::chrono::milliseconds backoff::after(std::chrono::milliseconds delay) const noexcept {
  auto const grown = std::chrono::duration_cast<std::chrono::milliseconds>(delay * std::max(1.0, multiplier));
  return std::min(max_delay, std::max(grown, initial_delay));
}

std::chrono::milliseconds backoff::jittered(std::chrono::milliseconds delay, double unit) const noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(delay *
                                                               (1.0 - std::clamp(jitter, 0.0, 1.0) * unit));
}

bool backoff::valid() const noexcept {
  return initial_delay.count() > 0 && initial_delay <= max_delay && multiplier >= 1.0 && jitter >= 0.0 &&
         jitter <= 1.0;
}

}  // namespace tether
