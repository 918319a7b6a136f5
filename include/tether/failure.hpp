#pragma once
// The one way every Tether operation reports that it failed.

#include <tether/error.hpp>

#include <boost/assert/source_location.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/error_condition.hpp>
#include <boost/system/result.hpp>

#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>

namespace tether {

/// Why an operation failed: an error code (a tether::error, or the system's
/// or OpenSSL's), and where we have them our own words (which step failed,
/// with which address or file) and, for a refused upgrade, the HTTP status
/// and body. Every operation fails with this type:
///
///   - an operation that yields a value returns `result<T>`
///     (`boost::system::result<T, failure>`): read(), connect(), accept();
///   - one that yields nothing returns the failure itself, empty on
///     success: write(), ping(), close(), keep_connected().
///
/// Like error_code (and unlike result), a failure is true when something
/// failed: `if (auto failed = co_await ws.write(m)) ...`. It converts to
/// `error_code const&` and compares with error enums, so
/// `failed == tether::error::closed` works. Copying one is cheap: the words
/// are shared and only failures that have them allocate.
class failure {
 public:
  failure() noexcept = default;
  failure(boost::system::error_code code) noexcept : code_(code) {}  // NOLINT: implicit on purpose
  /// From tether::error, or any other error code enum (Asio's, errc).
  template <class E>
    requires boost::system::is_error_code_enum<E>::value
  failure(E e) noexcept : code_(e) {}  // NOLINT: implicit on purpose
  /// `detail`: our own sentence; `http_status` and `http_body`: the
  /// refusal the peer sent (connect) or we sent (accept).
  failure(boost::system::error_code code, std::string detail, int http_status = 0, std::string http_body = {});

  explicit operator bool() const noexcept { return code_.failed(); }
  bool failed() const noexcept { return code_.failed(); }

  boost::system::error_code const& code() const noexcept { return code_; }
  operator boost::system::error_code const&() const noexcept { return code_; }  // NOLINT: implicit on purpose

  /// One sentence for a user: our words if we have them, else the code's,
  /// then "(HTTP <status>)" for a refusal. No source locations.
  std::string message() const;
  /// Our own words alone; empty when the code says it all.
  std::string_view detail() const noexcept;
  /// The status of a refused upgrade; 0 for other failures.
  int http_status() const noexcept;
  /// The body of a refused upgrade: untrusted peer input on the client side.
  std::string_view http_body() const noexcept;

  friend bool operator==(failure const& a, failure const& b) noexcept { return a.code_ == b.code_; }
  friend bool operator==(failure const& f, boost::system::error_code const& code) noexcept { return f.code_ == code; }
  friend bool operator==(failure const& f, boost::system::error_condition const& condition) noexcept {
    return f.code_ == condition;
  }
  template <class E>
    requires boost::system::is_error_code_enum<E>::value
  friend bool operator==(failure const& f, E e) noexcept {
    return f.code_ == e;
  }
  template <class E>
    requires boost::system::is_error_condition_enum<E>::value
  friend bool operator==(failure const& f, E e) noexcept {
    return f.code_ == e;
  }

 private:
  struct words;
  boost::system::error_code code_{};
  std::shared_ptr<words const> words_{};
};

/// Writes message().
std::ostream& operator<<(std::ostream& out, failure const& f);

/// What `result<T>::value()` throws on failure: a
/// boost::system::system_error whose what() is failure::message().
[[noreturn]] void throw_exception_from_error(failure const& f, boost::source_location const& location);

/// A value, or the failure that prevented it.
template <class T>
using result = boost::system::result<T, failure>;

}  // namespace tether
