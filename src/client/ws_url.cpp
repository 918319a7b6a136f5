#include "client/ws_url.hpp"

#include <boost/url/parse.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace tether::detail {

bool plausible_authority(std::string_view url) noexcept {
  auto const scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return true;  // the parser refuses it anyway
  auto authority = url.substr(scheme_end + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (auto const at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  std::string_view port;
  if (authority.starts_with('[')) {
    auto const close = authority.find(']');
    if (close == std::string_view::npos) return false;
    auto const rest = authority.substr(close + 1);
    if (rest.empty()) return true;
    if (rest.front() != ':') return false;
    port = rest.substr(1);
  } else if (auto const colon = authority.find(':'); colon != std::string_view::npos) {
    port = authority.substr(colon + 1);
  }
  return std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); });
}

std::optional<ws_url> parse_ws_url(std::string_view text, tether::error& code, std::string& why) {
  auto fail = [&](tether::error e, std::string detail) -> std::optional<ws_url> {
    code = e;
    why = std::move(detail);
    return std::nullopt;
  };
  // Boost.URL 1.81 asserts on control bytes in some positions.
  if (std::any_of(text.begin(), text.end(), [](unsigned char c) { return c < 0x20 || c == 0x7F; }))
    return fail(tether::error::bad_url, "the URL contains control characters");
  // Without "//" there is no host; Boost.URL 1.81 also asserts on some of
  // those ("wss:?", found by fuzzing). "127.0.0.1:8080/echo" is what people
  // type, and Boost.URL would read "127.0.0.1" as its scheme: name the
  // missing scheme unless one of ours is there.
  if (text.find("://") == std::string_view::npos) {
    auto const colon = text.find(':');
    std::string scheme(text.substr(0, colon == std::string_view::npos ? 0 : colon));
    std::transform(scheme.begin(), scheme.end(), scheme.begin(), [](unsigned char c) { return std::tolower(c); });
    if (scheme == "ws" || scheme == "wss")
      return fail(tether::error::bad_url, "the URL has no host: \"" + std::string(text) + "\"");
    return fail(tether::error::bad_url,
                "the URL has no scheme: \"" + std::string(text) + "\"; start it with ws:// or wss://");
  }
  if (!plausible_authority(text))
    return fail(tether::error::bad_url, "the URL has an invalid host or port: \"" + std::string(text) + "\"");
  auto parsed = boost::urls::parse_uri(text);
  if (!parsed)
    return fail(tether::error::bad_url, "cannot parse URL \"" + std::string(text) + "\": " + parsed.error().message());
  auto const& url = *parsed;
  std::string scheme(url.scheme());
  std::transform(scheme.begin(), scheme.end(), scheme.begin(), [](unsigned char c) { return std::tolower(c); });
  if (scheme != "ws" && scheme != "wss")
    return fail(tether::error::unsupported_scheme, "unsupported scheme \"" + scheme + "\": use ws:// or wss://");
  if (!url.has_authority() || url.encoded_host().empty())
    return fail(tether::error::bad_url, "the URL has no host: \"" + std::string(text) + "\"");
  // port_number() wraps past 65535 (99999 would be 34463): read the digits.
  if (url.has_port()) {
    unsigned port = 0;
    auto const digits = url.port();
    auto const [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() || port == 0 || port > 65535)
      return fail(tether::error::bad_url, "the URL's port must be from 1 to 65535: \"" + std::string(text) + "\"");
  }
  ws_url out;
  out.secure = scheme == "wss";
  out.host = url.host_address();
  out.host_header = std::string(url.encoded_host_and_port());
  out.port = url.has_port() ? std::string(url.port()) : out.secure ? "443" : "80";
  out.target = std::string(url.encoded_path());
  if (out.target.empty()) out.target = "/";
  // Boost.URL 1.81 reads "ws://h:80*/x" as port 80 and path "*/x"
  // (found by fuzzing); a path after an authority starts with '/'.
  if (out.target.front() != '/')
    return fail(tether::error::bad_url, "the URL's path does not start with '/': \"" + std::string(text) + "\"");
  if (url.has_query()) out.target.append("?").append(url.encoded_query());  // append: g++ 12 -Wrestrict
  return out;
}


}  // namespace tether::detail
