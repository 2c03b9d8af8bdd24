// The SOC 2 evidence report (`countersign audit evidence`): figures over the
// events of a period, and a self-contained HTML page for an auditor (no
// external assets, no script, every value HTML-escaped).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/event.h"
#include "core/clock.h"

namespace countersign::audit {

// One privileged action: a reviewed action, from its review's events.
struct ReviewedActionRecord {
  std::string review_id;
  std::string target;
  std::string verb;
  std::string requester;     // actor of review.created
  std::string on_behalf_of;  // from the action.decided that opened it, if any
  Millis requested_at = 0;
  std::vector<std::pair<std::string, Millis>> approvals;  // approver, when
  std::string rejected_by;
  std::string outcome = "pending";  // last state seen in the period
  Millis decided_at = 0;            // approved / rejected / expired / cancelled; 0 if not
  Millis executed_at = 0;
};

struct DurationStats {
  std::int64_t count = 0;
  Millis median = 0;
  Millis p90 = 0;  // nearest rank
  Millis max = 0;
};

struct EvidenceSummary {
  std::int64_t events = 0;
  std::map<std::string, std::int64_t> decisions;        // allow / deny / review (action.decided)
  std::map<std::string, std::int64_t> outcomes;         // review outcomes
  std::map<std::string, std::int64_t> controls;         // events per SOC 2 criterion
  std::vector<ReviewedActionRecord> reviewed;           // by request time
  DurationStats time_to_decision;                       // approved or rejected reviews
  std::map<std::string, std::int64_t> reviews_per_day;  // "YYYY-MM-DD" (UTC) -> reviews opened
};

// Figures over the events of one period (ascending index).
EvidenceSummary summarize(const std::vector<AuditEvent>& events, Millis from, Millis to);

// Nearest-rank percentile (0 < percent <= 100) of sorted values.
Millis percentile(const std::vector<Millis>& sorted, int percent);

// What the report says about the log itself.
struct EvidenceLog {
  bool intact = false;
  std::string verification;  // one line: "intact: N events, root ..." or the problem
  std::int64_t total_events = 0;
  std::optional<std::int64_t> checkpoint_size;
  Millis checkpoint_time = 0;
  std::string checkpoint_note;  // the signed note, verbatim
  std::string verifier_key;     // empty when signatures were not checked
};

std::string evidence_html(const EvidenceSummary& summary, const EvidenceLog& log, Millis from,
                          Millis to, Millis generated_at);

}  // namespace countersign::audit
