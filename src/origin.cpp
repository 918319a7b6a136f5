#include <tether/origin.hpp>

#include <boost/url/parse.hpp>

#include <algorithm>
#include <cctype>
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

// "scheme://host[:port]" with nothing after it; nothing for "null" or junk.
std::optional<std::pair<std::string, host_port>> parse_origin(std::string_view text) {
  auto url = boost::urls::parse_absolute_uri(text);
  if (!url || !url->has_authority() || url->encoded_host().empty() || url->has_userinfo()) return std::nullopt;
  if (!(url->encoded_path().empty() || url->encoded_path() == "/") || url->has_query()) return std::nullopt;
  std::string scheme = lower(url->scheme());
  std::uint16_t port = default_port(scheme);
  if (url->has_port()) {
    if (url->port().empty() || url->port_number() == 0) return std::nullopt;
    port = url->port_number();
  }
  return std::pair{std::move(scheme), host_port{lower(url->encoded_host()), port}};
}

// A Host header: "host", "host:port", "[v6]" or "[v6]:port".
std::optional<host_port> parse_host(std::string_view text, bool secure) {
  auto authority = boost::urls::parse_authority(text);
  if (!authority || authority->encoded_host().empty() || authority->has_userinfo()) return std::nullopt;
  host_port out{lower(authority->encoded_host()), static_cast<std::uint16_t>(secure ? 443 : 80)};
  if (authority->has_port()) {
    if (authority->port().empty() || authority->port_number() == 0) return std::nullopt;
    out.port = authority->port_number();
  }
  return out;
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
  auto const& [scheme, from] = *parsed;
  if (kind_ == kind::same_site) {
    auto const here = parse_host(host, secure);
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
