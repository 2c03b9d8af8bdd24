#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "notify/outbox.h"
#include "notify/signing.h"
#include "notify/teams/teams.h"
#include "notify/webhook/webhook.h"
#include "notify_test_support.h"

namespace countersign::notify {
namespace {

using testing::FakeHttpClient;
using ::testing::HasSubstr;
using testing::kNow;
using testing::sample_review;
namespace json = boost::json;

TEST(TeamsCard, IsAnAdaptiveCard15WithTheContextAndAnOpenAction) {
  auto review = sample_review();
  auto message =
      teams::card_message(teams::review_card(review, {}, "http://gw/v1/reviews/rv_test1", kNow));
  EXPECT_EQ(message.at("type"), "message");
  const auto& attachment = message.at("attachments").as_array().at(0).as_object();
  EXPECT_EQ(attachment.at("contentType"), "application/vnd.microsoft.card.adaptive");
  EXPECT_TRUE(attachment.at("contentUrl").is_null());
  const auto& card = attachment.at("content").as_object();
  // The schema's required fields: type and version; body elements have a type.
  EXPECT_EQ(card.at("type"), "AdaptiveCard");
  EXPECT_EQ(card.at("version"), "1.5");
  EXPECT_EQ(card.at("$schema"), "http://adaptivecards.io/schemas/adaptive-card.json");
  for (const auto& element : card.at("body").as_array())
    EXPECT_TRUE(element.as_object().contains("type"));
  const auto& action = card.at("actions").as_array().at(0).as_object();
  EXPECT_EQ(action.at("type"), "Action.OpenUrl");
  EXPECT_EQ(action.at("title"), "Open to decide");
  EXPECT_EQ(action.at("url"), "http://gw/v1/reviews/rv_test1");
  std::string text = json::serialize(card);
  EXPECT_THAT(text, HasSubstr("agent:deploy-bot (on behalf of dana@example.com)"));
  EXPECT_THAT(text, HasSubstr("production-changes"));
  EXPECT_THAT(text, HasSubstr("[SECRET]"));
  EXPECT_THAT(text, HasSubstr("expires in 1h"));
}

TEST(TeamsChannel, PostsTheCardAndRetriesOnThrottling) {
  config::ChannelsConfig channels;
  channels.teams.emplace();
  audit::AuditEvent created;
  created.type = "review.created";
  auto review = sample_review();
  auto message = plan_notifications(channels, "http://gw", review, {created}, kNow).at(0);
  teams::TeamsChannel channel("https://example.webhook.office.com/workflows/x?sig=secret");
  FakeHttpClient http;
  http.reply(202, "");
  EXPECT_EQ(channel.deliver(message, http, kNow).kind, Delivery::Kind::delivered);
  EXPECT_EQ(http.requests[0].url, "https://example.webhook.office.com/workflows/x?sig=secret");
  EXPECT_EQ(http.body(0).at("attachments").as_array().at(0).at("content").at("version"), "1.5");
  http.reply(429, "", {{"retry-after", "3"}});
  auto throttled = channel.deliver(message, http, kNow);
  EXPECT_EQ(throttled.kind, Delivery::Kind::retry);
  EXPECT_EQ(throttled.retry_after, 3000);
  http.reply(400, "bad card");
  EXPECT_EQ(channel.deliver(message, http, kNow).kind, Delivery::Kind::dead);
}

TEST(Webhook, SignsTimestampAndBody) {
  webhook::Endpoint endpoint{"http://hooks/a", "whsec-test-0123456789"};
  auto request =
      webhook::signed_request(endpoint, R"({"type":"review.approved"})", "review.approved",
                              "webhook:0:rv_1:v2:1", 1'700'000'000'123);
  std::map<std::string, std::string> headers(request.headers.begin(), request.headers.end());
  EXPECT_EQ(headers["X-Countersign-Timestamp"], "1700000000");
  EXPECT_EQ(headers["X-Countersign-Event"], "review.approved");
  EXPECT_EQ(headers["X-Countersign-Delivery"], "webhook:0:rv_1:v2:1");
  EXPECT_EQ(headers["X-Countersign-Signature"],
            "v1=80c645ab97dc71e39f8cd1db77a1204c05f6c8282d733ab78eefbb2e578f3fd6");
  EXPECT_EQ(headers["Content-Type"], "application/json");
}

TEST(WebhookChannel, DeliversTheStoredBodyToTheConfiguredUrl) {
  config::ChannelsConfig channels;
  channels.webhooks = {{"http://hooks/a", {}, {}}};
  audit::AuditEvent created;
  created.type = "review.created";
  created.actor = "agent:deploy-bot";
  auto message = plan_notifications(channels, "http://gw", sample_review(), {created}, kNow).at(0);
  webhook::WebhookChannel channel(std::vector<webhook::Endpoint>{{"http://hooks/a", "s3cret"}});
  FakeHttpClient http;
  http.reply(204, "");
  EXPECT_EQ(channel.deliver(message, http, kNow).kind, Delivery::Kind::delivered);
  const auto& sent = http.requests.at(0);
  EXPECT_EQ(sent.url, "http://hooks/a");
  auto body = json::parse(sent.body).as_object();
  EXPECT_EQ(body.at("type"), "review.created");
  EXPECT_EQ(body.at("id").as_string(), message.key);
  std::map<std::string, std::string> headers(sent.headers.begin(), sent.headers.end());
  EXPECT_EQ(headers["X-Countersign-Signature"],
            webhook_signature("s3cret", headers["X-Countersign-Timestamp"], sent.body));
  http.unreachable();
  EXPECT_EQ(channel.deliver(message, http, kNow).kind, Delivery::Kind::retry);
  webhook::WebhookChannel moved(std::vector<webhook::Endpoint>{{"http://hooks/elsewhere", "s"}});
  EXPECT_EQ(moved.deliver(message, http, kNow).kind, Delivery::Kind::dead);
}

}  // namespace
}  // namespace countersign::notify
