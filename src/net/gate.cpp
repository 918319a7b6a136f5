#include "net/gate.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <optional>
#include <stdexcept>
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
  if (address.find(':') == std::string::npos || ::inet_pton(AF_INET6, address.c_str(), &v6) != 1) return address;
  if (IN6_IS_ADDR_V4MAPPED(&v6)) {
    // A dual-stack listener's "::ffff:a.b.c.d" and a forwarded "a.b.c.d"
    // are one client.
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, v6.s6_addr + 12, text, sizeof text);
    return text;
  }
  std::fill(std::begin(v6.s6_addr) + 8, std::end(v6.s6_addr), std::uint8_t{0});
  char text[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET6, &v6, text, sizeof text);
  return std::string(text) + "/64";
}

using address_bytes = std::array<unsigned char, 16>;

// IPv4 becomes IPv4-mapped IPv6, so that one comparison serves both and a
// dual-stack listener's "::ffff:10.0.0.1" matches "10.0.0.0/8".
std::optional<address_bytes> parse_address(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  std::string const terminated(text);
  address_bytes out{};
  in_addr v4{};
  if (::inet_pton(AF_INET, terminated.c_str(), &v4) == 1) {
    out[10] = out[11] = 0xff;
    std::memcpy(out.data() + 12, &v4, 4);
    return out;
  }
  if (::inet_pton(AF_INET6, terminated.c_str(), out.data()) == 1) return out;
  return std::nullopt;
}

bool is_v4(address_bytes const& a) {
  static constexpr unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(a.data(), mapped, sizeof mapped) == 0;
}

std::string to_text(address_bytes const& a) {
  char text[INET6_ADDRSTRLEN] = {};
  if (is_v4(a))
    ::inet_ntop(AF_INET, a.data() + 12, text, sizeof text);
  else
    ::inet_ntop(AF_INET6, a.data(), text, sizeof text);
  return text;
}

// "1.2.3.4:5678" and "[2001:db8::1]:443", as some load balancers write
// them; anything else comes back as it was.
std::string_view without_port(std::string_view entry) {
  if (entry.starts_with('[')) {
    auto const close = entry.find(']');
    return close == std::string_view::npos ? entry : entry.substr(0, close + 1);
  }
  auto const colon = entry.find(':');
  if (colon != std::string_view::npos && entry.find(':', colon + 1) == std::string_view::npos)
    return entry.substr(0, colon);
  return entry;
}

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

gate::gate(server_options const& options)
    : filter_(options.accept_filter),
      max_total_(options.max_connections),
      max_per_address_(options.max_connections_per_ip),
      rate_(options.new_connections_per_second_per_ip),
      burst_(std::max(1.0, options.new_connection_burst_per_ip)) {
  for (auto const& entry : options.trusted_proxies) {
    auto const slash = entry.find('/');
    auto const address = parse_address(std::string_view(entry).substr(0, slash));
    network n;
    bool valid = address.has_value();
    if (valid) {
      n.bytes = *address;
      unsigned const width = is_v4(*address) ? 32 : 128;
      n.prefix = width;
      if (slash != std::string::npos) {
        auto const digits = std::string_view(entry).substr(slash + 1);
        auto const [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n.prefix);
        valid = ec == std::errc{} && end == digits.data() + digits.size() && !digits.empty() && n.prefix <= width;
      }
      n.prefix += 128 - width;
    }
    if (!valid)
      throw std::invalid_argument("tether::server: trusted_proxies: \"" + entry +
                                  "\" is neither an address nor a network such as 10.0.0.0/8");
    trusted_.push_back(n);
  }
}

bool gate::trusts(std::string_view address) const {
  if (trusted_.empty()) return false;
  auto const a = parse_address(address);
  if (!a) return false;
  return std::any_of(trusted_.begin(), trusted_.end(), [&](network const& n) {
    auto const whole = n.prefix / 8, rest = n.prefix % 8;
    if (std::memcmp(a->data(), n.bytes.data(), whole) != 0) return false;
    if (rest == 0) return true;
    auto const mask = static_cast<unsigned char>(0xff << (8 - rest));
    return ((*a)[whole] & mask) == (n.bytes[whole] & mask);
  });
}

std::string gate::forwarded_client(std::string_view x_forwarded_for, std::string const& proxy) const {
  // Right to left: each trusted hop vouches for the entry before it; the
  // first one that is not trusted is the client.
  std::string_view rest = x_forwarded_for;
  std::string client = proxy;
  while (!trimmed(rest).empty()) {
    auto const comma = rest.rfind(',');
    auto const entry = trimmed(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(0, comma);
    auto address = parse_address(entry);
    if (!address) address = parse_address(without_port(entry));
    if (!address) break;  // what a hop we do not trust wrote: stop believing
    client = to_text(*address);
    if (!trusts(client)) break;
  }
  return client;
}

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
  bool const proxied = !remote.address.empty() && trusts(remote.address);
  if (remote.address.empty() || proxied) {
    // A Unix-socket peer has no address, and a trusted proxy speaks for
    // many clients: only the total limit applies (for a proxy's, until its
    // first request names the client).
    if (open_ >= max_total_) return {admission::verdict::over_capacity, std::chrono::seconds(1)};
    ++open_;
    return {admission::verdict::admit, std::chrono::seconds(0), proxied};
  }
  return admit_address(address_key(remote.address), true, now);
}

admission gate::admit_forwarded(std::string const& client, clock::time_point now) {
  std::lock_guard lock(mutex_);
  return admit_address(address_key(client), false, now);
}

admission gate::admit_address(std::string const& key, bool count_in_total, clock::time_point now) {
  std::chrono::seconds retry_after{0};
  if (rate_ > 0 && !take_token(key, now, retry_after)) return {admission::verdict::rate_limited, retry_after};
  auto& mine = open_per_address_[key];
  bool const total_full = count_in_total && open_ >= max_total_;
  if (total_full || mine >= max_per_address_) {
    if (mine == 0) open_per_address_.erase(key);
    admission refused{admission::verdict::over_capacity, std::chrono::seconds(1)};
    refused.per_address = !total_full;
    return refused;
  }
  if (count_in_total) ++open_;
  ++mine;
  return {};
}

void gate::leave(std::string const& address) {
  {
    std::lock_guard lock(mutex_);
    --open_;
  }
  if (!address.empty()) leave_forwarded(address);
}

void gate::leave_forwarded(std::string const& client) {
  auto const key = address_key(client);
  std::lock_guard lock(mutex_);
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
