#include "doors/mcp/governance.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/canonical_json.h"
#include "core/hash.h"
#include "doors/mcp/jsonrpc.h"

namespace countersign::doors::mcp {

const std::vector<std::string>& supported_versions() {
  static const std::vector<std::string> versions = {"2025-11-25", "2025-06-18"};
  return versions;
}

bool is_supported_version(std::string_view version) {
  const auto& versions = supported_versions();
  return std::find(versions.begin(), versions.end(), version) != versions.end();
}

std::string negotiate_version(std::string_view requested) {
  return is_supported_version(requested) ? std::string(requested) : supported_versions().front();
}

Result<gateway::ActionRequest> tool_call_action(const std::string& target,
                                                const boost::json::value& params,
                                                const std::string& client_address,
                                                const std::string& session) {
  const auto* object = params.if_object();
  if (object == nullptr) return fail(ErrorCode::invalid_argument, "tools/call needs params");
  const auto* name = object->if_contains("name");
  if (name == nullptr || !name->is_string() || name->get_string().empty())
    return fail(ErrorCode::invalid_argument, "tools/call needs params.name (the tool's name)");
  gateway::ActionRequest request;
  request.door = std::string(kDoor);
  request.target = target;
  request.verb = std::string(kToolCallPrefix) + std::string(name->get_string());
  if (request.verb.size() > 256)
    return fail(ErrorCode::invalid_argument, "the tool name is longer than 245 characters");
  if (const auto* arguments = object->if_contains("arguments");
      arguments != nullptr && !arguments->is_null()) {
    if (!arguments->is_object())
      return fail(ErrorCode::invalid_argument, "tools/call params.arguments must be an object");
    request.params = *arguments;
  }
  request.client_address = client_address;
  if (!session.empty()) request.session = session;
  return request;
}

std::optional<boost::json::value> progress_token(const boost::json::value& params) {
  const auto* object = params.if_object();
  if (object == nullptr) return std::nullopt;
  const auto* meta = object->if_contains("_meta");
  if (meta == nullptr || !meta->is_object()) return std::nullopt;
  const auto* token = meta->get_object().if_contains("progressToken");
  if (token == nullptr || !(token->is_string() || token->is_int64() || token->is_uint64()))
    return std::nullopt;
  return *token;
}

bool names_mask_profile(const Decision& decision, const policy::PolicySpec& spec) {
  for (const auto& id : decision.rules)
    for (const auto& rule : spec.rules)
      if (rule.id == id && !rule.mask_profile.empty()) return true;
  return false;
}

boost::json::value mask_tool_result(const boost::json::value& result,
                                    const mask::MaskProfile& profile) {
  const auto* object = result.if_object();
  if (object == nullptr) return mask::mask_json(result, profile).value;
  boost::json::object out = *object;
  // Text blocks may hold JSON: mask it as JSON so keys count, else as text.
  if (auto* content = out.if_contains("content"); content && content->is_array()) {
    for (auto& block : content->get_array()) {
      auto* item = block.if_object();
      if (item == nullptr) continue;
      if (auto* text = item->if_contains("text"); text && text->is_string())
        *text = mask::mask_body(std::string_view(text->get_string()), profile).body;
      if (auto* resource = item->if_contains("resource"); resource && resource->is_object()) {
        if (auto* text = resource->get_object().if_contains("text"); text && text->is_string())
          *text = mask::mask_body(std::string_view(text->get_string()), profile).body;
      }
    }
  }
  if (auto* structured = out.if_contains("structuredContent"); structured && !structured->is_null())
    *structured = mask::mask_json(*structured, profile).value;
  return out;
}

boost::json::object tool_error_result(std::string text) {
  return {{"content", boost::json::array{{{"type", "text"}, {"text", std::move(text)}}}},
          {"isError", true}};
}

boost::json::object denied_message(const boost::json::value& id, const gateway::Outcome& outcome,
                                   config::McpDenyAs deny_as) {
  boost::json::array rules;
  for (const auto& rule : outcome.decision.rules) rules.emplace_back(rule);
  const std::string text =
      fmt::format("countersign denied {}: {}", outcome.action.verb, outcome.decision.reason);
  boost::json::object data = {{"decision", "deny"},
                              {"rules", rules},
                              {"reason", outcome.decision.reason},
                              {"action_id", outcome.action.id}};
  if (deny_as == config::McpDenyAs::tool_error) {
    boost::json::object result = tool_error_result(text);
    result["_meta"] = {{"countersign", std::move(data)}};
    return make_result(id, std::move(result));
  }
  boost::json::value data_value = std::move(data);
  return make_error(id, jsonrpc_code::denied, text, &data_value);
}

std::string review_url(const review::Review& review, const std::string& public_url) {
  return fmt::format("{}/v1/reviews/{}", public_url, review.id);
}

std::string held_message(const std::string& tool, const review::Review& review,
                         const std::string& public_url) {
  return fmt::format(
      "{} is waiting for human approval: review {} (approve at {} or `countersign reviews approve "
      "{}`)",
      tool, review.id, review_url(review, public_url), review.id);
}

boost::json::object held_progress(const boost::json::value& token, double progress,
                                  const std::string& message) {
  return make_notification(
      "notifications/progress",
      {{"progressToken", token}, {"progress", progress}, {"message", message}});
}

boost::json::object review_meta(const review::Review& review, const std::string& public_url) {
  boost::json::object meta = {{"review_id", review.id},
                              {"state", review::state_name(review.state)},
                              {"review_url", review_url(review, public_url)}};
  if (!review.outcome_reason.empty()) meta["reason"] = review.outcome_reason;
  return meta;
}

boost::json::object review_ended_result(const std::string& tool, const review::Review& review) {
  std::string text = fmt::format("countersign: {} was not run: review {} was {}", tool, review.id,
                                 review::state_name(review.state));
  if (!review.outcome_reason.empty()) text += fmt::format(" ({})", review.outcome_reason);
  boost::json::object result = tool_error_result(std::move(text));
  result["_meta"] = {{"countersign", review_meta(review, "")}};
  result["_meta"].as_object()["countersign"].as_object().erase("review_url");
  return result;
}

boost::json::object hold_timeout_result(const std::string& tool, const review::Review& review,
                                        const std::string& public_url) {
  std::string text = fmt::format(
      "countersign: {} is still pending review {} (approve at {}). Nothing was run. Once it is "
      "approved, make the identical call again to run it once.",
      tool, review.id, review_url(review, public_url));
  boost::json::object result = tool_error_result(std::move(text));
  result["_meta"] = {{"countersign", review_meta(review, public_url)}};
  return result;
}

Result<ToolFilter> ToolFilter::build(const policy::PolicySpec& spec) {
  policy::PolicySpec could_pass;
  could_pass.default_effect = spec.default_effect;
  policy::PolicySpec could_review;
  could_review.default_effect = Effect::allow;
  for (const auto& rule : spec.rules) {
    policy::RuleSpec copy = rule;
    copy.when.clear();
    if (rule.effect == Effect::deny) {
      // Only unconditional denies hide a tool; a conditional one may not apply.
      if (rule.when.empty()) could_pass.rules.push_back(copy);
    } else {
      could_pass.rules.push_back(copy);
    }
    if (rule.effect == Effect::review) could_review.rules.push_back(std::move(copy));
  }
  auto pass = policy::Policy::compile(could_pass);
  if (!pass) return std::unexpected(pass.error());
  auto review = policy::Policy::compile(could_review);
  if (!review) return std::unexpected(review.error());
  return ToolFilter(std::move(*pass), std::move(*review));
}

namespace {
Action tool_action(const Identity& actor, const std::string& target, const std::string& tool) {
  Action action;
  action.id = "tools-list";
  action.actor = actor;
  action.door = std::string(kDoor);
  action.target = target;
  action.verb = std::string(kToolCallPrefix) + tool;
  return action;
}
}  // namespace

bool ToolFilter::hidden(const Identity& actor, const std::string& target,
                        const std::string& tool) const {
  return could_pass_.decide(tool_action(actor, target, tool)).effect == Effect::deny;
}

bool ToolFilter::may_need_review(const Identity& actor, const std::string& target,
                                 const std::string& tool) const {
  return could_review_.decide(tool_action(actor, target, tool)).effect == Effect::review;
}

void ToolFilter::apply(boost::json::value& result, const Identity& actor,
                       const std::string& target) const {
  auto* object = result.if_object();
  if (object == nullptr) return;
  auto* tools = object->if_contains("tools");
  if (tools == nullptr || !tools->is_array()) return;
  boost::json::array kept;
  for (auto& tool : tools->get_array()) {
    auto* definition = tool.if_object();
    if (definition == nullptr) continue;
    const auto* name = definition->if_contains("name");
    if (name == nullptr || !name->is_string()) continue;
    const std::string tool_name(name->get_string());
    if (hidden(actor, target, tool_name)) continue;
    if (may_need_review(actor, target, tool_name)) {
      std::string description;
      if (const auto* text = definition->if_contains("description"); text && text->is_string())
        description = std::string(text->get_string());
      description += description.empty() ? "" : "\n\n";
      description +=
          "[countersign] Calls to this tool may need a human's approval; a call waits for it.";
      (*definition)["description"] = description;
    }
    kept.push_back(std::move(tool));
  }
  *tools = std::move(kept);
}

std::string tool_fingerprint(const boost::json::object& tool) {
  boost::json::object subset;
  for (const char* key :
       {"name", "title", "description", "inputSchema", "outputSchema", "annotations"})
    if (const auto* value = tool.if_contains(key)) subset[key] = *value;
  auto canonical = canonicalize(subset);
  return sha256_hex(canonical ? *canonical : std::string());
}

}  // namespace countersign::doors::mcp
