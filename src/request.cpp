#include <tether/request.hpp>

#include <boost/beast/core/string.hpp>

namespace tether {

std::string endpoint::to_string() const {
  bool const v6 = address.find(':') != std::string::npos;
  return (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

std::string_view request::header(std::string_view name) const noexcept {
  for (auto const& field : headers)
    if (boost::beast::iequals(field.name, name)) return field.value;
  return {};
}

bool request::has_header(std::string_view name) const noexcept {
  for (auto const& field : headers)
    if (boost::beast::iequals(field.name, name)) return true;
  return false;
}

}  // namespace tether
