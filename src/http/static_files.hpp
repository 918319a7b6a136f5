#pragma once
// Serving a directory: safe path resolution, content types, validators
// (ETag, Last-Modified, 304) and single byte ranges (206, 416).

#include <tether/router.hpp>

#include <filesystem>

namespace tether::detail {

/// Throws std::invalid_argument when `root` is not a directory.
http_handler make_file_handler(std::filesystem::path const& root, file_options options);

/// "Tue, 15 Nov 1994 08:12:31 GMT" (RFC 9110 IMF-fixdate).
std::string http_date(std::chrono::system_clock::time_point when);

}  // namespace tether::detail
