#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "core/hash.h"
#include "notify/outbox.h"
#include "notify/worker.h"
#include "notify_test_support.h"
#include "store/sqlite/sqlite_store.h"

namespace countersign::notify {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::kNow;
using testing::sample_review;
namespace json = boost::json;

audit::AuditEvent event(std::string type, std::string actor = "system") {
  audit::AuditEvent out;
  out.type = std::move(type);
  out.actor = std::move(actor);
  out.time = kNow;
  return out;
}

config::ChannelsConfig all_channels() {
  config::ChannelsConfig channels;
  channels.slack.emplace();
  channels.slack->channel = "C0DEFAULT";
  channels.slack->routes = {{"", "staging", "C0STAGING"}, {"production-changes", "", "C0SRE"}};
  channels.teams.emplace();
  channels.webhooks = {{"http://hooks/a", {}, {}}, {"http://hooks/b", {}, {"review.approved"}}};
  return channels;
}

TEST(OutboxPlan, ANewReviewIsPostedEverywhere) {
  auto review = sample_review();
  auto messages = plan_notifications(
      all_channels(), "http://gw", review,
      {event("action.decided"), event("review.created", "agent:deploy-bot")}, kNow);
  std::vector<std::string> keys;
  for (const auto& message : messages) keys.push_back(message.key);
  EXPECT_THAT(keys, ElementsAre("slack:rv_test1:C0SRE:v1:post", "teams:rv_test1:v1",
                                "webhook:0:rv_test1:v1:1"));
  EXPECT_EQ(messages[0].stream, "slack:rv_test1:C0SRE");  // the rule's route
  EXPECT_EQ(messages[0].channel, "slack");
  auto payload = json::parse(messages[2].payload).as_object();
  EXPECT_EQ(payload.at("webhook"), "http://hooks/a");
  EXPECT_EQ(payload.at("body").at("type"), "review.created");
  EXPECT_EQ(payload.at("body").at("url"), "http://gw/ui/reviews/rv_test1");
  EXPECT_EQ(payload.at("body").at("review").at("action").at("masked_params").at("token"),
            "[SECRET]");
  for (const auto& message : messages) EXPECT_EQ(message.next_attempt_at, kNow);
}

TEST(OutboxPlan, AChangeUpdatesRepliesAndTellsTheRequester) {
  auto review = sample_review();
  review.version = 3;
  auto messages =
      plan_notifications(all_channels(), "http://gw", review,
                         {event("review.voted", "bob@example.com"),
                          event("review.approved", "bob@example.com"), event("grant.issued")},
                         kNow);
  std::vector<std::string> keys;
  for (const auto& message : messages) keys.push_back(message.key);
  EXPECT_THAT(keys, ElementsAre("slack:rv_test1:C0SRE:v3:update", "slack:rv_test1:C0SRE:v3:reply",
                                "slack-dm:rv_test1:v3", "teams:rv_test1:v3",
                                "webhook:0:rv_test1:v3:1", "webhook:0:rv_test1:v3:2",
                                "webhook:0:rv_test1:v3:3", "webhook:1:rv_test1:v3:2"));
  auto dm = json::parse(messages[2].payload).as_object();
  EXPECT_EQ(dm.at("subjects").as_array().at(0), "dana@example.com");  // the human behind the agent
}

TEST(OutboxPlan, NothingWithoutChannelsOrReviewEvents) {
  auto review = sample_review();
  EXPECT_TRUE(plan_notifications({}, "u", review, {event("review.created")}, kNow).empty());
  EXPECT_TRUE(
      plan_notifications(all_channels(), "u", review, {event("action.decided")}, kNow).empty());
}

TEST(OutboxPlan, RoutesPickTheChannel) {
  auto channels = all_channels();
  auto review = sample_review();
  review.rules = {"other"};
  EXPECT_EQ(slack_destinations(*channels.slack, review), std::vector<std::string>{"C0DEFAULT"});
  review.action.target = "staging";
  EXPECT_EQ(slack_destinations(*channels.slack, review), std::vector<std::string>{"C0STAGING"});
}

TEST(OutboxBackoff, GrowsExponentiallyWithJitterAndHonoursRetryAfter) {
  for (int attempts = 1; attempts <= 12; ++attempts) {
    Millis base = std::min<Millis>(1000LL << (attempts - 1), 300'000);
    Millis delay = next_attempt_at(attempts, 0, kNow) - kNow;
    EXPECT_GE(delay, base);
    EXPECT_LE(delay, base + base / 5 + 1);
  }
  EXPECT_GE(next_attempt_at(1, 30'000, kNow) - kNow, 30'000);
}

class TempStore {
 public:
  TempStore() {
    path_ =
        (std::filesystem::temp_directory_path() / ("cs_notify_" + new_id("t") + ".db")).string();
    store_ = std::move(*store::SqliteStore::open(path_));
  }
  ~TempStore() {
    store_.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path_ + suffix);
  }
  store::SqliteStore& operator*() { return *store_; }
  store::SqliteStore* operator->() { return store_.get(); }
  void reopen() {
    store_.reset();
    store_ = std::move(*store::SqliteStore::open(path_));
  }

 private:
  std::string path_;
  std::unique_ptr<store::SqliteStore> store_;
};

class OutboxStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_->set_outbox_planner(
        [this](const review::Review& review, const std::vector<audit::AuditEvent>& events) {
          return plan_notifications(channels_, "http://gw", review, events, kNow);
        });
  }
  config::ChannelsConfig channels_ = all_channels();
  TempStore store_;
};

TEST_F(OutboxStoreTest, MessagesCommitWithTheReviewChangeOnly) {
  auto review = sample_review();
  std::vector<audit::AuditEvent> events{event("review.created", "agent:deploy-bot")};
  ASSERT_TRUE(store_->create_review(review, events));
  auto due = store_->due_outbox("", kNow, 100);
  ASSERT_TRUE(due);
  ASSERT_EQ(due->size(), 3u);  // slack post, teams card, webhook a (one per stream)

  // A stale write is refused, and its notifications with it.
  auto stale = review;
  stale.version = 0;
  std::vector<audit::AuditEvent> more{event("review.cancelled")};
  EXPECT_FALSE(store_->update_review(stale, std::nullopt, more));
  EXPECT_EQ(store_->outbox_status()->pending, 3);

  std::vector<audit::AuditEvent> escalated{event("review.escalated")};
  ASSERT_TRUE(store_->update_review(review, std::nullopt, escalated));
  EXPECT_EQ(store_->outbox_status()->pending, 8);  // + update, reply, requester DM, teams, webhook a
  // Still one per stream: later messages wait for the earlier ones.
  EXPECT_EQ(store_->due_outbox("", kNow, 100)->size(), 4u);
  EXPECT_EQ(store_->due_outbox("slack", kNow, 100)->size(), 2u);  // the post and the DM
  EXPECT_EQ(store_->outbox_status("teams")->pending, 2);
}

TEST_F(OutboxStoreTest, OutcomesAdvanceTheStreamAndKeepItsState) {
  channels_.slack->notify_requester = false;
  auto review = sample_review();
  std::vector<audit::AuditEvent> created{event("review.created")};
  ASSERT_TRUE(store_->create_review(review, created));
  std::vector<audit::AuditEvent> escalated{event("review.escalated")};
  ASSERT_TRUE(store_->update_review(review, std::nullopt, escalated));

  auto post = store_->due_outbox("slack", kNow, 10)->at(0);
  EXPECT_THAT(post.key, HasSubstr(":post"));
  // Retry: the stream waits until the next attempt is due.
  ASSERT_TRUE(store_->complete_outbox(
      post.id, {store::OutboxOutcome::Kind::retry, kNow + 5000, "HTTP 503", {}}));
  EXPECT_TRUE(store_->due_outbox("slack", kNow + 4999, 10)->empty());
  auto again = store_->due_outbox("slack", kNow + 5000, 10)->at(0);
  EXPECT_EQ(again.id, post.id);
  EXPECT_EQ(again.attempts, 1);
  ASSERT_TRUE(store_->complete_outbox(
      post.id, {store::OutboxOutcome::Kind::delivered, kNow + 5000, "", R"({"ts":"1.1"})"}));
  EXPECT_EQ(store_->complete_outbox(post.id, {}).error().code, ErrorCode::not_found);

  store_.reopen();  // a restart loses nothing
  auto update = store_->due_outbox("slack", kNow + 5000, 10)->at(0);
  EXPECT_THAT(update.key, HasSubstr(":update"));
  EXPECT_EQ(update.stream_state, R"({"ts":"1.1"})");
  ASSERT_TRUE(
      store_->complete_outbox(update.id, {store::OutboxOutcome::Kind::dead, kNow, "gone", {}}));
  EXPECT_EQ(store_->outbox_status()->dead, 1);
  EXPECT_THAT(store_->due_outbox("slack", kNow + 5000, 10)->at(0).key, HasSubstr(":reply"));
}

TEST_F(OutboxStoreTest, TheSameKeyIsStoredOnce) {
  store::OutboxMessage message;
  message.key = "k1";
  message.stream = "s";
  message.channel = "webhook";
  message.payload = "{}";
  std::vector<store::OutboxMessage> messages{message, message};
  std::vector<audit::AuditEvent> events{event("slack.interaction_refused", "slack:U1")};
  ASSERT_TRUE(store_->enqueue_outbox(messages, events));
  EXPECT_EQ(events[0].index, 0);  // the event was appended to the log
  std::vector<audit::AuditEvent> none;
  ASSERT_TRUE(store_->enqueue_outbox(messages, none));
  EXPECT_EQ(store_->outbox_status()->pending, 1);
}

// A channel that fails a given number of times, then delivers.
class FlakyChannel final : public Channel {
 public:
  explicit FlakyChannel(int failures, Millis retry_after = 0)
      : failures_(failures), retry_after_(retry_after) {}
  std::string_view name() const override { return "webhook"; }
  Delivery deliver(const store::OutboxMessage& message, HttpClient&, Millis) override {
    delivered.push_back(message.key);
    if (failures_-- > 0) return Delivery::retry("HTTP 503", retry_after_);
    return Delivery::done();
  }
  std::vector<std::string> delivered;

 private:
  int failures_;
  Millis retry_after_;
};

TEST_F(OutboxStoreTest, WorkerRetriesWithBackoffThenDelivers) {
  channels_ = {};
  channels_.webhooks = {{"http://hooks/a", {}, {}}};
  auto review = sample_review();
  std::vector<audit::AuditEvent> created{event("review.created")};
  ASSERT_TRUE(store_->create_review(review, created));
  ManualClock clock(kNow);
  auto flaky = std::make_unique<FlakyChannel>(2, 10'000);
  FlakyChannel* channel = flaky.get();
  std::vector<std::unique_ptr<Channel>> channels;
  channels.push_back(std::move(flaky));
  Worker worker(*store_, clock, std::move(channels),
                [] { return std::make_unique<testing::FakeHttpClient>(); });
  testing::FakeHttpClient http;
  EXPECT_EQ(worker.deliver_due("webhook", http), 1);
  EXPECT_EQ(worker.deliver_due("webhook", http), 0);  // backing off
  clock.advance(9'999);
  EXPECT_EQ(worker.deliver_due("webhook", http), 0);  // Retry-After honoured
  clock.advance(1'300);
  EXPECT_EQ(worker.deliver_due("webhook", http), 1);
  clock.advance(20'000);
  EXPECT_EQ(worker.deliver_due("webhook", http), 1);
  EXPECT_EQ(channel->delivered.size(), 3u);
  EXPECT_EQ(worker.counters().retried.load(), 2u);
  EXPECT_EQ(worker.counters().delivered.load(), 1u);
  EXPECT_EQ(store_->outbox_status()->pending, 0);
}

TEST_F(OutboxStoreTest, WorkerGivesUpAfterTheMaximumAge) {
  channels_ = {};
  channels_.webhooks = {{"http://hooks/a", {}, {}}};
  auto review = sample_review();
  std::vector<audit::AuditEvent> created{event("review.created")};
  ASSERT_TRUE(store_->create_review(review, created));
  ManualClock clock(kNow);
  std::vector<std::unique_ptr<Channel>> channels;
  channels.push_back(std::make_unique<FlakyChannel>(1000));
  Worker worker(
      *store_, clock, std::move(channels),
      [] { return std::make_unique<testing::FakeHttpClient>(); }, 60'000);
  testing::FakeHttpClient http;
  for (int i = 0; i < 20 && store_->outbox_status()->pending > 0; ++i) {
    worker.deliver_due("webhook", http);
    clock.advance(310'000);
  }
  EXPECT_EQ(store_->outbox_status()->pending, 0);
  EXPECT_EQ(store_->outbox_status()->dead, 1);
}

TEST_F(OutboxStoreTest, WorkerThreadsDeliverWhenWoken) {
  channels_ = {};
  channels_.webhooks = {{"http://hooks/a", {}, {}}};
  SystemClock clock;
  std::vector<std::unique_ptr<Channel>> channels;
  channels.push_back(std::make_unique<FlakyChannel>(0));
  Worker worker(*store_, clock, std::move(channels),
                [] { return std::make_unique<testing::FakeHttpClient>(); });
  worker.start();
  auto review = sample_review();
  std::vector<audit::AuditEvent> created{event("review.created")};
  ASSERT_TRUE(store_->create_review(review, created));
  worker.wake();
  std::atomic<bool> ran{false};
  worker.run_urgent([&](HttpClient&) { ran = true; });
  for (int i = 0; i < 200 && (store_->outbox_status()->pending > 0 || !ran); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(store_->outbox_status()->pending, 0);
  EXPECT_TRUE(ran);
  worker.stop();
}

}  // namespace
}  // namespace countersign::notify
