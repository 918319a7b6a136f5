#pragma once
// A ws:// or wss:// URL, taken apart for connecting.

#include <tether/error.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace tether::detail {

struct ws_url {
  bool secure = false;
  std::string host;         // for the resolver: no brackets
  std::string host_header;  // as the URL spells host and port
  std::string port;
  std::string target;       // path and query, never empty
};

/// False for an authority ("scheme://AUTHORITY/...") whose port is not all
/// digits: Boost.URL 1.81 misreads those, and asserts on some in debug
/// builds (found by fuzzing). Such URLs must not reach it.
bool plausible_authority(std::string_view url) noexcept;

/// Nothing, with `code` (bad_url or unsupported_scheme) and `why`, for a
/// URL that cannot be used.
std::optional<ws_url> parse_ws_url(std::string_view text, tether::error& code, std::string& why);

}  // namespace tether::detail
