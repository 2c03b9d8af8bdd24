#include "core/error.h"

#include <fmt/format.h>

namespace countersign {

std::string_view error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::invalid_argument: return "invalid_argument";
    case ErrorCode::unauthenticated: return "unauthenticated";
    case ErrorCode::permission_denied: return "permission_denied";
    case ErrorCode::not_found: return "not_found";
    case ErrorCode::conflict: return "conflict";
    case ErrorCode::failed_precondition: return "failed_precondition";
    case ErrorCode::too_large: return "too_large";
    case ErrorCode::unavailable: return "unavailable";
    case ErrorCode::internal: return "internal";
  }
  return "internal";
}

std::string located(const SourceLocation& where, std::string_view message) {
  if (where.file.empty() && where.line == 0) return std::string(message);
  if (where.column > 0) return fmt::format("{}:{}:{}: {}", where.file, where.line, where.column, message);
  return fmt::format("{}:{}: {}", where.file, where.line, message);
}

}  // namespace countersign
