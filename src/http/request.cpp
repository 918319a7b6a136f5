#include <tether/request.hpp>

#include "ws/handshake.hpp"

#include <boost/url/params_view.hpp>
#include <boost/url/parse_query.hpp>

#include <algorithm>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>

namespace tether {

std::string endpoint::to_string() const {
  bool const v6 = address.find(':') != std::string::npos;
  return (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

header_list::header_list(std::initializer_list<header_field> fields) { *this = fields; }

header_list::header_list(header_list const& other) { *this = other; }

header_list::header_list(header_list&& other) noexcept
    : views_(std::exchange(other.views_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      field_capacity_(std::exchange(other.field_capacity_, 0)),
      text_size_(std::exchange(other.text_size_, 0)),
      text_capacity_(std::exchange(other.text_capacity_, 0)) {}

header_list& header_list::operator=(header_list const& other) {
  if (this == &other) return *this;
  clear();
  reserve(other.size_, other.text_size_);
  for (auto const& field : other) append(field.name, field.value);
  return *this;
}

header_list& header_list::operator=(header_list&& other) noexcept {
  if (this == &other) return *this;
  ::operator delete(views_);
  views_ = std::exchange(other.views_, nullptr);
  size_ = std::exchange(other.size_, 0);
  field_capacity_ = std::exchange(other.field_capacity_, 0);
  text_size_ = std::exchange(other.text_size_, 0);
  text_capacity_ = std::exchange(other.text_capacity_, 0);
  return *this;
}

header_list& header_list::operator=(std::initializer_list<header_field> fields) {
  clear();
  std::size_t bytes = 0;
  for (auto const& field : fields) bytes += field.name.size() + field.value.size();
  reserve(fields.size(), bytes);
  for (auto const& field : fields) append(field.name, field.value);
  return *this;
}

header_list::~header_list() { ::operator delete(views_); }

void header_list::clear() noexcept {
  size_ = 0;
  text_size_ = 0;
}

void header_list::reserve(std::size_t fields, std::size_t bytes) {
  if (size_ + fields <= field_capacity_ && text_size_ + bytes <= text_capacity_) return;
  ::operator delete(reallocate(std::max<std::size_t>(size_ + fields, field_capacity_),
                               std::max<std::size_t>(text_size_ + bytes, text_capacity_)));
}

void header_list::append(std::string_view name, std::string_view value) {
  auto const bytes = name.size() + value.size();
  header_view* retired = nullptr;  // freed after the copy: name and value may be our own fields
  if (size_ == field_capacity_ || text_size_ + bytes > text_capacity_) {
    // Doubling, as a vector grows, for fields appended one by one.
    retired = reallocate(std::max<std::size_t>(size_ + 1, 2 * std::size_t{field_capacity_}),
                         std::max<std::size_t>(text_size_ + bytes, 2 * std::size_t{text_capacity_}));
  }
  char* const at = text() + text_size_;
  if (!name.empty()) std::memcpy(at, name.data(), name.size());
  if (!value.empty()) std::memcpy(at + name.size(), value.data(), value.size());
  ::new (static_cast<void*>(views_ + size_))
      header_view{std::string_view(at, name.size()), std::string_view(at + name.size(), value.size())};
  ++size_;
  text_size_ += static_cast<std::uint32_t>(bytes);
  ::operator delete(retired);
}

header_view* header_list::reallocate(std::size_t fields, std::size_t bytes) {
  constexpr std::size_t most = std::numeric_limits<std::uint32_t>::max();
  if (fields > most || bytes > most) throw std::length_error("tether::header_list: too many header bytes");
  auto* const fresh = static_cast<header_view*>(::operator new(fields * sizeof(header_view) + bytes));
  char* const fresh_text = reinterpret_cast<char*>(fresh + fields);
  char const* const old_text = text();
  if (text_size_ > 0) std::memcpy(fresh_text, old_text, text_size_);
  // The views move with their text: same offsets in the new block.
  for (std::uint32_t i = 0; i < size_; ++i) {
    auto const& old = views_[i];
    char const* const name = fresh_text + (old.name.data() - old_text);
    ::new (static_cast<void*>(fresh + i))
        header_view{std::string_view(name, old.name.size()), std::string_view(name + old.name.size(), old.value.size())};
  }
  field_capacity_ = static_cast<std::uint32_t>(fields);
  text_capacity_ = static_cast<std::uint32_t>(bytes);
  return std::exchange(views_, fresh);
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
