#include <tether/logger.hpp>

#include <cstdio>
#include <ctime>
#include <string>

namespace tether {

std::string_view to_string(log_level level) noexcept {
  switch (level) {
    case log_level::trace: return "trace";
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warning: return "warning";
    case log_level::error: return "error";
    case log_level::off: return "off";
  }
  return "?";
}

logger::logger() : logger(log_level::info) {}

logger::logger(log_level level, sink to)
    : level_(level), sink_(std::make_shared<sink const>(to ? std::move(to) : sink(&logger::write_to_stderr))) {}

void logger::log(log_level level, std::uint64_t connection, std::string_view text) const {
  if (!enabled(level)) return;
  (*sink_)(log_record{level, std::chrono::system_clock::now(), connection, text});
}

void logger::write_to_stderr(log_record const& record) {
  using namespace std::chrono;
  auto const since_epoch = record.time.time_since_epoch();
  auto const seconds = duration_cast<std::chrono::seconds>(since_epoch);
  auto const millis = duration_cast<milliseconds>(since_epoch - seconds).count();
  std::time_t const t = seconds.count();
  std::tm utc{};
  gmtime_r(&t, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &utc);
  std::string line;
  line.reserve(64 + record.text.size());
  line.append(stamp).append(".");
  char ms[8];
  std::snprintf(ms, sizeof ms, "%03d", static_cast<int>(millis));
  line.append(ms).append(" ").append(to_string(record.level));
  if (record.connection != 0) line.append(" [#").append(std::to_string(record.connection)).append("]");
  line.append(" ").append(record.text).append("\n");
  // One fwrite per line keeps lines from different threads whole.
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace tether
