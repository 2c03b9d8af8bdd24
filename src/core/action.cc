#include "core/action.h"

#include "core/canonical_json.h"
#include "core/hash.h"

namespace countersign {

Result<std::string> action_digest(const Action& action) {
  boost::json::object bound;
  bound["actor"] = action.actor.subject;
  bound["door"] = action.door;
  bound["target"] = action.target;
  bound["verb"] = action.verb;
  bound["params"] = action.params;
  auto canonical = canonicalize(bound);
  if (!canonical) return std::unexpected(canonical.error());
  return sha256_hex(*canonical);
}

}  // namespace countersign
