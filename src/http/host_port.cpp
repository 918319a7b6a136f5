#include "http/host_port.hpp"

#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <stdexcept>

namespace net = boost::asio;
using boost::system::error_code;

namespace tether::detail {

namespace {

bool is_host_char(char c) noexcept {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' || c == '~';
}

}  // namespace

std::string ascii_lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// Parsed by hand: Boost.URL 1.81 asserts on some malformed input (found by
// fuzzing), and these forms are small.
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
  host_port out{ascii_lower(host), default_port};
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

bool is_loopback_address(std::string_view address) noexcept {
  error_code ec;
  auto const ip = net::ip::make_address(std::string(address), ec);
  if (ec) return false;
  if (ip.is_v6() && ip.to_v6().is_v4_mapped())
    return net::ip::make_address_v4(net::ip::v4_mapped, ip.to_v6()).is_loopback();
  return ip.is_loopback();
}

host_filter::host_filter(std::vector<std::string> const& allowed, bool loopback_listener)
    : mode_(allowed.empty() ? (loopback_listener ? mode::loopback : mode::any) : mode::listed) {
  for (auto const& entry : allowed) {
    if (entry == "*") {
      mode_ = mode::any;
      continue;
    }
    std::string_view name = entry;
    bool const wildcard = name.starts_with("*.");
    if (wildcard) name.remove_prefix(2);
    // An IPv6 address may be written with or without brackets.
    std::string bracketed(name);
    if (!wildcard && name.find(':') != name.rfind(':') && !name.starts_with('[')) {
      bracketed.insert(bracketed.begin(), '[');
      bracketed.push_back(']');
    }
    auto const parsed = parse_host_port(bracketed, 0);
    if (!parsed || parsed->port != 0 || (wildcard && parsed->host.starts_with('[')))
      throw std::invalid_argument("tether: allowed_hosts: \"" + entry +
                                  "\" is not a host name or address (no scheme, no port), nor \"*.\" and a name");
    names_.push_back(parsed->host);
    if (wildcard) names_.back().insert(0, "*.");
  }
}

bool host_filter::admits(std::string_view host) const {
  if (host.ends_with('.') && host.size() > 1) host.remove_suffix(1);  // "localhost." is "localhost"
  switch (mode_) {
    case mode::any:
      return true;
    case mode::loopback: {
      if (host == "localhost" || host.ends_with(".localhost")) return true;  // RFC 6761 6.3
      if (host.starts_with('[')) return is_loopback_address(host.substr(1, host.size() - 2));
      // Only a dotted quad: "127.1" or "2130706433" are loopback to some
      // resolvers but never what a browser sends for a loopback address.
      if (std::count(host.begin(), host.end(), '.') != 3) return false;
      return is_loopback_address(host);
    }
    case mode::listed:
      return std::any_of(names_.begin(), names_.end(), [&](std::string const& name) {
        if (!name.starts_with("*.")) return host == name;
        std::string_view const suffix = std::string_view(name).substr(1);  // ".example.org"
        return host.size() > suffix.size() && host.ends_with(suffix);
      });
  }
  return false;
}

}  // namespace tether::detail
