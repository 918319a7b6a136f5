#include <tether/response.hpp>

namespace tether {

response response::text(std::string body, int status) {
  return {status, "text/plain; charset=utf-8", std::move(body)};
}

response response::html(std::string body, int status) {
  return {status, "text/html; charset=utf-8", std::move(body)};
}

response response::json(std::string body, int status) {
  return {status, "application/json", std::move(body)};
}

response response::redirect(std::string location, int status) {
  response r{status, "text/plain; charset=utf-8", "redirecting to " + location + "\n"};
  r.headers.push_back({"Location", std::move(location)});
  return r;
}

}  // namespace tether
