// Escaping text for HTML pages the gateway renders itself (the evidence
// report, the sign-in error page). Never builds markup: callers do.
#pragma once

#include <string>
#include <string_view>

namespace countersign {

// Escapes &, <, >, " and ' so that text is safe in element content and in
// quoted attribute values.
std::string html_escape(std::string_view text);

}  // namespace countersign
