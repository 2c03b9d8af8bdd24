// One test per review rule, including the ways people try to get around them.
// Every refused call is also checked to leave the review exactly unchanged.

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json/serialize.hpp>

#include "review/review.h"

namespace countersign::review {
namespace {

constexpr Millis kStart = 1'700'000'000'000;
constexpr Millis kMinute = 60'000;

Identity person(std::string subject, std::vector<std::string> groups = {}) {
  Identity identity;
  identity.subject = std::move(subject);
  identity.issuer = "api-key";
  identity.kind = IdentityKind::human;
  identity.groups = std::move(groups);
  return identity;
}

Identity machine(std::string subject, IdentityKind kind, std::vector<std::string> groups = {}) {
  Identity identity = person(std::move(subject), std::move(groups));
  identity.kind = kind;
  return identity;
}

// The requester in most tests: an agent acting for alice.
Identity ci_bot() {
  Identity bot = machine("agent:ci-bot", IdentityKind::agent, {"sre"});
  bot.on_behalf_of = "alice";
  return bot;
}

const Identity kAlice = person("alice", {"sre"});  // the human the bot acts for
const Identity kBob = person("bob", {"sre"});
const Identity kCarol = person("carol", {"sre", "managers"});
const Identity kDave = person("dave", {"dba"});
const Identity kErin = person("erin", {"managers"});
const Identity kFrank = person("frank");

ReviewedAction action_by(Identity actor) {
  ReviewedAction action;
  action.id = "act_1";
  action.actor = std::move(actor);
  action.door = "actions";
  action.target = "prod";
  action.verb = "exec:terraform-apply";
  action.masked_params = boost::json::object{{"password", "[MASKED]"}, {"secret", "s3cr3t-raw"}};
  action.reason = "ship it";
  action.digest = std::string(64, 'a');
  return action;
}

FlowStep step_of(std::vector<std::string> approvers, int quorum = 1) {
  FlowStep step;
  step.approvers = std::move(approvers);
  step.quorum = quorum;
  return step;
}

Flow flow_of(std::vector<FlowStep> steps) {
  Flow flow;
  flow.steps = std::move(steps);
  return flow;
}

Review open_with(Flow flow, Identity requester = ci_bot()) {
  Decision decision;
  decision.effect = Effect::review;
  decision.rules = {"prod-changes"};
  decision.reason = "production needs review";
  decision.flow = std::move(flow);
  return open_review("rv_x", action_by(std::move(requester)), decision, kStart);
}

std::string snapshot(const Review& review) { return boost::json::serialize(to_json(review)); }

std::vector<std::string> types_of(const std::vector<ReviewChange>& changes) {
  std::vector<std::string> types;
  for (const auto& change : changes) types.push_back(change.type);
  return types;
}

// Runs `operation` and checks it fails with `code` without touching the review.
template <typename Operation>
Error expect_refused(Review& review, ErrorCode code, Operation operation) {
  const std::string before = snapshot(review);
  auto result = operation(review);
  EXPECT_FALSE(result.has_value());
  EXPECT_EQ(snapshot(review), before);
  if (result.has_value()) return Error{};
  EXPECT_EQ(error_code_name(result.error().code), error_code_name(code)) << result.error().message;
  return result.error();
}

Error expect_vote_refused(Review& review, const Identity& voter, ErrorCode code,
                          bool approve = true, std::string_view reason = "looks fine",
                          Millis now = kStart + kMinute) {
  return expect_refused(review, code,
                        [&](Review& r) { return vote(r, voter, approve, reason, now); });
}

void approve_ok(Review& review, const Identity& voter, Millis now = kStart + kMinute) {
  auto result = vote(review, voter, true, "looks fine", now);
  ASSERT_TRUE(result.has_value()) << result.error().message;
}

// --- opening ---------------------------------------------------------------

TEST(ReviewOpen, StartsPendingAtStepZero) {
  Flow flow = flow_of({step_of({"group:sre"})});
  flow.expires_after = 2 * 3'600'000;
  Review review = open_with(flow);
  EXPECT_EQ(review.id, "rv_x");
  EXPECT_EQ(review.state, ReviewState::pending);
  EXPECT_EQ(review.step, 0);
  EXPECT_FALSE(review.escalated);
  EXPECT_EQ(review.created_at, kStart);
  EXPECT_EQ(review.step_started_at, kStart);
  EXPECT_EQ(review.expires_at, kStart + 2 * 3'600'000);
  EXPECT_EQ(review.decided_at, 0);
  EXPECT_EQ(review.rules, std::vector<std::string>{"prod-changes"});
  EXPECT_EQ(review.policy_reason, "production needs review");
  ASSERT_EQ(review.flow.steps.size(), 1u);
  EXPECT_EQ(review.flow.steps[0].approvers, std::vector<std::string>{"group:sre"});
  EXPECT_TRUE(review.votes.empty());
  EXPECT_EQ(review.action.actor.subject, "agent:ci-bot");
}

TEST(ReviewOpen, WithoutFlowNobodyCanApprove) {
  Decision decision;
  decision.effect = Effect::review;
  Review review = open_review("rv_x", action_by(ci_bot()), decision, kStart);
  ASSERT_EQ(review.flow.steps.size(), 1u);
  EXPECT_TRUE(eligible_approvers(review).empty());
  EXPECT_EQ(review.expires_at, kStart + Flow{}.expires_after);
  auto error = expect_vote_refused(review, kBob, ErrorCode::permission_denied);
  EXPECT_NE(error.message.find("nobody is eligible"), std::string::npos) << error.message;
}

TEST(ReviewOpen, FlowWithoutStepsNobodyCanApprove) {
  Review review = open_with(flow_of({}));
  ASSERT_EQ(review.flow.steps.size(), 1u);
  expect_vote_refused(review, kBob, ErrorCode::permission_denied);
  EXPECT_EQ(review.state, ReviewState::pending);
}

// --- approving ---------------------------------------------------------------

TEST(ReviewVote, OneEligibleApprovalApproves) {
  Review review = open_with(flow_of({step_of({"group:sre"})}));
  auto changes = vote(review, kBob, true, "", kStart + kMinute);
  ASSERT_TRUE(changes.has_value()) << changes.error().message;
  EXPECT_EQ(review.state, ReviewState::approved);
  EXPECT_EQ(review.decided_at, kStart + kMinute);
  ASSERT_EQ(review.votes.size(), 1u);
  EXPECT_EQ(review.votes[0].approver, "bob");
  EXPECT_TRUE(review.votes[0].approve);
  EXPECT_EQ(review.votes[0].step, 0);
  EXPECT_EQ(review.votes[0].time, kStart + kMinute);
  EXPECT_EQ(types_of(*changes), (std::vector<std::string>{"review.voted", "review.approved"}));
  const auto& voted = (*changes)[0];
  EXPECT_EQ(voted.actor, "bob");
  EXPECT_EQ(voted.details.at("approver"), "bob");
  EXPECT_EQ(voted.details.at("vote"), "approve");
  EXPECT_EQ(voted.details.at("step"), 0);
  EXPECT_EQ(voted.details.at("approvals"), 1);
  EXPECT_EQ(voted.details.at("needed"), 1);
  EXPECT_EQ(voted.details.at("review"), "rv_x");
}

TEST(ReviewVote, UserApproverMatchesBySubject) {
  Review review = open_with(flow_of({step_of({"user:frank"})}));
  expect_vote_refused(review, kBob, ErrorCode::permission_denied);
  approve_ok(review, kFrank);
  EXPECT_EQ(review.state, ReviewState::approved);
}

TEST(ReviewVote, QuorumNeedsDistinctPeople) {
  Review review = open_with(flow_of({step_of({"group:sre"}, 2)}));
  auto first = vote(review, kBob, true, "ok", kStart + kMinute);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(review.state, ReviewState::pending);
  EXPECT_EQ(approvals_at_step(review), 1);
  EXPECT_EQ(approvals_needed(review), 2);
  EXPECT_EQ(types_of(*first), std::vector<std::string>{"review.voted"});

  auto error = expect_vote_refused(review, kBob, ErrorCode::conflict);
  EXPECT_NE(error.message.find("already voted"), std::string::npos) << error.message;
  // The same person rejecting instead does not get a second say either.
  expect_vote_refused(review, kBob, ErrorCode::conflict, false, "changed my mind");
  EXPECT_EQ(review.state, ReviewState::pending);

  approve_ok(review, kCarol);
  EXPECT_EQ(review.state, ReviewState::approved);
}

TEST(ReviewVote, MalformedApproverEntriesMatchNobody) {
  Identity empty_group = person("gina", {""});
  Review review = open_with(flow_of({step_of({"group:", "user:", "bob", "sre"})}));
  expect_vote_refused(review, empty_group, ErrorCode::permission_denied);
  expect_vote_refused(review, kBob, ErrorCode::permission_denied);
}

// --- no self-approval ----------------------------------------------------------

TEST(ReviewSelfApproval, RequesterSubjectCannotVoteEvenAsHuman) {
  // Someone holding a human identity with the agent's subject is the requester.
  Identity impostor = person("agent:ci-bot", {"sre"});
  Review review = open_with(flow_of({step_of({"group:sre", "user:agent:ci-bot"})}));
  auto error = expect_vote_refused(review, impostor, ErrorCode::permission_denied);
  EXPECT_NE(error.message.find("self-approval"), std::string::npos) << error.message;
}

TEST(ReviewSelfApproval, HumanRequesterCannotApproveOwnAction) {
  Identity requester = person("alice", {"sre"});
  Review review = open_with(flow_of({step_of({"group:sre"})}), requester);
  auto error = expect_vote_refused(review, requester, ErrorCode::permission_denied);
  EXPECT_NE(error.message.find("requested this action"), std::string::npos) << error.message;
  // Rejecting your own request is not a vote either.
  expect_vote_refused(review, requester, ErrorCode::permission_denied, false, "no");
}

TEST(ReviewSelfApproval, OnBehalfOfHumanCannotApprove) {
  Review review = open_with(flow_of({step_of({"group:sre", "user:alice"})}));
  auto error = expect_vote_refused(review, kAlice, ErrorCode::permission_denied);
  EXPECT_NE(error.message.find("acts for"), std::string::npos) << error.message;
  EXPECT_NE(error.message.find("self-approval"), std::string::npos) << error.message;
}

TEST(ReviewSelfApproval, DelegatedIdentityOfTheRequesterSideCannotApprove) {
  Identity alice_delegate = person("alice-laptop", {"sre"});
  alice_delegate.on_behalf_of = "alice";
  Identity bot_delegate = person("ci-helper", {"sre"});
  bot_delegate.on_behalf_of = "agent:ci-bot";
  Review review = open_with(flow_of({step_of({"group:sre"})}));
  expect_vote_refused(review, alice_delegate, ErrorCode::permission_denied);
  expect_vote_refused(review, bot_delegate, ErrorCode::permission_denied);
}

TEST(ReviewSelfApproval, AdminsGetNoBypass) {
  Identity admin = person("root", {"admin", "admins", "*"});
  Review review = open_with(flow_of({step_of({"group:sre"})}));
  expect_vote_refused(review, admin, ErrorCode::permission_denied);
  Identity admin_requester = person("alice", {"admin", "sre"});
  Review own = open_with(flow_of({step_of({"group:sre", "group:admin"})}), admin_requester);
  expect_vote_refused(own, admin_requester, ErrorCode::permission_denied);
}

TEST(ReviewSelfApproval, OnlyHumansVote) {
  Review review = open_with(flow_of({step_of({"group:sre", "user:agent:other", "user:svc"})}));
  auto agent_error = expect_vote_refused(
      review, machine("agent:other", IdentityKind::agent, {"sre"}), ErrorCode::permission_denied);
  EXPECT_NE(agent_error.message.find("only humans"), std::string::npos) << agent_error.message;
  expect_vote_refused(review, machine("svc", IdentityKind::service, {"sre"}),
                      ErrorCode::permission_denied);
  expect_vote_refused(review, machine("bob", IdentityKind::agent, {"sre"}),
                      ErrorCode::permission_denied);
}

TEST(ReviewSelfApproval, EmptySubjectCannotVote) {
  Identity nobody = person("", {"sre"});
  Review review = open_with(flow_of({step_of({"group:sre"})}));
  expect_vote_refused(review, nobody, ErrorCode::permission_denied);
}

// --- eligibility -----------------------------------------------------------------

TEST(ReviewEligibility, NotEligibleNamesWhoIs) {
  Review review = open_with(flow_of({step_of({"group:sre", "user:erin"})}));
  auto error = expect_vote_refused(review, kFrank, ErrorCode::permission_denied);
  EXPECT_NE(error.message.find("group:sre, user:erin"), std::string::npos) << error.message;
  EXPECT_NE(error.message.find("step 1 of 1"), std::string::npos) << error.message;
}

TEST(ReviewEligibility, IneligibleRejectionDoesNotReject) {
  Review review = open_with(flow_of({step_of({"group:sre"})}));
  expect_vote_refused(review, kFrank, ErrorCode::permission_denied, false, "I object");
  EXPECT_EQ(review.state, ReviewState::pending);
}

TEST(ReviewEligibility, MemberOfALaterStepCannotVoteNow) {
  Review review = open_with(flow_of({step_of({"group:sre"}), step_of({"group:dba"})}));
  auto error = expect_vote_refused(review, kDave, ErrorCode::permission_denied);
  EXPECT_NE(error.message.find("group:sre"), std::string::npos) << error.message;
  EXPECT_EQ(error.message.find("group:dba"), std::string::npos) << error.message;
}

TEST(ReviewEligibility, MemberOfAnEarlierStepCannotVoteLater) {
  Review review = open_with(flow_of({step_of({"group:dba"}), step_of({"user:frank"})}));
  approve_ok(review, kDave);
  ASSERT_EQ(review.step, 1);
  expect_vote_refused(review, kDave, ErrorCode::conflict);  // already voted, once per review
  Identity other_dba = person("dan", {"dba"});
  expect_vote_refused(review, other_dba, ErrorCode::permission_denied);
}

TEST(ReviewEligibility, EligibleApproversListsStepThenEscalation) {
  FlowStep step = step_of({"group:sre", "user:bob", "group:sre"});
  step.escalate_to = {"group:managers", "user:bob"};
  Review review = open_with(flow_of({step}));
  EXPECT_EQ(eligible_approvers(review), (std::vector<std::string>{"group:sre", "user:bob"}));
  review.escalated = true;
  EXPECT_EQ(eligible_approvers(review),
            (std::vector<std::string>{"group:sre", "user:bob", "group:managers"}));
}

TEST(ReviewEligibility, VoteRefusalAgreesWithVote) {
  Review review = open_with(flow_of({step_of({"group:sre"}, 2)}));
  EXPECT_FALSE(vote_refusal(review, kBob).has_value());
  ASSERT_TRUE(vote_refusal(review, kAlice).has_value());
  EXPECT_EQ(vote_refusal(review, kAlice)->code, ErrorCode::permission_denied);
  EXPECT_EQ(vote_refusal(review, kFrank)->code, ErrorCode::permission_denied);
  approve_ok(review, kBob);
  ASSERT_TRUE(vote_refusal(review, kBob).has_value());
  EXPECT_EQ(vote_refusal(review, kBob)->code, ErrorCode::conflict);
  approve_ok(review, kCarol);
  ASSERT_TRUE(vote_refusal(review, person("sam", {"sre"})).has_value());
  EXPECT_EQ(vote_refusal(review, person("sam", {"sre"}))->code, ErrorCode::conflict);
}

// --- two steps and "all" -------------------------------------------------------------

TEST(ReviewSteps, TwoStepsMustBothPass) {
  Review review = open_with(flow_of({step_of({"group:sre"}), step_of({"group:dba"})}));
  Millis first_vote = kStart + 3 * kMinute;
  auto passed = vote(review, kBob, true, "ok", first_vote);
  ASSERT_TRUE(passed.has_value());
  EXPECT_EQ(types_of(*passed), (std::vector<std::string>{"review.voted", "review.step_passed"}));
  EXPECT_EQ((*passed)[1].details.at("step"), 0);
  EXPECT_EQ((*passed)[1].details.at("next_step"), 1);
  EXPECT_EQ(review.state, ReviewState::pending);
  EXPECT_EQ(review.step, 1);
  EXPECT_EQ(review.step_started_at, first_vote);
  EXPECT_EQ(approvals_at_step(review), 0);
  // Step 0's group no longer counts.
  expect_vote_refused(review, kCarol, ErrorCode::permission_denied);

  auto approved = vote(review, kDave, true, "ok", first_vote + kMinute);
  ASSERT_TRUE(approved.has_value());
  EXPECT_EQ(types_of(*approved), (std::vector<std::string>{"review.voted", "review.approved"}));
  EXPECT_EQ(review.state, ReviewState::approved);
  EXPECT_EQ(review.decided_at, first_vote + kMinute);
}

TEST(ReviewSteps, OneVotePerPersonAcrossSteps) {
  Review review = open_with(flow_of({step_of({"group:sre"}), step_of({"group:sre"})}));
  approve_ok(review, kBob);
  ASSERT_EQ(review.step, 1);
  auto error = expect_vote_refused(review, kBob, ErrorCode::conflict);
  EXPECT_NE(error.message.find("one vote per person per review"), std::string::npos);
  approve_ok(review, kCarol);
  EXPECT_EQ(review.state, ReviewState::approved);
}

TEST(ReviewSteps, QuorumAllCountsEveryListedUser) {
  Review review = open_with(flow_of({step_of({"user:bob", "user:carol", "group:dba"}, 0)}));
  EXPECT_EQ(approvals_needed(review), 2);
  approve_ok(review, kDave);  // eligible through the group, but "all" names only users
  EXPECT_EQ(review.state, ReviewState::pending);
  EXPECT_EQ(approvals_at_step(review), 0);
  approve_ok(review, kBob);
  EXPECT_EQ(review.state, ReviewState::pending);
  EXPECT_EQ(approvals_at_step(review), 1);
  approve_ok(review, kCarol);
  EXPECT_EQ(review.state, ReviewState::approved);
}

TEST(ReviewSteps, QuorumAllDoesNotCountTheRequesterSide) {
  // Listing the requester's human cannot be satisfied: the step can never pass
  // on that user, and nobody may vote in alice's place.
  Review review = open_with(flow_of({step_of({"user:bob", "user:alice"}, 0)}));
  approve_ok(review, kBob);
  expect_vote_refused(review, kAlice, ErrorCode::permission_denied);
  EXPECT_EQ(review.state, ReviewState::pending);
}

TEST(ReviewSteps, QuorumAllWithoutListedUsersNeverPasses) {
  Review review = open_with(flow_of({step_of({"group:sre"}, 0)}));
  EXPECT_EQ(approvals_needed(review), 1);
  approve_ok(review, kBob);
  approve_ok(review, kCarol);
  EXPECT_EQ(review.state, ReviewState::pending);
  EXPECT_EQ(approvals_at_step(review), 0);
}

TEST(ReviewSteps, QuorumAllWithEscalationStillNeedsListedUsers) {
  FlowStep step = step_of({"user:bob", "user:frank"}, 0);
  step.escalate_to = {"group:managers"};
  Review review = open_with(flow_of({step}));
  ASSERT_TRUE(escalate(review, kBob, "frank is away", kStart + kMinute).has_value());
  approve_ok(review, kErin);
  approve_ok(review, kBob);
  EXPECT_EQ(review.state, ReviewState::pending);
  approve_ok(review, kFrank);
  EXPECT_EQ(review.state, ReviewState::approved);
}

// --- rejecting and reasons ----------------------------------------------------------------

TEST(ReviewReject, AnyEligibleRejectionRejects) {
  Review review = open_with(flow_of({step_of({"group:sre"}, 2)}));
  approve_ok(review, kBob);
  auto changes = vote(review, kCarol, false, "wrong workspace", kStart + 2 * kMinute);
  ASSERT_TRUE(changes.has_value());
  EXPECT_EQ(review.state, ReviewState::rejected);
  EXPECT_EQ(review.decided_at, kStart + 2 * kMinute);
  EXPECT_EQ(review.outcome_reason, "wrong workspace");
  EXPECT_EQ(types_of(*changes), (std::vector<std::string>{"review.voted", "review.rejected"}));
  EXPECT_EQ((*changes)[0].details.at("vote"), "reject");
  EXPECT_EQ((*changes)[1].details.at("reason"), "wrong workspace");
  EXPECT_EQ((*changes)[1].actor, "carol");
}

TEST(ReviewReject, RejectionAtASecondStepRejects) {
  Review review = open_with(flow_of({step_of({"group:sre"}), step_of({"group:dba"})}));
  approve_ok(review, kBob);
  ASSERT_TRUE(vote(review, kDave, false, "not during the freeze", kStart + kMinute).has_value());
  EXPECT_EQ(review.state, ReviewState::rejected);
}

TEST(ReviewReject, RejectionAlwaysNeedsAReason) {
  Review review = open_with(flow_of({step_of({"group:sre"})}));
  auto error = expect_vote_refused(review, kBob, ErrorCode::invalid_argument, false, "");
  EXPECT_NE(error.message.find("reason"), std::string::npos) << error.message;
  expect_vote_refused(review, kBob, ErrorCode::invalid_argument, false, " \t\n ");
  EXPECT_TRUE(review.votes.empty());
}

TEST(ReviewReject, ApprovalNeedsAReasonOnlyWhenRequired) {
  Flow flow = flow_of({step_of({"group:sre"}, 2)});
  flow.require_reason = true;
  Review review = open_with(flow);
  expect_vote_refused(review, kBob, ErrorCode::invalid_argument, true, "");
  expect_vote_refused(review, kBob, ErrorCode::invalid_argument, true, "   ");
  ASSERT_TRUE(vote(review, kBob, true, "checked the plan", kStart + kMinute).has_value());
  EXPECT_EQ(review.votes.back().reason, "checked the plan");

  Review relaxed = open_with(flow_of({step_of({"group:sre"})}));
  ASSERT_TRUE(vote(relaxed, kBob, true, "", kStart + kMinute).has_value());
  EXPECT_EQ(relaxed.state, ReviewState::approved);
}

TEST(ReviewReject, NoVotesAfterADecision) {
  Review review = open_with(flow_of({step_of({"group:sre"}, 2)}));
  ASSERT_TRUE(vote(review, kBob, false, "no", kStart + kMinute).has_value());
  auto error = expect_vote_refused(review, kCarol, ErrorCode::conflict);
  EXPECT_EQ(error.message, "review rv_x is rejected, not pending");

  Review approved = open_with(flow_of({step_of({"group:sre"})}));
  approve_ok(approved, kBob);
  error = expect_vote_refused(approved, kCarol, ErrorCode::conflict, false, "too late");
  EXPECT_EQ(error.message, "review rv_x is approved, not pending");
}

// --- escalation ----------------------------------------------------------------------------------

Flow escalating_flow(Millis escalate_after = 0) {
  FlowStep step = step_of({"group:sre"});
  step.escalate_to = {"group:managers"};
  step.escalate_after = escalate_after;
  return flow_of({step});
}

TEST(ReviewEscalate, ByHandAddsEscalationApprovers) {
  Review review = open_with(escalating_flow());
  expect_vote_refused(review, kErin, ErrorCode::permission_denied);
  auto changes = escalate(review, kBob, "need a manager", kStart + kMinute);
  ASSERT_TRUE(changes.has_value()) << changes.error().message;
  EXPECT_TRUE(review.escalated);
  EXPECT_EQ(review.step_started_at, kStart);
  ASSERT_EQ(changes->size(), 1u);
  const auto& change = (*changes)[0];
  EXPECT_EQ(change.type, "review.escalated");
  EXPECT_EQ(change.actor, "bob");
  EXPECT_EQ(change.details.at("by"), "bob");
  EXPECT_EQ(change.details.at("reason"), "need a manager");
  EXPECT_EQ(change.details.at("step"), 0);
  EXPECT_EQ(change.details.at("escalate_to"), boost::json::array{"group:managers"});
  approve_ok(review, kErin);
  EXPECT_EQ(review.state, ReviewState::approved);
}

TEST(ReviewEscalate, RefusesTheRequesterSideAndOutsiders) {
  Review review = open_with(escalating_flow());
  expect_refused(review, ErrorCode::permission_denied,
                 [](Review& r) { return escalate(r, ci_bot(), "hurry", kStart); });
  expect_refused(review, ErrorCode::permission_denied,
                 [](Review& r) { return escalate(r, kAlice, "hurry", kStart); });
  expect_refused(review, ErrorCode::permission_denied,
                 [](Review& r) { return escalate(r, kFrank, "hurry", kStart); });
  // A manager is not eligible until the step has escalated.
  expect_refused(review, ErrorCode::permission_denied,
                 [](Review& r) { return escalate(r, kErin, "hurry", kStart); });
  expect_refused(review, ErrorCode::permission_denied, [](Review& r) {
    return escalate(r, machine("agent:x", IdentityKind::agent, {"sre"}), "hurry", kStart);
  });
  EXPECT_FALSE(review.escalated);
}

TEST(ReviewEscalate, NeedsSomeoneToEscalateTo) {
  Review review = open_with(flow_of({step_of({"group:sre"})}));
  expect_refused(review, ErrorCode::failed_precondition,
                 [](Review& r) { return escalate(r, kBob, "", kStart); });
}

TEST(ReviewEscalate, OnlyOncePerStep) {
  Review review = open_with(escalating_flow());
  ASSERT_TRUE(escalate(review, kBob, "", kStart).has_value());
  expect_refused(review, ErrorCode::conflict,
                 [](Review& r) { return escalate(r, kCarol, "", kStart); });
  EXPECT_TRUE(advance_time(review, kStart + 10 * kMinute).empty());
}

TEST(ReviewEscalate, NotWhenDecided) {
  Review review = open_with(escalating_flow());
  approve_ok(review, kBob);
  auto error = expect_refused(review, ErrorCode::conflict,
                              [](Review& r) { return escalate(r, kCarol, "", kStart); });
  EXPECT_EQ(error.message, "review rv_x is approved, not pending");
}

TEST(ReviewEscalate, ByTimeAfterEscalateAfter) {
  Review review = open_with(escalating_flow(15 * kMinute));
  EXPECT_EQ(next_deadline(review), kStart + 15 * kMinute);
  EXPECT_TRUE(advance_time(review, kStart + 15 * kMinute - 1).empty());
  EXPECT_FALSE(review.escalated);

  auto changes = advance_time(review, kStart + 15 * kMinute);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].type, "review.escalated");
  EXPECT_EQ(changes[0].actor, "system");
  EXPECT_EQ(changes[0].details.at("by"), "system");
  EXPECT_TRUE(review.escalated);
  EXPECT_EQ(review.state, ReviewState::pending);
  EXPECT_EQ(next_deadline(review), review.expires_at);
  EXPECT_TRUE(advance_time(review, kStart + 16 * kMinute).empty());
  approve_ok(review, kErin, kStart + 16 * kMinute);
  EXPECT_EQ(review.state, ReviewState::approved);
  // Approved: the next deadline is the grant's expiry, after which it fails.
  EXPECT_EQ(next_deadline(review), kStart + 16 * kMinute + review.flow.grant_ttl);
  EXPECT_TRUE(advance_time(review, kStart + 16 * kMinute + review.flow.grant_ttl - 1).empty());
  auto failed = advance_time(review, kStart + 16 * kMinute + review.flow.grant_ttl);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].type, "review.failed");
  EXPECT_EQ(review.state, ReviewState::failed);
  EXPECT_EQ(next_deadline(review), 0);
}

TEST(ReviewEscalate, NextStepStartsUnescalatedWithItsOwnClock) {
  FlowStep first = step_of({"group:sre"});
  first.escalate_to = {"group:managers"};
  first.escalate_after = 10 * kMinute;
  FlowStep second = step_of({"group:dba"});
  second.escalate_to = {"user:erin"};
  second.escalate_after = 20 * kMinute;
  Review review = open_with(flow_of({first, second}));
  ASSERT_EQ(advance_time(review, kStart + 10 * kMinute).size(), 1u);
  ASSERT_TRUE(review.escalated);
  Millis passed_at = kStart + 12 * kMinute;
  approve_ok(review, kErin, passed_at);
  EXPECT_EQ(review.step, 1);
  EXPECT_FALSE(review.escalated);
  EXPECT_EQ(review.step_started_at, passed_at);
  EXPECT_EQ(next_deadline(review), passed_at + 20 * kMinute);
  // Erin already voted at step 0 and may not vote again, escalated or not.
  EXPECT_TRUE(advance_time(review, passed_at + 20 * kMinute - 1).empty());
  ASSERT_EQ(advance_time(review, passed_at + 20 * kMinute).size(), 1u);
  expect_vote_refused(review, kErin, ErrorCode::conflict, true, "ok", passed_at + 21 * kMinute);
}

// --- expiry
// ----------------------------------------------------------------------------------------

TEST(ReviewExpire, ExpiresAtExpiresAt) {
  Review review = open_with(flow_of({step_of({"group:sre"}, 2)}));
  approve_ok(review, kBob);
  EXPECT_EQ(next_deadline(review), review.expires_at);
  EXPECT_TRUE(advance_time(review, review.expires_at - 1).empty());
  EXPECT_EQ(review.state, ReviewState::pending);

  auto changes = advance_time(review, review.expires_at);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].type, "review.expired");
  EXPECT_EQ(changes[0].actor, "system");
  EXPECT_EQ(changes[0].details.at("approvals"), 1);
  EXPECT_EQ(review.state, ReviewState::expired);
  EXPECT_EQ(review.decided_at, review.expires_at);
  EXPECT_FALSE(review.outcome_reason.empty());
  EXPECT_EQ(next_deadline(review), 0);
  EXPECT_TRUE(advance_time(review, review.expires_at + 1).empty());
  expect_vote_refused(review, kCarol, ErrorCode::conflict, true, "ok", review.expires_at + 1);
}

TEST(ReviewExpire, ExpiryWinsOverADueEscalation) {
  Flow flow = escalating_flow(15 * kMinute);
  flow.expires_after = 10 * kMinute;
  Review review = open_with(flow);
  EXPECT_EQ(next_deadline(review), kStart + 10 * kMinute);
  auto changes = advance_time(review, kStart + 30 * kMinute);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].type, "review.expired");
  EXPECT_FALSE(review.escalated);
}

TEST(ReviewExpire, NothingActsPastExpiryBeforeTheTimerRuns) {
  Review review = open_with(escalating_flow());
  Millis late = review.expires_at;
  expect_vote_refused(review, kBob, ErrorCode::conflict, true, "ok", late);
  expect_refused(review, ErrorCode::conflict,
                 [&](Review& r) { return escalate(r, kBob, "", late); });
  expect_refused(review, ErrorCode::conflict, [&](Review& r) { return cancel(r, ci_bot(), late); });
}

// --- cancel
// ---------------------------------------------------------------------------------------------

TEST(ReviewCancel, RequesterCancels) {
  Review review = open_with(flow_of({step_of({"group:sre"})}));
  auto changes = cancel(review, ci_bot(), kStart + kMinute);
  ASSERT_TRUE(changes.has_value());
  EXPECT_EQ(review.state, ReviewState::cancelled);
  EXPECT_EQ(review.decided_at, kStart + kMinute);
  ASSERT_EQ(changes->size(), 1u);
  EXPECT_EQ((*changes)[0].type, "review.cancelled");
  EXPECT_EQ((*changes)[0].actor, "agent:ci-bot");
  expect_vote_refused(review, kBob, ErrorCode::conflict);
}

TEST(ReviewCancel, TheHumanItActsForCancels) {
  Review review = open_with(flow_of({step_of({"group:sre"})}));
  ASSERT_TRUE(cancel(review, kAlice, kStart + kMinute).has_value());
  EXPECT_EQ(review.state, ReviewState::cancelled);
}

TEST(ReviewCancel, NobodyElseCancels) {
  Review review = open_with(flow_of({step_of({"group:sre"})}));
  auto error = expect_refused(review, ErrorCode::permission_denied,
                              [](Review& r) { return cancel(r, kBob, kStart); });
  EXPECT_NE(error.message.find("agent:ci-bot or alice"), std::string::npos) << error.message;
  // An agent named like the principal is not the principal.
  expect_refused(review, ErrorCode::permission_denied, [](Review& r) {
    return cancel(r, machine("alice", IdentityKind::agent), kStart);
  });
  expect_refused(review, ErrorCode::permission_denied,
                 [](Review& r) { return cancel(r, machine("", IdentityKind::agent), kStart); });
}

TEST(ReviewCancel, OnlyWhilePending) {
  Review review = open_with(flow_of({step_of({"group:sre"})}));
  approve_ok(review, kBob);
  expect_refused(review, ErrorCode::conflict,
                 [](Review& r) { return cancel(r, ci_bot(), kStart); });
  EXPECT_EQ(review.state, ReviewState::approved);
}

// --- execution
// -----------------------------------------------------------------------------------------------

TEST(ReviewExecute, OnlyFromApproved) {
  Review review = open_with(flow_of({step_of({"group:sre"})}));
  std::string before = snapshot(review);
  EXPECT_TRUE(mark_executed(review, kStart).empty());
  EXPECT_TRUE(mark_failed(review, "boom", kStart).empty());
  EXPECT_EQ(snapshot(review), before);

  approve_ok(review, kBob);
  auto changes = mark_executed(review, kStart + 2 * kMinute);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].type, "review.executed");
  EXPECT_EQ(review.state, ReviewState::executed);
  before = snapshot(review);
  EXPECT_TRUE(mark_failed(review, "boom", kStart).empty());
  EXPECT_TRUE(mark_executed(review, kStart).empty());
  EXPECT_EQ(snapshot(review), before);
}

TEST(ReviewExecute, FailureKeepsItsReason) {
  Review review = open_with(flow_of({step_of({"group:sre"})}));
  approve_ok(review, kBob);
  auto changes = mark_failed(review, "exit code 1", kStart + 2 * kMinute);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].type, "review.failed");
  EXPECT_EQ(changes[0].details.at("reason"), "exit code 1");
  EXPECT_EQ(review.state, ReviewState::failed);
  EXPECT_EQ(review.outcome_reason, "exit code 1");
}

// --- states and details
// ------------------------------------------------------------------------------------------

TEST(ReviewStates, NamesRoundTripAndTerminalSet) {
  for (auto state :
       {ReviewState::pending, ReviewState::approved, ReviewState::rejected, ReviewState::expired,
        ReviewState::cancelled, ReviewState::executed, ReviewState::failed}) {
    EXPECT_EQ(parse_state(state_name(state)), state);
  }
  EXPECT_FALSE(parse_state("Pending").has_value());
  EXPECT_FALSE(parse_state("").has_value());
  EXPECT_FALSE(is_terminal(ReviewState::pending));
  EXPECT_FALSE(is_terminal(ReviewState::approved));
  EXPECT_TRUE(is_terminal(ReviewState::rejected));
  EXPECT_TRUE(is_terminal(ReviewState::expired));
  EXPECT_TRUE(is_terminal(ReviewState::cancelled));
  EXPECT_TRUE(is_terminal(ReviewState::executed));
  EXPECT_TRUE(is_terminal(ReviewState::failed));
}

TEST(ReviewDetails, NeverCarryParams) {
  Review review = open_with(escalating_flow(5 * kMinute));
  std::vector<ReviewChange> all;
  auto keep = [&](std::vector<ReviewChange> changes) {
    all.insert(all.end(), changes.begin(), changes.end());
  };
  keep(advance_time(review, kStart + 5 * kMinute));
  keep(*vote(review, kErin, true, "fine", kStart + 6 * kMinute));
  keep(mark_executed(review, kStart + 7 * kMinute));
  Review rejected = open_with(escalating_flow());
  keep(*escalate(rejected, kBob, "why", kStart));
  keep(*vote(rejected, kCarol, false, "no", kStart));
  Review cancelled = open_with(escalating_flow());
  keep(*cancel(cancelled, ci_bot(), kStart));
  ASSERT_GE(all.size(), 7u);
  for (const auto& change : all) {
    std::string text = boost::json::serialize(change.details);
    EXPECT_EQ(text.find("s3cr3t-raw"), std::string::npos) << change.type << " " << text;
    EXPECT_EQ(text.find("params"), std::string::npos) << change.type << " " << text;
    EXPECT_EQ(change.details.at("review"), "rv_x");
    EXPECT_TRUE(change.details.contains("step")) << change.type;
  }
}

TEST(ReviewRobustness, OutOfRangeStepRefusesEverything) {
  Review review = open_with(escalating_flow(kMinute));
  review.step = 5;
  EXPECT_TRUE(eligible_approvers(review).empty());
  EXPECT_EQ(approvals_at_step(review), 0);
  expect_vote_refused(review, kBob, ErrorCode::permission_denied);
  expect_refused(review, ErrorCode::permission_denied,
                 [](Review& r) { return escalate(r, kBob, "", kStart); });
  EXPECT_TRUE(advance_time(review, kStart + 2 * kMinute).empty());
  review.step = -1;
  expect_vote_refused(review, kBob, ErrorCode::permission_denied);
}

TEST(ReviewRobustness, ForgedSelfVotesAndDuplicatesDoNotCount) {
  Review review = open_with(flow_of({step_of({"group:sre"}, 2)}));
  // As if a corrupted store handed these back: none may count toward quorum.
  review.votes.push_back(Vote{"alice", true, "", 0, kStart});
  review.votes.push_back(Vote{"agent:ci-bot", true, "", 0, kStart});
  review.votes.push_back(Vote{"bob", true, "", 0, kStart});
  review.votes.push_back(Vote{"bob", true, "", 0, kStart});
  EXPECT_EQ(approvals_at_step(review), 1);
}

}  // namespace
}  // namespace countersign::review
