// The review state machine. Every mutating function first decides whether
// the operation is allowed, and only then changes the review, so a refused
// call leaves the review exactly as it was.
//
// Policies chosen here (see also review.h):
// - One vote per person per review: someone who voted at an earlier step may
//   not vote again at a later one, so two steps always mean two different
//   sets of people.
// - Quorum 0 ("all") counts only the `user:` approvers listed in the step's
//   own approvers: groups cannot be enumerated, and escalation adds helpers
//   without changing who "all" names. A step with quorum "all" that lists no
//   users can never pass (it fails closed; config validation should refuse
//   it). A negative quorum is treated as "all".
// - Subjects are compared exactly; normalising them is the identity module's
//   job.
// - Votes, escalations and cancels at or after expires_at are refused as
//   conflicts; only advance_time() moves a review to expired. Callers are
//   expected to run advance_time(now) before acting on a review, so that
//   escalation by time is applied before a vote is checked.
// - A missing flow, or a flow with no steps, becomes one step with no
//   approvers: nobody can vote on it, so it can only be cancelled or expire.
//   Policy always provides a flow for a review.

#include "review/review.h"

#include <algorithm>
#include <limits>
#include <utility>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

namespace countersign::review {

namespace {

constexpr std::string_view kSystemActor = "system";
constexpr std::string_view kGroupPrefix = "group:";
constexpr std::string_view kUserPrefix = "user:";

// ---------------------------------------------------------------------------
// Flow helpers

// The current step, or nullptr when the review's step index is out of range
// (only possible for a hand-built review; review_from_json refuses it).
const FlowStep* current_step(const Review& review) {
  if (review.step < 0 || static_cast<std::size_t>(review.step) >= review.flow.steps.size()) {
    return nullptr;
  }
  return &review.flow.steps[static_cast<std::size_t>(review.step)];
}

bool is_last_step(const Review& review) {
  return static_cast<std::size_t>(review.step) + 1 >= review.flow.steps.size();
}

// "step 1 of 2", for messages read by people (Review::step is 0-based).
std::string step_label(const Review& review) {
  return "step " + std::to_string(review.step + 1) + " of " +
         std::to_string(review.flow.steps.size());
}

bool is_blank(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  });
}

// The name after `prefix` in an approver entry, or empty when the entry has a
// different prefix. An entry with an empty name matches nobody.
std::string_view approver_name(std::string_view approver, std::string_view prefix) {
  if (!approver.starts_with(prefix)) return {};
  return approver.substr(prefix.size());
}

bool matches_approver(std::string_view approver, const Identity& who) {
  if (auto user = approver_name(approver, kUserPrefix); !user.empty()) {
    return who.subject == user;
  }
  if (auto group = approver_name(approver, kGroupPrefix); !group.empty()) {
    return who.in_group(group);
  }
  return false;
}

void append_distinct(std::vector<std::string>& out, const std::vector<std::string>& entries) {
  for (const auto& entry : entries) {
    if (std::find(out.begin(), out.end(), entry) == out.end()) out.push_back(entry);
  }
}

// The distinct subjects named as `user:` in the step's own approvers: the
// people a quorum of "all" waits for.
std::vector<std::string> listed_users(const FlowStep& step) {
  std::vector<std::string> users;
  for (const auto& approver : step.approvers) {
    auto user = approver_name(approver, kUserPrefix);
    if (user.empty()) continue;
    if (std::find(users.begin(), users.end(), user) == users.end()) users.emplace_back(user);
  }
  return users;
}

bool wants_all(const FlowStep& step) { return step.quorum <= 0; }

// ---------------------------------------------------------------------------
// Who may act

// The requester, or the human it acts for: neither may approve the action.
bool is_requester_side(const Review& review, std::string_view subject) {
  const Identity& requester = review.action.actor;
  if (subject == requester.subject) return true;
  return requester.on_behalf_of && subject == *requester.on_behalf_of;
}

bool has_voted(const Review& review, std::string_view subject) {
  return std::any_of(review.votes.begin(), review.votes.end(),
                     [&](const Vote& vote) { return vote.approver == subject; });
}

bool is_eligible(const Review& review, const Identity& who) {
  auto eligible = eligible_approvers(review);
  return std::any_of(eligible.begin(), eligible.end(),
                     [&](const std::string& approver) { return matches_approver(approver, who); });
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

std::optional<Error> pending_refusal(const Review& review) {
  if (review.state == ReviewState::pending) return std::nullopt;
  return Error{ErrorCode::conflict, "review " + review.id + " is " +
                                        std::string(state_name(review.state)) + ", not pending"};
}

std::optional<Error> expiry_refusal(const Review& review, Millis now) {
  if (now < review.expires_at) return std::nullopt;
  return Error{ErrorCode::conflict,
               "review " + review.id + " expired at " + format_time(review.expires_at)};
}

// The checks shared by voting and escalating by hand: a human who is neither
// the requester nor the one it acts for. `verb` is "vote on" or "escalate".
std::optional<Error> identity_refusal(const Review& review, const Identity& who,
                                      std::string_view verb) {
  const std::string what = std::string(verb) + " review " + review.id;
  if (who.subject.empty()) {
    return Error{ErrorCode::permission_denied, "an identity without a subject cannot " + what};
  }
  if (who.kind != IdentityKind::human) {
    return Error{ErrorCode::permission_denied, who.subject + " is " +
                                                   std::string(identity_kind_name(who.kind)) +
                                                   ", and only humans may " + what};
  }
  if (who.subject == review.action.actor.subject) {
    return Error{ErrorCode::permission_denied,
                 who.subject + " requested this action and cannot " + what + " (no self-approval)"};
  }
  if (is_requester_side(review, who.subject)) {
    return Error{ErrorCode::permission_denied,
                 who.subject + " is the person " + review.action.actor.subject +
                     " acts for and cannot " + what + " (no self-approval)"};
  }
  // A human identity that itself acts for the requester's side is that same
  // person by delegation.
  if (who.on_behalf_of && is_requester_side(review, *who.on_behalf_of)) {
    return Error{ErrorCode::permission_denied, who.subject + " acts on behalf of " +
                                                   *who.on_behalf_of + " and cannot " + what +
                                                   " (no self-approval)"};
  }
  return std::nullopt;
}

std::optional<Error> eligibility_refusal(const Review& review, const Identity& who) {
  if (is_eligible(review, who)) return std::nullopt;
  auto eligible = eligible_approvers(review);
  std::string message = who.subject + " is not an eligible approver for " + step_label(review) +
                        " of review " + review.id;
  message += eligible.empty() ? "; nobody is eligible" : "; eligible: " + join(eligible);
  return Error{ErrorCode::permission_denied, std::move(message)};
}

// ---------------------------------------------------------------------------
// Changes

boost::json::array to_json_array(const std::vector<std::string>& items) {
  boost::json::array out;
  for (const auto& item : items) out.emplace_back(item);
  return out;
}

// Every change names the review and the step it happened at (0-based), so a
// notification can be written from the change alone.
ReviewChange make_change(const Review& review, std::string_view type, std::string_view actor) {
  ReviewChange change;
  change.type = std::string(type);
  change.actor = std::string(actor);
  change.details["review"] = review.id;
  change.details["step"] = review.step;
  change.details["steps"] = static_cast<std::int64_t>(review.flow.steps.size());
  return change;
}

void add_progress(const Review& review, ReviewChange& change) {
  change.details["approvals"] = approvals_at_step(review);
  change.details["needed"] = approvals_needed(review);
}

// Leaves pending for good (or for approved, until executed/failed).
void decide(Review& review, ReviewState state, Millis now, std::string reason) {
  review.state = state;
  review.decided_at = now;
  review.outcome_reason = std::move(reason);
}

// Called after an approving vote: moves on when the current step has its quorum.
void complete_step_if_ready(Review& review, std::string_view voter, Millis now,
                            std::vector<ReviewChange>& changes) {
  if (approvals_at_step(review) < approvals_needed(review)) return;
  if (is_last_step(review)) {
    decide(review, ReviewState::approved, now, "");
    auto change = make_change(review, "review.approved", voter);
    add_progress(review, change);
    changes.push_back(std::move(change));
    return;
  }
  auto change = make_change(review, "review.step_passed", voter);
  add_progress(review, change);
  change.details["next_step"] = review.step + 1;
  changes.push_back(std::move(change));
  review.step += 1;
  review.escalated = false;
  review.step_started_at = now;
}

void apply_escalation(Review& review, std::string_view by, std::string_view reason,
                      std::vector<ReviewChange>& changes) {
  review.escalated = true;
  auto change = make_change(review, "review.escalated", by);
  change.details["by"] = by;
  change.details["reason"] = reason;
  change.details["escalate_to"] = to_json_array(current_step(review)->escalate_to);
  add_progress(review, change);
  changes.push_back(std::move(change));
}

Millis escalation_deadline(const Review& review) {
  const FlowStep* step = current_step(review);
  if (step == nullptr || step->escalate_after <= 0 || review.escalated) return 0;
  return review.step_started_at + step->escalate_after;
}

// ---------------------------------------------------------------------------
// JSON reading. FieldReader records the first error it meets and returns
// defaults afterwards, so the parser reads straight through and checks once.

class FieldReader {
 public:
  FieldReader(const boost::json::object& object, std::string path, std::optional<Error>& error)
      : object_(object), path_(std::move(path)), error_(error) {}

  const boost::json::value* raw(std::string_view key) {
    const boost::json::value* value = object_.if_contains(key);
    if (value == nullptr) refuse(key, "is missing");
    return value;
  }

  std::string text(std::string_view key) {
    const boost::json::value* value = raw(key);
    if (value == nullptr) return {};
    if (const auto* text = value->if_string()) return std::string(*text);
    refuse(key, "must be a string");
    return {};
  }

  // Absent or null means "no value".
  std::optional<std::string> optional_text(std::string_view key) {
    const boost::json::value* value = object_.if_contains(key);
    if (value == nullptr || value->is_null()) return std::nullopt;
    if (const auto* text = value->if_string()) return std::string(*text);
    refuse(key, "must be a string or null");
    return std::nullopt;
  }

  bool boolean(std::string_view key) {
    const boost::json::value* value = raw(key);
    if (value == nullptr) return false;
    if (const bool* flag = value->if_bool()) return *flag;
    refuse(key, "must be true or false");
    return false;
  }

  std::int64_t integer(std::string_view key) {
    const boost::json::value* value = raw(key);
    if (value == nullptr) return 0;
    if (const auto* number = value->if_int64()) return *number;
    if (const auto* number = value->if_uint64();
        number && *number <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return static_cast<std::int64_t>(*number);
    }
    refuse(key, "must be an integer");
    return 0;
  }

  int small_integer(std::string_view key) {
    std::int64_t number = integer(key);
    if (number < std::numeric_limits<int>::min() || number > std::numeric_limits<int>::max()) {
      refuse(key, "is out of range");
      return 0;
    }
    return static_cast<int>(number);
  }

  const boost::json::object* object(std::string_view key) {
    const boost::json::value* value = raw(key);
    if (value == nullptr) return nullptr;
    if (const auto* object = value->if_object()) return object;
    refuse(key, "must be an object");
    return nullptr;
  }

  const boost::json::array* array(std::string_view key) {
    const boost::json::value* value = raw(key);
    if (value == nullptr) return nullptr;
    if (const auto* array = value->if_array()) return array;
    refuse(key, "must be an array");
    return nullptr;
  }

  std::vector<std::string> text_list(std::string_view key) {
    std::vector<std::string> out;
    const boost::json::array* items = array(key);
    if (items == nullptr) return out;
    for (const auto& item : *items) {
      const auto* text = item.if_string();
      if (text == nullptr) {
        refuse(key, "must hold only strings");
        return {};
      }
      out.emplace_back(*text);
    }
    return out;
  }

  std::string path(std::string_view key) const { return path_ + "." + std::string(key); }

  void refuse(std::string_view key, std::string_view problem) {
    if (error_) return;
    error_ = Error{ErrorCode::invalid_argument,
                   "review JSON: " + path(key) + " " + std::string(problem)};
  }

 private:
  const boost::json::object& object_;
  std::string path_;
  std::optional<Error>& error_;
};

Identity read_identity(FieldReader& parent, std::string_view key, std::optional<Error>& error) {
  const boost::json::object* object = parent.object(key);
  if (object == nullptr) return {};
  // identity_from_json is lenient (it defaults what is missing); a stored
  // review must name its requester exactly, so check the key fields first.
  FieldReader reader(*object, parent.path(key), error);
  reader.text("subject");
  reader.text("issuer");
  if (!parse_identity_kind(reader.text("kind"))) reader.refuse("kind", "is not a known kind");
  reader.text_list("groups");
  reader.optional_text("email");
  reader.optional_text("on_behalf_of");
  return identity_from_json(*object);
}

ReviewedAction read_action(FieldReader& parent, std::optional<Error>& error) {
  ReviewedAction action;
  const boost::json::object* object = parent.object("action");
  if (object == nullptr) return action;
  FieldReader reader(*object, parent.path("action"), error);
  action.id = reader.text("id");
  action.actor = read_identity(reader, "actor", error);
  action.door = reader.text("door");
  action.target = reader.text("target");
  action.verb = reader.text("verb");
  if (const boost::json::value* masked = reader.raw("masked_params"))
    action.masked_params = *masked;
  action.reason = reader.optional_text("reason");
  action.digest = reader.text("digest");
  return action;
}

FlowStep read_step(const boost::json::value& value, std::string path, std::optional<Error>& error) {
  FlowStep step;
  const auto* object = value.if_object();
  if (object == nullptr) {
    if (!error)
      error = Error{ErrorCode::invalid_argument, "review JSON: " + path + " must be an object"};
    return step;
  }
  FieldReader reader(*object, std::move(path), error);
  step.approvers = reader.text_list("approvers");
  step.quorum = reader.small_integer("quorum");
  step.escalate_after = reader.integer("escalate_after");
  step.escalate_to = reader.text_list("escalate_to");
  return step;
}

Flow read_flow(FieldReader& parent, std::optional<Error>& error) {
  Flow flow;
  const boost::json::object* object = parent.object("flow");
  if (object == nullptr) return flow;
  FieldReader reader(*object, parent.path("flow"), error);
  if (const boost::json::array* steps = reader.array("steps")) {
    for (std::size_t i = 0; i < steps->size(); ++i) {
      flow.steps.push_back(
          read_step((*steps)[i], reader.path("steps") + "[" + std::to_string(i) + "]", error));
    }
    if (steps->empty()) reader.refuse("steps", "must not be empty");
  }
  flow.expires_after = reader.integer("expires_after");
  flow.require_reason = reader.boolean("require_reason");
  flow.grant_ttl = reader.integer("grant_ttl");
  return flow;
}

Vote read_vote(const boost::json::value& value, std::string path, std::optional<Error>& error) {
  Vote vote;
  const auto* object = value.if_object();
  if (object == nullptr) {
    if (!error)
      error = Error{ErrorCode::invalid_argument, "review JSON: " + path + " must be an object"};
    return vote;
  }
  FieldReader reader(*object, std::move(path), error);
  vote.approver = reader.text("approver");
  vote.approve = reader.boolean("approve");
  vote.reason = reader.text("reason");
  vote.step = reader.small_integer("step");
  vote.time = reader.integer("time");
  return vote;
}

std::vector<Vote> read_votes(FieldReader& parent, std::optional<Error>& error) {
  std::vector<Vote> votes;
  const boost::json::array* items = parent.array("votes");
  if (items == nullptr) return votes;
  for (std::size_t i = 0; i < items->size(); ++i) {
    votes.push_back(
        read_vote((*items)[i], parent.path("votes") + "[" + std::to_string(i) + "]", error));
  }
  return votes;
}

// Checks that a parsed review can be used without going out of bounds.
std::optional<Error> structure_refusal(const Review& review) {
  auto invalid = [](std::string message) {
    return Error{ErrorCode::invalid_argument, "review JSON: " + std::move(message)};
  };
  if (current_step(review) == nullptr) {
    return invalid("review.step " + std::to_string(review.step) + " is outside the flow's " +
                   std::to_string(review.flow.steps.size()) + " steps");
  }
  for (const auto& vote : review.votes) {
    if (vote.step < 0 || vote.step > review.step) {
      return invalid("a vote by " + vote.approver + " names step " + std::to_string(vote.step) +
                     ", which the review has not reached");
    }
  }
  return std::nullopt;
}

// Times are stored as integer millis (the truth) plus RFC 3339 text for
// people reading the JSON; the text is ignored when reading back.
void put_time(boost::json::object& out, std::string_view key, Millis time) {
  out[key] = time;
  if (time != 0) out[std::string(key) + "_text"] = format_time(time);
}

boost::json::object action_to_json(const ReviewedAction& action) {
  boost::json::object out;
  out["id"] = action.id;
  out["actor"] = countersign::to_json(action.actor);
  out["door"] = action.door;
  out["target"] = action.target;
  out["verb"] = action.verb;
  out["masked_params"] = action.masked_params;
  if (action.reason) out["reason"] = *action.reason;
  out["digest"] = action.digest;
  return out;
}

boost::json::object flow_to_json(const Flow& flow) {
  boost::json::array steps;
  for (const auto& step : flow.steps) {
    boost::json::object object;
    object["approvers"] = to_json_array(step.approvers);
    object["quorum"] = step.quorum;
    object["escalate_after"] = step.escalate_after;
    object["escalate_to"] = to_json_array(step.escalate_to);
    steps.emplace_back(std::move(object));
  }
  boost::json::object out;
  out["steps"] = std::move(steps);
  out["expires_after"] = flow.expires_after;
  out["require_reason"] = flow.require_reason;
  out["grant_ttl"] = flow.grant_ttl;
  return out;
}

boost::json::array votes_to_json(const std::vector<Vote>& votes) {
  boost::json::array out;
  for (const auto& vote : votes) {
    boost::json::object object;
    object["approver"] = vote.approver;
    object["approve"] = vote.approve;
    object["reason"] = vote.reason;
    object["step"] = vote.step;
    put_time(object, "time", vote.time);
    out.emplace_back(std::move(object));
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------
// States

std::string_view state_name(ReviewState state) {
  switch (state) {
    case ReviewState::pending:
      return "pending";
    case ReviewState::approved:
      return "approved";
    case ReviewState::rejected:
      return "rejected";
    case ReviewState::expired:
      return "expired";
    case ReviewState::cancelled:
      return "cancelled";
    case ReviewState::executed:
      return "executed";
    case ReviewState::failed:
      return "failed";
  }
  return "failed";
}

std::optional<ReviewState> parse_state(std::string_view name) {
  for (auto state :
       {ReviewState::pending, ReviewState::approved, ReviewState::rejected, ReviewState::expired,
        ReviewState::cancelled, ReviewState::executed, ReviewState::failed}) {
    if (state_name(state) == name) return state;
  }
  return std::nullopt;
}

bool is_terminal(ReviewState state) {
  return state != ReviewState::pending && state != ReviewState::approved;
}

// ---------------------------------------------------------------------------
// Lifecycle

Review open_review(std::string id, ReviewedAction action, const Decision& decision, Millis now) {
  Review review;
  review.id = std::move(id);
  review.action = std::move(action);
  review.rules = decision.rules;
  review.policy_reason = decision.reason;
  if (decision.flow) review.flow = *decision.flow;
  // Policy always provides a flow with steps; if it ever does not, a single
  // step without approvers keeps the review closed rather than approving it.
  if (review.flow.steps.empty()) review.flow.steps.push_back(FlowStep{});
  review.state = ReviewState::pending;
  review.step = 0;
  review.escalated = false;
  review.created_at = now;
  review.step_started_at = now;
  review.expires_at = now + review.flow.expires_after;
  return review;
}

std::optional<Error> vote_refusal(const Review& review, const Identity& voter) {
  if (auto refusal = pending_refusal(review)) return refusal;
  if (auto refusal = identity_refusal(review, voter, "vote on")) return refusal;
  if (has_voted(review, voter.subject)) {
    return Error{ErrorCode::conflict, voter.subject + " has already voted on review " + review.id +
                                          " (one vote per person per review)"};
  }
  return eligibility_refusal(review, voter);
}

Result<std::vector<ReviewChange>> vote(Review& review, const Identity& voter, bool approve,
                                       std::string_view reason, Millis now) {
  if (auto refusal = vote_refusal(review, voter)) return std::unexpected(std::move(*refusal));
  if (auto refusal = expiry_refusal(review, now)) return std::unexpected(std::move(*refusal));
  if (is_blank(reason) && (!approve || review.flow.require_reason)) {
    return fail(ErrorCode::invalid_argument,
                approve ? "approving review " + review.id + " needs a reason"
                        : "rejecting review " + review.id + " needs a reason");
  }

  review.votes.push_back(Vote{voter.subject, approve, std::string(reason), review.step, now});
  std::vector<ReviewChange> changes;
  auto voted = make_change(review, "review.voted", voter.subject);
  voted.details["approver"] = voter.subject;
  voted.details["vote"] = approve ? "approve" : "reject";
  voted.details["reason"] = reason;
  add_progress(review, voted);
  changes.push_back(std::move(voted));

  if (!approve) {
    decide(review, ReviewState::rejected, now, std::string(reason));
    auto rejected = make_change(review, "review.rejected", voter.subject);
    rejected.details["by"] = voter.subject;
    rejected.details["reason"] = reason;
    changes.push_back(std::move(rejected));
    return changes;
  }
  complete_step_if_ready(review, voter.subject, now, changes);
  return changes;
}

Result<std::vector<ReviewChange>> escalate(Review& review, const Identity& by,
                                           std::string_view reason, Millis now) {
  if (auto refusal = pending_refusal(review)) return std::unexpected(std::move(*refusal));
  if (auto refusal = identity_refusal(review, by, "escalate")) {
    return std::unexpected(std::move(*refusal));
  }
  if (auto refusal = eligibility_refusal(review, by)) return std::unexpected(std::move(*refusal));
  if (auto refusal = expiry_refusal(review, now)) return std::unexpected(std::move(*refusal));
  const FlowStep* step = current_step(review);
  if (step->escalate_to.empty()) {
    return fail(ErrorCode::failed_precondition,
                step_label(review) + " of review " + review.id + " has nobody to escalate to");
  }
  if (review.escalated) {
    return fail(ErrorCode::conflict,
                step_label(review) + " of review " + review.id + " is already escalated");
  }
  std::vector<ReviewChange> changes;
  apply_escalation(review, by.subject, reason, changes);
  return changes;
}

Result<std::vector<ReviewChange>> cancel(Review& review, const Identity& by, Millis now) {
  if (auto refusal = pending_refusal(review)) return std::unexpected(std::move(*refusal));
  const Identity& requester = review.action.actor;
  bool is_requester = !by.subject.empty() && by.subject == requester.subject;
  bool is_principal = by.kind == IdentityKind::human && !by.subject.empty() &&
                      requester.on_behalf_of && by.subject == *requester.on_behalf_of;
  if (!is_requester && !is_principal) {
    return fail(ErrorCode::permission_denied,
                "only " + requester.subject +
                    (requester.on_behalf_of ? " or " + *requester.on_behalf_of : "") +
                    " may cancel review " + review.id);
  }
  if (auto refusal = expiry_refusal(review, now)) return std::unexpected(std::move(*refusal));
  decide(review, ReviewState::cancelled, now, "cancelled by " + by.subject);
  auto change = make_change(review, "review.cancelled", by.subject);
  change.details["by"] = by.subject;
  return std::vector<ReviewChange>{std::move(change)};
}

Millis grant_deadline(const Review& review) { return review.decided_at + review.flow.grant_ttl; }

std::vector<ReviewChange> advance_time(Review& review, Millis now) {
  std::vector<ReviewChange> changes;
  // An approval is good for one run within grant_ttl; unused, it ends as failed
  // instead of lingering as approved.
  if (review.state == ReviewState::approved && now >= grant_deadline(review))
    return mark_failed(review, "approved, but not executed before its grant expired", now);
  if (review.state != ReviewState::pending) return changes;
  if (now >= review.expires_at) {
    decide(review, ReviewState::expired, now,
           "no decision within " + format_duration(review.expires_at - review.created_at));
    auto change = make_change(review, "review.expired", kSystemActor);
    change.details["expires_at"] = review.expires_at;
    add_progress(review, change);
    changes.push_back(std::move(change));
    return changes;
  }
  Millis deadline = escalation_deadline(review);
  if (deadline != 0 && now >= deadline) {
    std::string reason =
        "no quorum within " + format_duration(current_step(review)->escalate_after);
    apply_escalation(review, kSystemActor, reason, changes);
  }
  return changes;
}

Millis next_deadline(const Review& review) {
  if (review.state == ReviewState::approved) return grant_deadline(review);
  if (review.state != ReviewState::pending) return 0;
  Millis deadline = review.expires_at;
  if (Millis escalation = escalation_deadline(review); escalation != 0) {
    deadline = std::min(deadline, escalation);
  }
  return deadline;
}

std::vector<ReviewChange> mark_executed(Review& review, Millis now) {
  (void)now;  // decided_at stays the moment of approval; the audit event carries its own time
  if (review.state != ReviewState::approved) return {};
  review.state = ReviewState::executed;
  return {make_change(review, "review.executed", kSystemActor)};
}

std::vector<ReviewChange> mark_failed(Review& review, std::string_view reason, Millis now) {
  (void)now;
  if (review.state != ReviewState::approved) return {};
  review.state = ReviewState::failed;
  review.outcome_reason = std::string(reason);
  auto change = make_change(review, "review.failed", kSystemActor);
  change.details["reason"] = reason;
  return {std::move(change)};
}

// ---------------------------------------------------------------------------
// Quorum

std::vector<std::string> eligible_approvers(const Review& review) {
  std::vector<std::string> eligible;
  const FlowStep* step = current_step(review);
  if (step == nullptr) return eligible;
  append_distinct(eligible, step->approvers);
  if (review.escalated) append_distinct(eligible, step->escalate_to);
  return eligible;
}

int approvals_at_step(const Review& review) {
  const FlowStep* step = current_step(review);
  if (step == nullptr) return 0;
  const std::vector<std::string> required =
      wants_all(*step) ? listed_users(*step) : std::vector<std::string>{};
  std::vector<std::string_view> counted;
  for (const auto& vote : review.votes) {
    if (!vote.approve || vote.step != review.step) continue;
    // Votes were checked when cast; these checks keep a hand-edited or
    // corrupted record from counting a self-vote or a duplicate.
    if (vote.approver.empty() || is_requester_side(review, vote.approver)) continue;
    if (std::find(counted.begin(), counted.end(), vote.approver) != counted.end()) continue;
    if (wants_all(*step) &&
        std::find(required.begin(), required.end(), vote.approver) == required.end()) {
      continue;
    }
    counted.push_back(vote.approver);
  }
  return static_cast<int>(counted.size());
}

int approvals_needed(const Review& review) {
  const FlowStep* step = current_step(review);
  if (step == nullptr) return 1;
  if (!wants_all(*step)) return step->quorum;
  // "All" of nobody would pass with no approvals at all; one listed user is
  // needed instead, which a step listing no users can never get.
  return std::max<int>(1, static_cast<int>(listed_users(*step).size()));
}

// ---------------------------------------------------------------------------
// JSON

boost::json::object to_json(const Review& review) {
  boost::json::object out;
  out["id"] = review.id;
  out["state"] = state_name(review.state);
  out["action"] = action_to_json(review.action);
  out["rules"] = to_json_array(review.rules);
  out["policy_reason"] = review.policy_reason;
  out["flow"] = flow_to_json(review.flow);
  out["step"] = review.step;
  out["escalated"] = review.escalated;
  put_time(out, "step_started_at", review.step_started_at);
  out["votes"] = votes_to_json(review.votes);
  put_time(out, "created_at", review.created_at);
  put_time(out, "expires_at", review.expires_at);
  put_time(out, "decided_at", review.decided_at);
  out["outcome_reason"] = review.outcome_reason;
  out["version"] = review.version;
  return out;
}

Result<Review> review_from_json(const boost::json::value& json) {
  const auto* object = json.if_object();
  if (object == nullptr) return fail(ErrorCode::invalid_argument, "review JSON must be an object");
  std::optional<Error> error;
  FieldReader reader(*object, "review", error);
  Review review;
  review.id = reader.text("id");
  std::string state = reader.text("state");
  if (auto parsed = parse_state(state)) {
    review.state = *parsed;
  } else {
    reader.refuse("state", "is not a known state");
  }
  review.action = read_action(reader, error);
  review.rules = reader.text_list("rules");
  review.policy_reason = reader.text("policy_reason");
  review.flow = read_flow(reader, error);
  review.step = reader.small_integer("step");
  review.escalated = reader.boolean("escalated");
  review.step_started_at = reader.integer("step_started_at");
  review.votes = read_votes(reader, error);
  review.created_at = reader.integer("created_at");
  review.expires_at = reader.integer("expires_at");
  review.decided_at = reader.integer("decided_at");
  review.outcome_reason = reader.text("outcome_reason");
  review.version = reader.integer("version");
  if (error) return std::unexpected(std::move(*error));
  if (auto refusal = structure_refusal(review)) return std::unexpected(std::move(*refusal));
  return review;
}

}  // namespace countersign::review
