#include <tether/route_pattern.hpp>

#include <algorithm>
#include <stdexcept>

namespace tether {

namespace {

[[noreturn]] void malformed(std::string const& source, std::string const& why) {
  throw std::invalid_argument("tether::router: malformed route \"" + source + "\": " + why);
}

}  // namespace

route_pattern::route_pattern(std::string source) : source_(std::move(source)) {
  if (source_.empty() || source_.front() != '/') malformed(source_, "it must start with '/'");
  std::string_view rest(source_);
  rest.remove_prefix(1);
  if (rest.empty()) return;  // "/"
  std::vector<std::string_view> names;
  for (;;) {
    auto const slash = rest.find('/');
    std::string_view const text = rest.substr(0, slash);
    bool const last = slash == std::string_view::npos;
    if (text == "*") {
      if (!last) malformed(source_, "'*' must be the last segment");
      segments_.push_back({segment_kind::wildcard, "*"});
    } else if (text.starts_with('{') && text.ends_with('}')) {
      auto const name = text.substr(1, text.size() - 2);
      if (name.empty() || name.find_first_of("{}/*") != std::string_view::npos)
        malformed(source_, "a parameter needs a plain name, like {room}");
      if (std::find(names.begin(), names.end(), name) != names.end())
        malformed(source_, "parameter {" + std::string(name) + "} appears twice");
      names.push_back(name);
      segments_.push_back({segment_kind::parameter, std::string(name)});
    } else {
      if (text.find_first_of("{}*") != std::string_view::npos)
        malformed(source_, "'{', '}' and '*' must fill a whole segment");
      segments_.push_back({segment_kind::literal, std::string(text)});
    }
    if (last) break;
    rest.remove_prefix(slash + 1);
  }
}

bool route_pattern::match(std::vector<std::string> const& segments,
                          std::vector<std::pair<std::string, std::string>>* params) const {
  std::size_t const fixed = segments_.size() - (!segments_.empty() && segments_.back().kind == segment_kind::wildcard);
  bool const open_ended = fixed != segments_.size();
  if (segments.size() < fixed || (!open_ended && segments.size() != fixed)) return false;
  for (std::size_t i = 0; i < fixed; ++i)
    if (segments_[i].kind == segment_kind::literal && segments_[i].text != segments[i]) return false;
  if (!params) return true;
  for (std::size_t i = 0; i < fixed; ++i)
    if (segments_[i].kind == segment_kind::parameter) params->emplace_back(segments_[i].text, segments[i]);
  if (open_ended) {
    std::string rest;
    for (std::size_t i = fixed; i < segments.size(); ++i) {
      if (i > fixed) rest += '/';
      rest += segments[i];
    }
    params->emplace_back("*", std::move(rest));
  }
  return true;
}

bool route_pattern::same_shape(route_pattern const& other) const noexcept {
  if (segments_.size() != other.segments_.size()) return false;
  for (std::size_t i = 0; i < segments_.size(); ++i) {
    auto const& a = segments_[i];
    auto const& b = other.segments_[i];
    if (a.kind != b.kind) return false;
    if (a.kind == segment_kind::literal && a.text != b.text) return false;
  }
  return true;
}

bool route_pattern::more_specific(route_pattern const& a, route_pattern const& b) noexcept {
  auto const& x = a.segments_;
  auto const& y = b.segments_;
  for (std::size_t i = 0; i < std::min(x.size(), y.size()); ++i)
    if (x[i].kind != y[i].kind) return x[i].kind > y[i].kind;
  // Both matched one target, so the longer one ends in a wildcard that
  // matched nothing: the shorter, exact pattern is more specific.
  return x.size() < y.size();
}

}  // namespace tether
