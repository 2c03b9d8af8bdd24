// The embedded default Store: one SQLite file in WAL mode, one connection
// per process for every read and write (a second one only runs WAL
// checkpoints), every public call one transaction. It persists what the
// review and audit modules produce; it must never decide anything about a
// review, never commit a state change without the audit events describing
// it, and never put a bound value (subjects, digests, params) into an error
// message.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "audit/merkle.h"
#include "store/store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace countersign::store {

struct SqliteOptions {
  // The writer thread, when it has had nothing to commit for a moment,
  // brings the search indexes forward (see catch_up_search_index). Off,
  // they move only when asked or searched.
  bool index_when_idle = true;
};

class SqliteStore final : public Store {
 public:
  // The schema version this build writes. A database with a higher version
  // was written by a newer build and is refused rather than misread.
  static int schema_version();

  // Opens or creates the database at `path` (":memory:" for a private
  // in-memory one) and brings its schema up to date.
  static Result<std::unique_ptr<SqliteStore>> open(const std::string& path,
                                                   SqliteOptions options = {});

  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  Result<void> append_events(std::vector<audit::AuditEvent>& events) override;
  // Committed by the commit scheduler's flush when one is set, else by the
  // store's writer thread; `done` runs on the committing thread.
  void append_events_async(std::vector<audit::AuditEvent> events, AppendDone done) override;
  void set_commit_scheduler(CommitScheduler scheduler) override;
  Result<void> create_review(review::Review& review,
                             std::vector<audit::AuditEvent>& events) override;
  Result<void> update_review(review::Review& review, const std::optional<review::Grant>& grant,
                             std::vector<audit::AuditEvent>& events) override;
  Result<review::Review> get_review(const std::string& id) override;
  Result<ReviewPage> list_reviews(const ReviewFilter& filter) override;
  Result<std::vector<review::Review>> due_reviews(Millis now) override;
  Result<std::optional<review::Review>> find_open_review(const std::string& digest) override;
  // `hook` runs with the store locked: it must not call back into this store.
  Result<std::optional<review::Grant>> redeem_grant(const std::string& digest,
                                                    const std::string& requester, Millis now,
                                                    const RedeemHook& hook) override;
  Result<AuditPage> list_events(const AuditFilter& filter) override;
  Result<std::int64_t> event_count() override;
  Result<audit::AuditEvent> get_event(std::int64_t index) override;
  Result<TreeHead> tree_head() override;
  Result<audit::Hash> tree_root(std::int64_t size) override;
  Result<std::vector<audit::Hash>> inclusion_proof(std::int64_t index, std::int64_t size) override;
  Result<std::vector<audit::Hash>> consistency_proof(std::int64_t from, std::int64_t to) override;
  Result<void> add_checkpoint(const StoredCheckpoint& checkpoint) override;
  Result<std::optional<StoredCheckpoint>> latest_checkpoint() override;
  Result<std::optional<StoredCheckpoint>> checkpoint_at(std::int64_t size) override;
  Result<std::vector<StoredCheckpoint>> list_checkpoints() override;
  Result<void> scan_events(const RawEventVisitor& visit) override;
  Result<std::int64_t> catch_up_search_index(std::int64_t limit) override;
  Result<std::int64_t> scan_tree(const TreeNodeVisitor& visit) override;
  Result<std::int64_t> count_reviews(review::ReviewState state) override;
  void set_outbox_planner(OutboxPlanner planner) override;
  Result<void> enqueue_outbox(std::vector<OutboxMessage>& messages,
                              std::vector<audit::AuditEvent>& events) override;
  Result<std::vector<OutboxMessage>> due_outbox(std::string_view channel, Millis now,
                                                int limit) override;
  Result<void> complete_outbox(std::int64_t id, const OutboxOutcome& outcome) override;
  Result<OutboxStatus> outbox_status(std::string_view channel = {}) override;
  bool healthy() override;

 private:
  class Statement;
  class Transaction;

  explicit SqliteStore(sqlite3* database);

  // Everything below expects mutex_ to be held.
  Result<void> configure(bool in_memory);
  Result<void> migrate();
  Result<Statement> prepare(std::string_view sql);
  Result<void> execute(std::string_view sql);
  Result<review::Review> load_review(const std::string& id);
  Result<void> insert_review(const review::Review& review);
  Result<void> save_review(const review::Review& review);
  Result<void> insert_grant(const review::Grant& grant);
  // Appending to the log inside a write transaction: begin_append reads
  // where the log ends, append_sealed seals and inserts one caller's events
  // after it (any number of times), finish_append records the minutes the
  // events fall in. The two-argument append_sealed does all three.
  struct AppendState;
  Result<AppendState> begin_append();
  Result<std::vector<audit::AuditEvent>> append_sealed(AppendState& state,
                                                       const std::vector<audit::AuditEvent>& events,
                                                       std::string_view fallback_verb);
  Result<void> finish_append(AppendState& state);
  Result<std::vector<audit::AuditEvent>> append_sealed(const std::vector<audit::AuditEvent>& events,
                                                       std::string_view fallback_verb);
  Result<std::vector<review::Review>> read_reviews(Statement& statement);
  Result<void> insert_outbox(const std::vector<OutboxMessage>& messages);
  Result<void> insert_planned_outbox(const review::Review& review,
                                     const std::vector<audit::AuditEvent>& events);
  // The Merkle tree: stored node reads, the cached right edge, and the
  // one-time build for logs written before the tree existed.
  Result<audit::Hash> read_node(unsigned level, std::uint64_t position);
  Result<std::int64_t> index_for_search(std::int64_t limit);
  Result<std::int64_t> stored_size();
  Result<audit::CompactRange> load_frontier(std::int64_t size);
  Result<void> build_missing_tree();
  Result<std::vector<StoredCheckpoint>> read_checkpoints(std::string_view sql, std::int64_t size);
  // Group commit: runs a batch of queued append_events calls in one
  // transaction (mutex_ held).
  struct PendingAppend;
  void commit_batch(std::vector<std::shared_ptr<PendingAppend>>& batch);
  // Queues an append and makes sure a flush will take it (queue_mutex_ held).
  void enqueue(std::shared_ptr<PendingAppend> pending);
  // Commits everything queued and answers its callers (no lock held).
  void flush_queue();
  // The writer thread: flushes whenever asked, until the store closes (and
  // the queue is empty).
  void run_writer();
  void index_while_idle();
  // WAL checkpoints on the writer thread (see start_checkpointer).
  Result<void> start_checkpointer(const std::string& path);
  void wal_grew(int pages);
  void checkpoint_wal();
  // Returns once every append queued so far has committed (or failed).
  // Never call it with mutex_ held.
  void wait_for_queued_appends();

  std::mutex mutex_;
  sqlite3* database_;
  sqlite3* checkpointer_ = nullptr;  // used by the writer thread only
  // The tree's right edge after the last committed append (nullopt: reload).
  std::optional<audit::CompactRange> frontier_;
  // Group commit queue for append_events, guarded by queue_mutex_; the
  // writer thread takes all of it at once and commits it as one transaction.
  std::mutex queue_mutex_;
  std::condition_variable queue_ready_;
  std::vector<std::shared_ptr<PendingAppend>> queue_;
  CommitScheduler commit_scheduler_;
  bool index_when_idle_ = true;
  // Flushes so far, and as the writer thread last saw them (index_while_idle).
  std::atomic<std::uint64_t> flushes_{0};
  std::uint64_t flushes_at_last_index_ = 0;
  bool flush_scheduled_ = false;      // the scheduler has a flush to run
  bool writer_flush_wanted_ = false;  // the writer thread has been asked to flush
  bool checkpoint_wanted_ = false;    // the WAL has grown past kCheckpointPages
  bool closing_ = false;
  std::thread writer_;
  // Prepared once, reused for the life of the connection; keyed by SQL text.
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
  OutboxPlanner outbox_planner_;  // runs inside review transactions (see Store)
};

}  // namespace countersign::store
