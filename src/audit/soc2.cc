// The SOC 2 Trust Services Criteria table and its Markdown form.
#include "audit/soc2.h"

#include <fmt/format.h>

namespace countersign::audit {
namespace {

constexpr std::string_view kReviewEvidence =
    "a change was authorized by people other than its requester";

}  // namespace

const std::vector<TrustCriterion>& trust_criteria() {
  static const std::vector<TrustCriterion> criteria{
      {"CC6.1", "logical access is restricted to authorized users and actions"},
      {"CC6.2", "access is authorized before it is granted"},
      {"CC6.3", "access is granted, modified and removed as authorized"},
      {"CC7.2", "anomalies and security events are monitored"},
      {"CC8.1", "changes are authorized, approved and carried out as approved"},
  };
  return criteria;
}

const std::vector<EventControls>& soc2_map() {
  static const std::vector<EventControls> map{
      {"auth.failed", {"CC6.1", "CC7.2"}, "a request without valid credentials was refused"},
      {"action.decided",
       {"CC6.1"},
       "every attempted action met policy: allowed, denied or sent to review"},
      {"review.created", {"CC6.2", "CC6.3", "CC8.1"}, "a privileged action was held for approval"},
      {"review.voted",
       {"CC6.2", "CC6.3", "CC8.1"},
       "an eligible person approved or rejected, with a reason"},
      {"review.step_passed", {"CC6.2", "CC6.3", "CC8.1"}, kReviewEvidence},
      {"review.approved", {"CC6.2", "CC6.3", "CC8.1"}, kReviewEvidence},
      {"review.rejected", {"CC6.2", "CC6.3", "CC8.1"}, "an unapproved change did not happen"},
      {"review.escalated",
       {"CC6.2", "CC6.3", "CC8.1"},
       "an unanswered review went to the next approvers"},
      {"review.cancelled", {"CC6.2", "CC6.3", "CC8.1"}, "the requester withdrew a pending change"},
      {"review.expired",
       {"CC6.2", "CC6.3", "CC8.1"},
       "an unanswered change expired instead of running"},
      {"review.executed", {"CC6.2", "CC6.3", "CC8.1"}, "the approved change ran, once"},
      {"review.failed",
       {"CC6.2", "CC6.3", "CC8.1"},
       "an approved change did not run (grant expired or failed)"},
      {"grant.issued",
       {"CC6.3", "CC8.1"},
       "one-shot access bound to the approved action was created"},
      {"grant.redeemed", {"CC6.3", "CC8.1"}, "the one-shot access was used and is gone"},
      {"action.executed",
       {"CC6.3", "CC8.1"},
       "the action ran with gateway-held credentials (names only)"},
      {"action.failed", {"CC6.3", "CC8.1"}, "the action was released but failed"},
      {"mcp.tool_changed", {"CC7.2"}, "an upstream tool's definition changed"},
  };
  return map;
}

std::vector<std::string> controls_for(std::string_view event_type) {
  auto as_strings = [](const std::vector<std::string_view>& ids) {
    return std::vector<std::string>(ids.begin(), ids.end());
  };
  for (const EventControls& row : soc2_map())
    if (row.type == event_type) return as_strings(row.controls);
  if (event_type.starts_with("review.")) return {"CC6.2", "CC6.3", "CC8.1"};
  if (event_type.starts_with("grant.")) return {"CC6.3", "CC8.1"};
  return {"CC7.2"};
}

std::string soc2_markdown_table() {
  std::string out = "| control | meaning |\n|---------|---------|\n";
  for (const TrustCriterion& criterion : trust_criteria())
    out += fmt::format("| {} | {} |\n", criterion.id, criterion.meaning);
  out += "\n| event type | controls | evidence of |\n|------------|----------|-------------|\n";
  for (const EventControls& row : soc2_map()) {
    std::string controls;
    for (std::string_view id : row.controls)
      controls += (controls.empty() ? "" : ", ") + std::string(id);
    out += fmt::format("| `{}` | {} | {} |\n", row.type, controls, row.evidence);
  }
  return out;
}

}  // namespace countersign::audit
