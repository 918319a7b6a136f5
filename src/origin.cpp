#include <tether/origin.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>
#include <stdexcept>

namespace tether {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::uint16_t default_port(std::string_view scheme) {
  return scheme == "https" || scheme == "wss" ? 443 : 80;
}

struct host_port {
  std::string host;  // lowercase, IPv6 with brackets
  std::uint16_t port = 0;
};

bool is_host_char(char c) noexcept {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' || c == '~';
}

// "host", "host:port", "[v6]" or "[v6]:port", as in Host headers and
// origins. Parsed by hand: Boost.URL 1.81 asserts on some malformed input
// (found by fuzzing), and these two forms are small.
std::optional<host_port> parse_host_port(std::string_view text, std::uint16_t default_port) {
  std::string_view host, rest;
  if (text.starts_with('[')) {
    auto const close = text.find(']');
    if (close == std::string_view::npos || close < 2) return std::nullopt;
    host = text.substr(0, close + 1);
    for (char c : host.substr(1, host.size() - 2))
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return std::nullopt;
    rest = text.substr(close + 1);
  } else {
    auto const colon = text.find(':');
    host = text.substr(0, colon);
    if (host.empty() || !std::all_of(host.begin(), host.end(), is_host_char)) return std::nullopt;
    rest = colon == std::string_view::npos ? std::string_view{} : text.substr(colon);
  }
  host_port out{lower(host), default_port};
  if (!rest.empty()) {
    auto const digits = rest.substr(1);
    unsigned port = 0;
    auto const [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (rest[0] != ':' || digits.empty() || digits.size() > 5 || ec != std::errc{} ||
        end != digits.data() + digits.size() || port == 0 || port > 65535)
      return std::nullopt;
    out.port = static_cast<std::uint16_t>(port);
  }
  return out;
}

// "scheme://host[:port]", optionally with a final "/"; nothing for "null"
// or anything else.
std::optional<std::pair<std::string, host_port>> parse_origin(std::string_view text) {
  auto const separator = text.find("://");
  if (separator == 0 || separator == std::string_view::npos) return std::nullopt;
  auto const scheme_text = text.substr(0, separator);
  if (!std::isalpha(static_cast<unsigned char>(scheme_text[0]))) return std::nullopt;
  for (char c : scheme_text)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') return std::nullopt;
  std::string scheme = lower(scheme_text);
  auto authority = text.substr(separator + 3);
  if (authority.ends_with('/')) authority.remove_suffix(1);
  auto where = parse_host_port(authority, default_port(scheme));
  if (!where) return std::nullopt;
  return std::pair{std::move(scheme), std::move(*where)};
}

}  // namespace

origin_policy origin_policy::any() {
  origin_policy p;
  p.kind_ = kind::any;
  return p;
}

origin_policy origin_policy::same_site() { return origin_policy{}; }

origin_policy origin_policy::allow(std::vector<std::string> origins) {
  origin_policy p;
  p.kind_ = kind::allow_list;
  for (auto const& entry : origins) {
    // "*." is not valid in a URL host; check the rest, then keep the star.
    bool const wildcard = entry.find("://*.") != std::string::npos;
    std::string checked = entry;
    if (wildcard) checked.replace(checked.find("://*.") + 3, 2, "");
    auto parsed = parse_origin(checked);
    if (!parsed)
      throw std::invalid_argument("tether::origin::allow: \"" + entry + "\" is not an origin like https://example.org");
    auto& [scheme, where] = *parsed;
    p.allowed_.push_back({scheme, (wildcard ? "*." : "") + where.host, where.port});
  }
  return p;
}

bool origin_policy::admits(std::string_view origin, std::string_view host, bool secure) const {
  if (kind_ == kind::any) return true;
  if (origin.empty()) return kind_ == kind::same_site;
  auto const parsed = parse_origin(origin);
  if (!parsed) return false;  // "null" and anything unparsable
  auto const& scheme = parsed->first;  // not a structured binding: clang 14 cannot capture those
  auto const& from = parsed->second;
  if (kind_ == kind::same_site) {
    // A Host without a port means the default port of the scheme the
    // browser used: behind a TLS proxy the request reaches us as plain HTTP.
    auto const here = parse_host_port(host, secure ? 443 : default_port(scheme));
    return here && here->host == from.host && here->port == from.port;
  }
  return std::any_of(allowed_.begin(), allowed_.end(), [&](allowed const& a) {
    if (a.scheme != scheme || a.port != from.port) return false;
    if (!a.host.starts_with("*.")) return a.host == from.host;
    std::string_view const suffix = std::string_view(a.host).substr(1);  // ".example.org"
    return from.host.size() > suffix.size() && from.host.ends_with(suffix);
  });
}

}  // namespace tether
