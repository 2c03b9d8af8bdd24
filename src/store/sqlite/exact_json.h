// Parsing JSON read back from the database so that every number is the
// correctly rounded double of its text. boost::json 1.81's own parse can be
// one ulp off, and a stored audit body whose numbers change on the way back
// would no longer hash to its stored leaf. This must never accept what
// boost::json rejects, nor duplicate object keys.
//
// The same reader is inside core/canonical_json.cc (canonicalize_text); it
// belongs in core next to it once canonical_json.h can grow a parse function.
#pragma once

#include <string_view>

#include <boost/json/value.hpp>

#include "core/error.h"

namespace countersign::store {

Result<boost::json::value> parse_exact_json(std::string_view text);

}  // namespace countersign::store
