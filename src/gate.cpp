#include "gate.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>

#include <arpa/inet.h>
#include <netinet/in.h>

namespace tether::detail {

namespace {

// IPv6 addresses count per /64: one host usually has a whole /64 to pick
// fresh addresses from. IPv4 (also IPv4-mapped) counts per address.
std::string address_key(std::string const& address) {
  in6_addr v6{};
  if (address.find(':') == std::string::npos || ::inet_pton(AF_INET6, address.c_str(), &v6) != 1 ||
      IN6_IS_ADDR_V4MAPPED(&v6))
    return address;
  std::fill(std::begin(v6.s6_addr) + 8, std::end(v6.s6_addr), std::uint8_t{0});
  char text[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET6, &v6, text, sizeof text);
  return std::string(text) + "/64";
}

}  // namespace

gate::gate(server_options const& options)
    : filter_(options.accept_filter),
      max_total_(options.max_connections),
      max_per_address_(options.max_connections_per_ip),
      rate_(options.new_connections_per_second_per_ip),
      burst_(std::max(1.0, options.new_connection_burst_per_ip)) {}

admission gate::admit(endpoint const& remote, clock::time_point now) {
  if (filter_) {
    // A filter that throws refuses the connection; it must not stop accepting.
    bool admitted = false;
    try {
      admitted = filter_(remote);
    } catch (...) {
    }
    if (!admitted) return {admission::verdict::filtered};
  }
  std::lock_guard lock(mutex_);
  if (remote.address.empty()) {
    // A Unix-socket peer has no address: often a proxy speaking for many
    // clients, so only the total limit applies.
    if (open_ >= max_total_) return {admission::verdict::over_capacity, std::chrono::seconds(1)};
    ++open_;
    return {};
  }
  auto const key = address_key(remote.address);
  std::chrono::seconds retry_after{0};
  if (rate_ > 0 && !take_token(key, now, retry_after)) return {admission::verdict::rate_limited, retry_after};
  auto& mine = open_per_address_[key];
  if (open_ >= max_total_ || mine >= max_per_address_) {
    if (mine == 0) open_per_address_.erase(key);
    return {admission::verdict::over_capacity, std::chrono::seconds(1)};
  }
  ++open_;
  ++mine;
  return {};
}

void gate::leave(std::string const& address) {
  auto const key = address_key(address);
  std::lock_guard lock(mutex_);
  --open_;
  if (address.empty()) return;
  auto it = open_per_address_.find(key);
  if (it != open_per_address_.end() && --it->second == 0) open_per_address_.erase(it);
}

bool gate::take_token(std::string const& address, clock::time_point now, std::chrono::seconds& retry_after) {
  if (buckets_.size() > 65536 && now - last_sweep_ >= std::chrono::seconds(1)) {
    // Many addresses came and went: forget those whose bucket is full again,
    // at most once a second, and everything if that is not enough.
    last_sweep_ = now;
    std::erase_if(buckets_, [&](auto const& entry) {
      return entry.second.tokens + rate_ * std::chrono::duration<double>(now - entry.second.refilled).count() >= burst_;
    });
    if (buckets_.size() > 131072) buckets_.clear();
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
