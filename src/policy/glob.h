// Glob patterns for rule match lists: '*' matches any run of characters
// (including none), '?' exactly one byte, '\' makes the next character
// literal. Patterns are checked once at load and classified so the common
// shapes (exact, "prefix*", "*suffix", "*") match without a general scan.
// Matching costs at most O(pattern x value), never recurses and never
// allocates, so an adversarial value cannot make it slow.
#pragma once

#include <string>
#include <string_view>

#include "core/error.h"

namespace countersign::policy {

class Glob {
 public:
  enum class Shape { exact, prefix, suffix, any, general };

  // Fails on an empty pattern, a dangling '\', control characters and
  // '[' / ']' (character classes are not supported, so a pattern that looks
  // like one is almost certainly a mistake rather than a literal).
  static Result<Glob> parse(std::string_view pattern);

  bool matches(std::string_view value) const;

  Shape shape() const { return shape_; }
  // The text as written in the configuration.
  const std::string& pattern() const { return pattern_; }
  // The characters every match starts with (the pattern up to its first
  // wildcard, unescaped). For an exact pattern this is the whole literal.
  const std::string& literal_prefix() const { return prefix_; }

 private:
  Glob() = default;

  std::string pattern_;
  Shape shape_ = Shape::general;
  std::string prefix_;  // exact: the literal; prefix: before the '*'
  std::string suffix_;  // suffix: after the '*'
  // For the general shape: the pattern with escapes resolved, where escaped
  // wildcards are kept apart from real ones by the parallel literal_ mask.
  std::string tokens_;
  std::string literal_;  // '1' when tokens_[i] is a literal character
};

}  // namespace countersign::policy
