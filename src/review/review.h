// Reviews: the approval state machine for one action, as pure functions over
// plain structs. Nothing here stores, notifies, sleeps or reads a clock:
// callers pass `now` and persist the result. This module must never let a
// review reach `approved` without every step's quorum of distinct, eligible,
// human approvers other than the requester and the one it acts for.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "core/clock.h"
#include "core/decision.h"
#include "core/error.h"
#include "core/identity.h"

namespace countersign::review {

enum class ReviewState { pending, approved, rejected, expired, cancelled, executed, failed };

std::string_view state_name(ReviewState state);
std::optional<ReviewState> parse_state(std::string_view name);
// rejected, expired, cancelled, executed, failed: nothing moves them again.
bool is_terminal(ReviewState state);

// The part of an Action a review keeps: the masked view plus the digest the
// approval is bound to. Raw parameters are never stored.
struct ReviewedAction {
  std::string id;
  Identity actor;
  std::string door;
  std::string target;
  std::string verb;
  boost::json::value masked_params = boost::json::object();
  std::optional<std::string> reason;
  std::string digest;
};

struct Vote {
  std::string approver;  // subject of the human who voted
  bool approve = false;
  std::string reason;
  int step = 0;
  Millis time = 0;
};

struct Review {
  std::string id;
  ReviewedAction action;
  std::vector<std::string> rules;  // policy rules that asked for review
  std::string policy_reason;
  Flow flow;
  ReviewState state = ReviewState::pending;
  int step = 0;                 // index of the current step in flow.steps
  bool escalated = false;       // the current step's escalate_to approvers are eligible too
  Millis step_started_at = 0;
  std::vector<Vote> votes;
  Millis created_at = 0;
  Millis expires_at = 0;
  Millis decided_at = 0;        // when it left pending (0 while pending)
  std::string outcome_reason;   // rejection/cancel/expiry/failure reason
  std::int64_t version = 0;     // bumped by the store on every save
};

// What happened to a review, for the audit log and notifications.
struct ReviewChange {
  std::string type;             // "review.voted", "review.approved", "review.escalated", ...
  std::string actor;            // who caused it ("system" for timers)
  boost::json::object details;
};

// A new pending review at step 0.
Review open_review(std::string id, ReviewedAction action, const Decision& decision, Millis now);

// Records a vote. Fails (and leaves the review unchanged) when the review is
// not pending, the voter is not human, is the requester or the one it acts
// for, is not eligible for the current step, has already voted, or gave no
// reason where one is required. May complete the step, approve or reject.
Result<std::vector<ReviewChange>> vote(Review& review, const Identity& voter, bool approve,
                                       std::string_view reason, Millis now);

// Why `voter` may not vote now (the same checks as vote()), or nothing if they may.
std::optional<Error> vote_refusal(const Review& review, const Identity& voter);

// Moves the current step to its escalate_to approvers by hand. Only eligible
// approvers of the current step may escalate; the step must have escalate_to.
Result<std::vector<ReviewChange>> escalate(Review& review, const Identity& by,
                                           std::string_view reason, Millis now);

// The requester (by subject) cancels its own pending review.
Result<std::vector<ReviewChange>> cancel(Review& review, const Identity& by, Millis now);

// Applies time: escalates a step past escalate_after, expires past
// expires_at, and fails an approved review whose grant expired unused.
std::vector<ReviewChange> advance_time(Review& review, Millis now);

// The next moment advance_time would change something, or 0 if never.
Millis next_deadline(const Review& review);

// When an approved review's grant expires: decided_at + flow.grant_ttl.
Millis grant_deadline(const Review& review);

// approved -> executed | failed, once the grant is redeemed.
std::vector<ReviewChange> mark_executed(Review& review, Millis now);
std::vector<ReviewChange> mark_failed(Review& review, std::string_view reason, Millis now);

// Approvers eligible for the current step ("group:x", "user:y").
std::vector<std::string> eligible_approvers(const Review& review);
// Distinct approving votes at the current step and how many are needed.
int approvals_at_step(const Review& review);
int approvals_needed(const Review& review);

boost::json::object to_json(const Review& review);
Result<Review> review_from_json(const boost::json::value& json);

}  // namespace countersign::review
