// Api without a network: requests in, responses (or holds) out.
#include "server/api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "config/config.h"
#include "core/hash.h"
#include "store/sqlite/sqlite_store.h"

namespace countersign::server {
namespace {

using ::testing::HasSubstr;

constexpr Millis kStart = 1'700'000'000'000;

std::string config_yaml() {
  auto key = [](const std::string& name, const std::string& subject, const std::string& kind,
                const std::string& groups) {
    return "    - {name: " + name + ", key_sha256: " + sha256_hex(name + "-key") + ", subject: \"" +
           subject + "\", kind: " + kind + ", groups: [" + groups + "]}\n";
  };
  return "storage: {sqlite: ':memory:'}\n"
         "identity:\n"
         "  api_keys:\n" +
         key("agent", "agent:bot", "agent", "agents") +
         key("alice", "alice@example.com", "human", "sre") +
         "targets:\n"
         "  prod: {hold_timeout: 30s}\n"
         "policy:\n"
         "  rules:\n"
         "    - {id: reads, match: {verb: 'read:*'}, effect: allow}\n"
         "    - id: changes\n"
         "      match: {verb: 'exec:*'}\n"
         "      effect: review\n"
         "      review: {steps: [{approvers: [group:sre]}]}\n";
}

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto config = config::parse_config(config_yaml(), "api-test.yaml");
    ASSERT_TRUE(config.has_value()) << config.error().message;
    auto policy = policy::Policy::compile(config->policy);
    ASSERT_TRUE(policy.has_value()) << policy.error().message;
    auto store = store::SqliteStore::open(":memory:");
    ASSERT_TRUE(store.has_value());
    store_ = std::move(*store);
    gateway_ =
        std::make_unique<gateway::Gateway>(std::move(*config), std::move(*policy), *store_, clock_);
    api_ = std::make_unique<Api>(*gateway_);
  }

  HandlerResult call(const std::string& method, const std::string& path, const std::string& key,
                     const std::string& body = "", std::map<std::string, std::string> query = {}) {
    ApiRequest request;
    request.method = method;
    request.path = path;
    request.query = std::move(query);
    if (!key.empty()) request.authorization = "Bearer " + key;
    request.body = body;
    request.client_address = "127.0.0.1";
    return api_->handle(request);
  }

  static boost::json::object json(const ApiResponse& response) {
    return boost::json::parse(response.body).as_object();
  }

  ManualClock clock_{kStart};
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<gateway::Gateway> gateway_;
  std::unique_ptr<Api> api_;
};

TEST_F(ApiTest, ErrorsAreJsonWithFittingStatus) {
  auto unauthenticated = call("GET", "/v1/reviews", "");
  EXPECT_EQ(unauthenticated.response.status, 401u);
  EXPECT_EQ(json(unauthenticated.response)["error"].at("code"), "unauthenticated");
  EXPECT_EQ(call("GET", "/v1/nope", "alice-key").response.status, 404u);
  EXPECT_EQ(call("PUT", "/v1/actions", "agent-key").response.status, 405u);
  auto malformed = call("POST", "/v1/actions", "agent-key", "{\"target\":");
  EXPECT_EQ(malformed.response.status, 400u);
  EXPECT_THAT(malformed.response.body, HasSubstr("malformed JSON"));
  auto duplicate = call("POST", "/v1/actions", "agent-key",
                        R"({"target":"prod","verb":"read:x","verb":"exec:x"})");
  EXPECT_EQ(duplicate.response.status, 400u) << duplicate.response.body;
}

TEST_F(ApiTest, AllowAnswersAtOnce) {
  auto result = call("POST", "/v1/actions", "agent-key", R"({"target":"prod","verb":"read:x"})");
  ASSERT_FALSE(result.hold.has_value());
  EXPECT_EQ(result.response.status, 200u);
  EXPECT_EQ(json(result.response)["decision"], "allow");
}

TEST_F(ApiTest, ReviewWithoutWaitIs202WithLocation) {
  auto result = call("POST", "/v1/actions", "agent-key", R"({"target":"prod","verb":"exec:x"})");
  ASSERT_FALSE(result.hold.has_value());
  EXPECT_EQ(result.response.status, 202u);
  auto body = json(result.response);
  std::string id(body["review_id"].as_string());
  bool has_location = false;
  for (const auto& [name, value] : result.response.headers)
    has_location = has_location || (name == "Location" && value == "/v1/reviews/" + id);
  EXPECT_TRUE(has_location);
}

TEST_F(ApiTest, HeldRequestResumesIntoExecutionAfterApproval) {
  auto held = call("POST", "/v1/actions", "agent-key", R"({"target":"prod","verb":"exec:x"})",
                   {{"wait", "10"}});
  ASSERT_TRUE(held.hold.has_value());
  EXPECT_EQ(held.hold->deadline, kStart + 10'000);
  const std::string id = held.hold->review_id;

  // Woken without a decision (e.g. an escalation): still held.
  auto still = held.hold->resume(false);
  ASSERT_TRUE(still.hold.has_value());

  auto vote = call("POST", "/v1/reviews/" + id + "/approve", "alice-key", "{}");
  ASSERT_EQ(vote.response.status, 200u) << vote.response.body;
  auto done = still.hold->resume(false);
  ASSERT_FALSE(done.hold.has_value());
  EXPECT_EQ(done.response.status, 200u) << done.response.body;
  EXPECT_EQ(json(done.response)["grant"].at("review_id").as_string(), id);
}

TEST_F(ApiTest, HoldThatTimesOutAnswers202) {
  auto held = call("POST", "/v1/actions", "agent-key", R"({"target":"prod","verb":"exec:y"})",
                   {{"wait", "5"}});
  ASSERT_TRUE(held.hold.has_value());
  clock_.advance(5'000);
  auto done = held.hold->resume(true);
  ASSERT_FALSE(done.hold.has_value());
  EXPECT_EQ(done.response.status, 202u);
}

TEST_F(ApiTest, WaitLongerThanTheTargetAllowsIsCut) {
  auto held = call("POST", "/v1/actions", "agent-key", R"({"target":"prod","verb":"exec:z"})",
                   {{"wait", "300"}});
  ASSERT_TRUE(held.hold.has_value());
  EXPECT_EQ(held.hold->deadline, kStart + 30'000);
}

TEST_F(ApiTest, MetricsCountDecisionsInPrometheusFormat) {
  call("POST", "/v1/actions", "agent-key", R"({"target":"prod","verb":"read:x"})");
  call("POST", "/v1/actions", "agent-key", R"({"target":"prod","verb":"exec:x"})");
  call("POST", "/v1/actions", "agent-key", R"({"target":"prod","verb":"write:x"})");
  auto metrics = call("GET", "/metrics", "");
  EXPECT_EQ(metrics.response.status, 200u);
  EXPECT_THAT(metrics.response.content_type, HasSubstr("text/plain"));
  EXPECT_THAT(metrics.response.body,
              HasSubstr("countersign_decisions_total{effect=\"allow\"} 1\n"));
  EXPECT_THAT(metrics.response.body, HasSubstr("countersign_decisions_total{effect=\"deny\"} 1\n"));
  EXPECT_THAT(metrics.response.body,
              HasSubstr("countersign_decisions_total{effect=\"review\"} 1\n"));
  EXPECT_THAT(metrics.response.body, HasSubstr("countersign_reviews_pending 1\n"));
  EXPECT_THAT(metrics.response.body,
              HasSubstr("# TYPE countersign_http_request_duration_seconds histogram"));
}

TEST_F(ApiTest, ViewerSeesWhetherTheyMayVote) {
  auto created = call("POST", "/v1/actions", "agent-key", R"({"target":"prod","verb":"exec:v"})");
  std::string id(json(created.response)["review_id"].as_string());
  auto as_alice = json(call("GET", "/v1/reviews/" + id, "alice-key").response);
  EXPECT_EQ(as_alice["viewer"].at("may_vote"), true);
  auto as_agent = json(call("GET", "/v1/reviews/" + id, "agent-key").response);
  EXPECT_EQ(as_agent["viewer"].at("may_vote"), false);
  EXPECT_FALSE(as_agent["viewer"].at("why_not").as_string().empty());
}

}  // namespace
}  // namespace countersign::server
