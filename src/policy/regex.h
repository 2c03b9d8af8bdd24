// A small regular-expression engine for the CEL `matches` function. The
// pattern may come from configuration or from an agent's parameters, and the
// text always comes from an agent, so matching must stay linear: the pattern
// is compiled to a Thompson NFA and simulated one input byte at a time
// (O(pattern x text), no backtracking, no recursion while matching).
//
// Supported (an RE2 subset): literals, '.', character classes "[a-z]",
// "[^...]", escapes \d \D \w \W \s \S and escaped punctuation, anchors '^'
// and '$', groups "(...)" and "(?:...)", alternation '|', quantifiers '*',
// '+', '?', "{n}", "{n,}", "{n,m}" (n, m <= 100; lazy forms are accepted and
// mean the same, since only "does it match" is asked). Not supported:
// backreferences, lookaround, named classes, flags. Matching is on bytes: '.'
// and classes consume one byte, so a multi-byte UTF-8 character counts as
// several. Like RE2 (and CEL), a match may start anywhere unless anchored.
// This file must never use std::regex or any backtracking matcher.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace countersign::policy {

class Regex {
 public:
  // Fails on malformed or unsupported syntax and on patterns that compile to
  // more than a few thousand NFA states. The error message says what is wrong
  // and where (byte offset into the pattern).
  static Result<Regex> compile(std::string_view pattern);

  // True when the pattern matches anywhere in text. Allocates only state
  // lists sized by the program, never anything sized by the text.
  bool search(std::string_view text) const;

  struct Instruction;

 private:
  Regex() = default;
  std::shared_ptr<const std::vector<Instruction>> program_;
};

}  // namespace countersign::policy
