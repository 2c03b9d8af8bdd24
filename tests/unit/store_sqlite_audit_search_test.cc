// Audit search in the SQLite store: the target column, word search over the
// masked details, time ranges through the minute index, and paging.
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <boost/json.hpp>

#include "core/hash.h"
#include "store/sqlite/sqlite_store.h"

namespace countersign::store {
namespace {

constexpr Millis kStart = 1'700'000'000'000;
constexpr Millis kMinute = 60'000;

audit::AuditEvent make(std::string type, std::string actor, Millis time, std::string target,
                       std::string note) {
  audit::AuditEvent event;
  event.type = std::move(type);
  event.actor = std::move(actor);
  event.time = time;
  event.details = boost::json::object{{"target", target}, {"verb", "exec:deploy"}, {"note", note}};
  return event;
}

std::vector<std::int64_t> indexes(SqliteStore& store, AuditFilter filter) {
  std::vector<std::int64_t> out;
  for (;;) {
    auto page = store.list_events(filter);
    EXPECT_TRUE(page) << (page ? "" : page.error().message);
    if (!page) return out;
    for (const auto& event : page->events) out.push_back(event.index);
    if (page->next_cursor < 0) return out;
    filter.after_index = page->next_cursor;
  }
}

class AuditSearchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = SqliteStore::open(":memory:");
    ASSERT_TRUE(opened) << opened.error().message;
    store_ = std::move(*opened);
    std::vector<audit::AuditEvent> events;
    for (int i = 0; i < 20; ++i) {
      // Times run over ten minutes, with event 10 written late (out of order).
      Millis time = kStart + (i == 10 ? 2 : i / 2) * kMinute + i;
      events.push_back(make(i % 2 ? "review.voted" : "action.decided", i < 10 ? "alice" : "bob",
                            time, i % 3 ? "production" : "staging",
                            i == 7 ? "Weekly Release window for web-1.4.2" : "routine restart"));
    }
    ASSERT_TRUE(store_->append_events(events));
  }
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(AuditSearchTest, FiltersByTarget) {
  AuditFilter filter;
  filter.target = "staging";
  EXPECT_EQ(indexes(*store_, filter), (std::vector<std::int64_t>{0, 3, 6, 9, 12, 15, 18}));
  filter.actor = "bob";
  EXPECT_EQ(indexes(*store_, filter), (std::vector<std::int64_t>{12, 15, 18}));
}

TEST_F(AuditSearchTest, TextFindsWordsInOrderInAnyCase) {
  AuditFilter filter;
  filter.text = "release WINDOW";
  EXPECT_EQ(indexes(*store_, filter), (std::vector<std::int64_t>{7}));
  filter.text = "window release";  // order matters
  EXPECT_TRUE(indexes(*store_, filter).empty());
  filter.text = "web-1.4.2";
  EXPECT_EQ(indexes(*store_, filter), (std::vector<std::int64_t>{7}));
  filter.text = "rel";  // whole words only
  EXPECT_TRUE(indexes(*store_, filter).empty());
  filter.text = "rel*";  // unless asked for a prefix
  EXPECT_EQ(indexes(*store_, filter), (std::vector<std::int64_t>{7}));
  filter.text = "routine";
  EXPECT_EQ(indexes(*store_, filter).size(), 19u);
  filter.actor = "alice";
  filter.limit = 4;
  EXPECT_EQ(indexes(*store_, filter), (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 8, 9}));
  filter = {};
  filter.text = "alice";  // the actor is not part of the details
  EXPECT_TRUE(indexes(*store_, filter).empty());
  filter.text = "\"\" OR routine";  // FTS syntax is taken as words, not as a query
  EXPECT_TRUE(indexes(*store_, filter).empty());
}

TEST_F(AuditSearchTest, TimeRangesAreExactWhenTimesAreOutOfOrder) {
  AuditFilter filter;
  filter.from = kStart + 2 * kMinute;
  filter.to = kStart + 3 * kMinute;
  // Events 4 and 5 are in minute 2, and so is event 10, appended later.
  EXPECT_EQ(indexes(*store_, filter), (std::vector<std::int64_t>{4, 5, 10}));
  filter.from = kStart + 9 * kMinute;
  filter.to = 0;
  EXPECT_EQ(indexes(*store_, filter), (std::vector<std::int64_t>{18, 19}));
  filter.from = 0;
  filter.to = kStart + kMinute;
  EXPECT_EQ(indexes(*store_, filter), (std::vector<std::int64_t>{0, 1}));
  filter.from = kStart + 100 * kMinute;
  filter.to = kStart + 200 * kMinute;
  EXPECT_TRUE(indexes(*store_, filter).empty());
  filter.from = kStart + 2 * kMinute + 5;  // inside a minute: the row's time decides
  filter.to = kStart + 2 * kMinute + 11;
  EXPECT_EQ(indexes(*store_, filter), (std::vector<std::int64_t>{5, 10}));
}

TEST(AuditSearchPlans, TextWithOtherFiltersGivesTheSameAnswerWhicheverIndexDrives) {
  auto opened = SqliteStore::open(":memory:");
  ASSERT_TRUE(opened);
  SqliteStore& store = **opened;
  std::vector<audit::AuditEvent> events;
  for (int i = 0; i < 1500; ++i)
    events.push_back(make("action.decided", i % 2 ? "alice" : "bob", kStart + i * 1000,
                          i % 3 ? "production" : "staging",
                          i % 7 == 0 ? "schema migration" : "routine restart"));
  ASSERT_TRUE(store.append_events(events));
  auto expected = [&](auto keep) {
    std::vector<std::int64_t> out;
    for (int i = 0; i < 1500; ++i)
      if (keep(i)) out.push_back(i);
    return out;
  };
  AuditFilter filter;
  filter.limit = 50;
  filter.text = "schema migration";
  filter.actor = "alice";  // 750 candidates: the text index drives
  EXPECT_EQ(indexes(store, filter), expected([](int i) { return i % 7 == 0 && i % 2; }));
  filter.from = kStart + 1'000'000;  // with a time range, 250 candidates: the events drive
  EXPECT_EQ(indexes(store, filter),
            expected([](int i) { return i % 7 == 0 && i % 2 && i >= 1000; }));
  filter.from = kStart + 100'000;
  filter.to = kStart + 1'300'000;
  filter.actor.clear();
  filter.target = "staging";
  EXPECT_EQ(indexes(store, filter),
            expected([](int i) { return i % 7 == 0 && i % 3 == 0 && i >= 100 && i < 1300; }));
}

TEST(AuditSearchIndexing, TextIsIndexedInBatchesAndSearchesNeverMissEvents) {
  auto opened = SqliteStore::open(":memory:", {.index_when_idle = false});
  ASSERT_TRUE(opened);
  SqliteStore& store = **opened;
  std::vector<audit::AuditEvent> events;
  for (int i = 0; i < 10; ++i)
    events.push_back(make("action.decided", "alice", kStart + i, "production", "needle"));
  ASSERT_TRUE(store.append_events(events));
  EXPECT_EQ(*store.catch_up_search_index(4), 4);
  // A search indexes the rest itself before answering.
  AuditFilter filter;
  filter.text = "needle";
  EXPECT_EQ(indexes(store, filter).size(), 10u);
  EXPECT_EQ(*store.catch_up_search_index(0), 0);
  std::vector<audit::AuditEvent> more{make("action.decided", "bob", kStart + 99, "x", "needle")};
  ASSERT_TRUE(store.append_events(more));
  EXPECT_EQ(*store.catch_up_search_index(0), 1);
  EXPECT_EQ(indexes(store, filter).size(), 11u);
}

// Appends leave the filter indexes to the writer thread, which fills them
// once it has had nothing to commit for a moment; read here through a
// second connection, so that no search of the store's own fills them.
TEST(AuditSearchIndexing, TheWriterIndexesWhenIdle) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("cs_idle_index_" + new_id("t") + ".db")).string();
  {
    auto opened = SqliteStore::open(path);
    ASSERT_TRUE(opened) << opened.error().message;
    std::vector<audit::AuditEvent> events;
    for (int i = 0; i < 1200; ++i)
      events.push_back(make("action.decided", "alice", kStart + i, "production", "idle"));
    ASSERT_TRUE((*opened)->append_events(events));
    sqlite3* reader = nullptr;
    ASSERT_EQ(sqlite3_open_v2(path.c_str(), &reader, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    auto count = [&](const char* table) {
      sqlite3_stmt* statement = nullptr;
      std::string sql = std::string("SELECT count(*) FROM ") + table;
      EXPECT_EQ(sqlite3_prepare_v2(reader, sql.c_str(), -1, &statement, nullptr), SQLITE_OK);
      std::int64_t rows =
          sqlite3_step(statement) == SQLITE_ROW ? sqlite3_column_int64(statement, 0) : -1;
      sqlite3_finalize(statement);
      return rows;
    };
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (count("audit_search") < 1200 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(count("audit_search"), 1200);
    EXPECT_EQ(count("audit_text"), 1200);
    sqlite3_close(reader);
  }
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
}

TEST_F(AuditSearchTest, ScanReturnsTheStoredSearchColumns) {
  std::vector<audit::IndexedColumns> seen;
  std::vector<std::string> actors;
  ASSERT_TRUE(store_->scan_events([&](const RawAuditEvent& event) {
    seen.push_back(event.columns);
    actors.emplace_back(event.columns.actor);
    return true;
  }));
  ASSERT_EQ(seen.size(), 20u);
  EXPECT_EQ(actors[3], "alice");
  EXPECT_EQ(actors[13], "bob");
  EXPECT_TRUE(seen[0].review_id_null);
  EXPECT_FALSE(seen[0].verb_null);
}

}  // namespace
}  // namespace countersign::store
