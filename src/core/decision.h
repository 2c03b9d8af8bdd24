// What policy says about an Action, and the approval flow a review follows.
// These are plain data: policy produces them, review and doors consume them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"

namespace countersign {

// Ordered by restrictiveness: when several rules match, the greatest wins.
enum class Effect { allow = 0, review = 1, deny = 2 };

std::string_view effect_name(Effect effect);
std::optional<Effect> parse_effect(std::string_view name);

// One step of an approval flow. Approvers are "group:NAME" or "user:SUBJECT".
struct FlowStep {
  std::vector<std::string> approvers;
  int quorum = 1;                            // distinct approvers needed; 0 means "all"
  Millis escalate_after = 0;                 // 0: never escalates by time
  std::vector<std::string> escalate_to;      // approvers added when the step escalates
};

struct Flow {
  std::vector<FlowStep> steps;  // every step must pass, in order
  Millis expires_after = 3'600'000;
  bool require_reason = false;  // approvals need a reason (rejections always do)
  Millis grant_ttl = 300'000;   // how long an approval stays redeemable
};

struct Decision {
  Effect effect = Effect::deny;
  std::vector<std::string> rules;  // ids of every rule that matched
  std::string reason;              // human-readable: why this effect
  std::optional<Flow> flow;        // set when effect == review
  std::string mask_profile = "default";
};

}  // namespace countersign
