#pragma once
// An HTTP request as a handler sees it: for plain HTTP routes and for the
// upgrade request of a WebSocket.

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tether {

struct endpoint {
  std::string address{};  ///< numeric, without brackets ("127.0.0.1", "::1"); empty for a Unix-socket peer
  std::uint16_t port = 0;

  std::string to_string() const;  ///< "127.0.0.1:8080" or "[::1]:8080"
};

struct header_field {
  std::string name{};
  std::string value{};
};

/// A header field of a request: views into the request's own storage, valid
/// while that request lives and its headers are not changed.
struct header_view {
  std::string_view name{};
  std::string_view value{};
};

/// A request's header fields in the order they came, kept in one allocation:
/// each field costs its bytes and two views. A WebSocket's upgrade request
/// lives as long as its handler runs, so this is memory per connection.
/// Fill it with push_back() or a list of header_fields; iterating it gives
/// header_views. Appending may move the storage: views taken before dangle.
class header_list {
 public:
  using value_type = header_view;
  using const_iterator = header_view const*;
  using iterator = const_iterator;

  header_list() noexcept = default;
  header_list(std::initializer_list<header_field> fields);
  header_list(header_list const& other);
  header_list(header_list&& other) noexcept;
  header_list& operator=(header_list const& other);
  header_list& operator=(header_list&& other) noexcept;
  header_list& operator=(std::initializer_list<header_field> fields);
  ~header_list();

  void push_back(header_field const& field) { append(field.name, field.value); }
  void append(std::string_view name, std::string_view value);
  /// Room for `fields` more fields of `bytes` more bytes (names and values)
  /// in all, so that appending them allocates at most once.
  void reserve(std::size_t fields, std::size_t bytes);
  void clear() noexcept;

  const_iterator begin() const noexcept { return views_; }
  const_iterator end() const noexcept { return views_ + size_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  header_view const& front() const noexcept { return views_[0]; }
  header_view const& operator[](std::size_t i) const noexcept { return views_[i]; }

 private:
  // Moves the fields to a block of this size; returns the old one to free.
  header_view* reallocate(std::size_t fields, std::size_t bytes);
  char* text() const noexcept { return reinterpret_cast<char*>(views_ + field_capacity_); }

  header_view* views_ = nullptr;  // field_capacity_ views, then text_capacity_ bytes of text
  std::uint32_t size_ = 0;
  std::uint32_t field_capacity_ = 0;
  std::uint32_t text_size_ = 0;
  std::uint32_t text_capacity_ = 0;
};

struct request {
  std::string method{};  ///< "GET", "POST", ...
  std::string target{};  ///< as sent: path and query, percent-encoded
  std::string path{};    ///< the path, normalised ("." and ".." resolved), still percent-encoded
  std::string query{};   ///< after '?', still encoded; empty when absent
  header_list headers{};
  std::string body{};
  endpoint remote{};
  bool secure = false;  ///< arrived over TLS
  /// The route's {name} parameters, percent-decoded; "*" holds what the
  /// trailing wildcard matched.
  std::vector<std::pair<std::string, std::string>> params{};

  /// The first header with this name (case-insensitive); empty if absent.
  std::string_view header(std::string_view name) const noexcept;
  bool has_header(std::string_view name) const noexcept;
  std::string_view origin() const noexcept { return header("Origin"); }
  /// A route parameter by name; empty if the route has none of that name.
  std::string_view param(std::string_view name) const noexcept;
  /// The first query parameter of this name, percent-decoded ('+' is a
  /// space); nothing if absent.
  std::optional<std::string> query_value(std::string_view name) const;
  /// The subprotocols the client offered (Sec-WebSocket-Protocol), in order.
  std::vector<std::string_view> subprotocols() const;
};

}  // namespace tether
