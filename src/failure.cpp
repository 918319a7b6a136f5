#include <tether/failure.hpp>

#include <boost/system/system_error.hpp>

#include <ostream>

namespace tether {

struct failure::words {
  std::string detail;
  int http_status;
  std::string http_body;
};

failure::failure(boost::system::error_code code, std::string detail, int http_status, std::string http_body)
    : code_(code) {
  if (!detail.empty() || http_status != 0 || !http_body.empty())
    words_ = std::make_shared<words const>(words{std::move(detail), http_status, std::move(http_body)});
}

std::string failure::message() const {
  std::string text = words_ && !words_->detail.empty() ? words_->detail : code_.message();
  if (http_status() != 0) text += " (HTTP " + std::to_string(http_status()) + ")";
  return text;
}

std::string_view failure::detail() const noexcept { return words_ ? std::string_view(words_->detail) : std::string_view(); }

int failure::http_status() const noexcept { return words_ ? words_->http_status : 0; }

std::string_view failure::http_body() const noexcept {
  return words_ ? std::string_view(words_->http_body) : std::string_view();
}

std::ostream& operator<<(std::ostream& out, failure const& f) { return out << f.message(); }

namespace {

// boost::system::system_error's what() appends "[system:111 at
// /usr/include/boost/...]" to our sentence: words for users only here.
class failure_exception : public boost::system::system_error {
 public:
  failure_exception(boost::system::error_code code, std::string text) : system_error(code), text_(std::move(text)) {}
  char const* what() const noexcept override { return text_.c_str(); }

 private:
  std::string text_;
};

}  // namespace

void throw_exception_from_error(failure const& f, boost::source_location const&) {
  throw failure_exception(f.code(), f.message());
}

}  // namespace tether
