#include <tether/response.hpp>

namespace tether {

response response::text(std::string body, int status) {
  return {status, "text/plain; charset=utf-8", std::move(body), {}};
}

response response::html(std::string body, int status) {
  return {status, "text/html; charset=utf-8", std::move(body), {}};
}

response response::json(std::string body, int status) {
  return {status, "application/json", std::move(body), {}};
}

}  // namespace tether
