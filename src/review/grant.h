// Grants: the one-shot capability an approval creates. A grant is bound to
// the action digest and expires; redeeming it is a single atomic step in the
// store, so two concurrent redemptions can never both succeed.
#pragma once

#include <optional>
#include <string>

#include "core/clock.h"

namespace countersign::review {

struct Grant {
  std::string id;           // "gr_..."
  std::string review_id;
  std::string digest;       // the action digest it is bound to
  std::string requester;    // subject that may redeem it
  Millis created_at = 0;
  Millis expires_at = 0;
  std::optional<Millis> redeemed_at;
};

}  // namespace countersign::review
