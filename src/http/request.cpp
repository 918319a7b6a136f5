#include <tether/request.hpp>

#include "ws/handshake.hpp"

#include <boost/url/params_view.hpp>
#include <boost/url/parse_query.hpp>

namespace tether {

std::string endpoint::to_string() const {
  bool const v6 = address.find(':') != std::string::npos;
  return (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

std::string_view request::header(std::string_view name) const noexcept {
  for (auto const& field : headers)
    if (detail::iequals(field.name, name)) return field.value;
  return {};
}

bool request::has_header(std::string_view name) const noexcept {
  for (auto const& field : headers)
    if (detail::iequals(field.name, name)) return true;
  return false;
}

std::string_view request::param(std::string_view name) const noexcept {
  for (auto const& [key, value] : params)
    if (key == name) return value;
  return {};
}

std::optional<std::string> request::query_value(std::string_view name) const {
  if (!boost::urls::parse_query(query)) return std::nullopt;  // not a valid query at all
  boost::urls::encoding_opts form;
  form.space_as_plus = true;
  for (auto const& param : boost::urls::params_view(query, form))  // decoded
    if (param.key == name) return param.has_value ? param.value : std::string();
  return std::nullopt;
}

std::vector<std::string_view> request::subprotocols() const {
  return detail::split_tokens(header("Sec-WebSocket-Protocol"));
}

}  // namespace tether
