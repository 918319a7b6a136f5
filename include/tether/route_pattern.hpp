#pragma once
// A route's target pattern: static segments, {name} parameters and a
// trailing *, matched against a request's decoded, normalised segments.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tether {

class route_pattern {
 public:
  enum class segment_kind : std::uint8_t { wildcard, parameter, literal };  // ascending specificity

  struct segment {
    segment_kind kind = segment_kind::literal;
    std::string text{};  // the literal, or the parameter's name
    bool operator==(segment const&) const = default;
  };

  /// Throws std::invalid_argument naming the pattern when it does not start
  /// with '/', has an empty or repeated {name}, braces inside a segment, or
  /// a '*' that is not the whole last segment.
  explicit route_pattern(std::string source);

  /// On a match, appends the parameters (and "*" for the wildcard's
  /// remainder, joined with '/') to `params`.
  bool match(std::vector<std::string> const& segments,
             std::vector<std::pair<std::string, std::string>>* params = nullptr) const;

  /// Whether two patterns would match the same targets (names aside).
  bool same_shape(route_pattern const& other) const noexcept;

  /// Orders by specificity: at the first differing position a literal beats
  /// a parameter, which beats the wildcard; a longer literal prefix wins.
  static bool more_specific(route_pattern const& a, route_pattern const& b) noexcept;

  std::string const& source() const noexcept { return source_; }
  std::vector<segment> const& segments() const noexcept { return segments_; }

 private:
  std::string source_;
  std::vector<segment> segments_;
};

}  // namespace tether
