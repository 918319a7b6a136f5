#include "gate.hpp"

#include <algorithm>
#include <cmath>

namespace tether::detail {

gate::gate(server_options const& options)
    : filter_(options.accept_filter),
      max_total_(options.max_connections),
      max_per_address_(options.max_connections_per_ip),
      rate_(options.new_connections_per_second_per_ip),
      burst_(std::max(1.0, options.new_connection_burst_per_ip)) {}

admission gate::admit(endpoint const& remote, clock::time_point now) {
  if (filter_ && !filter_(remote)) return {admission::verdict::filtered};
  std::lock_guard lock(mutex_);
  std::chrono::seconds retry_after{0};
  if (rate_ > 0 && !take_token(remote.address, now, retry_after))
    return {admission::verdict::rate_limited, retry_after};
  auto& mine = open_per_address_[remote.address];
  if (open_ >= max_total_ || mine >= max_per_address_) {
    if (mine == 0) open_per_address_.erase(remote.address);
    return {admission::verdict::over_capacity, std::chrono::seconds(1)};
  }
  ++open_;
  ++mine;
  return {};
}

void gate::leave(std::string const& address) {
  std::lock_guard lock(mutex_);
  --open_;
  auto it = open_per_address_.find(address);
  if (it != open_per_address_.end() && --it->second == 0) open_per_address_.erase(it);
}

bool gate::take_token(std::string const& address, clock::time_point now, std::chrono::seconds& retry_after) {
  if (buckets_.size() > 65536) {
    // Many addresses came and went: forget those whose bucket is full again.
    std::erase_if(buckets_, [&](auto const& entry) {
      return entry.second.tokens + rate_ * std::chrono::duration<double>(now - entry.second.refilled).count() >= burst_;
    });
  }
  auto [it, fresh] = buckets_.try_emplace(address, bucket{burst_, now});
  auto& b = it->second;
  if (!fresh) {
    b.tokens = std::min(burst_, b.tokens + rate_ * std::chrono::duration<double>(now - b.refilled).count());
    b.refilled = now;
  }
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return true;
  }
  retry_after = std::chrono::seconds(static_cast<long>(std::ceil((1 - b.tokens) / rate_)));
  return false;
}

}  // namespace tether::detail
