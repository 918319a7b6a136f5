#pragma once
// What an HTTP handler returns.

#include <tether/request.hpp>

#include <string>
#include <utility>
#include <vector>

namespace tether {

// Not an aggregate on purpose: g++ 12 mishandles aggregate temporaries in a
// co_await expression, and responses are passed around in coroutines.
struct response {
  response() = default;
  response(int status_code, std::string type, std::string content)
      : status(status_code), content_type(std::move(type)), body(std::move(content)) {}

  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body{};
  std::vector<header_field> headers{};  ///< extra headers, sent as given

  static response text(std::string body, int status = 200);
  static response html(std::string body, int status = 200);
  static response json(std::string body, int status = 200);
  /// 302 (or 301, 303, 307, 308) with a Location header.
  static response redirect(std::string location, int status = 302);
};

}  // namespace tether
