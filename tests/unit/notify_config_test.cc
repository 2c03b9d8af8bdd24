#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/channels.h"
#include "config/config.h"

namespace countersign::config {
namespace {

using ::testing::HasSubstr;

std::string with_channels(const std::string& channels) {
  return R"(storage: {sqlite: ":memory:"}
identity:
  api_keys:
    - {name: alice, key_sha256: 6e5d35a55b80d29164c5e6576b4dbe50836237a17b5b4af841b091e25f6132b4, subject: alice@example.com, kind: human, email: alice@example.com}
targets:
  production: {}
channels:
)" + channels;
}

TEST(ChannelsConfig, ReadsSlackTeamsAndWebhooks) {
  auto config = parse_config(with_channels(R"(  slack:
    bot_token: env:SLACK_BOT_TOKEN
    signing_secret: file:secrets/slack
    api_base_url: http://127.0.0.1:9/api/
    channel: C0DEFAULT
    routes: [{target: production, channel: C0PROD}]
    users: {U0ALICE: alice@example.com}
    link_by_email: false
  teams: {webhook_url: env:TEAMS_URL}
  webhooks:
    - {url: "https://hooks.example.com/x", secret: env:HOOK, events: [review.approved]}
)"),
                             "/etc/countersign/c.yaml");
  ASSERT_TRUE(config) << config.error().message;
  const auto& channels = *config->channels;
  ASSERT_TRUE(channels.slack);
  EXPECT_EQ(channels.slack->api_base_url, "http://127.0.0.1:9/api");
  EXPECT_EQ(channels.slack->signing_secret.reference, "file:/etc/countersign/secrets/slack");
  EXPECT_EQ(channels.slack->routes.at(0).channel, "C0PROD");
  EXPECT_EQ(channels.slack->users.at("U0ALICE"), "alice@example.com");
  EXPECT_FALSE(channels.slack->link_by_email);
  ASSERT_TRUE(channels.teams);
  EXPECT_EQ(channels.webhooks.at(0).events, std::vector<std::string>{"review.approved"});
}

TEST(ChannelsConfig, AbsentMeansNone) {
  auto config = parse_config(with_channels("  {}\n"), "c.yaml");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_FALSE(config->channels->slack);
  EXPECT_TRUE(config->channels->webhooks.empty());
}

TEST(ChannelsConfig, MistakesAreLoadErrorsWithALine) {
  struct Case {
    std::string yaml;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"  slack: {bot_token: xoxb-inline, signing_secret: env:S, channel: C1}\n",
       "never written inline"},
      {"  slack: {bot_token: env:T, signing_secret: env:S}\n", "needs a channel"},
      {"  slack: {bot_token: env:T, signing_secret: env:S, channel: C1, users: {U1: mallory}}\n",
       "no identity with subject 'mallory'"},
      {"  slack: {bot_token: env:T, signing_secret: env:S, channel: C1, users: {alice: "
       "alice@example.com}}\n",
       "is not a Slack user id"},
      {"  slack: {bot_token: env:T, signing_secret: env:S, routes: [{target: nope, channel: "
       "C1}]}\n",
       "unknown target 'nope'"},
      {"  teams: {webhook_url: https://inline.example.com}\n", "never written inline"},
      {"  webhooks: [{url: ftp://x, secret: env:H}]\n", "must be http(s)"},
      {"  webhooks: [{url: https://x, secret: env:H, events: [action.decided]}]\n", "review.*"},
      {"  slak: {}\n", "unknown key 'slak'"},
  };
  for (const auto& item : cases) {
    auto config = parse_config(with_channels(item.yaml), "c.yaml");
    ASSERT_FALSE(config) << item.yaml;
    EXPECT_THAT(config.error().message, HasSubstr(item.message)) << item.yaml;
    EXPECT_THAT(config.error().message, HasSubstr("c.yaml:")) << item.yaml;
  }
}

}  // namespace
}  // namespace countersign::config
