#include "store/sqlite/sqlite_store.h"

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sqlite3.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/canonical_json.h"
#include "core/hash.h"

namespace countersign::store {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr Millis kNow = 1'700'000'000'000;
constexpr Millis kHour = 3'600'000;

// A fresh database file per test, removed with its WAL and shared-memory files.
class TempDatabase {
 public:
  TempDatabase() {
    path_ = (std::filesystem::temp_directory_path() / ("cs_store_" + new_id("t") + ".db")).string();
  }
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

std::unique_ptr<SqliteStore> open_store(const std::string& path) {
  auto store = SqliteStore::open(path);
  EXPECT_TRUE(store) << (store ? "" : store.error().message);
  return store ? std::move(*store) : nullptr;
}

Decision review_decision() {
  Decision decision;
  decision.effect = Effect::review;
  decision.rules = {"prod-writes"};
  decision.reason = "production change";
  Flow flow;
  FlowStep step;
  step.approvers = {"group:dba"};
  step.quorum = 1;
  flow.steps = {step};
  flow.expires_after = kHour;
  decision.flow = flow;
  return decision;
}

review::Review make_review(const std::string& id, Millis created_at,
                           const std::string& requester = "agent:ci-bot",
                           std::optional<std::string> on_behalf_of = std::nullopt) {
  review::ReviewedAction action;
  action.id = "act_" + id;
  action.actor.subject = requester;
  action.actor.on_behalf_of = std::move(on_behalf_of);
  action.door = "actions";
  action.target = "prod";
  action.verb = "exec:terraform-apply";
  action.masked_params = boost::json::object{{"workspace", "prod"}, {"token", "[MASKED]"}};
  action.digest = sha256_hex(id);
  return review::open_review(id, action, review_decision(), created_at);
}

audit::AuditEvent make_event(std::string type, const std::string& review_id = "",
                             std::string actor = "system", Millis time = kNow) {
  audit::AuditEvent event;
  event.time = time;
  event.type = std::move(type);
  event.actor = std::move(actor);
  event.review_id = review_id;
  return event;
}

review::Grant make_grant(const review::Review& review, Millis created_at, Millis ttl = 300'000) {
  review::Grant grant;
  grant.id = new_id("gr");
  grant.review_id = review.id;
  grant.digest = review.action.digest;
  grant.requester = review.action.actor.subject;
  grant.created_at = created_at;
  grant.expires_at = created_at + ttl;
  return grant;
}

// Recomputes every hash of the whole log from the stored bodies.
void expect_chain_verifies(SqliteStore& store) {
  std::string previous = audit::kGenesisHash;
  std::int64_t expected_index = 0;
  AuditFilter filter;
  filter.limit = 37;  // an odd page size, to cross page boundaries
  for (;;) {
    auto page = store.list_events(filter);
    ASSERT_TRUE(page) << page.error().message;
    for (const audit::AuditEvent& event : page->events) {
      ASSERT_EQ(event.index, expected_index++);
      ASSERT_EQ(event.previous_hash, previous);
      auto leaf = audit::leaf_hash(event);
      ASSERT_TRUE(leaf);
      ASSERT_EQ(audit::chain_hash(previous, *leaf), event.hash) << "at " << event.index;
      previous = event.hash;
    }
    if (page->next_cursor < 0) break;
    filter.after_index = page->next_cursor;
  }
  EXPECT_EQ(*store.event_count(), expected_index);
}

std::vector<audit::AuditEvent> no_events() { return {}; }

// Creates an approved review with a grant; returns the stored review.
review::Review approved_with_grant(SqliteStore& store, const std::string& id,
                                   const review::Grant* grant_out_template = nullptr) {
  review::Review review = make_review(id, kNow);
  std::vector<audit::AuditEvent> events{make_event("review.created", id)};
  EXPECT_TRUE(store.create_review(review, events));
  review.state = review::ReviewState::approved;
  review.decided_at = kNow + 1000;
  review::Grant grant = grant_out_template ? *grant_out_template : make_grant(review, kNow + 1000);
  std::vector<audit::AuditEvent> approved{make_event("review.approved", id, "dba@example.com")};
  auto updated = store.update_review(review, grant, approved);
  EXPECT_TRUE(updated) << (updated ? "" : updated.error().message);
  return review;
}

RedeemHook execute_hook(Millis now) {
  return [now](review::Review& review) {
    std::vector<audit::AuditEvent> events;
    for (review::ReviewChange& change : review::mark_executed(review, now)) {
      audit::AuditEvent event = make_event(change.type, review.id, change.actor, now);
      event.action_digest = review.action.digest;
      event.details = change.details;
      events.push_back(std::move(event));
    }
    events.push_back(make_event("grant.redeemed", review.id, review.action.actor.subject, now));
    return events;
  };
}

// ---------------------------------------------------------------------------

TEST(SqliteStoreOpen, InMemoryAndFileAreHealthy) {
  auto memory = open_store(":memory:");
  ASSERT_TRUE(memory);
  EXPECT_TRUE(memory->healthy());
  TempDatabase database;
  auto file = open_store(database.path());
  ASSERT_TRUE(file);
  EXPECT_TRUE(file->healthy());
  EXPECT_EQ(*file->event_count(), 0);
}

TEST(SqliteStoreOpen, FileUsesWalAndRecordsSchemaVersion) {
  TempDatabase database;
  { ASSERT_TRUE(open_store(database.path())); }
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(database.path().c_str(), &raw), SQLITE_OK);
  sqlite3_stmt* statement = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(raw, "PRAGMA journal_mode", -1, &statement, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(statement), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(statement, 0)), "wal");
  sqlite3_finalize(statement);
  ASSERT_EQ(sqlite3_prepare_v2(raw, "PRAGMA user_version", -1, &statement, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(statement), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(statement, 0), SqliteStore::schema_version());
  sqlite3_finalize(statement);
  sqlite3_close(raw);
}

TEST(SqliteStoreOpen, RefusesANewerSchemaNamingBothVersions) {
  TempDatabase database;
  { ASSERT_TRUE(open_store(database.path())); }
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(database.path().c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  auto refused = SqliteStore::open(database.path());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::failed_precondition);
  EXPECT_THAT(refused.error().message, HasSubstr("99"));
  EXPECT_THAT(refused.error().message,
              HasSubstr("(" + std::to_string(SqliteStore::schema_version()) + ")"));
}

TEST(SqliteStoreOpen, FailsCleanlyOnAnUnopenablePath) {
  auto refused = SqliteStore::open("/nonexistent-directory/x/y.db");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::internal);
}

TEST(SqliteStoreOpen, ReopenPreservesDataAndContinuesTheChain) {
  TempDatabase database;
  {
    auto store = open_store(database.path());
    review::Review review = make_review("rv_keep", kNow);
    std::vector<audit::AuditEvent> events{make_event("review.created", "rv_keep")};
    ASSERT_TRUE(store->create_review(review, events));
  }
  auto store = open_store(database.path());
  ASSERT_TRUE(store);
  auto review = store->get_review("rv_keep");
  ASSERT_TRUE(review) << review.error().message;
  EXPECT_EQ(review->version, 1);
  EXPECT_EQ(review->action.verb, "exec:terraform-apply");
  std::vector<audit::AuditEvent> more{make_event("auth.failed")};
  ASSERT_TRUE(store->append_events(more));
  EXPECT_EQ(more[0].index, 1);
  expect_chain_verifies(*store);
}

// ---------------------------------------------------------------------------
// Reviews

TEST(SqliteStoreReviews, CreateThenGetRoundTrips) {
  auto store = open_store(":memory:");
  review::Review review = make_review("rv_1", kNow, "agent:ci-bot", "alice@example.com");
  std::vector<audit::AuditEvent> events{make_event("action.decided", "rv_1"),
                                        make_event("review.created", "rv_1")};
  ASSERT_TRUE(store->create_review(review, events));
  EXPECT_EQ(review.version, 1);
  EXPECT_EQ(events[0].index, 0);
  EXPECT_EQ(events[1].index, 1);
  EXPECT_EQ(events[0].previous_hash, audit::kGenesisHash);
  EXPECT_EQ(events[1].previous_hash, events[0].hash);

  auto loaded = store->get_review("rv_1");
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->id, "rv_1");
  EXPECT_EQ(loaded->version, 1);
  EXPECT_EQ(loaded->state, review::ReviewState::pending);
  EXPECT_EQ(loaded->action.digest, review.action.digest);
  EXPECT_EQ(loaded->action.actor.on_behalf_of, "alice@example.com");
  EXPECT_EQ(loaded->action.masked_params, review.action.masked_params);
  EXPECT_EQ(loaded->expires_at, kNow + kHour);
  EXPECT_EQ(*canonicalize(review::to_json(*loaded)), *canonicalize(review::to_json(review)));
}

TEST(SqliteStoreReviews, GetUnknownIsNotFound) {
  auto store = open_store(":memory:");
  EXPECT_EQ(store->get_review("rv_missing").error().code, ErrorCode::not_found);
}

TEST(SqliteStoreReviews, DuplicateIdIsAConflictWithoutEchoingTheId) {
  auto store = open_store(":memory:");
  review::Review first = make_review("rv_secretish", kNow);
  auto events = no_events();
  ASSERT_TRUE(store->create_review(first, events));
  review::Review second = make_review("rv_secretish", kNow + 1);
  std::vector<audit::AuditEvent> second_events{make_event("review.created")};
  auto duplicate = store->create_review(second, second_events);
  ASSERT_FALSE(duplicate);
  EXPECT_EQ(duplicate.error().code, ErrorCode::conflict);
  EXPECT_THAT(duplicate.error().message, Not(HasSubstr("rv_secretish")));
  EXPECT_EQ(*store->event_count(), 0);  // the events went with the failed insert
  EXPECT_EQ(second_events[0].index, -1);
}

TEST(SqliteStoreReviews, UpdateBumpsVersionAndRefusesStaleWriters) {
  auto store = open_store(":memory:");
  review::Review review = make_review("rv_1", kNow);
  auto events = no_events();
  ASSERT_TRUE(store->create_review(review, events));

  review::Review first = *store->get_review("rv_1");
  review::Review second = *store->get_review("rv_1");
  first.state = review::ReviewState::cancelled;
  first.outcome_reason = "not needed";
  std::vector<audit::AuditEvent> cancelled{make_event("review.cancelled", "rv_1")};
  ASSERT_TRUE(store->update_review(first, std::nullopt, cancelled));
  EXPECT_EQ(first.version, 2);

  second.state = review::ReviewState::approved;
  std::vector<audit::AuditEvent> approved{make_event("review.approved", "rv_1")};
  auto stale = store->update_review(second, make_grant(second, kNow), approved);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, ErrorCode::conflict);
  EXPECT_EQ(second.version, 1);  // untouched on failure
  EXPECT_EQ(approved[0].index, -1);

  auto stored = store->get_review("rv_1");
  EXPECT_EQ(stored->state, review::ReviewState::cancelled);
  EXPECT_EQ(stored->version, 2);
  EXPECT_EQ(stored->outcome_reason, "not needed");
}

TEST(SqliteStoreReviews, ConflictingUpdateAppendsNoEventsAndNoGrant) {
  auto store = open_store(":memory:");
  review::Review review = make_review("rv_1", kNow);
  std::vector<audit::AuditEvent> created{make_event("review.created", "rv_1")};
  ASSERT_TRUE(store->create_review(review, created));
  review::Review stale = review;
  std::vector<audit::AuditEvent> voted{make_event("review.voted", "rv_1")};
  ASSERT_TRUE(store->update_review(review, std::nullopt, voted));
  ASSERT_EQ(*store->event_count(), 2);

  stale.state = review::ReviewState::approved;
  std::vector<audit::AuditEvent> approved{make_event("review.approved", "rv_1"),
                                          make_event("grant.created", "rv_1")};
  review::Grant grant = make_grant(stale, kNow);
  EXPECT_EQ(store->update_review(stale, grant, approved).error().code, ErrorCode::conflict);
  EXPECT_EQ(*store->event_count(), 2);
  auto redeemed = store->redeem_grant(grant.digest, grant.requester, kNow, execute_hook(kNow));
  ASSERT_TRUE(redeemed);
  EXPECT_FALSE(redeemed->has_value());
}

TEST(SqliteStoreReviews, UpdateOfUnknownReviewIsNotFound) {
  auto store = open_store(":memory:");
  review::Review ghost = make_review("rv_ghost", kNow);
  ghost.version = 1;
  auto events = no_events();
  EXPECT_EQ(store->update_review(ghost, std::nullopt, events).error().code, ErrorCode::not_found);
}

TEST(SqliteStoreReviews, ListsNewestFirstWithCursorAndFilters) {
  auto store = open_store(":memory:");
  // Two reviews share a created_at, so the id breaks the tie in the cursor.
  const std::vector<std::pair<std::string, Millis>> created{{"rv_a", kNow},
                                                            {"rv_b", kNow + 10},
                                                            {"rv_c", kNow + 10},
                                                            {"rv_d", kNow + 20},
                                                            {"rv_e", kNow + 30}};
  for (const auto& [id, time] : created) {
    review::Review review =
        make_review(id, time, id == "rv_d" ? "agent:other" : "agent:ci-bot",
                    id == "rv_d" ? std::optional<std::string>("bob") : std::nullopt);
    auto events = no_events();
    ASSERT_TRUE(store->create_review(review, events));
  }
  review::Review cancelled = *store->get_review("rv_b");
  cancelled.state = review::ReviewState::cancelled;
  auto events = no_events();
  ASSERT_TRUE(store->update_review(cancelled, std::nullopt, events));

  std::vector<std::string> seen;
  ReviewFilter filter;
  filter.limit = 2;
  for (int pages = 0;; ++pages) {
    ASSERT_LT(pages, 10);
    auto page = store->list_reviews(filter);
    ASSERT_TRUE(page) << page.error().message;
    EXPECT_LE(page->reviews.size(), 2u);
    for (const auto& review : page->reviews) seen.push_back(review.id);
    if (page->next_cursor.empty()) break;
    filter.cursor = page->next_cursor;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"rv_e", "rv_d", "rv_c", "rv_b", "rv_a"}));

  ReviewFilter pending;
  pending.state = review::ReviewState::pending;
  auto pending_page = store->list_reviews(pending);
  ASSERT_TRUE(pending_page);
  EXPECT_EQ(pending_page->reviews.size(), 4u);
  EXPECT_TRUE(pending_page->next_cursor.empty());

  ReviewFilter by_human;
  by_human.requester = "bob";  // matches on_behalf_of
  auto human_page = store->list_reviews(by_human);
  ASSERT_EQ(human_page->reviews.size(), 1u);
  EXPECT_EQ(human_page->reviews[0].id, "rv_d");
  ReviewFilter by_agent;
  by_agent.requester = "agent:other";
  EXPECT_EQ(store->list_reviews(by_agent)->reviews.size(), 1u);
  by_agent.state = review::ReviewState::cancelled;
  EXPECT_EQ(store->list_reviews(by_agent)->reviews.size(), 0u);

  ReviewFilter bad;
  bad.cursor = "not-a-cursor";
  EXPECT_EQ(store->list_reviews(bad).error().code, ErrorCode::invalid_argument);

  EXPECT_EQ(*store->count_reviews(review::ReviewState::pending), 4);
  EXPECT_EQ(*store->count_reviews(review::ReviewState::cancelled), 1);
  EXPECT_EQ(*store->count_reviews(review::ReviewState::executed), 0);
}

TEST(SqliteStoreReviews, FindOpenReviewSeesPendingAndApprovedOnly) {
  auto store = open_store(":memory:");
  review::Review review = make_review("rv_open", kNow);
  auto events = no_events();
  ASSERT_TRUE(store->create_review(review, events));
  auto found = store->find_open_review(review.action.digest);
  ASSERT_TRUE(found && found->has_value());
  EXPECT_EQ((*found)->id, "rv_open");
  EXPECT_FALSE(store->find_open_review(sha256_hex("other"))->has_value());

  review.state = review::ReviewState::approved;
  ASSERT_TRUE(store->update_review(review, std::nullopt, events));
  EXPECT_TRUE(store->find_open_review(review.action.digest)->has_value());
  review.state = review::ReviewState::executed;
  ASSERT_TRUE(store->update_review(review, std::nullopt, events));
  EXPECT_FALSE(store->find_open_review(review.action.digest)->has_value());
}

TEST(SqliteStoreReviews, DueReviewsFollowTheNextDeadline) {
  auto store = open_store(":memory:");
  review::Review early = make_review("rv_early", kNow);
  review::Review late = make_review("rv_late", kNow + kHour);
  auto events = no_events();
  ASSERT_TRUE(store->create_review(early, events));
  ASSERT_TRUE(store->create_review(late, events));

  EXPECT_TRUE(store->due_reviews(kNow)->empty());
  auto due = store->due_reviews(kNow + kHour);
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].id, "rv_early");
  EXPECT_EQ(store->due_reviews(kNow + 2 * kHour)->size(), 2u);

  // A review that left pending has no deadline any more.
  early.state = review::ReviewState::rejected;
  ASSERT_TRUE(store->update_review(early, std::nullopt, events));
  due = store->due_reviews(kNow + 2 * kHour);
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].id, "rv_late");
}

// ---------------------------------------------------------------------------
// Grants

TEST(SqliteStoreGrants, RedeemRunsTheHookAndCommitsEverythingOnce) {
  auto store = open_store(":memory:");
  review::Review review = approved_with_grant(*store, "rv_1");
  EXPECT_EQ(review.version, 2);
  const std::int64_t events_before = *store->event_count();

  auto redeemed = store->redeem_grant(review.action.digest, "agent:ci-bot", kNow + 2000,
                                      execute_hook(kNow + 2000));
  ASSERT_TRUE(redeemed) << redeemed.error().message;
  ASSERT_TRUE(redeemed->has_value());
  EXPECT_EQ((*redeemed)->review_id, "rv_1");
  EXPECT_EQ((*redeemed)->redeemed_at, kNow + 2000);

  auto stored = store->get_review("rv_1");
  EXPECT_EQ(stored->state, review::ReviewState::executed);
  EXPECT_EQ(stored->version, 3);
  EXPECT_EQ(*store->event_count(), events_before + 2);

  AuditFilter executed;
  executed.type = "review.executed";
  auto page = store->list_events(executed);
  ASSERT_EQ(page->events.size(), 1u);
  EXPECT_EQ(page->events[0].review_id, "rv_1");

  auto again = store->redeem_grant(review.action.digest, "agent:ci-bot", kNow + 3000,
                                   execute_hook(kNow + 3000));
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->has_value());
  expect_chain_verifies(*store);
}

TEST(SqliteStoreGrants, WrongRequesterWrongDigestOrExpiredFindNothing) {
  auto store = open_store(":memory:");
  review::Review review = approved_with_grant(*store, "rv_1");
  const Millis expires_at = kNow + 1000 + 300'000;
  int hook_calls = 0;
  RedeemHook counting = [&](review::Review&) {
    ++hook_calls;
    return std::vector<audit::AuditEvent>{};
  };
  EXPECT_FALSE(
      store->redeem_grant(review.action.digest, "agent:other", kNow + 2000, counting)->has_value());
  EXPECT_FALSE(
      store->redeem_grant(sha256_hex("x"), "agent:ci-bot", kNow + 2000, counting)->has_value());
  EXPECT_FALSE(
      store->redeem_grant(review.action.digest, "agent:ci-bot", expires_at, counting)->has_value());
  EXPECT_EQ(hook_calls, 0);
  EXPECT_TRUE(store->redeem_grant(review.action.digest, "agent:ci-bot", expires_at - 1, counting)
                  ->has_value());
  EXPECT_EQ(hook_calls, 1);
}

TEST(SqliteStoreGrants, AThrowingHookLeavesTheGrantRedeemable) {
  auto store = open_store(":memory:");
  review::Review review = approved_with_grant(*store, "rv_1");
  RedeemHook throwing = [](review::Review&) -> std::vector<audit::AuditEvent> {
    throw std::runtime_error("boom");
  };
  auto failed = store->redeem_grant(review.action.digest, "agent:ci-bot", kNow + 2000, throwing);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, ErrorCode::internal);
  EXPECT_EQ(store->get_review("rv_1")->state, review::ReviewState::approved);
  EXPECT_TRUE(store
                  ->redeem_grant(review.action.digest, "agent:ci-bot", kNow + 2000,
                                 execute_hook(kNow + 2000))
                  ->has_value());
}

TEST(SqliteStoreGrants, ExactlyOneOfManyConcurrentRedeemersWins) {
  TempDatabase database;
  auto store = open_store(database.path());
  // A second connection to the same file plays a second gateway process.
  auto other_process = open_store(database.path());
  ASSERT_TRUE(store && other_process);
  review::Review review = approved_with_grant(*store, "rv_race");

  constexpr int kThreads = 8;
  constexpr int kAttemptsPerThread = 5;
  std::atomic<int> wins{0};
  std::atomic<int> errors{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    SqliteStore& target = t % 2 ? *other_process : *store;
    threads.emplace_back([&, t, &target = target] {
      while (!go.load()) std::this_thread::yield();
      for (int attempt = 0; attempt < kAttemptsPerThread; ++attempt) {
        Millis now = kNow + 2000 + t;
        auto redeemed =
            target.redeem_grant(review.action.digest, "agent:ci-bot", now, execute_hook(now));
        if (!redeemed) {
          errors++;
        } else if (redeemed->has_value()) {
          wins++;
        }
      }
    });
  }
  go = true;
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wins.load(), 1);
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(store->get_review("rv_race")->state, review::ReviewState::executed);
  AuditFilter redeemed;
  redeemed.type = "grant.redeemed";
  EXPECT_EQ(store->list_events(redeemed)->events.size(), 1u);
  expect_chain_verifies(*store);
}

// ---------------------------------------------------------------------------
// Audit log

TEST(SqliteStoreAudit, ChainVerifiesAfterManyAppendsFromManyThreads) {
  TempDatabase database;
  auto store = open_store(database.path());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        std::vector<audit::AuditEvent> batch;
        for (int j = 0; j <= i % 3; ++j) {
          audit::AuditEvent event = make_event("action.decided", "", "agent:" + std::to_string(t));
          event.details["i"] = i;
          event.details["ratio"] = 1.3927926388013963e-143;  // boost 1.81 misparses this one
          batch.push_back(std::move(event));
        }
        auto appended = store->append_events(batch);
        ASSERT_TRUE(appended) << appended.error().message;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  int expected = 0;
  for (int i = 0; i < 50; ++i) expected += 4 * (i % 3 + 1);
  EXPECT_EQ(*store->event_count(), expected);
  expect_chain_verifies(*store);
}

TEST(SqliteStoreReviews, OnlyOnePendingReviewPerDigestAndRequester) {
  auto store = open_store(":memory:");
  review::Review first = make_review("rv_first", kNow);
  std::vector<audit::AuditEvent> events{make_event("review.created", "rv_first")};
  ASSERT_TRUE(store->create_review(first, events));

  // Same action (digest) from the same requester, under another id: refused, nothing written.
  review::Review second = make_review("rv_first", kNow + 1);
  second.id = "rv_second";
  std::vector<audit::AuditEvent> more{make_event("review.created", "rv_second")};
  auto refused = store->create_review(second, more);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::conflict);
  EXPECT_EQ(*store->event_count(), 1);
  EXPECT_EQ(store->get_review("rv_second").error().code, ErrorCode::not_found);

  // Another requester may have its own pending review of the same digest.
  review::Review theirs = make_review("rv_first", kNow + 2, "agent:other-bot");
  theirs.id = "rv_theirs";
  std::vector<audit::AuditEvent> their_events{make_event("review.created", "rv_theirs")};
  EXPECT_TRUE(store->create_review(theirs, their_events));

  // Once the first is no longer pending, the same action may be reviewed again.
  first.state = review::ReviewState::rejected;
  first.decided_at = kNow + 3;
  std::vector<audit::AuditEvent> rejected{make_event("review.rejected", "rv_first")};
  ASSERT_TRUE(store->update_review(first, std::nullopt, rejected));
  std::vector<audit::AuditEvent> again{make_event("review.created", "rv_second")};
  EXPECT_TRUE(store->create_review(second, again));
}

TEST(SqliteStoreAudit, QueuedAppendsCommitInOrderAndCallBackWhenDurable) {
  auto store = open_store(":memory:");
  std::mutex mutex;
  std::condition_variable all_done;
  std::vector<std::int64_t> seen_counts;
  const int kQueued = 200;
  for (int i = 0; i < kQueued; ++i) {
    audit::AuditEvent event = make_event("action.decided");
    event.details["i"] = i;
    store->append_events_async({event}, [&](Result<void> appended) {
      ASSERT_TRUE(appended) << appended.error().message;
      // By the time a caller hears back, its event is readable.
      auto count = store->event_count();
      std::lock_guard lock(mutex);
      seen_counts.push_back(count.value_or(-1));
      all_done.notify_one();
    });
  }
  // A blocking append queued after them commits after them.
  std::vector<audit::AuditEvent> last{make_event("action.executed")};
  ASSERT_TRUE(store->append_events(last));
  EXPECT_EQ(last[0].index, kQueued);
  {
    std::unique_lock lock(mutex);
    all_done.wait(lock, [&] { return seen_counts.size() == kQueued; });
    for (std::int64_t count : seen_counts) EXPECT_GE(count, 1);
  }
  AuditFilter filter;
  filter.limit = 1000;
  auto page = store->list_events(filter);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->events.size(), static_cast<std::size_t>(kQueued + 1));
  for (int i = 0; i < kQueued; ++i)
    EXPECT_EQ(page->events[i].details.at("i"), boost::json::value(i)) << "queue order kept";
  expect_chain_verifies(*store);
}

// audit_minutes as the events say it should be: per minute of event time,
// the first and last index.
void expect_minutes_match_events(const std::string& path) {
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  auto rows = [&](const char* sql) {
    std::vector<std::string> out;
    sqlite3_stmt* statement = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(raw, sql, -1, &statement, nullptr), SQLITE_OK);
    while (sqlite3_step(statement) == SQLITE_ROW) {
      out.push_back(std::to_string(sqlite3_column_int64(statement, 0)) + ":" +
                    std::to_string(sqlite3_column_int64(statement, 1)) + "-" +
                    std::to_string(sqlite3_column_int64(statement, 2)));
    }
    sqlite3_finalize(statement);
    return out;
  };
  auto expected = rows(
      "SELECT time / 60000, min(idx), max(idx) FROM audit_events GROUP BY time / 60000 ORDER BY 1");
  EXPECT_GT(expected.size(), 1u);
  EXPECT_EQ(rows("SELECT minute, first_idx, last_idx FROM audit_minutes ORDER BY minute"),
            expected);
  sqlite3_close(raw);
}

TEST(SqliteStoreAudit, MinuteTableIsExactForBatchedOutOfOrderAppends) {
  TempDatabase database;
  {
    auto store = open_store(database.path());
    std::atomic<int> callbacks{0};
    for (int i = 0; i < 300; ++i) {
      // Times jump between minutes and go back a little, as concurrent
      // requests do; one caller in 50 is refused while sealing.
      Millis time = kNow + (i % 7) * 60'000 - (i % 3) * 20'000;
      audit::AuditEvent event = make_event("action.decided", "", "system", time);
      if (i % 50 == 25) event.actor = "bad \xff";
      store->append_events_async({event}, [&](Result<void>) { ++callbacks; });
    }
    std::vector<audit::AuditEvent> several{make_event("a", "", "system", kNow - 3 * 60'000),
                                           make_event("b", "", "system", kNow + 9 * 60'000),
                                           make_event("c", "", "system", kNow - 3 * 60'000)};
    ASSERT_TRUE(store->append_events(several));
    review::Review review = make_review("rv_minutes", kNow);
    std::vector<audit::AuditEvent> created{
        make_event("review.created", "rv_minutes", "system", kNow + 20 * 60'000)};
    ASSERT_TRUE(store->create_review(review, created));
    while (callbacks.load() < 300) std::this_thread::yield();
    EXPECT_EQ(*store->event_count(), 300 - 6 + 3 + 1);
    expect_chain_verifies(*store);
    AuditFilter filter;
    filter.from = kNow - 3 * 60'000;
    filter.to = kNow - 2 * 60'000;
    auto page = store->list_events(filter);
    ASSERT_TRUE(page);
    ASSERT_EQ(page->events.size(), 2u);
    EXPECT_EQ(page->events[0].type, "a");
    EXPECT_EQ(page->events[1].type, "c");
  }
  expect_minutes_match_events(database.path());
}

TEST(SqliteStoreOpen, UpgradeFromTheMinuteTriggerKeepsTheMinuteTableExact) {
  TempDatabase database;
  {
    auto store = open_store(database.path());
    for (int i = 0; i < 20; ++i) {
      std::vector<audit::AuditEvent> one{
          make_event("action.decided", "", "system", kNow + (i % 4) * 60'000)};
      ASSERT_TRUE(store->append_events(one));
    }
  }
  {
    // Back to schema 5 as an older build left it: the per-row trigger and
    // the time index, a minute table the trigger filled, and the filter
    // indexes on audit_events itself.
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(database.path().c_str(), &raw), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(raw, R"sql(
        DROP TABLE audit_search;
        CREATE INDEX audit_by_actor ON audit_events (actor, idx);
        CREATE INDEX audit_by_type ON audit_events (type, idx);
        CREATE INDEX audit_by_verb ON audit_events (verb, idx) WHERE verb IS NOT NULL;
        CREATE INDEX audit_by_review ON audit_events (review_id, idx) WHERE review_id IS NOT NULL;
        CREATE INDEX audit_by_target ON audit_events (target, idx) WHERE target IS NOT NULL;
        DELETE FROM audit_minutes;
        INSERT INTO audit_minutes (minute, first_idx, last_idx)
          SELECT time / 60000, min(idx), max(idx) FROM audit_events GROUP BY time / 60000;
        CREATE TRIGGER audit_events_minutes AFTER INSERT ON audit_events BEGIN
          INSERT INTO audit_minutes (minute, first_idx, last_idx)
            VALUES (new.time / 60000, new.idx, new.idx)
            ON CONFLICT (minute) DO UPDATE SET first_idx = min(first_idx, excluded.first_idx),
                                               last_idx = max(last_idx, excluded.last_idx);
        END;
        CREATE INDEX audit_by_time ON audit_events (time);
        PRAGMA user_version = 5;)sql",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(raw);
  }
  {
    auto store = open_store(database.path());
    ASSERT_NE(store, nullptr);
    for (int i = 0; i < 20; ++i) {
      std::vector<audit::AuditEvent> one{
          make_event("action.decided", "", "system", kNow + (i % 5) * 60'000 + 30'000)};
      ASSERT_TRUE(store->append_events(one));
    }
    EXPECT_EQ(*store->event_count(), 40);
    expect_chain_verifies(*store);
    // Events from before and after the upgrade are found by a filter.
    AuditFilter by_actor;
    by_actor.actor = "system";
    auto found = store->list_events(by_actor);
    ASSERT_TRUE(found) << found.error().message;
    EXPECT_EQ(found->events.size(), 40u);
  }
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(database.path().c_str(), &raw), SQLITE_OK);
  sqlite3_stmt* statement = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(raw, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'", -1,
                               &statement, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(statement), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(statement, 0), 0);
  sqlite3_finalize(statement);
  sqlite3_close(raw);
  expect_minutes_match_events(database.path());
}

TEST(SqliteStoreAudit, ClosingTheStoreCommitsWhatIsQueued) {
  TempDatabase database;
  std::atomic<int> callbacks{0};
  {
    auto store = open_store(database.path());
    for (int i = 0; i < 500; ++i)
      store->append_events_async({make_event("action.executed")},
                                 [&](Result<void> appended) { callbacks += appended ? 1 : 0; });
  }  // closes right away, with most of them still queued
  EXPECT_EQ(callbacks.load(), 500);
  auto reopened = open_store(database.path());
  EXPECT_EQ(*reopened->event_count(), 500);
  expect_chain_verifies(*reopened);
}

TEST(SqliteStoreAudit, AppendFillsIndexesHashesAndControls) {
  auto store = open_store(":memory:");
  std::vector<audit::AuditEvent> events{make_event("auth.failed"), make_event("action.decided")};
  ASSERT_TRUE(store->append_events(events));
  EXPECT_EQ(events[0].index, 0);
  EXPECT_EQ(events[1].index, 1);
  EXPECT_THAT(events[0].controls, ::testing::ElementsAre("CC6.1", "CC7.2"));
  EXPECT_EQ(events[1].previous_hash, events[0].hash);
  std::vector<audit::AuditEvent> empty;
  EXPECT_TRUE(store->append_events(empty));
  EXPECT_EQ(*store->event_count(), 2);
}

TEST(SqliteStoreAudit, ListEventsFiltersAndPages) {
  auto store = open_store(":memory:");
  review::Review review = make_review("rv_1", kNow);
  std::vector<audit::AuditEvent> created{make_event("review.created", "rv_1", "agent:ci-bot")};
  ASSERT_TRUE(store->create_review(review, created));

  std::vector<audit::AuditEvent> events;
  for (int i = 0; i < 10; ++i) {
    audit::AuditEvent event = make_event(i % 2 ? "action.decided" : "auth.failed", "",
                                         i < 5 ? "alice" : "bob", kNow + i * 1000);
    if (i % 2) event.details["verb"] = i == 3 ? "sql:DROP" : "sql:SELECT";
    event.details["note"] = i == 7 ? "100%_match" : "1000 matches";
    events.push_back(std::move(event));
  }
  ASSERT_TRUE(store->append_events(events));

  auto count = [&](AuditFilter filter) {
    auto page = store->list_events(filter);
    EXPECT_TRUE(page) << (page ? "" : page.error().message);
    return page ? page->events.size() : 0u;
  };
  AuditFilter filter;
  EXPECT_EQ(count(filter), 11u);
  filter.actor = "alice";
  EXPECT_EQ(count(filter), 5u);
  filter = {};
  filter.type = "action.decided";
  EXPECT_EQ(count(filter), 5u);
  filter = {};
  filter.verb = "sql:DROP";
  EXPECT_EQ(count(filter), 1u);
  filter.verb = "exec:terraform-apply";  // from the review, for its events without a verb
  EXPECT_EQ(count(filter), 1u);
  filter = {};
  filter.review_id = "rv_1";
  EXPECT_EQ(count(filter), 1u);
  filter = {};
  filter.from = kNow + 2000;
  filter.to = kNow + 5000;
  EXPECT_EQ(count(filter), 3u);
  filter = {};
  filter.text = "100%_";  // wildcards are literal
  EXPECT_EQ(count(filter), 1u);
  filter.text = "SQL:drop";  // ASCII case-insensitive
  EXPECT_EQ(count(filter), 1u);
  filter.text = "'; DROP TABLE audit_events; --";
  EXPECT_EQ(count(filter), 0u);
  EXPECT_EQ(*store->event_count(), 11);

  filter = {};
  filter.actor = "bob";
  filter.limit = 2;
  std::vector<std::int64_t> indexes;
  for (;;) {
    auto page = store->list_events(filter);
    ASSERT_TRUE(page);
    for (const auto& event : page->events) indexes.push_back(event.index);
    if (page->next_cursor < 0) break;
    filter.after_index = page->next_cursor;
  }
  EXPECT_EQ(indexes, (std::vector<std::int64_t>{6, 7, 8, 9, 10}));
}

TEST(SqliteStoreAudit, StoredEventsComeBackIdentical) {
  auto store = open_store(":memory:");
  audit::AuditEvent event = make_event("review.voted", "rv_9", "dba@example.com", kNow + 5);
  event.action_digest = sha256_hex("a");
  event.details = boost::json::object{
      {"reason", "looks \"fine\" \xe2\x9c\x93"}, {"n", 0.1}, {"nested", {{"k", {1, 2, nullptr}}}}};
  std::vector<audit::AuditEvent> events{event};
  ASSERT_TRUE(store->append_events(events));
  auto page = store->list_events({});
  ASSERT_EQ(page->events.size(), 1u);
  const audit::AuditEvent& back = page->events[0];
  EXPECT_EQ(*canonicalize(audit::to_json(back)), *canonicalize(audit::to_json(events[0])));
}

}  // namespace
}  // namespace countersign::store
