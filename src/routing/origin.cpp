#include <tether/origin.hpp>

#include "http/host_port.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <stdexcept>

namespace tether {

namespace {

using detail::host_port;
using detail::ascii_lower;
using detail::parse_host_port;

std::uint16_t default_port(std::string_view scheme) {
  return scheme == "https" || scheme == "wss" ? 443 : 80;
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
  std::string scheme = ascii_lower(scheme_text);
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
    // Over TLS the scheme is known: a page served over plain HTTP (or by an
    // attacker on the path) is not the site, whatever its port. Without
    // TLS it is not: behind a TLS proxy an https page reaches us as HTTP.
    if (secure && scheme != "https" && scheme != "wss") return false;
    // A Host without a port means the default port of the scheme the
    // browser used.
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
