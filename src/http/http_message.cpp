#include "http/http_message.hpp"

namespace http = boost::beast::http;

namespace tether::detail {

request to_request(http::request<http::string_body>& req, endpoint const& remote) {
  request r;
  r.method = std::string(req.method_string());
  r.target = std::string(req.target());
  auto const question = r.target.find('?');
  r.path = r.target.substr(0, question);
  if (question != std::string::npos) r.query = r.target.substr(question + 1);
  // Counted first, so that the fields take one allocation of their size.
  std::size_t fields = 0;
  std::size_t bytes = 0;
  for (auto const& field : req) {
    ++fields;
    bytes += field.name_string().size() + field.value().size();
  }
  r.headers.reserve(fields, bytes);
  for (auto const& field : req) r.headers.append(field.name_string(), field.value());
  r.body = std::move(req.body());
  r.remote = remote;
  return r;
}

http::response<http::string_body> make_http_response(response&& res, unsigned version, bool keep_alive) {
  http::response<http::string_body> out{static_cast<http::status>(res.status), version};
  out.set(http::field::server, "tether");
  if (!res.content_type.empty()) out.set(http::field::content_type, res.content_type);
  for (auto& field : res.headers) out.insert(field.name, field.value);
  // 1xx, 204 and 304 have no body and no Content-Length (RFC 9110 8.6).
  bool const bodiless = res.status < 200 || res.status == 204 || res.status == 304;
  if (!bodiless) out.body() = std::move(res.body);
  out.keep_alive(keep_alive);
  out.prepare_payload();
  if (bodiless) out.erase(http::field::content_length);
  return out;
}

response refusal(int status, std::string text) { return response::text(std::move(text) + "\n", status); }

std::string_view refusal_text(response const& res) noexcept {
  std::string_view text = res.body;
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  return text;
}

std::string_view header_value(http::request_header<> const& req, http::field name) noexcept {
  auto const value = req[name];
  return {value.data(), value.size()};
}

}  // namespace tether::detail
