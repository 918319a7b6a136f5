#pragma once
// Who may open a connection: the accept filter, connection limits in total
// and per address, and a per-address token bucket for new connections.

#include <tether/request.hpp>
#include <tether/server.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

namespace tether::detail {

struct admission {
  enum class verdict { admit, filtered, over_capacity, rate_limited };
  verdict what = verdict::admit;
  std::chrono::seconds retry_after{0};
};

class gate {
 public:
  using clock = std::chrono::steady_clock;

  explicit gate(server_options const& options);

  /// Decides for a connection just accepted. An admitted one counts until
  /// leave() is called for its address. Thread safety: any thread.
  admission admit(endpoint const& remote, clock::time_point now = clock::now());
  void leave(std::string const& address);

 private:
  struct bucket {
    double tokens = 0;
    clock::time_point refilled{};
  };

  bool take_token(std::string const& address, clock::time_point now, std::chrono::seconds& retry_after);

  std::function<bool(endpoint const&)> filter_;
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
