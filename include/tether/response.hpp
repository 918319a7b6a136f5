#pragma once
// What an HTTP handler returns.

#include <tether/request.hpp>

#include <string>
#include <vector>

namespace tether {

struct response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body{};
  std::vector<header_field> headers{};  ///< extra headers, sent as given

  static response text(std::string body, int status = 200);
  static response html(std::string body, int status = 200);
  static response json(std::string body, int status = 200);
};

}  // namespace tether
