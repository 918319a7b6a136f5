#include "http/refusal_log.hpp"

#include <tether/origin.hpp>

#include <boost/asio/execution/context.hpp>
#include <boost/asio/query.hpp>

namespace net = boost::asio;

namespace tether::detail {

net::execution_context::id refusal_log::id;

refusal_log::refusal_log(net::execution_context& context) : net::execution_context::service(context) {}

refusal_log& refusal_log::of(net::any_io_executor const& executor) {
  return net::use_service<refusal_log>(net::query(executor, net::execution::context));
}

bool refusal_log::admit(tether::logger const& log, clock::time_point now) {
  if (!log.enabled(log_level::info)) return false;
  auto const second = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  auto seen = second_.load(std::memory_order_relaxed);
  if (seen != second && second_.compare_exchange_strong(seen, second, std::memory_order_relaxed)) {
    // This thread turned the second: it reports what the last busy one hid.
    logged_.store(0, std::memory_order_relaxed);
    if (auto const hidden = unlogged_.exchange(0, std::memory_order_relaxed); hidden > 0)
      log.log(log_level::info, 0,
              std::to_string(hidden) + (hidden == 1 ? " refusal was" : " refusals were") + " not logged (over " +
                  std::to_string(lines_per_second) + " in a second)");
  }
  auto const n = logged_.fetch_add(1, std::memory_order_relaxed);
  if (n < lines_per_second) return true;
  if (n == lines_per_second)
    log.log(log_level::info, 0,
            "more than " + std::to_string(lines_per_second) +
                " refusals in a second: the rest of this second's are counted, not logged");
  unlogged_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

std::string printable(std::string_view peer_text, std::size_t limit) {
  static constexpr char hex[] = "0123456789abcdef";
  auto const shown = peer_text.substr(0, limit);
  std::string out;
  out.reserve(shown.size() + 16);
  for (char const c : shown) {
    auto const byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7F || c == '\\') {
      out += "\\x";
      out += hex[byte >> 4];
      out += hex[byte & 0xF];
    } else {
      out += c;
    }
  }
  if (peer_text.size() > limit) out += "... (" + std::to_string(peer_text.size()) + " bytes)";
  return out;
}

std::string refusal_sentence(refusal_subject const& subject, int status, std::string_view why) {
  std::string out = "refused a ";
  out.append(subject.what);
  if (auto const path = subject.target.substr(0, subject.target.find('?')); !path.empty())
    out.append(subject.what == "request" ? " for " : " to ").append(printable(path));
  out.append(" from ").append(subject.remote.address.empty() ? "a Unix socket" : subject.remote.to_string());
  if (!subject.origin.empty() || !subject.host.empty()) {
    out.append(" (");
    if (!subject.origin.empty()) out.append("Origin ").append(printable(subject.origin));
    if (!subject.origin.empty() && !subject.host.empty()) out.append(", ");
    if (!subject.host.empty()) out.append("Host ").append(printable(subject.host));
    out.append(")");
  }
  if (status != 0)
    out.append(" with ").append(std::to_string(status));
  else
    out.append(", closed without an answer");
  out.append(": ").append(why);
  return out;
}

std::string origin_refusal_reason(request const& req, std::string_view option) {
  auto const origin = req.header("Origin");
  std::string why;
  if (origin.empty())
    why = "there is no Origin, and only listed origins are allowed; list them with ";
  else if (origin_policy::same_site().admits(origin, req.header("Host"), req.secure))
    why = "the Origin is not on the allow list; add it to ";
  else
    why = "the Origin is not same-site with the Host (the default policy); allow it with ";
  return why.append(option);
}

}  // namespace tether::detail
