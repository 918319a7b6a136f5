#pragma once
// Who may open a connection: the accept filter, connection limits in total
// and per address, a per-address token bucket for new connections, and the
// reverse proxies whose X-Forwarded-For names the client.

#include <tether/request.hpp>
#include <tether/server.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tether::detail {

struct admission {
  enum class verdict { admit, filtered, over_capacity, rate_limited };
  verdict what = verdict::admit;
  std::chrono::seconds retry_after{0};
  /// From a trusted proxy: counted in the total only, until its first
  /// request names the client (admit_forwarded).
  bool proxied = false;
  /// over_capacity: the per-address limit refused it, not the total.
  bool per_address = false;
};

class gate {
 public:
  using clock = std::chrono::steady_clock;

  explicit gate(server_options const& options);

  /// Decides for a connection just accepted. An admitted one counts until
  /// leave() is called, with its address, or with nothing for one that
  /// was counted in the total only. Thread safety: any thread.
  admission admit(endpoint const& remote, clock::time_point now = clock::now());
  void leave(std::string const& address);

  /// The per-address limits for the client that a trusted proxy's
  /// connection speaks for; once admitted, leave() takes `client`.
  admission admit_forwarded(std::string const& client, clock::time_point now = clock::now());
  /// The connection goes on, now for another client (or none): the
  /// per-address count of `client` only, not the total.
  void leave_forwarded(std::string const& client);

  bool trusts(std::string_view address) const;

  /// The client a request from a trusted proxy comes from: the last
  /// address in X-Forwarded-For (all its fields, joined by commas) that is
  /// not itself trusted. The proxy's own address when the header is
  /// missing, or when an entry to check is not an address.
  std::string forwarded_client(std::string_view x_forwarded_for, std::string const& proxy) const;

 private:
  struct bucket {
    double tokens = 0;
    clock::time_point refilled{};
  };

  struct network {
    std::array<unsigned char, 16> bytes{};  // IPv4 as IPv4-mapped IPv6
    unsigned prefix = 0;                    // of the 128 bits
  };

  bool take_token(std::string const& address, clock::time_point now, std::chrono::seconds& retry_after);
  admission admit_address(std::string const& key, bool count_in_total, clock::time_point now);

  std::function<bool(endpoint const&)> filter_;
  std::vector<network> trusted_;
  std::size_t max_total_;
  std::size_t max_per_address_;
  double rate_;   // new connections per second per address; 0 = no limit
  double burst_;

  std::mutex mutex_;
  std::size_t open_ = 0;
  std::unordered_map<std::string, std::size_t> open_per_address_;
  std::unordered_map<std::string, bucket> buckets_;
  clock::time_point last_sweep_{};
};

}  // namespace tether::detail
