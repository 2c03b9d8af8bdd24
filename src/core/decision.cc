#include "core/decision.h"

namespace countersign {

std::string_view effect_name(Effect effect) {
  switch (effect) {
    case Effect::allow: return "allow";
    case Effect::review: return "review";
    case Effect::deny: return "deny";
  }
  return "deny";
}

std::optional<Effect> parse_effect(std::string_view name) {
  if (name == "allow") return Effect::allow;
  if (name == "review") return Effect::review;
  if (name == "deny") return Effect::deny;
  return std::nullopt;
}

}  // namespace countersign
