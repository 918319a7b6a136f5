#pragma once
// How a client waits between attempts to connect again: keep_connected()
// and redis_bridge use the same rule.

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace tether {

struct backoff {
  /// The first wait; each wait after it is `multiplier` times longer, up
  /// to max_delay. A connection that stayed open for max_delay or longer
  /// starts over from here.
  std::chrono::milliseconds initial_delay = std::chrono::milliseconds(250);
  std::chrono::milliseconds max_delay = std::chrono::seconds(30);
  double multiplier = 2.0;
  /// Each wait is shortened by a random part of up to this fraction
  /// (0..1), so that many clients cut off together do not come back
  /// together.
  double jitter = 0.5;
  /// Failed attempts in a row before giving up; 0: never give up.
  std::size_t max_attempts = 0;

  /// The wait that follows `delay`.
  std::chrono::milliseconds after(std::chrono::milliseconds delay) const noexcept;
  /// `delay` shortened by jitter; `unit` is a random number in [0, 1).
  std::chrono::milliseconds jittered(std::chrono::milliseconds delay, double unit) const noexcept;
  /// Whether the values make sense (positive delays, initial <= max,
  /// multiplier >= 1, jitter within 0..1).
  bool valid() const noexcept;
};

}  // namespace tether
