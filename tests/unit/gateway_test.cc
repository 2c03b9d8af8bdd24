// Gateway: the shared data path (identify -> describe -> decide -> review ->
// redeem -> audit) against a real SqliteStore, a ManualClock and a policy
// compiled from YAML.
#include "gateway/gateway.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <latch>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "audit/event.h"
#include "core/hash.h"
#include "store/sqlite/sqlite_store.h"

namespace countersign::gateway {
namespace {

using review::ReviewState;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr Millis kStart = 1'700'000'000'000;
constexpr Millis kMinute = 60'000;
constexpr Millis kGrantTtl = 5 * kMinute;
constexpr Millis kEscalateAfter = 15 * kMinute;
constexpr Millis kExpiresAfter = 60 * kMinute;

std::string config_yaml() {
  auto key = [](const std::string& name, const std::string& subject, const std::string& kind,
                const std::string& extra) {
    return "    - {name: " + name + ", key_sha256: " + sha256_hex(name + "-key") + ", subject: \"" +
           subject + "\", kind: " + kind + extra + "}\n";
  };
  return "listen: 127.0.0.1:8080\n"
         "storage: {sqlite: ':memory:'}\n"
         "identity:\n"
         "  api_keys:\n" +
         key("agent", "agent:bot", "agent", ", groups: [agents], on_behalf_of: dana@example.com") +
         key("other", "agent:other", "agent", "") +
         key("dana", "dana@example.com", "human", ", groups: [sre]") +
         key("alice", "alice@example.com", "human", ", groups: [sre]") +
         key("carol", "carol@example.com", "human", ", groups: [sre]") +
         key("bob", "bob@example.com", "human", ", groups: [sre-leads]") +
         "targets:\n"
         "  prod: {description: Production}\n"
         "masking:\n"
         "  profiles:\n"
         "    strict: {secret_keys: [ssn]}\n"
         "policy:\n"
         "  default: deny\n"
         "  rules:\n"
         "    - id: reads\n"
         "      match: {verb: 'read:*'}\n"
         "      effect: allow\n"
         "    - id: changes\n"
         "      match: {target: prod, verb: 'exec:*'}\n"
         "      effect: review\n"
         "      mask: strict\n"
         "      reason: Production changes need an SRE\n"
         "      review:\n"
         "        steps:\n"
         "          - {approvers: [group:sre], quorum: 1, escalate_after: 15m, escalate_to: "
         "[group:sre-leads]}\n"
         "        expires_after: 1h\n"
         "        grant_ttl: 5m\n"
         "    - id: no-drop\n"
         "      match: {verb: 'sql:DROP*'}\n"
         "      effect: deny\n"
         "      reason: Nobody drops tables\n";
}

config::Config make_config() {
  auto config = config::parse_config(config_yaml(), "/etc/countersign/gateway-test.yaml");
  EXPECT_TRUE(config.has_value()) << (config ? "" : config.error().message);
  return config ? std::move(*config) : config::Config{};
}

std::unique_ptr<Gateway> make_gateway(store::Store& store, const Clock& clock) {
  auto config = make_config();
  auto policy = policy::Policy::compile(config.policy);
  EXPECT_TRUE(policy.has_value()) << (policy ? "" : policy.error().message);
  return std::make_unique<Gateway>(std::move(config), std::move(*policy), store, clock);
}

std::unique_ptr<store::SqliteStore> open_store(const std::string& path) {
  auto store = store::SqliteStore::open(path);
  EXPECT_TRUE(store.has_value()) << (store ? "" : store.error().message);
  return store ? std::move(*store) : nullptr;
}

// A database file removed with its WAL and shared-memory files.
class TempDatabase {
 public:
  TempDatabase()
      : path_((std::filesystem::temp_directory_path() / ("cs_gateway_" + new_id("t") + ".db"))
                  .string()) {}
  ~TempDatabase() {
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
      std::error_code ignored;
      std::filesystem::remove(path_ + suffix, ignored);
    }
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

ActionRequest request(std::string verb, boost::json::object params = {{"service", "api"}}) {
  ActionRequest out;
  out.door = "actions";
  out.target = "prod";
  out.verb = std::move(verb);
  out.params = std::move(params);
  out.reason = "release 42";
  out.client_address = "10.0.0.7";
  return out;
}

class GatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = open_store(":memory:");
    ASSERT_NE(store_, nullptr);
    gateway_ = make_gateway(*store_, clock_);
    gateway_->set_review_listener([this](const review::Review& review) {
      std::lock_guard lock(notified_mutex_);
      notified_.push_back(review);
    });
  }

  Identity who(const std::string& name) {
    auto identity = gateway_->authenticate("Bearer " + name + "-key", "127.0.0.1");
    EXPECT_TRUE(identity.has_value()) << name;
    return identity ? *identity : Identity{};
  }

  Outcome submit(const Identity& actor, const ActionRequest& req) {
    auto outcome = gateway_->submit(actor, req);
    EXPECT_TRUE(outcome.has_value()) << (outcome ? "" : outcome.error().message);
    return outcome ? std::move(*outcome) : Outcome{};
  }

  std::vector<audit::AuditEvent> events(const std::string& type = "",
                                        const std::string& review_id = "") {
    store::AuditFilter filter;
    filter.type = type;
    filter.review_id = review_id;
    filter.limit = 1000;
    auto page = store_->list_events(filter);
    EXPECT_TRUE(page.has_value());
    return page ? page->events : std::vector<audit::AuditEvent>{};
  }

  std::vector<std::string> event_types(const std::string& review_id = "") {
    std::vector<std::string> types;
    for (const auto& event : events("", review_id)) types.push_back(event.type);
    return types;
  }

  std::string all_events_text() {
    std::string text;
    for (const auto& event : events()) text += boost::json::serialize(audit::to_json(event)) + "\n";
    return text;
  }

  std::int64_t count(ReviewState state) {
    auto counted = store_->count_reviews(state);
    EXPECT_TRUE(counted.has_value());
    return counted ? *counted : -1;
  }

  review::Review stored(const std::string& id) {
    auto review = gateway_->get_review(id);
    EXPECT_TRUE(review.has_value()) << id;
    return review ? *review : review::Review{};
  }

  // Submits a change, approves it as alice and returns the pending outcome.
  Outcome approved_change(const ActionRequest& req) {
    auto outcome = submit(who("agent"), req);
    EXPECT_TRUE(outcome.review.has_value());
    auto approved = gateway_->vote(outcome.review->id, who("alice"), true, "looks fine");
    EXPECT_TRUE(approved.has_value()) << (approved ? "" : approved.error().message);
    if (approved) {
      EXPECT_EQ(approved->state, ReviewState::approved);
    }
    return outcome;
  }

  std::vector<review::Review> notified() {
    std::lock_guard lock(notified_mutex_);
    return notified_;
  }

  ManualClock clock_{kStart};
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<Gateway> gateway_;
  std::mutex notified_mutex_;
  std::vector<review::Review> notified_;
};

// ---------------------------------------------------------------------------
// allow / deny / review

TEST_F(GatewayTest, AllowExecutesAndIsAudited) {
  auto outcome = submit(who("agent"), request("read:logs"));
  EXPECT_EQ(outcome.decision.effect, Effect::allow);
  EXPECT_THAT(outcome.decision.rules, ElementsAre("reads"));
  EXPECT_TRUE(outcome.execute);
  EXPECT_FALSE(outcome.review.has_value());
  EXPECT_FALSE(outcome.redeemed_grant.has_value());
  EXPECT_EQ(outcome.digest.size(), 64u);
  EXPECT_EQ(outcome.action.actor.subject, "agent:bot");
  EXPECT_EQ(outcome.action.time, kStart);
  EXPECT_EQ(gateway_->counters().decisions_allow.load(), 1u);

  auto decided = events("action.decided");
  ASSERT_EQ(decided.size(), 1u);
  EXPECT_EQ(decided[0].actor, "agent:bot");
  EXPECT_EQ(decided[0].action_digest, outcome.digest);
  EXPECT_EQ(decided[0].details.at("effect"), boost::json::value("allow"));
  EXPECT_EQ(decided[0].details.at("verb"), boost::json::value("read:logs"));
  EXPECT_EQ(decided[0].details.at("on_behalf_of"), boost::json::value("dana@example.com"));
  EXPECT_EQ(count(ReviewState::pending), 0);
  EXPECT_TRUE(notified().empty());
}

// submit_async: the door learns the outcome only once its decision is in
// the log; the callback comes from the store's writer thread.
TEST_F(GatewayTest, SubmitAsyncAnswersOnceTheDecisionIsDurable) {
  std::promise<Result<Outcome>> answered;
  std::promise<std::int64_t> logged_when_answered;
  std::promise<std::thread::id> answered_on;
  gateway_->submit_async(who("agent"), request("read:logs"), [&](Result<Outcome> outcome) {
    logged_when_answered.set_value(store_->event_count().value_or(-1));
    answered_on.set_value(std::this_thread::get_id());
    answered.set_value(std::move(outcome));
  });
  auto outcome = answered.get_future().get();
  ASSERT_TRUE(outcome.has_value()) << outcome.error().message;
  EXPECT_TRUE(outcome->execute);
  EXPECT_EQ(outcome->decision.effect, Effect::allow);
  EXPECT_EQ(logged_when_answered.get_future().get(), 1);
  EXPECT_NE(answered_on.get_future().get(), std::this_thread::get_id());
  auto decided = events("action.decided");
  ASSERT_EQ(decided.size(), 1u);
  EXPECT_EQ(decided[0].action_digest, outcome->digest);
  EXPECT_EQ(gateway_->counters().decisions_allow.load(), 1u);

  // A deny is audited the same way and does not execute.
  std::promise<Result<Outcome>> denied;
  gateway_->submit_async(who("agent"), request("sql:DROP"),
                         [&](Result<Outcome> result) { denied.set_value(std::move(result)); });
  auto deny = denied.get_future().get();
  ASSERT_TRUE(deny.has_value());
  EXPECT_FALSE(deny->execute);
  EXPECT_EQ(events("action.decided").size(), 2u);
}

TEST_F(GatewayTest, SubmitAsyncOpensReviewsAndRefusesBadRequests) {
  std::optional<Result<Outcome>> answer;
  gateway_->submit_async(who("agent"), request("exec:deploy"),
                         [&](Result<Outcome> outcome) { answer = std::move(outcome); });
  ASSERT_TRUE(answer.has_value()) << "a review is decided before submit_async returns";
  ASSERT_TRUE(answer->has_value());
  ASSERT_TRUE((*answer)->review.has_value());
  EXPECT_EQ((*answer)->review->state, ReviewState::pending);
  EXPECT_FALSE((*answer)->execute);
  EXPECT_EQ(count(ReviewState::pending), 1);
  EXPECT_THAT(event_types((*answer)->review->id), ElementsAre("action.decided", "review.created"));

  ActionRequest unknown = request("read:logs");
  unknown.target = "nowhere";
  std::optional<Result<Outcome>> refused;
  gateway_->submit_async(who("agent"), unknown,
                         [&](Result<Outcome> outcome) { refused = std::move(outcome); });
  ASSERT_TRUE(refused.has_value());
  ASSERT_FALSE(refused->has_value());
  EXPECT_EQ(refused->error().code, ErrorCode::not_found);
}

TEST_F(GatewayTest, RecordExecutionAsyncLogsTheResultInOrder) {
  auto outcome = submit(who("agent"), request("read:logs"));
  std::promise<Result<void>> recorded;
  gateway_->record_execution_async(outcome, true, {{"status", 200}},
                                   [&](Result<void> done) { recorded.set_value(done); });
  ASSERT_TRUE(recorded.get_future().get().has_value());
  auto all = events();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].type, "action.decided");
  EXPECT_EQ(all[1].type, "action.executed");
  EXPECT_EQ(all[1].action_digest, outcome.digest);
  EXPECT_EQ(all[1].details.at("status"), boost::json::value(200));
  EXPECT_EQ(all[1].details.at("action_id"), boost::json::value(outcome.action.id));
}

TEST_F(GatewayTest, DenyDoesNotExecuteAndIsAudited) {
  auto outcome = submit(who("agent"), request("sql:DROP TABLE"));
  EXPECT_EQ(outcome.decision.effect, Effect::deny);
  EXPECT_THAT(outcome.decision.rules, ElementsAre("no-drop"));
  EXPECT_FALSE(outcome.execute);
  EXPECT_FALSE(outcome.review.has_value());
  EXPECT_EQ(gateway_->counters().decisions_deny.load(), 1u);

  auto decided = events("action.decided");
  ASSERT_EQ(decided.size(), 1u);
  EXPECT_EQ(decided[0].details.at("effect"), boost::json::value("deny"));
  EXPECT_EQ(decided[0].details.at("rules"), (boost::json::array{"no-drop"}));
  EXPECT_EQ(count(ReviewState::pending), 0);
}

TEST_F(GatewayTest, NoMatchingRuleFallsBackToDefaultDeny) {
  auto outcome = submit(who("agent"), request("write:config"));
  EXPECT_EQ(outcome.decision.effect, Effect::deny);
  EXPECT_TRUE(outcome.decision.rules.empty());
  EXPECT_FALSE(outcome.execute);
}

TEST_F(GatewayTest, UnknownTargetAndWrongDoorAreRefused) {
  auto req = request("read:logs");
  req.target = "staging";
  auto outcome = gateway_->submit(who("agent"), req);
  ASSERT_FALSE(outcome.has_value());
  EXPECT_EQ(outcome.error().code, ErrorCode::not_found);

  req = request("read:logs");
  req.door = "mcp";
  outcome = gateway_->submit(who("agent"), req);
  ASSERT_FALSE(outcome.has_value());
  EXPECT_EQ(outcome.error().code, ErrorCode::invalid_argument);

  req = request("");
  outcome = gateway_->submit(who("agent"), req);
  ASSERT_FALSE(outcome.has_value());
  EXPECT_EQ(outcome.error().code, ErrorCode::invalid_argument);
  EXPECT_TRUE(events("action.decided").empty());
}

TEST_F(GatewayTest, ReviewOpensPendingReviewWithMaskedContext) {
  auto outcome = submit(who("agent"), request("exec:deploy", {{"service", "api"},
                                                              {"password", "pw-raw-value"},
                                                              {"ssn", "123-45-6789"},
                                                              {"notify", "ops@example.com"}}));
  EXPECT_EQ(outcome.decision.effect, Effect::review);
  EXPECT_FALSE(outcome.execute);
  ASSERT_TRUE(outcome.review.has_value());
  const auto& review = *outcome.review;
  EXPECT_EQ(review.state, ReviewState::pending);
  EXPECT_EQ(review.action.digest, outcome.digest);
  EXPECT_EQ(review.action.actor.subject, "agent:bot");
  EXPECT_EQ(review.created_at, kStart);
  EXPECT_EQ(review.expires_at, kStart + kExpiresAfter);
  EXPECT_THAT(review.rules, ElementsAre("changes"));
  // The strict profile adds "ssn" to the default secret words.
  const auto& params = review.action.masked_params;
  EXPECT_EQ(params.at("service"), boost::json::value("api"));
  EXPECT_EQ(params.at("password"), boost::json::value("[REDACTED]"));
  EXPECT_EQ(params.at("ssn"), boost::json::value("[REDACTED]"));
  EXPECT_EQ(params.at("notify"), boost::json::value("[EMAIL]"));
  EXPECT_EQ(gateway_->counters().decisions_review.load(), 1u);

  EXPECT_EQ(count(ReviewState::pending), 1);
  auto saved = stored(review.id);
  EXPECT_EQ(saved.state, ReviewState::pending);
  EXPECT_EQ(saved.action.digest, outcome.digest);

  EXPECT_THAT(event_types(review.id), ElementsAre("action.decided", "review.created"));
  auto decided = events("action.decided");
  ASSERT_EQ(decided.size(), 1u);
  EXPECT_EQ(decided[0].details.at("effect"), boost::json::value("review"));
  EXPECT_EQ(decided[0].review_id, review.id);
  std::string log = all_events_text();
  EXPECT_THAT(log, Not(HasSubstr("pw-raw-value")));
  EXPECT_THAT(log, Not(HasSubstr("123-45-6789")));
  EXPECT_THAT(log, Not(HasSubstr("ops@example.com")));

  auto changes = notified();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].id, review.id);
  EXPECT_EQ(changes[0].state, ReviewState::pending);
}

TEST_F(GatewayTest, MaskProfiles) {
  const auto& strict = gateway_->mask_profile("strict");
  EXPECT_EQ(strict.name, "strict");
  EXPECT_THAT(strict.secret_key_words, ::testing::Contains("ssn"));
  EXPECT_THAT(strict.secret_key_words, ::testing::Contains("password"));
  EXPECT_EQ(gateway_->mask_profile("no-such-profile").name, "default");
}

TEST_F(GatewayTest, IdenticalPendingRequestJoinsTheSameReview) {
  auto agent = who("agent");
  auto first = submit(agent, request("exec:deploy"));
  auto second = submit(agent, request("exec:deploy"));
  ASSERT_TRUE(first.review && second.review);
  EXPECT_EQ(second.review->id, first.review->id);
  EXPECT_EQ(second.digest, first.digest);
  EXPECT_NE(second.action.id, first.action.id);
  EXPECT_FALSE(second.execute);
  EXPECT_EQ(count(ReviewState::pending), 1);
  EXPECT_THAT(event_types(first.review->id),
              ElementsAre("action.decided", "review.created", "action.decided"));
  EXPECT_EQ(events("review.created").size(), 1u);

  // A different action opens its own review.
  auto other = submit(agent, request("exec:deploy", {{"service", "web"}}));
  ASSERT_TRUE(other.review);
  EXPECT_NE(other.review->id, first.review->id);
  EXPECT_EQ(count(ReviewState::pending), 2);
}

// ---------------------------------------------------------------------------
// approval, grants and redemption

TEST(GatewayConcurrency, IdenticalConcurrentSubmissionsShareOnePendingReview) {
  TempDatabase database;
  auto store = open_store(database.path());
  ManualClock clock{kStart};
  auto gateway = make_gateway(*store, clock);
  auto agent = gateway->authenticate("Bearer agent-key", "127.0.0.1");
  ASSERT_TRUE(agent);
  constexpr int kThreads = 8;
  std::latch start(kThreads);
  std::vector<std::string> review_ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      auto outcome = gateway->submit(*agent, request("exec:deploy"));
      ASSERT_TRUE(outcome) << outcome.error().message;
      ASSERT_TRUE(outcome->review.has_value());
      EXPECT_EQ(outcome->review->state, ReviewState::pending);
      review_ids[t] = outcome->review->id;
    });
  }
  for (auto& thread : threads) thread.join();
  auto pending = store->count_reviews(ReviewState::pending);
  ASSERT_TRUE(pending);
  EXPECT_EQ(*pending, 1);
  for (const auto& id : review_ids) EXPECT_EQ(id, review_ids[0]);
  // Every submission is audited, against the one review.
  store::AuditFilter filter;
  filter.type = "action.decided";
  filter.review_id = review_ids[0];
  auto decided = store->list_events(filter);
  ASSERT_TRUE(decided);
  EXPECT_EQ(decided->events.size(), static_cast<std::size_t>(kThreads));
}

TEST_F(GatewayTest, ApprovalIssuesAGrantThatAnIdenticalResubmitRedeemsOnce) {
  auto agent = who("agent");
  auto pending = submit(agent, request("exec:deploy"));
  ASSERT_TRUE(pending.review);
  const std::string id = pending.review->id;

  clock_.advance(kMinute);
  auto approved = gateway_->vote(id, who("alice"), true, "ok");
  ASSERT_TRUE(approved.has_value()) << approved.error().message;
  EXPECT_EQ(approved->state, ReviewState::approved);
  EXPECT_EQ(gateway_->counters().votes.load(), 1u);
  auto issued = events("grant.issued");
  ASSERT_EQ(issued.size(), 1u);
  EXPECT_EQ(issued[0].review_id, id);
  EXPECT_EQ(issued[0].action_digest, pending.digest);
  EXPECT_EQ(events("review.approved").size(), 1u);
  EXPECT_EQ(stored(id).state, ReviewState::approved);

  // The identical action, resubmitted, redeems the grant and may execute.
  clock_.advance(kMinute);
  auto redeemed = submit(agent, request("exec:deploy"));
  EXPECT_TRUE(redeemed.execute);
  EXPECT_EQ(redeemed.digest, pending.digest);
  ASSERT_TRUE(redeemed.redeemed_grant.has_value());
  EXPECT_EQ(redeemed.redeemed_grant->review_id, id);
  EXPECT_EQ(redeemed.redeemed_grant->digest, pending.digest);
  EXPECT_EQ(redeemed.redeemed_grant->requester, "agent:bot");
  EXPECT_EQ(redeemed.redeemed_grant->redeemed_at, kStart + 2 * kMinute);
  ASSERT_TRUE(redeemed.review.has_value());
  EXPECT_EQ(redeemed.review->id, id);
  EXPECT_EQ(redeemed.review->state, ReviewState::executed);
  EXPECT_EQ(stored(id).state, ReviewState::executed);
  EXPECT_EQ(stored(id).version, redeemed.review->version);
  EXPECT_EQ(gateway_->counters().grants_redeemed.load(), 1u);
  EXPECT_EQ(events("review.executed").size(), 1u);

  ASSERT_TRUE(gateway_->record_execution(redeemed, true, {{"exit_code", 0}}).has_value());
  auto executed = events("action.executed");
  ASSERT_EQ(executed.size(), 1u);
  EXPECT_EQ(executed[0].review_id, id);
  EXPECT_EQ(executed[0].action_digest, pending.digest);

  // A second resubmit finds no grant: it opens a new review.
  auto again = submit(agent, request("exec:deploy"));
  EXPECT_FALSE(again.execute);
  EXPECT_FALSE(again.redeemed_grant.has_value());
  ASSERT_TRUE(again.review.has_value());
  EXPECT_NE(again.review->id, id);
  EXPECT_EQ(again.review->state, ReviewState::pending);
  EXPECT_EQ(count(ReviewState::executed), 1);
  EXPECT_EQ(count(ReviewState::pending), 1);
}

TEST_F(GatewayTest, ChangedParamsDoNotRedeem) {
  auto agent = who("agent");
  auto pending = approved_change(request("exec:deploy", {{"service", "api"}}));

  auto changed = submit(agent, request("exec:deploy", {{"service", "api"}, {"force", true}}));
  EXPECT_FALSE(changed.execute);
  EXPECT_FALSE(changed.redeemed_grant.has_value());
  ASSERT_TRUE(changed.review.has_value());
  EXPECT_NE(changed.review->id, pending.review->id);
  EXPECT_EQ(changed.review->state, ReviewState::pending);

  auto other_verb = submit(agent, request("exec:rollback", {{"service", "api"}}));
  EXPECT_FALSE(other_verb.execute);

  // The grant is still there for the approved action itself.
  auto original = submit(agent, request("exec:deploy", {{"service", "api"}}));
  EXPECT_TRUE(original.execute);
}

TEST_F(GatewayTest, AnotherActorCannotRedeemTheGrant) {
  auto pending = approved_change(request("exec:deploy"));
  auto other = submit(who("other"), request("exec:deploy"));
  EXPECT_FALSE(other.execute);
  EXPECT_NE(other.digest, pending.digest);
  auto original = submit(who("agent"), request("exec:deploy"));
  EXPECT_TRUE(original.execute);
}

TEST_F(GatewayTest, GrantIsRedeemableUntilItsTtl) {
  approved_change(request("exec:deploy"));
  clock_.advance(kGrantTtl - 1);
  auto outcome = submit(who("agent"), request("exec:deploy"));
  EXPECT_TRUE(outcome.execute);
}

TEST_F(GatewayTest, ExpiredGrantIsNotRedeemable) {
  auto pending = approved_change(request("exec:deploy"));
  clock_.advance(kGrantTtl);
  auto outcome = submit(who("agent"), request("exec:deploy"));
  EXPECT_FALSE(outcome.execute);
  EXPECT_FALSE(outcome.redeemed_grant.has_value());
  ASSERT_TRUE(outcome.review.has_value());
  EXPECT_NE(outcome.review->id, pending.review->id);
  EXPECT_EQ(outcome.review->state, ReviewState::pending);
  EXPECT_TRUE(events("review.executed").empty());
  EXPECT_EQ(gateway_->counters().grants_redeemed.load(), 0u);
}

TEST_F(GatewayTest, RejectionNeedsAReasonAndGrantsNothing) {
  auto agent = who("agent");
  auto pending = submit(agent, request("exec:deploy"));
  ASSERT_TRUE(pending.review);
  auto no_reason = gateway_->vote(pending.review->id, who("alice"), false, "");
  EXPECT_FALSE(no_reason.has_value());
  EXPECT_EQ(stored(pending.review->id).state, ReviewState::pending);

  auto rejected = gateway_->vote(pending.review->id, who("alice"), false, "not today");
  ASSERT_TRUE(rejected.has_value()) << rejected.error().message;
  EXPECT_EQ(rejected->state, ReviewState::rejected);
  EXPECT_TRUE(events("grant.issued").empty());
  auto again = submit(agent, request("exec:deploy"));
  EXPECT_FALSE(again.execute);
  ASSERT_TRUE(again.review);
  EXPECT_NE(again.review->id, pending.review->id);
}

TEST_F(GatewayTest, SelfApprovalIsRefused) {
  auto agent = who("agent");
  auto pending = submit(agent, request("exec:deploy"));
  ASSERT_TRUE(pending.review);
  const std::string id = pending.review->id;

  // Dana is in group sre but the agent acts on her behalf.
  auto by_dana = gateway_->vote(id, who("dana"), true, "mine");
  ASSERT_FALSE(by_dana.has_value());
  EXPECT_EQ(by_dana.error().code, ErrorCode::permission_denied);
  // The agent itself is neither human nor allowed to approve its own request.
  auto by_agent = gateway_->vote(id, agent, true, "mine");
  ASSERT_FALSE(by_agent.has_value());
  EXPECT_EQ(by_agent.error().code, ErrorCode::permission_denied);
  // Bob is not eligible before escalation.
  EXPECT_FALSE(gateway_->vote(id, who("bob"), true, "lead").has_value());

  EXPECT_EQ(stored(id).state, ReviewState::pending);
  EXPECT_TRUE(stored(id).votes.empty());
  EXPECT_TRUE(events("review.voted").empty());
  EXPECT_TRUE(events("grant.issued").empty());
  EXPECT_EQ(gateway_->counters().votes.load(), 0u);
  EXPECT_EQ(notified().size(), 1u);  // only the creation
  EXPECT_FALSE(submit(agent, request("exec:deploy")).execute);
}

TEST_F(GatewayTest, CancelOnlyByTheRequester) {
  auto agent = who("agent");
  auto pending = submit(agent, request("exec:deploy"));
  ASSERT_TRUE(pending.review);
  EXPECT_FALSE(gateway_->cancel(pending.review->id, who("alice")).has_value());
  auto cancelled = gateway_->cancel(pending.review->id, agent);
  ASSERT_TRUE(cancelled.has_value()) << cancelled.error().message;
  EXPECT_EQ(cancelled->state, ReviewState::cancelled);
  EXPECT_EQ(stored(pending.review->id).state, ReviewState::cancelled);
  EXPECT_EQ(events("review.cancelled").size(), 1u);
  EXPECT_FALSE(gateway_->vote(pending.review->id, who("alice"), true, "late").has_value());
}

TEST_F(GatewayTest, UnknownReview) {
  auto result = gateway_->vote("rv_missing", who("alice"), true, "");
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, ErrorCode::not_found);
  EXPECT_FALSE(gateway_->get_review("rv_missing").has_value());
}

// ---------------------------------------------------------------------------
// deadlines

TEST_F(GatewayTest, DeadlinesEscalateThenExpire) {
  auto agent = who("agent");
  auto pending = submit(agent, request("exec:deploy"));
  ASSERT_TRUE(pending.review);
  const std::string id = pending.review->id;

  clock_.advance(kEscalateAfter - 1);
  auto changed = gateway_->apply_deadlines();
  ASSERT_TRUE(changed.has_value());
  EXPECT_EQ(*changed, 0);
  EXPECT_FALSE(stored(id).escalated);

  clock_.advance(1);
  changed = gateway_->apply_deadlines();
  ASSERT_TRUE(changed.has_value());
  EXPECT_EQ(*changed, 1);
  auto escalated = stored(id);
  EXPECT_TRUE(escalated.escalated);
  EXPECT_EQ(escalated.state, ReviewState::pending);
  auto escalations = events("review.escalated");
  ASSERT_EQ(escalations.size(), 1u);
  EXPECT_EQ(escalations[0].actor, "system");
  EXPECT_EQ(escalations[0].review_id, id);

  // Nothing more is due until expiry.
  changed = gateway_->apply_deadlines();
  ASSERT_TRUE(changed.has_value());
  EXPECT_EQ(*changed, 0);

  clock_.set(kStart + kExpiresAfter - 1);
  EXPECT_EQ(gateway_->apply_deadlines().value_or(-1), 0);
  clock_.set(kStart + kExpiresAfter);
  EXPECT_EQ(gateway_->apply_deadlines().value_or(-1), 1);
  EXPECT_EQ(stored(id).state, ReviewState::expired);
  EXPECT_EQ(events("review.expired").size(), 1u);
  EXPECT_EQ(gateway_->apply_deadlines().value_or(-1), 0);
  EXPECT_FALSE(gateway_->vote(id, who("alice"), true, "late").has_value());

  // After expiry the identical action needs a new review.
  auto again = submit(agent, request("exec:deploy"));
  EXPECT_FALSE(again.execute);
  ASSERT_TRUE(again.review);
  EXPECT_NE(again.review->id, id);
}

TEST_F(GatewayTest, EscalationMakesEscalateToApproversEligible) {
  auto pending = submit(who("agent"), request("exec:deploy"));
  ASSERT_TRUE(pending.review);
  const std::string id = pending.review->id;
  EXPECT_FALSE(gateway_->vote(id, who("bob"), true, "lead").has_value());
  clock_.advance(kEscalateAfter);
  ASSERT_EQ(gateway_->apply_deadlines().value_or(-1), 1);
  auto approved = gateway_->vote(id, who("bob"), true, "lead");
  ASSERT_TRUE(approved.has_value()) << approved.error().message;
  EXPECT_EQ(approved->state, ReviewState::approved);
  EXPECT_TRUE(submit(who("agent"), request("exec:deploy")).execute);
}

TEST_F(GatewayTest, ExpiryWithoutEscalationStep) {
  // Straight to expiry: one apply_deadlines call that is past both deadlines
  // ends in expired.
  auto pending = submit(who("agent"), request("exec:deploy"));
  ASSERT_TRUE(pending.review);
  clock_.advance(2 * kExpiresAfter);
  EXPECT_GE(gateway_->apply_deadlines().value_or(-1), 1);
  EXPECT_EQ(stored(pending.review->id).state, ReviewState::expired);
}

TEST(GatewayRestart, DeadlinesAndGrantsSurviveARestart) {
  TempDatabase database;
  ManualClock clock{kStart};
  std::string escalating_id, approved_id;
  {
    auto store = open_store(database.path());
    ASSERT_NE(store, nullptr);
    auto gateway = make_gateway(*store, clock);
    auto agent = gateway->authenticate("Bearer agent-key", "127.0.0.1");
    ASSERT_TRUE(agent.has_value());
    auto escalating = gateway->submit(*agent, request("exec:deploy"));
    ASSERT_TRUE(escalating.has_value() && escalating->review.has_value());
    escalating_id = escalating->review->id;
    auto to_approve = gateway->submit(*agent, request("exec:migrate"));
    ASSERT_TRUE(to_approve.has_value() && to_approve->review.has_value());
    approved_id = to_approve->review->id;
    auto alice = gateway->authenticate("Bearer alice-key", "127.0.0.1");
    ASSERT_TRUE(alice.has_value());
    ASSERT_TRUE(gateway->vote(approved_id, *alice, true, "ok").has_value());
  }

  // A new process: new store connection, new gateway, same file.
  {
    auto store = open_store(database.path());
    ASSERT_NE(store, nullptr);
    auto gateway = make_gateway(*store, clock);

    // The grant issued before the restart is still redeemable (within its TTL).
    clock.set(kStart + kGrantTtl - 1);
    auto agent = gateway->authenticate("Bearer agent-key", "127.0.0.1");
    ASSERT_TRUE(agent.has_value());
    auto redeemed = gateway->submit(*agent, request("exec:migrate"));
    ASSERT_TRUE(redeemed.has_value());
    EXPECT_TRUE(redeemed->execute);

    // Escalation is derived from stored times, not from timers of the old process.
    clock.set(kStart + kEscalateAfter);
    std::vector<std::string> notified;
    gateway->set_review_listener([&](const review::Review& r) { notified.push_back(r.id); });
    auto changed = gateway->apply_deadlines();
    ASSERT_TRUE(changed.has_value()) << changed.error().message;
    EXPECT_EQ(*changed, 1);
    auto escalated = gateway->get_review(escalating_id);
    ASSERT_TRUE(escalated.has_value());
    EXPECT_TRUE(escalated->escalated);
    EXPECT_THAT(notified, ElementsAre(escalating_id));
  }

  clock.set(kStart + kExpiresAfter);
  {
    auto store = open_store(database.path());
    ASSERT_NE(store, nullptr);
    auto gateway = make_gateway(*store, clock);
    EXPECT_EQ(gateway->apply_deadlines().value_or(-1), 1);
    auto expired = gateway->get_review(escalating_id);
    ASSERT_TRUE(expired.has_value());
    EXPECT_EQ(expired->state, ReviewState::expired);
    auto executed = gateway->get_review(approved_id);
    ASSERT_TRUE(executed.has_value());
    EXPECT_EQ(executed->state, ReviewState::executed);
    EXPECT_EQ(store->count_reviews(ReviewState::pending).value_or(-1), 0);
  }
}

TEST(GatewayRestart, ApprovedButUnusedGrantEndsAsFailed) {
  TempDatabase database;
  ManualClock clock{kStart};
  auto store = open_store(database.path());
  ASSERT_NE(store, nullptr);
  auto gateway = make_gateway(*store, clock);
  auto agent = gateway->authenticate("Bearer agent-key", "127.0.0.1");
  auto alice = gateway->authenticate("Bearer alice-key", "127.0.0.1");
  ASSERT_TRUE(agent.has_value() && alice.has_value());
  auto submitted = gateway->submit(*agent, request("exec:migrate"));
  ASSERT_TRUE(submitted.has_value() && submitted->review.has_value());
  const std::string id = submitted->review->id;
  ASSERT_TRUE(gateway->vote(id, *alice, true, "ok").has_value());
  clock.advance(kGrantTtl);
  EXPECT_EQ(gateway->apply_deadlines().value_or(-1), 1);
  auto failed = gateway->get_review(id);
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->state, ReviewState::failed);
  // The identical action now opens a new review instead of executing.
  auto again = gateway->submit(*agent, request("exec:migrate"));
  ASSERT_TRUE(again.has_value() && again->review.has_value());
  EXPECT_FALSE(again->execute);
  EXPECT_NE(again->review->id, id);
}

// ---------------------------------------------------------------------------
// listener

TEST_F(GatewayTest, ListenerIsCalledOnEveryChange) {
  auto agent = who("agent");
  auto first = submit(agent, request("exec:deploy"));
  ASSERT_TRUE(first.review);
  submit(agent, request("exec:deploy"));  // joins: no change
  ASSERT_EQ(notified().size(), 1u);

  clock_.advance(kEscalateAfter);
  ASSERT_EQ(gateway_->apply_deadlines().value_or(-1), 1);
  ASSERT_TRUE(gateway_->vote(first.review->id, who("alice"), true, "ok").has_value());
  EXPECT_FALSE(gateway_->vote(first.review->id, who("carol"), true, "late").has_value());
  ASSERT_TRUE(submit(agent, request("exec:deploy")).execute);

  auto second = submit(agent, request("exec:other"));
  ASSERT_TRUE(second.review);
  ASSERT_TRUE(gateway_->cancel(second.review->id, agent).has_value());
  auto third = submit(agent, request("exec:third"));
  ASSERT_TRUE(third.review);
  clock_.advance(2 * kExpiresAfter);
  ASSERT_GE(gateway_->apply_deadlines().value_or(-1), 1);

  std::vector<std::string> seen;
  for (const auto& review : notified()) {
    std::string tag = review.id == first.review->id    ? "first"
                      : review.id == second.review->id ? "second"
                      : review.id == third.review->id  ? "third"
                                                       : "?";
    seen.push_back(tag + ":" + std::string(review::state_name(review.state)) +
                   (review.escalated ? "+escalated" : ""));
  }
  EXPECT_THAT(seen,
              ElementsAre("first:pending", "first:pending+escalated", "first:approved+escalated",
                          "first:executed+escalated", "second:pending", "second:cancelled",
                          "third:pending", "third:expired"));
  // Each notified review is the stored one.
  auto last = notified().back();
  EXPECT_EQ(last.version, stored(last.id).version);
}

// ---------------------------------------------------------------------------
// authentication

TEST_F(GatewayTest, AuthenticateAuditsFailuresWithoutTheCredential) {
  auto good = gateway_->authenticate("Bearer alice-key", "10.0.0.9");
  ASSERT_TRUE(good.has_value());
  EXPECT_EQ(good->subject, "alice@example.com");
  EXPECT_EQ(good->kind, IdentityKind::human);
  EXPECT_TRUE(events("auth.failed").empty());

  auto wrong = gateway_->authenticate("Bearer presented-wrong-credential", "10.0.0.9");
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code, ErrorCode::unauthenticated);
  EXPECT_THAT(wrong.error().message, Not(HasSubstr("presented-wrong-credential")));

  auto basic = gateway_->authenticate("Basic dXNlcjpwYXNzd29yZA==", "10.0.0.10");
  ASSERT_FALSE(basic.has_value());
  EXPECT_EQ(basic.error().code, ErrorCode::unauthenticated);
  auto empty = gateway_->authenticate("", "10.0.0.11");
  ASSERT_FALSE(empty.has_value());

  auto failures = events("auth.failed");
  ASSERT_EQ(failures.size(), 3u);
  EXPECT_EQ(failures[0].details.at("client_address"), boost::json::value("10.0.0.9"));
  EXPECT_EQ(failures[1].details.at("client_address"), boost::json::value("10.0.0.10"));
  EXPECT_EQ(failures[0].time, kStart);
  EXPECT_EQ(gateway_->counters().authentication_failures.load(), 3u);
  std::string log = all_events_text();
  EXPECT_THAT(log, Not(HasSubstr("presented-wrong-credential")));
  EXPECT_THAT(log, Not(HasSubstr("dXNlcjpwYXNzd29yZA")));
  EXPECT_THAT(log, Not(HasSubstr(sha256_hex("presented-wrong-credential"))));
}

// ---------------------------------------------------------------------------
// concurrency

TEST_F(GatewayTest, ConcurrentRedemptionExecutesExactlyOnce) {
  auto pending = approved_change(request("exec:deploy"));
  auto agent = who("agent");
  constexpr int kThreads = 8;
  std::latch start(kThreads);
  std::atomic<int> executed{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      auto outcome = gateway_->submit(agent, request("exec:deploy"));
      if (!outcome) {
        failed++;
        return;
      }
      if (outcome->execute) {
        executed++;
        EXPECT_TRUE(outcome->redeemed_grant.has_value());
        EXPECT_EQ(outcome->review->id, pending.review->id);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(executed.load(), 1);
  EXPECT_EQ(gateway_->counters().grants_redeemed.load(), 1u);
  EXPECT_EQ(events("review.executed").size(), 1u);
  EXPECT_EQ(count(ReviewState::executed), 1);
  EXPECT_EQ(stored(pending.review->id).state, ReviewState::executed);
  // The others found no grant and opened (or joined) a new review.
  EXPECT_GE(count(ReviewState::pending), 1);
  RecordProperty("pending_reviews_after_race", static_cast<int>(count(ReviewState::pending)));
}

TEST_F(GatewayTest, ConcurrentRedemptionAtTheStoreLevel) {
  auto pending = approved_change(request("exec:deploy"));
  constexpr int kThreads = 8;
  std::latch start(kThreads);
  std::atomic<int> redeemed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      auto grant =
          store_->redeem_grant(pending.digest, "agent:bot", clock_.now(),
                               [](review::Review&) { return std::vector<audit::AuditEvent>{}; });
      ASSERT_TRUE(grant.has_value());
      if (grant->has_value()) redeemed++;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(redeemed.load(), 1);
}

}  // namespace
}  // namespace countersign::gateway

namespace countersign::gateway {
namespace {

TEST_F(GatewayTest, RequestReasonIsMaskedInReviewAndAudit) {
  auto req = request("exec:deploy");
  req.reason = "asked by ceo@example.com";
  auto outcome = submit(who("agent"), req);
  ASSERT_TRUE(outcome.review);
  ASSERT_TRUE(outcome.review->action.reason.has_value());
  EXPECT_EQ(*outcome.review->action.reason, "asked by [EMAIL]");
  EXPECT_THAT(all_events_text(), Not(HasSubstr("ceo@example.com")));
}

TEST_F(GatewayTest, EscalateByHand) {
  auto agent = who("agent");
  auto pending = submit(agent, request("exec:deploy"));
  ASSERT_TRUE(pending.review);
  EXPECT_FALSE(gateway_->escalate(pending.review->id, agent, "hurry").has_value());
  auto escalated = gateway_->escalate(pending.review->id, who("alice"), "need a lead");
  ASSERT_TRUE(escalated.has_value()) << escalated.error().message;
  EXPECT_TRUE(escalated->escalated);
  EXPECT_EQ(events("review.escalated").size(), 1u);
  EXPECT_EQ(events("review.escalated")[0].actor, "alice@example.com");
  EXPECT_EQ(notified().size(), 2u);
  // The deadline no longer applies once escalated.
  clock_.advance(kEscalateAfter);
  EXPECT_EQ(gateway_->apply_deadlines().value_or(-1), 0);
}

// A config that adds words to the default profile, and a profile extending a
// profile defined after it.
TEST(GatewayMaskProfiles, DefaultProfileCanBeExtendedFromConfig) {
  auto config = config::parse_config(
      "storage: {sqlite: ':memory:'}\n"
      "masking:\n"
      "  profiles:\n"
      "    strict: {extends: base, secret_keys: [iban]}\n"
      "    base: {secret_keys: [Tax-Id]}\n"
      "    default: {secret_keys: [ssn]}\n",
      "test.yaml");
  ASSERT_TRUE(config.has_value()) << config.error().message;
  auto policy = policy::Policy::compile(config->policy);
  ASSERT_TRUE(policy.has_value());
  auto store = open_store(":memory:");
  ASSERT_NE(store, nullptr);
  ManualClock clock{kStart};
  auto gateway = std::async(std::launch::async, [&] {
    return std::make_unique<Gateway>(*config, *policy, *store, clock);
  });
  ASSERT_EQ(gateway.wait_for(std::chrono::seconds(10)), std::future_status::ready)
      << "building the mask profiles does not terminate";
  auto built = gateway.get();
  const auto& defaults = built->mask_profile("default");
  EXPECT_THAT(defaults.secret_key_words, ::testing::Contains("ssn"));
  EXPECT_THAT(defaults.secret_key_words, ::testing::Contains("password"));
  EXPECT_EQ(std::count(defaults.secret_key_words.begin(), defaults.secret_key_words.end(), "ssn"),
            1);
  const auto& strict = built->mask_profile("strict");
  EXPECT_EQ(strict.name, "strict");
  EXPECT_THAT(strict.secret_key_words, ::testing::Contains("iban"));
  EXPECT_THAT(strict.secret_key_words, ::testing::Contains("taxid"));
  EXPECT_THAT(strict.secret_key_words, ::testing::Contains("password"));
}

}  // namespace
}  // namespace countersign::gateway
