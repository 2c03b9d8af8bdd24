// Property tests: thousands of random histories of votes, escalations,
// cancels, executions and clock moves, by a cast that includes the requester,
// the human it acts for, impostors, agents, services and outsiders. After
// every operation an independent model (written here from the rules, not from
// the implementation) says whether the operation should have succeeded and
// what it should have done, and an oracle over review.votes checks that no
// approval ever lacks a quorum of distinct, eligible, non-self humans.

#include <algorithm>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json/serialize.hpp>

#include "review/review.h"

namespace countersign::review {
namespace {

constexpr Millis kStart = 1'700'000'000'000;
constexpr Millis kMinute = 60'000;

Identity make(std::string subject, IdentityKind kind, std::vector<std::string> groups,
              std::optional<std::string> on_behalf_of = std::nullopt) {
  Identity identity;
  identity.subject = std::move(subject);
  identity.issuer = "api-key";
  identity.kind = kind;
  identity.groups = std::move(groups);
  identity.on_behalf_of = std::move(on_behalf_of);
  return identity;
}

const Identity kRequester = make("agent:ci-bot", IdentityKind::agent, {"sre"}, "alice");

// Everyone who will try to act on reviews. Humans have unique subjects, so the
// oracle can find the groups of whoever a vote names.
const std::vector<Identity> kCast = {
    kRequester,
    make("agent:ci-bot", IdentityKind::human, {"sre", "dba", "managers"}),  // impostor
    make("alice", IdentityKind::human, {"sre", "dba"}),                     // the principal
    make("alice-phone", IdentityKind::human, {"sre", "managers"}, "alice"),
    make("bob", IdentityKind::human, {"sre"}),
    make("carol", IdentityKind::human, {"sre", "managers"}),
    make("dave", IdentityKind::human, {"dba"}),
    make("erin", IdentityKind::human, {"managers"}),
    make("frank", IdentityKind::human, {}),
    make("gina", IdentityKind::human, {"sre", "dba"}),
    make("hank", IdentityKind::human, {"dba", "managers"}),
    make("root", IdentityKind::human, {"admin"}),
    make("", IdentityKind::human, {"sre", "dba", "managers"}),
    make("agent:other", IdentityKind::agent, {"sre", "dba", "managers"}),
    make("svc:deploy", IdentityKind::service, {"sre", "dba"}),
    make("bob", IdentityKind::agent, {"sre"}),  // an agent borrowing a human's subject
};

const std::vector<std::string> kApproverChoices = {
    "group:sre", "group:dba", "group:managers", "group:admin", "user:bob",  "user:carol",
    "user:dave", "user:erin", "user:frank",     "user:alice",  "user:gina", "user:agent:ci-bot"};

// --- the independent model ----------------------------------------------------------

bool model_matches(const std::string& approver, const Identity& who) {
  if (approver.rfind("user:", 0) == 0) {
    return approver.size() > 5 && approver.substr(5) == who.subject;
  }
  if (approver.rfind("group:", 0) == 0) {
    std::string group = approver.substr(6);
    return !group.empty() &&
           std::find(who.groups.begin(), who.groups.end(), group) != who.groups.end();
  }
  return false;
}

bool model_is_self(const std::string& subject) {
  return subject == kRequester.subject || subject == *kRequester.on_behalf_of;
}

bool model_human_not_self(const Identity& who) {
  if (who.kind != IdentityKind::human || who.subject.empty()) return false;
  if (model_is_self(who.subject)) return false;
  return !(who.on_behalf_of && model_is_self(*who.on_behalf_of));
}

bool model_eligible(const FlowStep& step, bool escalated, const Identity& who) {
  for (const auto& approver : step.approvers) {
    if (model_matches(approver, who)) return true;
  }
  if (escalated) {
    for (const auto& approver : step.escalate_to) {
      if (model_matches(approver, who)) return true;
    }
  }
  return false;
}

bool model_has_voted(const Review& review, const std::string& subject) {
  for (const auto& vote : review.votes) {
    if (vote.approver == subject) return true;
  }
  return false;
}

bool blank(const std::string& text) {
  return text.find_first_not_of(" \t\r\n\f\v") == std::string::npos;
}

// Whether someone could vote now, reason aside.
bool model_may_vote(const Review& review, const Identity& who) {
  return review.state == ReviewState::pending && model_human_not_self(who) &&
         !model_has_voted(review, who.subject) &&
         model_eligible(review.flow.steps[review.step], review.escalated, who);
}

// "all" means every listed user, at least one; a list without users never passes.
std::set<std::string> model_listed_users(const FlowStep& step) {
  std::set<std::string> users;
  for (const auto& approver : step.approvers) {
    if (approver.rfind("user:", 0) == 0 && approver.size() > 5) users.insert(approver.substr(5));
  }
  return users;
}

const Identity* human_named(const std::string& subject) {
  for (const auto& identity : kCast) {
    if (identity.kind == IdentityKind::human && identity.subject == subject) return &identity;
  }
  return nullptr;
}

// Whether the approving votes at `step_index` reach its quorum, counting only
// distinct, human, non-self voters who were eligible for that step.
bool oracle_step_passed(const Review& review, int step_index, bool escalated) {
  const FlowStep& step = review.flow.steps[step_index];
  std::set<std::string> approvers;
  for (const auto& vote : review.votes) {
    if (!vote.approve || vote.step != step_index) continue;
    const Identity* voter = human_named(vote.approver);
    if (voter == nullptr || !model_human_not_self(*voter)) continue;
    if (!model_eligible(step, escalated, *voter)) continue;
    approvers.insert(vote.approver);
  }
  if (step.quorum > 0) return static_cast<int>(approvers.size()) >= step.quorum;
  std::set<std::string> listed = model_listed_users(step);
  if (listed.empty()) return false;
  return std::includes(approvers.begin(), approvers.end(), listed.begin(), listed.end());
}

// --- random histories ------------------------------------------------------------------

struct Tally {
  int runs = 0;
  int operations = 0;
  int refused = 0;
  std::map<ReviewState, int> outcomes;
  int approved_multi_step = 0;
  int approved_with_all = 0;
  int escalated_by_hand = 0;
  int escalated_by_time = 0;
  int self_votes_tried = 0;
};

Flow random_flow(std::mt19937& random) {
  auto pick = [&](int below) { return static_cast<int>(random() % below); };
  Flow flow;
  int steps = 1 + pick(3);
  for (int i = 0; i < steps; ++i) {
    FlowStep step;
    for (int n = 1 + pick(3); n > 0; --n) {
      step.approvers.push_back(kApproverChoices[pick(kApproverChoices.size())]);
    }
    step.quorum = pick(4);  // 0 = all
    if (pick(2) == 0) {
      for (int n = 1 + pick(2); n > 0; --n) {
        step.escalate_to.push_back(kApproverChoices[pick(kApproverChoices.size())]);
      }
    }
    if (pick(2) == 0) step.escalate_after = (5 + pick(26)) * kMinute;
    flow.steps.push_back(step);
  }
  flow.expires_after = (30 + pick(150)) * kMinute;
  flow.require_reason = pick(10) < 3;
  return flow;
}

std::string snapshot(const Review& review) { return boost::json::serialize(to_json(review)); }

class History {
 public:
  History(std::mt19937& random, Tally& tally) : random_(random), tally_(tally) {
    Decision decision;
    decision.effect = Effect::review;
    decision.rules = {"random"};
    decision.flow = random_flow(random_);
    ReviewedAction action;
    action.id = "act_p";
    action.actor = kRequester;
    action.verb = "exec:deploy";
    action.digest = std::string(64, 'b');
    review_ = open_review("rv_p", action, decision, now_);
  }

  void run(int operations) {
    for (int i = 0; i < operations; ++i) {
      step();
      if (::testing::Test::HasFatalFailure() || ::testing::Test::HasNonfatalFailure()) return;
    }
    tally_.outcomes[review_.state] += 1;
  }

 private:
  int pick(int below) { return static_cast<int>(random_() % below); }
  const Identity& someone() { return kCast[pick(kCast.size())]; }

  std::string some_reason() {
    switch (pick(5)) {
      case 0:
        return "";
      case 1:
        return "  ";
      default:
        return "checked";
    }
  }

  void step() {
    const Review before = review_;
    const std::string before_text = snapshot(review_);
    if (pick(8) == 0) now_ += pick(3) * kMinute;  // some operations share a moment
    bool succeeded = false;
    int choice = pick(100);
    if (choice < 60) {
      succeeded = try_vote(before);
    } else if (choice < 70) {
      succeeded = try_escalate(before);
    } else if (choice < 73) {
      succeeded = try_cancel(before);
    } else if (choice < 93) {
      now_ += pick(25) * kMinute;
      succeeded = apply_time(before);
    } else {
      succeeded = try_finish(before);
    }
    ++tally_.operations;
    if (!succeeded) {
      ++tally_.refused;
      ASSERT_EQ(snapshot(review_), before_text) << "a refused operation changed the review";
    }
    if (is_terminal(before.state)) {
      ASSERT_EQ(snapshot(review_), before_text) << "a terminal review moved";
    }
    if (review_.escalated) escalated_steps_.insert(review_.step);
    check_invariants(before);
  }

  bool try_vote(const Review& before) {
    const Identity& voter = someone();
    bool approve = pick(100) < 85;
    std::string reason = some_reason();
    if (model_is_self(voter.subject)) ++tally_.self_votes_tried;
    bool reason_ok = !blank(reason) || (approve && !before.flow.require_reason);
    bool expected = model_may_vote(before, voter) && now_ < before.expires_at && reason_ok;
    EXPECT_EQ(vote_refusal(before, voter).has_value(), !model_may_vote(before, voter))
        << voter.subject;

    auto result = vote(review_, voter, approve, reason, now_);
    EXPECT_EQ(result.has_value(), expected)
        << "vote by " << voter.subject << " (" << identity_kind_name(voter.kind) << ") "
        << (result ? "succeeded" : result.error().message) << "\n"
        << snapshot(before);
    if (!result.has_value()) return false;

    EXPECT_EQ(review_.votes.size(), before.votes.size() + 1);
    const Vote& cast = review_.votes.back();
    EXPECT_EQ(cast.approver, voter.subject);
    EXPECT_EQ(cast.step, before.step);
    EXPECT_EQ(cast.time, now_);
    if (!approve) {
      EXPECT_EQ(review_.state, ReviewState::rejected);
      EXPECT_EQ(review_.decided_at, now_);
      return true;
    }
    bool passed = oracle_step_passed(review_, before.step, before.escalated);
    bool last = static_cast<std::size_t>(before.step) + 1 == before.flow.steps.size();
    if (!passed) {
      EXPECT_EQ(review_.state, ReviewState::pending);
      EXPECT_EQ(review_.step, before.step);
      EXPECT_EQ(review_.escalated, before.escalated);
    } else if (last) {
      EXPECT_EQ(review_.state, ReviewState::approved);
      EXPECT_EQ(review_.decided_at, now_);
    } else {
      EXPECT_EQ(review_.state, ReviewState::pending);
      EXPECT_EQ(review_.step, before.step + 1);
      EXPECT_FALSE(review_.escalated);
      EXPECT_EQ(review_.step_started_at, now_);
    }
    return true;
  }

  bool try_escalate(const Review& before) {
    const Identity& by = someone();
    const FlowStep& step = before.flow.steps[before.step];
    bool expected = before.state == ReviewState::pending && now_ < before.expires_at &&
                    model_human_not_self(by) && model_eligible(step, before.escalated, by) &&
                    !step.escalate_to.empty() && !before.escalated;
    auto result = escalate(review_, by, "random", now_);
    EXPECT_EQ(result.has_value(), expected) << "escalate by " << by.subject;
    if (!result.has_value()) return false;
    EXPECT_TRUE(review_.escalated);
    EXPECT_EQ(review_.step, before.step);
    ++tally_.escalated_by_hand;
    return true;
  }

  bool try_cancel(const Review& before) {
    const Identity& by = someone();
    bool allowed = by.subject == kRequester.subject ||
                   (by.kind == IdentityKind::human && by.subject == *kRequester.on_behalf_of);
    bool expected = before.state == ReviewState::pending && now_ < before.expires_at && allowed;
    auto result = cancel(review_, by, now_);
    EXPECT_EQ(result.has_value(), expected) << "cancel by " << by.subject;
    if (!result.has_value()) return false;
    EXPECT_EQ(review_.state, ReviewState::cancelled);
    return true;
  }

  bool apply_time(const Review& before) {
    EXPECT_EQ(next_deadline(before), model_deadline(before));
    auto changes = advance_time(review_, now_);
    if (before.state == ReviewState::approved &&
        now_ >= before.decided_at + before.flow.grant_ttl) {
      EXPECT_EQ(review_.state, ReviewState::failed);
      EXPECT_EQ(changes.size(), 1u);
      return true;
    }
    if (before.state != ReviewState::pending) {
      EXPECT_TRUE(changes.empty());
      return false;
    }
    const FlowStep& step = before.flow.steps[before.step];
    if (now_ >= before.expires_at) {
      EXPECT_EQ(review_.state, ReviewState::expired);
      EXPECT_EQ(changes.size(), 1u);
      return true;
    }
    if (step.escalate_after > 0 && !before.escalated &&
        now_ >= before.step_started_at + step.escalate_after) {
      EXPECT_TRUE(review_.escalated);
      EXPECT_EQ(review_.state, ReviewState::pending);
      EXPECT_EQ(changes.size(), 1u);
      ++tally_.escalated_by_time;
      return true;
    }
    EXPECT_TRUE(changes.empty());
    return false;
  }

  Millis model_deadline(const Review& review) {
    if (review.state == ReviewState::approved) return review.decided_at + review.flow.grant_ttl;
    if (review.state != ReviewState::pending) return 0;
    const FlowStep& step = review.flow.steps[review.step];
    Millis deadline = review.expires_at;
    if (step.escalate_after > 0 && !review.escalated) {
      deadline = std::min(deadline, review.step_started_at + step.escalate_after);
    }
    return deadline;
  }

  bool try_finish(const Review& before) {
    auto changes = pick(2) ? mark_executed(review_, now_) : mark_failed(review_, "exit 1", now_);
    EXPECT_EQ(changes.empty(), before.state != ReviewState::approved);
    return !changes.empty();
  }

  void check_invariants(const Review& before) {
    // Votes are only ever appended.
    ASSERT_GE(review_.votes.size(), before.votes.size());
    for (std::size_t i = 0; i < before.votes.size(); ++i) {
      ASSERT_EQ(review_.votes[i].approver, before.votes[i].approver);
    }
    std::set<std::string> seen;
    for (const auto& vote : review_.votes) {
      ASSERT_TRUE(seen.insert(vote.approver).second) << "duplicate vote by " << vote.approver;
      ASSERT_FALSE(model_is_self(vote.approver)) << "self-vote by " << vote.approver;
      ASSERT_NE(human_named(vote.approver), nullptr) << "non-human vote by " << vote.approver;
    }
    if (review_.state == ReviewState::approved && before.state != ReviewState::approved) {
      check_approval();
    }
    auto again = review_from_json(to_json(review_));
    ASSERT_TRUE(again.has_value()) << again.error().message;
    ASSERT_EQ(snapshot(*again), snapshot(review_));
  }

  // The heart of it: an approval means every step passed, by the votes alone.
  void check_approval() {
    for (std::size_t s = 0; s < review_.flow.steps.size(); ++s) {
      int index = static_cast<int>(s);
      ASSERT_TRUE(oracle_step_passed(review_, index, escalated_steps_.count(index) > 0))
          << "approved without the quorum of step " << s << "\n"
          << snapshot(review_);
    }
    ASSERT_EQ(review_.step + 1, static_cast<int>(review_.flow.steps.size()));
    if (review_.flow.steps.size() > 1) ++tally_.approved_multi_step;
    for (const auto& step : review_.flow.steps) {
      if (step.quorum == 0) {
        ++tally_.approved_with_all;
        break;
      }
    }
  }

  std::mt19937& random_;
  Tally& tally_;
  Millis now_ = kStart;
  Review review_;
  std::set<int> escalated_steps_;  // steps seen escalated, whose escalate_to could vote
};

TEST(ReviewProperty, RandomHistoriesKeepEveryRule) {
  std::mt19937 random(7);
  Tally tally;
  for (int run = 0; run < 4000; ++run) {
    History history(random, tally);
    history.run(40);
    ++tally.runs;
    if (HasFailure()) {
      ADD_FAILURE() << "failing run " << run;
      return;
    }
  }
  // The properties above are only worth something if the histories reach
  // every outcome; these bounds catch a generator that stopped doing so.
  EXPECT_GT(tally.outcomes[ReviewState::approved] + tally.outcomes[ReviewState::executed] +
                tally.outcomes[ReviewState::failed],
            200);
  EXPECT_GT(tally.outcomes[ReviewState::executed], 50);
  EXPECT_GT(tally.outcomes[ReviewState::failed], 50);
  EXPECT_GT(tally.outcomes[ReviewState::rejected], 200);
  EXPECT_GT(tally.outcomes[ReviewState::expired], 50);
  EXPECT_GT(tally.outcomes[ReviewState::cancelled], 50);
  EXPECT_GT(tally.approved_multi_step, 20);
  EXPECT_GT(tally.approved_with_all, 20);
  EXPECT_GT(tally.escalated_by_hand, 100);
  EXPECT_GT(tally.escalated_by_time, 100);
  EXPECT_GT(tally.self_votes_tried, 1000);
  EXPECT_GT(tally.refused, tally.operations / 10);
  std::cout << "runs " << tally.runs << ", operations " << tally.operations << ", refused "
            << tally.refused << ", approved " << tally.outcomes[ReviewState::approved]
            << ", executed " << tally.outcomes[ReviewState::executed] << ", failed "
            << tally.outcomes[ReviewState::failed] << ", rejected "
            << tally.outcomes[ReviewState::rejected] << ", expired "
            << tally.outcomes[ReviewState::expired] << ", cancelled "
            << tally.outcomes[ReviewState::cancelled] << ", pending "
            << tally.outcomes[ReviewState::pending] << ", multi-step approvals "
            << tally.approved_multi_step << ", with all " << tally.approved_with_all
            << ", escalations by hand " << tally.escalated_by_hand << " / by time "
            << tally.escalated_by_time << "\n";
}

}  // namespace
}  // namespace countersign::review
