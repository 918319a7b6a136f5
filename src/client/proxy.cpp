#include "client/proxy.hpp"

#include "ws/handshake.hpp"
#include "client/ws_url.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/url/parse.hpp>

#include <openssl/evp.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

namespace tether::detail {

namespace {

char const* environment(char const* lower_name, char const* upper_name) {
  if (char const* value = std::getenv(lower_name); value && *value) return value;
  if (char const* value = std::getenv(upper_name); value && *value) return value;
  return nullptr;
}

bool is_loopback(std::string_view host) {
  if (iequals(host, "localhost")) return true;
  boost::system::error_code ec;
  auto const address = boost::asio::ip::make_address(std::string(host), ec);
  return !ec && address.is_loopback();
}

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int const n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<unsigned char const*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

}  // namespace

std::optional<proxy_address> parse_proxy_url(std::string_view text) {
  // Many environments write the proxy without a scheme.
  std::string url(text);
  if (url.find("://") == std::string::npos) url = "http://" + url;
  if (!plausible_authority(url) ||
      std::any_of(url.begin(), url.end(), [](unsigned char c) { return c < 0x20 || c == 0x7F; }))
    return std::nullopt;
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed || parsed->encoded_host().empty()) return std::nullopt;
  if (!iequals(parsed->scheme(), "http")) return std::nullopt;  // https:// proxies are not supported
  if (parsed->has_port() && (parsed->port().empty() || parsed->port_number() == 0)) return std::nullopt;
  proxy_address out;
  out.host = parsed->host_address();
  if (out.host.empty()) return std::nullopt;
  out.port = parsed->has_port() ? std::string(parsed->port()) : "80";
  if (parsed->has_userinfo()) out.authorization = "Basic " + base64(parsed->user() + ":" + parsed->password());
  return out;
}

bool no_proxy_covers(std::string_view list, std::string_view host) {
  while (!list.empty()) {
    auto const comma = list.find(',');
    std::string_view entry = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    while (!entry.empty() && (entry.front() == ' ' || entry.front() == '\t')) entry.remove_prefix(1);
    while (!entry.empty() && (entry.back() == ' ' || entry.back() == '\t')) entry.remove_suffix(1);
    if (entry.empty()) continue;
    if (entry == "*") return true;
    if (entry.front() == '.') entry.remove_prefix(1);
    if (iequals(entry, host)) return true;
    // "example.org" also covers its subdomains.
    if (host.size() > entry.size() && host[host.size() - entry.size() - 1] == '.' &&
        iequals(host.substr(host.size() - entry.size()), entry))
      return true;
  }
  return false;
}

std::optional<proxy_address> choose_proxy(std::string_view setting, std::string_view host, bool secure) {
  if (setting == "direct") return std::nullopt;
  if (!setting.empty()) {
    auto proxy = parse_proxy_url(setting);
    if (!proxy) throw std::invalid_argument("cannot use proxy \"" + std::string(setting) + "\": expected http://host:port");
    return proxy;
  }
  char const* from_env = secure ? environment("https_proxy", "HTTPS_PROXY") : environment("http_proxy", "HTTP_PROXY");
  if (!from_env || is_loopback(host)) return std::nullopt;
  if (char const* skip = environment("no_proxy", "NO_PROXY"); skip && no_proxy_covers(skip, host)) return std::nullopt;
  auto proxy = parse_proxy_url(from_env);
  if (!proxy)
    throw std::invalid_argument(std::string("cannot use proxy \"") + from_env + "\" from the environment: expected http://host:port");
  return proxy;
}

}  // namespace tether::detail
