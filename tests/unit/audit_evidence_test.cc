// Evidence report figures and HTML escaping.
#include "audit/evidence.h"

#include <gtest/gtest.h>
#include <boost/json.hpp>

namespace countersign::audit {
namespace {

constexpr Millis kDay = 86'400'000;
constexpr Millis kStart = 1'767'225'600'000;  // 2026-01-01T00:00:00Z

AuditEvent event(std::string type, std::string actor, std::string review, Millis time,
                 boost::json::object details = {}) {
  AuditEvent out;
  out.type = std::move(type);
  out.actor = std::move(actor);
  out.review_id = std::move(review);
  out.time = time;
  out.details = std::move(details);
  out.details["target"] = "production";
  out.details["verb"] = "exec:deploy";
  out.controls = controls_for(out.type);
  return out;
}

TEST(EvidenceTest, PercentilesAreNearestRank) {
  std::vector<Millis> values{10, 20, 30, 40, 50, 60, 70, 80, 90, 100};
  EXPECT_EQ(percentile(values, 50), 50);
  EXPECT_EQ(percentile(values, 90), 90);
  EXPECT_EQ(percentile(values, 100), 100);
  EXPECT_EQ(percentile({7}, 90), 7);
  EXPECT_EQ(percentile({}, 50), 0);
}

TEST(EvidenceTest, SummarizesDecisionsReviewsAndTimeToDecision) {
  std::vector<AuditEvent> events;
  // Three reviews on two days: approved after 1 min, rejected after 3 min, left pending.
  Millis t = kStart + 1000;
  events.push_back(event("action.decided", "agent:a", "rv_1", t,
                         {{"effect", "review"}, {"on_behalf_of", "dana"}}));
  events.push_back(event("review.created", "agent:a", "rv_1", t));
  events.push_back(event("review.voted", "alice", "rv_1", t + 60'000,
                         {{"vote", "approve"}, {"approver", "alice"}}));
  events.push_back(event("review.approved", "alice", "rv_1", t + 60'000));
  events.push_back(event("action.decided", "agent:a", "rv_1", t + 70'000,
                         {{"effect", "review"}, {"grant", "redeemed"}}));
  events.push_back(event("review.executed", "system", "rv_1", t + 70'000));
  events.push_back(event("action.decided", "agent:a", "", t + 1, {{"effect", "allow"}}));
  events.push_back(event("action.decided", "agent:a", "", t + 2, {{"effect", "deny"}}));
  Millis u = kStart + kDay + 5000;
  events.push_back(event("review.created", "agent:a", "rv_2", u));
  events.push_back(
      event("review.rejected", "bob", "rv_2", u + 180'000, {{"by", "bob"}, {"reason", "no"}}));
  events.push_back(event("review.created", "agent:a", "rv_3", u + 1));
  events.push_back(event("review.created", "agent:a", "rv_4", kStart + 3 * kDay));  // outside

  auto summary = summarize(events, kStart, kStart + 2 * kDay);
  EXPECT_EQ(summary.events, 11);
  EXPECT_EQ(summary.decisions["allow"], 1);
  EXPECT_EQ(summary.decisions["deny"], 1);
  EXPECT_EQ(summary.decisions["review"], 1);  // the redemption is not a new decision
  ASSERT_EQ(summary.reviewed.size(), 3u);
  EXPECT_EQ(summary.reviewed[0].outcome, "executed");
  EXPECT_EQ(summary.reviewed[0].on_behalf_of, "dana");
  ASSERT_EQ(summary.reviewed[0].approvals.size(), 1u);
  EXPECT_EQ(summary.reviewed[0].approvals[0].first, "alice");
  EXPECT_EQ(summary.reviewed[1].outcome, "rejected");
  EXPECT_EQ(summary.reviewed[1].rejected_by, "bob");
  EXPECT_EQ(summary.reviewed[2].outcome, "pending");
  EXPECT_EQ(summary.time_to_decision.count, 2);
  EXPECT_EQ(summary.time_to_decision.median, 60'000);
  EXPECT_EQ(summary.time_to_decision.p90, 180'000);
  EXPECT_EQ(summary.time_to_decision.max, 180'000);
  EXPECT_EQ(summary.reviews_per_day["2026-01-01"], 1);
  EXPECT_EQ(summary.reviews_per_day["2026-01-02"], 2);
  EXPECT_EQ(summary.controls["CC6.1"], 4);  // every action.decided, the redemption too
}

TEST(EvidenceTest, HtmlIsSelfContainedAndEscaped) {
  std::vector<AuditEvent> events{
      event("review.created", "<script>alert(1)</script>", "rv_\"x\"", kStart + 10)};
  auto summary = summarize(events, kStart, kStart + kDay);
  EvidenceLog log;
  log.intact = true;
  log.verification = "intact: 1 events";
  log.checkpoint_size = 1;
  log.checkpoint_note = "origin\n1\n<root>\n";
  std::string html = evidence_html(summary, log, kStart, kStart + kDay, kStart + kDay);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("rv_&quot;x&quot;"), std::string::npos);
  EXPECT_NE(html.find("&lt;root&gt;"), std::string::npos);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("data-day=\"2026-01-01\" data-count=\"1\""), std::string::npos);
  // No external assets: nothing is fetched.
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("href="), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
}

}  // namespace
}  // namespace countersign::audit
