// What the MCP door decides and says, without any networking: protocol
// version negotiation, tools/call -> ActionRequest, tools/list filtering,
// and the answers for denied, held, rejected and timed-out calls. The
// Streamable HTTP route (mcp_route.cc) calls these; unit tests call them
// directly.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "config/config.h"
#include "config/mcp_target.h"
#include "core/decision.h"
#include "core/identity.h"
#include "gateway/gateway.h"
#include "mask/mask.h"
#include "policy/policy.h"
#include "review/review.h"

namespace countersign::doors::mcp {

inline constexpr std::string_view kDoor = "mcp";
inline constexpr std::string_view kToolCallPrefix = "tools/call:";

// Protocol versions the door speaks, newest first.
const std::vector<std::string>& supported_versions();
bool is_supported_version(std::string_view version);
// The answer to a client asking for `requested` in initialize: the same
// version when supported, else the newest.
std::string negotiate_version(std::string_view requested);

// tools/call params -> the action the gateway decides on:
// {door: mcp, target, verb: "tools/call:NAME", params: arguments ({} if absent)}.
// Fails (invalid_argument) when name is missing or arguments is not an object.
Result<gateway::ActionRequest> tool_call_action(const std::string& target,
                                                const boost::json::value& params,
                                                const std::string& client_address,
                                                const std::string& session);

// The progress token of a request ({"_meta": {"progressToken": T}}), if any.
std::optional<boost::json::value> progress_token(const boost::json::value& params);

// Whether the decision came from a rule that names a mask profile (results
// then pass through the masking stage).
bool names_mask_profile(const Decision& decision, const policy::PolicySpec& spec);

// Masks the text and structured content of a tools/call result.
boost::json::value mask_tool_result(const boost::json::value& result,
                                    const mask::MaskProfile& profile);

// A CallToolResult with isError: true and one text block.
boost::json::object tool_error_result(std::string text);

// Denied: a JSON-RPC error (code denied, data {rules, reason, action_id}) or,
// with deny_as: tool_error, a tool error result. Returns the whole message.
boost::json::object denied_message(const boost::json::value& id, const gateway::Outcome& outcome,
                                   config::McpDenyAs deny_as);

// Where a human approves the review: {public_url}/v1/reviews/{id}.
std::string review_url(const review::Review& review, const std::string& public_url);

// The message of progress notifications while a call is held.
std::string held_message(const std::string& tool, const review::Review& review,
                         const std::string& public_url);
boost::json::object held_progress(const boost::json::value& token, double progress,
                                  const std::string& message);

// A review that ended without approval (rejected, expired, cancelled): a tool
// error result with the reason.
boost::json::object review_ended_result(const std::string& tool, const review::Review& review);

// The hold ran out with the review still pending.
boost::json::object hold_timeout_result(const std::string& tool, const review::Review& review,
                                        const std::string& public_url);

// The `_meta` countersign adds to a result produced after a review.
boost::json::object review_meta(const review::Review& review, const std::string& public_url);

// tools/list for one actor: drops the tools that policy denies outright for
// it (whatever the arguments), and notes in the description of tools whose
// calls may need a human's approval. Built once per target from the policy.
class ToolFilter {
 public:
  static Result<ToolFilter> build(const policy::PolicySpec& spec);

  // Filters a tools/list result in place.
  void apply(boost::json::value& result, const Identity& actor, const std::string& target) const;

  // hidden: policy denies every call of this tool for this actor.
  bool hidden(const Identity& actor, const std::string& target, const std::string& tool) const;
  bool may_need_review(const Identity& actor, const std::string& target,
                       const std::string& tool) const;

 private:
  ToolFilter(policy::Policy could_pass, policy::Policy could_review)
      : could_pass_(std::move(could_pass)), could_review_(std::move(could_review)) {}
  policy::Policy could_pass_;    // `when` true for allow/review, false for deny rules
  policy::Policy could_review_;  // review rules only, `when` true, default allow
};

// The fingerprint of a tool definition (name, description, schemas):
// lowercase hex SHA-256 of its canonical JSON, for change detection.
std::string tool_fingerprint(const boost::json::object& tool);

}  // namespace countersign::doors::mcp
