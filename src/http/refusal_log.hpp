#pragma once
// One line at info, the default level, for each request or connection the
// server or accept() refuses: a browser shows only 1006 for a refused
// upgrade, so the server's log is the one place that can say "wrong
// origin" and which option allows it. A flood of refusals must not fill
// that log: each io_context has a budget of lines a second, and the
// refusals past it are counted, their number logged with the next second's
// first refusal.

#include <tether/logger.hpp>
#include <tether/request.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/execution_context.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace tether::detail {

/// Thread safety: any thread. A server's io_context runs on one thread, but
/// accept() may be used on an io_context that several threads run, so the
/// budget is kept in atomics (lock-free; at a second's turn a racing
/// thread may log a line or two more than the budget).
class refusal_log : public boost::asio::execution_context::service {
 public:
  using key_type = refusal_log;
  using clock = std::chrono::steady_clock;
  static boost::asio::execution_context::id id;

  /// Refusal lines a second per io_context; one more says the rest are
  /// counted, and one more the next second gives their number.
  static constexpr unsigned lines_per_second = 10;

  explicit refusal_log(boost::asio::execution_context& context);

  /// The budget of the io_context behind `executor`.
  static refusal_log& of(boost::asio::any_io_executor const& executor);

  /// Logs `sentence()` at info when the budget allows: the sentence is
  /// made only then.
  template <class Sentence>
  void report(tether::logger const& log, Sentence&& sentence) {
    if (admit(log, clock::now())) log.log(log_level::info, 0, std::forward<Sentence>(sentence)());
  }

  /// Whether one more refusal line may be logged now; logs the notice and
  /// the count of those that were not. False, and nothing counted, when
  /// the logger has info off.
  bool admit(tether::logger const& log, clock::time_point now);

 private:
  void shutdown() override {}

  std::atomic<std::int64_t> second_{-1};  // of clock::now(), the second being counted
  std::atomic<unsigned> logged_{0};       // lines this second
  std::atomic<std::uint64_t> unlogged_{0};
};

/// Peer input as it may appear in a log line: bytes below 0x20, DEL,
/// backslash and non-ASCII become \xNN (no forged lines, no terminal
/// escapes), and more than `limit` bytes are cut with a note of the size.
std::string printable(std::string_view peer_text, std::size_t limit = 100);

/// What was refused, for one sentence: "refused a WebSocket upgrade to
/// /echo from 127.0.0.1:5000 (Origin http://x, Host 127.0.0.1:8080) with
/// 403: `why`". `what` and `why` are ours; target, origin and host are the
/// peer's and are made printable (an empty one is left out). The target's
/// query is left out too: it may carry a URL token, which a log must not.
struct refusal_subject {
  std::string_view what;  // "WebSocket upgrade", "request", "connection"
  endpoint const& remote;
  std::string_view target = {};
  std::string_view origin = {};
  std::string_view host = {};
};

/// The subject of a refusal of `req`, with views into it.
inline refusal_subject subject_of(std::string_view what, request const& req) {
  return {what, req.remote, req.target, req.header("Origin"), req.header("Host")};
}

/// `status` 0: the connection was closed without an answer.
std::string refusal_sentence(refusal_subject const& subject, int status, std::string_view why);

/// Why an origin policy refused `req`, and `option`, the setting that
/// would admit it ("endpoint_options::origins"). Says whether the Origin is
/// same-site, so that the default's refusals read as what they are.
std::string origin_refusal_reason(request const& req, std::string_view option);

}  // namespace tether::detail
