// Errors as values. Every fallible function on the data path returns
// Result<T>; exceptions are reserved for start-up (config, listeners).
// An Error's message is shown to users: it must never contain a secret.
#pragma once

#include <expected>
#include <string>
#include <string_view>

namespace countersign {

enum class ErrorCode {
  invalid_argument,     // malformed input from the caller
  unauthenticated,      // missing or wrong credentials
  permission_denied,    // authenticated but not allowed (e.g. self-approval)
  not_found,            // unknown review, target, ...
  conflict,             // state changed concurrently, already voted, not pending
  failed_precondition,  // the operation does not fit the current state
  too_large,            // body or field over a configured limit
  unavailable,          // storage or upstream temporarily unreachable
  internal,             // a bug or an unexpected environment failure
};

struct Error {
  ErrorCode code = ErrorCode::internal;
  std::string message;
};

template <typename T>
using Result = std::expected<T, Error>;

// Shorthand for returning an error: `return fail(ErrorCode::not_found, "no review " + id);`
inline std::unexpected<Error> fail(ErrorCode code, std::string message) {
  return std::unexpected(Error{code, std::move(message)});
}

// Stable lowercase name used in JSON error bodies ("not_found", ...).
std::string_view error_code_name(ErrorCode code);

// Where something came from in a source file; line is 1-based, 0 = unknown.
struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;
};

// "file:line: message" (or just the message when the location is unknown).
std::string located(const SourceLocation& where, std::string_view message);

}  // namespace countersign
