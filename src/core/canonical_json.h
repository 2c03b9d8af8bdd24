// JSON Canonicalization Scheme (RFC 8785). The canonical form is what gets
// hashed for action digests and audit leaves, so it must be byte-exact:
// ECMAScript number formatting, object keys sorted by UTF-16 code units,
// minimal string escaping, no whitespace.
#pragma once

#include <string>
#include <string_view>

#include <boost/json/value.hpp>

#include "core/error.h"

namespace countersign {

// Canonical text of a parsed value. Integers are treated as IEEE-754 doubles,
// as RFC 8785 requires. Fails on NaN/Infinity (not representable in JSON).
Result<std::string> canonicalize(const boost::json::value& value);

// Parses JSON text and returns its canonical form; fails on malformed input
// or duplicate object keys.
Result<std::string> canonicalize_text(std::string_view json_text);

// Parses JSON text exactly, for anything that will be hashed: refuses
// duplicate object keys; integers (no fraction or exponent) that fit int64
// stay integers; every other number becomes the correctly rounded double
// (boost::json 1.81's own parse can be one ulp off).
Result<boost::json::value> parse_json(std::string_view json_text);

// ECMAScript Number::toString for a finite double (RFC 8785 section 3.2.2.3).
std::string format_es_number(double value);

}  // namespace countersign
