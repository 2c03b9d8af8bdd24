// JSON Canonicalization Scheme (RFC 8785). The canonical form is what gets
// hashed for action digests and audit leaves, so it must be byte-exact:
// ECMAScript number formatting, object keys sorted by UTF-16 code units,
// minimal string escaping, no whitespace.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

#include "core/error.h"

namespace countersign {

// Canonical text of a parsed value. Integers are treated as IEEE-754 doubles,
// as RFC 8785 requires. Fails on NaN/Infinity (not representable in JSON).
Result<std::string> canonicalize(const boost::json::value& value);

// Appends the canonical text of a value (or object, or string) to `out`,
// for callers that assemble a canonical document from known parts. On
// failure `out` holds a partial text and must be discarded.
Result<void> append_canonical(std::string& out, const boost::json::value& value);
Result<void> append_canonical(std::string& out, const boost::json::object& object);
Result<void> append_canonical_string(std::string& out, std::string_view text);
// An integer as RFC 8785 writes it (as the double it denotes).
void append_canonical_integer(std::string& out, std::int64_t value);

// RFC 8785 key order: true when `left` sorts before `right` by UTF-16 code
// units. Both must be valid UTF-8.
bool utf16_key_less(std::string_view left, std::string_view right);

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
