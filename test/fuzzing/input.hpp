#pragma once
// What the fuzz targets share: splitting the input into lines, and an
// invariant check that libFuzzer reports as a crash.

#include <string_view>

namespace fuzzing {

inline std::string_view next_line(std::string_view& input) {
  auto const newline = input.find('\n');
  auto const line = input.substr(0, newline);
  input = newline == std::string_view::npos ? std::string_view{} : input.substr(newline + 1);
  return line;
}

inline void check(bool invariant) {
  if (!invariant) __builtin_trap();
}

}  // namespace fuzzing
