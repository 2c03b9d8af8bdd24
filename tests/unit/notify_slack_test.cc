#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

#include "notify/outbox.h"
#include "notify/slack/blocks.h"
#include "notify/slack/interaction.h"
#include "notify/slack/web_api.h"
#include "notify_test_support.h"

namespace countersign::notify::slack {
namespace {

using notify::testing::FakeHttpClient;
using notify::testing::kNow;
using notify::testing::sample_review;
using ::testing::HasSubstr;
using ::testing::Not;
namespace json = boost::json;

std::string form(const std::string& payload) {
  std::string out = "payload=";
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : payload) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.')
      out.push_back(static_cast<char>(c));
    else if (c == ' ')
      out.push_back('+');
    else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

TEST(SlackForm, DecodesPercentAndPlus) {
  EXPECT_EQ(form_decode("a+b%20c%3D%zz%4"), "a b c=%zz%4");
  EXPECT_EQ(form_value("x=1&payload=%7B%7D&y", "payload"), "{}");
  EXPECT_EQ(form_value("x=1&y", "y"), "");
  EXPECT_FALSE(form_value("x=1", "payload"));
}

TEST(SlackInteraction, ParsesABlockActionsClick) {
  json::object payload = {
      {"type", "block_actions"},
      {"user", {{"id", "U0ALICE"}, {"username", "bob"}, {"name", "bob"}, {"team_id", "T1"}}},
      {"team", {{"id", "T1"}, {"domain", "acme"}}},
      {"trigger_id", "123.456.abc"},
      {"container",
       {{"type", "message"}, {"message_ts", "1700.01"}, {"channel_id", "C0APPROVALS"}}},
      {"channel", {{"id", "C0APPROVALS"}}},
      {"actions", json::array{{{"action_id", "countersign_approve"},
                               {"block_id", "countersign_actions"},
                               {"value", "rv_1"},
                               {"type", "button"}}}}};
  auto parsed = parse_interaction(form(json::serialize(payload)));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->type, Interaction::Type::block_actions);
  EXPECT_EQ(parsed->user_id, "U0ALICE");  // only the id, never the claimed name
  EXPECT_EQ(parsed->team_id, "T1");
  EXPECT_EQ(parsed->action_id, kApproveAction);
  EXPECT_EQ(parsed->value, "rv_1");
  EXPECT_EQ(parsed->channel_id, "C0APPROVALS");
  EXPECT_EQ(parsed->message_ts, "1700.01");
  EXPECT_EQ(parsed->trigger_id, "123.456.abc");
}

TEST(SlackInteraction, ParsesAViewSubmissionWithItsReason) {
  json::object payload = {
      {"type", "view_submission"},
      {"user", {{"id", "U0BOB"}}},
      {"view",
       {{"callback_id", kRejectModal},
        {"private_metadata", R"({"review":"rv_1","channel":"C1"})"},
        {"state",
         {{"values",
           {{"reason",
             {{"reason", {{"type", "plain_text_input"}, {"value", "too risky & late"}}}}}}}}}}}};
  auto parsed = parse_interaction(form(json::serialize(payload)));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->type, Interaction::Type::view_submission);
  EXPECT_EQ(parsed->callback_id, kRejectModal);
  EXPECT_EQ(parsed->reason, "too risky & late");
  EXPECT_THAT(parsed->private_metadata, HasSubstr("rv_1"));
}

TEST(SlackInteraction, RefusesMalformedPayloads) {
  EXPECT_FALSE(parse_interaction("nothing=here"));
  EXPECT_FALSE(parse_interaction("payload=not-json"));
  EXPECT_FALSE(parse_interaction(form(R"({"type":"block_actions","actions":[]})")));
  EXPECT_FALSE(
      parse_interaction(form(R"({"type":"block_actions","user":{"id":"U1"},"actions":[]})")));
  auto other = parse_interaction(form(R"({"type":"view_closed","user":{"id":"U1"}})"));
  ASSERT_TRUE(other);
  EXPECT_EQ(other->type, Interaction::Type::other);
}

TEST(SlackBlocks, PendingMessageCarriesContextAndButtons) {
  auto review = sample_review();
  auto message = review_message(review, "http://gw/v1/reviews/rv_test1", kNow + 60'000);
  std::string text = json::serialize(message);
  EXPECT_THAT(text, HasSubstr("agent:deploy-bot (on behalf of dana@example.com)"));
  EXPECT_THAT(text, HasSubstr("production"));
  EXPECT_THAT(text, HasSubstr("exec:deploy"));
  EXPECT_THAT(text, HasSubstr("production-changes"));
  EXPECT_THAT(text, HasSubstr("Changes to production need an SRE"));
  EXPECT_THAT(text, HasSubstr("step 1 of 1: 0 of 1 approvals from group:sre"));
  EXPECT_THAT(text, HasSubstr("expires in 59m"));
  EXPECT_THAT(text, HasSubstr("[SECRET]"));
  // Caller text cannot mention @channel or hide a link.
  EXPECT_THAT(text, Not(HasSubstr("<!channel>")));
  EXPECT_THAT(text, HasSubstr("&lt;!channel&gt; &amp; &lt;https://evil|click&gt;"));
  const auto& blocks = message.at("blocks").as_array();
  const auto& actions = blocks.at(blocks.size() - 2).as_object();
  ASSERT_EQ(actions.at("type"), "actions");
  const auto& buttons = actions.at("elements").as_array();
  ASSERT_EQ(buttons.size(), 3u);
  EXPECT_EQ(buttons[0].at("action_id").as_string(), kApproveAction);
  EXPECT_EQ(buttons[0].at("value"), "rv_test1");
  EXPECT_EQ(buttons[0].at("style"), "primary");
  EXPECT_EQ(buttons[1].at("action_id").as_string(), kRejectAction);
  EXPECT_EQ(buttons[1].at("style"), "danger");
  EXPECT_EQ(buttons[2].at("action_id").as_string(), kEscalateAction);
  EXPECT_FALSE(message.at("text").as_string().empty());
}

TEST(SlackBlocks, DecidedMessageHasNoButtons) {
  auto review = sample_review();
  auto alice = notify::testing::human("alice@example.com", {"sre"});
  auto changes = review::vote(review, alice, false, "not now", kNow + 1000);
  ASSERT_TRUE(changes);
  std::string text = json::serialize(review_message(review, "u", kNow + 2000));
  EXPECT_THAT(text, Not(HasSubstr("countersign_approve")));
  EXPECT_THAT(text, HasSubstr("Rejected"));
  EXPECT_THAT(text, HasSubstr("alice@example.com rejected (step 1): not now"));
}

TEST(SlackBlocks, ReasonModalFollowsViewsOpenShape) {
  auto modal = reason_modal(sample_review(), false, "C1");
  EXPECT_EQ(modal.at("type"), "modal");
  EXPECT_EQ(modal.at("callback_id").as_string(), kRejectModal);
  EXPECT_EQ(modal.at("title").at("type"), "plain_text");
  EXPECT_LE(modal.at("title").at("text").as_string().size(), 24u);  // Slack's title limit
  const auto& input = modal.at("blocks").as_array().at(1).as_object();
  EXPECT_EQ(input.at("type"), "input");
  EXPECT_EQ(input.at("block_id").as_string(), kReasonBlock);
  EXPECT_EQ(input.at("element").at("action_id").as_string(), kReasonInput);
  EXPECT_THAT(std::string(modal.at("private_metadata").as_string()),
              HasSubstr("\"channel\":\"C1\""));
}

TEST(SlackWebApi, SendsBearerJsonAndClassifiesReplies) {
  FakeHttpClient http;
  WebApi api("http://fake/api", "xoxb-test");
  http.reply(200, R"({"ok":true,"channel":"C1","ts":"1.2"})");
  auto reply = api.call(http, "chat.postMessage", {{"channel", "C1"}, {"text", "hi"}});
  EXPECT_TRUE(reply.ok);
  EXPECT_EQ(http.requests[0].url, "http://fake/api/chat.postMessage");
  EXPECT_EQ(http.header(0, "Authorization"), "Bearer xoxb-test");
  EXPECT_EQ(http.header(0, "Content-Type"), "application/json; charset=utf-8");

  http.reply(429, R"({"ok":false,"error":"ratelimited"})", {{"retry-after", "7"}});
  auto limited = WebApi::to_delivery(api.call(http, "chat.update", {}));
  EXPECT_EQ(limited.kind, Delivery::Kind::retry);
  EXPECT_EQ(limited.retry_after, 7000);

  http.reply(200, R"({"ok":false,"error":"channel_not_found"})");
  EXPECT_EQ(WebApi::to_delivery(api.call(http, "chat.postMessage", {})).kind, Delivery::Kind::dead);
  http.reply(200, R"({"ok":false,"error":"invalid_auth"})");
  EXPECT_EQ(WebApi::to_delivery(api.call(http, "chat.postMessage", {})).kind,
            Delivery::Kind::retry);
  http.reply(503, "upstream down");
  EXPECT_EQ(WebApi::to_delivery(api.call(http, "chat.postMessage", {})).kind,
            Delivery::Kind::retry);
  http.unreachable();
  EXPECT_EQ(WebApi::to_delivery(api.call(http, "chat.postMessage", {})).kind,
            Delivery::Kind::retry);

  api.call_form(http, "users.info", {{"user", "U 1&x"}});
  EXPECT_EQ(http.requests.back().body, "user=U%201%26x");
  EXPECT_EQ(http.header(http.requests.size() - 1, "Content-Type"),
            "application/x-www-form-urlencoded");
}

class LinkerTest : public ::testing::Test {
 protected:
  LinkerTest() {
    config_.users = {{"U0MAPPED", "bob@example.com"}};
    keys_ = {key("alice@example.com", "alice@example.com", IdentityKind::human),
             key("bob@example.com", "bob@example.com", IdentityKind::human),
             key("agent:bot", "carol@example.com", IdentityKind::agent),
             key("twin1@example.com", "twin@example.com", IdentityKind::human),
             key("twin2@example.com", "Twin@Example.com", IdentityKind::human)};
  }
  static identity::ApiKey key(std::string subject, std::string email, IdentityKind kind) {
    identity::ApiKey out;
    out.name = subject;
    out.key_sha256 = std::string(64, '0');
    out.identity = Identity{subject, "api-key", kind, {"sre"}, email, std::nullopt};
    return out;
  }
  static std::string user_json(const std::string& id, const std::string& email,
                               const std::string& extra = "") {
    return R"({"ok":true,"user":{"id":")" + id + R"(","team_id":"T1","name":"x","deleted":false,)" +
           R"("is_bot":false,"is_email_confirmed":true,"profile":{"email":")" + email + "\"}" +
           extra + "}}";
  }
  std::shared_ptr<IdentityLinker> linker() {
    return std::make_shared<IdentityLinker>(config_, keys_, WebApi("http://fake", "t"), clock_);
  }

  config::SlackChannelConfig config_;
  std::vector<identity::ApiKey> keys_;
  ManualClock clock_{kNow};
  FakeHttpClient http_;
};

TEST_F(LinkerTest, ExplicitMappingNeedsNoNetwork) {
  auto linked_ptr = linker();
  auto& linked = *linked_ptr;
  auto known = linked.known("U0MAPPED");
  ASSERT_TRUE(known && *known);
  EXPECT_EQ((*known)->subject, "bob@example.com");
  EXPECT_EQ((*known)->groups, std::vector<std::string>{"sre"});
  EXPECT_FALSE(linked.known("U0OTHER"));  // must ask Slack
}

TEST_F(LinkerTest, LinksByTheEmailSlackReportsAndCachesIt) {
  auto linked_ptr = linker();
  auto& linked = *linked_ptr;
  http_.reply(200, user_json("U0ALICE", "ALICE@example.com"));
  auto identity = linked.resolve("U0ALICE", http_);
  ASSERT_TRUE(identity) << identity.error().message;
  EXPECT_EQ(identity->subject, "alice@example.com");
  EXPECT_EQ(http_.requests[0].url, "http://fake/users.info");
  EXPECT_EQ(http_.requests[0].body, "user=U0ALICE");
  auto cached = linked.known("U0ALICE");
  ASSERT_TRUE(cached && *cached);
  clock_.advance(301'000);
  EXPECT_FALSE(linked.known("U0ALICE"));  // verified again after five minutes
}

TEST_F(LinkerTest, RefusesWhatIsNotAVerifiedLinkToOneHuman) {
  auto linked_ptr = linker();
  auto& linked = *linked_ptr;
  http_.reply(200, user_json("U1", "nobody@example.com"));
  EXPECT_EQ(linked.resolve("U1", http_).error().code, ErrorCode::permission_denied);
  http_.reply(200, user_json("U2", "carol@example.com"));  // an agent's e-mail
  EXPECT_FALSE(linked.resolve("U2", http_));
  http_.reply(200, user_json("U3", "twin@example.com"));  // two identities: ambiguous
  EXPECT_FALSE(linked.resolve("U3", http_));
  http_.reply(200, user_json("U4", "alice@example.com")
                       .replace(user_json("U4", "alice@example.com").find("\"deleted\":false"), 15,
                                "\"deleted\":true"));
  EXPECT_FALSE(linked.resolve("U4", http_));
  http_.reply(200,
              user_json("U5", "alice@example.com")
                  .replace(user_json("U5", "alice@example.com").find("\"is_email_confirmed\":true"),
                           25, "\"is_email_confirmed\":false"));
  EXPECT_FALSE(linked.resolve("U5", http_));
  http_.reply(200, user_json("U0SOMEONEELSE", "alice@example.com"));  // answer for another user
  EXPECT_FALSE(linked.resolve("U6", http_));
  http_.reply(200, R"({"ok":false,"error":"user_not_found"})");
  EXPECT_EQ(linked.resolve("U7", http_).error().code, ErrorCode::permission_denied);
  // Refusals are cached briefly; failures to reach Slack are not cached.
  EXPECT_TRUE(linked.known("U1").has_value());
  http_.unreachable();
  EXPECT_EQ(linked.resolve("U8", http_).error().code, ErrorCode::unavailable);
  EXPECT_FALSE(linked.known("U8").has_value());
}

TEST_F(LinkerTest, WithoutEmailLinkingOnlyTheMappingCounts) {
  config_.link_by_email = false;
  auto linked_ptr = linker();
  auto& linked = *linked_ptr;
  auto known = linked.known("U0ALICE");
  ASSERT_TRUE(known);
  EXPECT_FALSE(*known);
  EXPECT_TRUE(http_.requests.empty());
}

TEST_F(LinkerTest, FindsTheSlackUserToMessage) {
  auto linked_ptr = linker();
  auto& linked = *linked_ptr;
  EXPECT_EQ(linked.slack_user_for("bob@example.com", http_).value(), "U0MAPPED");
  http_.reply(200, R"({"ok":true,"user":{"id":"U0ALICE"}})");
  EXPECT_EQ(linked.slack_user_for("alice@example.com", http_).value(), "U0ALICE");
  EXPECT_EQ(http_.requests.back().url, "http://fake/users.lookupByEmail");
  EXPECT_EQ(http_.requests.back().body, "email=alice%40example.com");
}

class ChannelTest : public LinkerTest {
 protected:
  store::OutboxMessage planned(const review::Review& review,
                               const std::vector<audit::AuditEvent>& events, std::size_t index) {
    config::ChannelsConfig channels;
    channels.slack = config_;
    channels.slack->channel = "C0APPROVALS";
    auto messages = plan_notifications(channels, "http://gw", review, events, kNow);
    return messages.at(index);
  }
  static audit::AuditEvent event(std::string type, std::string actor) {
    audit::AuditEvent out;
    out.type = std::move(type);
    out.actor = std::move(actor);
    out.time = kNow;
    return out;
  }
};

TEST_F(ChannelTest, PostsThenUpdatesAndRepliesInTheThread) {
  auto review = sample_review();
  SlackChannel channel(WebApi("http://fake", "xoxb-1"), linker());
  auto post = planned(review, {event("review.created", "agent:deploy-bot")}, 0);
  http_.reply(200, R"({"ok":true,"channel":"C0APPROVALS","ts":"1700000000.000100"})");
  auto posted = channel.deliver(post, http_, kNow);
  ASSERT_EQ(posted.kind, Delivery::Kind::delivered) << posted.error;
  ASSERT_TRUE(posted.stream_state);
  EXPECT_EQ(http_.requests[0].url, "http://fake/chat.postMessage");
  EXPECT_EQ(http_.body(0).at("channel"), "C0APPROVALS");
  EXPECT_EQ(http_.body(0).at("metadata").at("event_type"), "countersign_review");

  review.version = 2;
  auto update = planned(review, {event("review.escalated", "system")}, 0);
  auto reply = planned(review, {event("review.escalated", "system")}, 1);
  update.stream_state = reply.stream_state = *posted.stream_state;
  EXPECT_EQ(channel.deliver(update, http_, kNow).kind, Delivery::Kind::delivered);
  EXPECT_EQ(http_.requests[1].url, "http://fake/chat.update");
  EXPECT_EQ(http_.body(1).at("ts"), "1700000000.000100");
  EXPECT_EQ(http_.body(1).at("channel"), "C0APPROVALS");
  EXPECT_EQ(channel.deliver(reply, http_, kNow).kind, Delivery::Kind::delivered);
  EXPECT_EQ(http_.requests[2].url, "http://fake/chat.postMessage");
  EXPECT_EQ(http_.body(2).at("thread_ts"), "1700000000.000100");
  EXPECT_THAT(std::string(http_.body(2).at("text").as_string()), HasSubstr("escalated"));
}

TEST_F(ChannelTest, AnUpdateWithoutAPostedMessagePostsOne) {
  auto review = sample_review();
  review.version = 2;
  SlackChannel channel(WebApi("http://fake", "xoxb-1"), linker());
  auto update = planned(review, {event("review.voted", "alice@example.com")}, 0);
  auto reply = planned(review, {event("review.voted", "alice@example.com")}, 1);
  EXPECT_EQ(channel.deliver(reply, http_, kNow).kind, Delivery::Kind::delivered);
  EXPECT_TRUE(http_.requests.empty());  // nothing to thread under
  http_.reply(200, R"({"ok":true,"channel":"C0APPROVALS","ts":"9.9"})");
  auto delivered = channel.deliver(update, http_, kNow);
  EXPECT_EQ(http_.requests[0].url, "http://fake/chat.postMessage");
  EXPECT_TRUE(delivered.stream_state);
}

}  // namespace
}  // namespace countersign::notify::slack
