#pragma once
// A small levelled logger. Cheap to copy: copies share one sink.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

namespace tether {

enum class log_level : std::uint8_t { trace, debug, info, warning, error, off };

struct log_record {
  log_level level{};
  std::chrono::system_clock::time_point time{};
  std::uint64_t connection{};  ///< 0 when the line is not about one connection
  std::string_view text;     ///< may quote peer input (close reasons): treat as untrusted
};

/// Thread safety: a logger may be used from any thread; the sink must be
/// safe to call concurrently (the default one is).
class logger {
 public:
  using sink = std::function<void(log_record const&)>;

  /// Lines of level info and above, written to stderr.
  logger();
  explicit logger(log_level level, sink to = {});

  static logger silent() { return logger(log_level::off); }

  bool enabled(log_level level) const noexcept {
    return level >= level_ && level_ != log_level::off;
  }
  log_level level() const noexcept { return level_; }
  void log(log_level level, std::uint64_t connection, std::string_view text) const;

  /// The sink the default constructor uses: "2026-11-25 18:40:46.123 debug [#12] text".
  static void write_to_stderr(log_record const& record);

 private:
  log_level level_;
  std::shared_ptr<sink const> sink_;
};

std::string_view to_string(log_level level) noexcept;

}  // namespace tether
