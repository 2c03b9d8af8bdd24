// The `when` language of policy rules: a subset of Google's Common Expression
// Language (CEL) over one root variable, `action`. Expressions are parsed and
// type-checked once at load; evaluation walks the checked tree against an
// Action and reads `action.params` in place (no copy of the JSON).
//
// Supported: int, double, string (quotes, triple quotes, raw r"..", escapes),
// bool, null, list and map literals; `.` field access, `[]`, `in`, `&&`, `||`,
// `!`, `?:`, == != < <= > >=, + - * / % (string and list `+` concatenate),
// unary minus, has(x.f), size(x) / x.size(), startsWith, endsWith, contains,
// matches (a linear-time regex subset, see regex.h), and the macros exists,
// all, exists_one, filter and map.
//
// Differences from full CEL, on purpose: no unsigned or bytes literals; JSON
// numbers that are integral load as int, others as double; division by zero
// is an error for doubles too (CEL gives infinity); `matches` uses the subset
// in regex.h. Comparing values of different types with == gives false, except
// int and double, which compare numerically (as in current CEL).
//
// Runtime errors are values: `&&` and `||` absorb an error when the other
// side decides the result (false && error == false), as in CEL; anything else
// that touches an error yields it. Evaluation never throws and never performs
// I/O; the only allocations are for values it builds (concatenations, lists).
#pragma once

#include <cstddef>
#include <expected>
#include <memory>
#include <string>
#include <string_view>

#include "core/action.h"

namespace countersign::policy {

// A parse or type error, at a byte offset into the expression text.
struct ExpressionError {
  std::size_t offset = 0;
  std::string message;
};

// What one evaluation produced. `errored` means the expression did not reach a
// bool (missing key, type mismatch, division by zero, ...); the caller decides
// how to fail closed.
struct EvaluationResult {
  bool value = false;
  bool errored = false;
  std::string error;
};

class Expression {
 public:
  static std::expected<Expression, ExpressionError> compile(std::string_view text);

  EvaluationResult evaluate(const Action& action) const;

  const std::string& text() const;

  struct Program;

 private:
  explicit Expression(std::shared_ptr<const Program> program) : program_(std::move(program)) {}
  std::shared_ptr<const Program> program_;
};

}  // namespace countersign::policy
