#include <gtest/gtest.h>

#include "notify/signing.h"

namespace countersign::notify {
namespace {

// Slack's published example (api.slack.com/authentication/verifying-requests-from-slack).
constexpr std::string_view kSlackSecret = "8f742231b10e8888abcd99yyyzzz85a5";
constexpr std::string_view kSlackTimestamp = "1531420618";
constexpr std::string_view kSlackBody =
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%"
    "2F96rGlfmibIGl"
    "gcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
constexpr std::string_view kSlackSignature =
    "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
constexpr Millis kSlackNow = 1531420618LL * 1000;

TEST(SlackSignature, MatchesSlacksPublishedExample) {
  EXPECT_EQ(slack_signature(kSlackSecret, kSlackTimestamp, kSlackBody), kSlackSignature);
  EXPECT_TRUE(verify_slack_request(kSlackSecret, kSlackTimestamp, kSlackSignature, kSlackBody,
                                   kSlackNow + 1000));
}

TEST(SlackSignature, RefusesTamperingWrongSecretAndVersion) {
  std::string tampered(kSlackBody);
  tampered += "&user_id=UEVIL";
  EXPECT_EQ(
      verify_slack_request(kSlackSecret, kSlackTimestamp, kSlackSignature, tampered, kSlackNow)
          .error()
          .code,
      ErrorCode::unauthenticated);
  EXPECT_FALSE(verify_slack_request("another-secret", kSlackTimestamp, kSlackSignature, kSlackBody,
                                    kSlackNow));
  std::string v1 = "v1=" + std::string(kSlackSignature.substr(3));
  EXPECT_FALSE(verify_slack_request(kSlackSecret, kSlackTimestamp, v1, kSlackBody, kSlackNow));
  EXPECT_FALSE(verify_slack_request(kSlackSecret, kSlackTimestamp, "", kSlackBody, kSlackNow));
  EXPECT_FALSE(verify_slack_request(kSlackSecret, kSlackTimestamp, "v0=00", kSlackBody, kSlackNow));
}

TEST(SlackSignature, RefusesStaleFutureAndMalformedTimestamps) {
  // Exactly five minutes is still fresh; a millisecond more is not.
  EXPECT_TRUE(verify_slack_request(kSlackSecret, kSlackTimestamp, kSlackSignature, kSlackBody,
                                   kSlackNow + 300'000));
  auto stale = verify_slack_request(kSlackSecret, kSlackTimestamp, kSlackSignature, kSlackBody,
                                    kSlackNow + 300'001);
  ASSERT_FALSE(stale);
  EXPECT_NE(stale.error().message.find("stale"), std::string::npos);
  EXPECT_FALSE(verify_slack_request(kSlackSecret, kSlackTimestamp, kSlackSignature, kSlackBody,
                                    kSlackNow - 300'001));
  for (std::string_view bad : {"", "abc", "1531420618.5", "-1531420618", "99999999999999999999"})
    EXPECT_FALSE(verify_slack_request(kSlackSecret, bad, kSlackSignature, kSlackBody, kSlackNow))
        << bad;
}

TEST(WebhookSignature, IsHmacOverVersionTimestampAndBody) {
  // Computed independently with Python's hmac module.
  EXPECT_EQ(
      webhook_signature("whsec-test-0123456789", "1700000000", R"({"type":"review.approved"})"),
      "v1=80c645ab97dc71e39f8cd1db77a1204c05f6c8282d733ab78eefbb2e578f3fd6");
}

TEST(ReplayCache, RemembersWithinTheWindowOnly) {
  ReplayCache cache(1000, 3);
  EXPECT_TRUE(cache.first_time("a", 0));
  EXPECT_FALSE(cache.first_time("a", 500));
  EXPECT_TRUE(cache.first_time("b", 600));
  EXPECT_TRUE(cache.first_time("a", 1000));  // the first "a" has left the window
  EXPECT_TRUE(cache.first_time("c", 1000));
  // Full of fresh entries: refuse rather than forget one early.
  EXPECT_FALSE(cache.first_time("d", 1001));
  EXPECT_TRUE(cache.first_time("d", 1601));
}

}  // namespace
}  // namespace countersign::notify
