#include "doors/actions/actions_door.h"

#include <fmt/format.h>

namespace countersign::doors::actions {

Result<gateway::ActionRequest> parse_action_request(const boost::json::value& body,
                                                    const std::string& client_address) {
  const auto* object = body.if_object();
  if (object == nullptr)
    return fail(ErrorCode::invalid_argument, "the body must be a JSON object");
  for (const auto& [key, value] : *object) {
    if (key != "target" && key != "verb" && key != "params" && key != "reason")
      return fail(ErrorCode::invalid_argument,
                  fmt::format("unknown field '{}' (expected target, verb, params, reason)",
                              std::string_view(key)));
  }
  gateway::ActionRequest request;
  request.door = std::string(kDoor);
  request.client_address = client_address;
  auto text_field = [&](const char* name, bool required) -> Result<std::optional<std::string>> {
    const auto* value = object->if_contains(name);
    if (value == nullptr || value->is_null()) {
      if (required) return fail(ErrorCode::invalid_argument, fmt::format("'{}' is required", name));
      return std::optional<std::string>();
    }
    if (!value->is_string())
      return fail(ErrorCode::invalid_argument, fmt::format("'{}' must be a string", name));
    return std::optional<std::string>(std::string(value->get_string()));
  };
  auto target = text_field("target", true);
  if (!target) return std::unexpected(target.error());
  auto verb = text_field("verb", true);
  if (!verb) return std::unexpected(verb.error());
  auto reason = text_field("reason", false);
  if (!reason) return std::unexpected(reason.error());
  request.target = **target;
  request.verb = **verb;
  request.reason = *reason;
  if (const auto* params = object->if_contains("params"); params && !params->is_null()) {
    if (!params->is_object())
      return fail(ErrorCode::invalid_argument, "'params' must be a JSON object");
    request.params = *params;
  }
  return request;
}

Result<std::map<std::string, std::string>> resolve_target_secrets(const config::Target& target) {
  std::map<std::string, std::string> secrets;
  for (const auto& [name, reference] : target.secrets) {
    auto value = config::resolve_secret(reference);
    if (!value)
      return fail(ErrorCode::failed_precondition,
                  fmt::format("target '{}': secret {} is unavailable ({})", target.name, name,
                              reference.reference));
    secrets[name] = std::move(*value);
  }
  return secrets;
}

boost::json::object outcome_json(const gateway::Outcome& outcome,
                                 const std::map<std::string, std::string>& secrets,
                                 const std::string& public_url) {
  boost::json::object out;
  const Decision& decision = outcome.decision;
  boost::json::array rules;
  for (const auto& rule : decision.rules) rules.emplace_back(rule);
  out["action_id"] = outcome.action.id;
  out["digest"] = outcome.digest;
  out["rules"] = std::move(rules);
  out["reason"] = decision.reason;
  if (outcome.execute) {
    out["decision"] = "allow";
    if (outcome.redeemed_grant) {
      out["grant"] = {{"id", outcome.redeemed_grant->id},
                      {"review_id", outcome.redeemed_grant->review_id},
                      {"redeemed", true}};
    }
    boost::json::object environment;
    for (const auto& [name, value] : secrets) environment[name] = value;
    out["execution"] = {{"env", std::move(environment)}};
  } else if (decision.effect == Effect::deny) {
    out["decision"] = "deny";
  } else {
    out["decision"] = "review";
  }
  if (outcome.review) {
    for (auto& [key, value] : review_json(*outcome.review, public_url))
      if (key != "decision") out[key] = value;
  }
  return out;
}

boost::json::object review_json(const review::Review& review, const std::string& public_url) {
  boost::json::object out;
  const bool pending = review.state == review::ReviewState::pending;
  out["decision"] = pending ? "review" : review::state_name(review.state);
  out["review_id"] = review.id;
  out["state"] = review::state_name(review.state);
  out["review_url"] = fmt::format("{}/v1/reviews/{}", public_url, review.id);
  out["expires_at"] = format_time(review.expires_at);
  if (!review.outcome_reason.empty()) out["outcome_reason"] = review.outcome_reason;
  return out;
}

}  // namespace countersign::doors::actions
