#pragma once
// Between Beast's HTTP messages and Tether's request and response.

#include <tether/request.hpp>
#include <tether/response.hpp>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <string>
#include <string_view>

namespace tether::detail {

/// Moves the body out of `req`.
request to_request(boost::beast::http::request<boost::beast::http::string_body>& req, endpoint const& remote);

boost::beast::http::response<boost::beast::http::string_body> make_http_response(response&& res, unsigned version,
                                                                                 bool keep_alive);

/// A short text/plain answer for a refused request.
response refusal(int status, std::string text);

/// The sentence of a refusal() answer: its body without the newline.
std::string_view refusal_text(response const& res) noexcept;

/// A header field's value as a string_view (Beast gives its own type).
std::string_view header_value(boost::beast::http::request_header<> const& req,
                              boost::beast::http::field name) noexcept;

}  // namespace tether::detail
