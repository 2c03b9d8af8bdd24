// Storage interface for reviews, grants and the audit log. Implementations
// (sqlite/ now, postgres/ later) must make each call one transaction: a state
// change and the audit events describing it commit together or not at all.
// The store never decides anything; it persists what the review and audit
// modules produce and enforces optimistic concurrency on reviews.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/event.h"
#include "audit/indexed_fields.h"
#include "core/error.h"
#include "review/grant.h"
#include "review/review.h"

namespace countersign::store {

struct ReviewFilter {
  std::optional<review::ReviewState> state;
  std::optional<std::string> requester;  // actor subject or on_behalf_of
  int limit = 50;
  std::string cursor;  // opaque; from the previous page's next_cursor
};

struct ReviewPage {
  std::vector<review::Review> reviews;  // newest first
  std::string next_cursor;              // empty on the last page
};

struct AuditFilter {
  std::string actor;
  std::string verb;
  std::string type;
  std::string review_id;
  Millis from = 0;                // inclusive, 0 = unbounded
  Millis to = 0;                  // exclusive, 0 = unbounded
  std::string text;               // words of the masked details, in order (docs/audit.md#search)
  std::int64_t after_index = -1;  // cursor: events with index > after_index
  int limit = 100;
  std::string target;
};

struct AuditPage {
  std::vector<audit::AuditEvent> events;  // ascending index
  std::int64_t next_cursor = -1;          // -1 on the last page
};

// The Merkle tree over the audit log (RFC 6962) at some size.
struct TreeHead {
  std::int64_t size = 0;
  audit::Hash root{};
};

// A checkpoint as stored: the signed note (C2SP) for the tree at `size`.
struct StoredCheckpoint {
  std::int64_t size = 0;
  Millis time = 0;
  std::string note;
};

// A stored event as raw bytes, for full verification (valid during the visit).
struct RawAuditEvent {
  std::int64_t index = 0;
  std::string_view body;       // the canonical body the leaf hash covers
  std::string_view leaf_hash;  // 32 raw bytes (empty if missing)
  std::string_view previous_hash;
  std::string_view hash;
  audit::IndexedColumns columns;  // the search columns stored beside the body
};
using RawEventVisitor = std::function<bool(const RawAuditEvent&)>;  // false stops
using TreeNodeVisitor =
    std::function<void(unsigned level, std::uint64_t position, std::string_view hash)>;

// The durable outbox: a notification to deliver (Slack, Teams, webhook, ...),
// written in the same transaction as the change it announces and delivered
// by src/notify's worker. Messages of one stream are delivered in id order.
struct OutboxMessage {
  std::int64_t id = 0;    // assigned by the store, ascending
  std::string key;        // idempotency key: a second message with the same key is dropped
  std::string stream;     // e.g. "slack:rv_1:C0123"; ordering and per-stream state
  std::string channel;    // "slack", "teams", "webhook"
  std::string review_id;  // may be empty
  std::string payload;    // JSON (masked: never raw parameters)
  Millis created_at = 0;
  Millis next_attempt_at = 0;
  int attempts = 0;          // failed attempts so far
  std::string stream_state;  // the stream's state (e.g. a Slack message ts), read with the message
};

// How one delivery attempt ended.
struct OutboxOutcome {
  enum class Kind { delivered, retry, dead };
  Kind kind = Kind::delivered;
  Millis at = 0;                            // retry: next attempt; else when it finished
  std::string error;                        // retry/dead: why (no secrets)
  std::optional<std::string> stream_state;  // set the stream's state in the same transaction
};

struct OutboxStatus {
  std::int64_t pending = 0;
  std::int64_t dead = 0;
  Millis next_attempt_at = 0;  // earliest attempt of a stream's next message, 0 if none
};

// Builds the outbox messages for a review change. Runs inside the store's
// transaction (with the review as committed, version included, and the
// events being appended), so it must be pure: no calls back into the store.
using OutboxPlanner = std::function<std::vector<OutboxMessage>(
    const review::Review&, const std::vector<audit::AuditEvent>&)>;

// Called inside the redeem transaction with the review the grant belongs to;
// mutates it (approved -> executed) and returns the events to append.
using RedeemHook = std::function<std::vector<audit::AuditEvent>(review::Review&)>;

class Store {
 public:
  virtual ~Store() = default;

  // Appends events (filling index and chain hashes) and extends the Merkle
  // tree. Concurrent callers are group-committed: many callers' events share
  // one transaction, and each returns only once its events are committed.
  virtual Result<void> append_events(std::vector<audit::AuditEvent>& events) = 0;

  // The same, without blocking the caller: the events join the next group
  // commit and `done` runs once they are committed (or failed), on a thread
  // of the store's choosing; an event loop posts it back to itself. Events
  // queued by one thread commit in the order they were queued, and before
  // events that thread queues later (synchronously or not). `done` must not
  // wait for another append (it may run on the thread that commits them).
  using AppendDone = std::function<void(Result<void>)>;
  virtual void append_events_async(std::vector<audit::AuditEvent> events, AppendDone done) {
    Result<void> appended = append_events(events);
    if (done) done(std::move(appended));
  }

  // Where append_events_async commits: `scheduler(flush)` must arrange for
  // `flush()` to run soon on some thread (an event loop posts it to itself,
  // so that it commits its own requests' events without a thread hand-off;
  // what it queues in one turn shares one commit). Null (the default): the
  // store's own thread. Clear it before the scheduler's loop goes away.
  using CommitScheduler = std::function<void(std::function<void()> flush)>;
  virtual void set_commit_scheduler(CommitScheduler scheduler) { (void)scheduler; }

  // Inserts a new review (version 1) and its events. ErrorCode::conflict
  // (nothing written) when the id exists or a review for the same digest
  // and requester is already pending: at most one is pending at a time.
  virtual Result<void> create_review(review::Review& review,
                                     std::vector<audit::AuditEvent>& events) = 0;

  // Replaces a review if its stored version is still `review.version`
  // (ErrorCode::conflict otherwise), bumps the version, optionally inserts a
  // grant, and appends events, all in one transaction.
  virtual Result<void> update_review(review::Review& review,
                                     const std::optional<review::Grant>& grant,
                                     std::vector<audit::AuditEvent>& events) = 0;

  virtual Result<review::Review> get_review(const std::string& id) = 0;
  virtual Result<ReviewPage> list_reviews(const ReviewFilter& filter) = 0;

  // Reviews whose next deadline (escalation, expiry, grant expiry) is <= now.
  virtual Result<std::vector<review::Review>> due_reviews(Millis now) = 0;

  // The pending or approved review for this digest, if any (so an identical
  // request joins it instead of opening a second one).
  virtual Result<std::optional<review::Review>> find_open_review(const std::string& digest) = 0;

  // Atomically redeems the unexpired, unredeemed grant for `digest` held by
  // `requester`: exactly one concurrent caller gets it. Returns nullopt when
  // there is none. `hook` runs inside the same transaction.
  virtual Result<std::optional<review::Grant>> redeem_grant(const std::string& digest,
                                                            const std::string& requester,
                                                            Millis now, const RedeemHook& hook) = 0;

  virtual Result<AuditPage> list_events(const AuditFilter& filter) = 0;
  virtual Result<std::int64_t> event_count() = 0;
  virtual Result<audit::AuditEvent> get_event(std::int64_t index) = 0;

  // The Merkle tree over the log, from stored nodes: its head now, its root
  // at an earlier size, and RFC 9162 inclusion and consistency proofs.
  virtual Result<TreeHead> tree_head() = 0;
  virtual Result<audit::Hash> tree_root(std::int64_t size) = 0;
  virtual Result<std::vector<audit::Hash>> inclusion_proof(std::int64_t index,
                                                           std::int64_t size) = 0;
  virtual Result<std::vector<audit::Hash>> consistency_proof(std::int64_t from,
                                                             std::int64_t to) = 0;

  // Signed checkpoints, one per tree size (ErrorCode::conflict if the size
  // already has one).
  virtual Result<void> add_checkpoint(const StoredCheckpoint& checkpoint) = 0;
  virtual Result<std::optional<StoredCheckpoint>> latest_checkpoint() = 0;
  virtual Result<std::optional<StoredCheckpoint>> checkpoint_at(std::int64_t size) = 0;
  virtual Result<std::vector<StoredCheckpoint>> list_checkpoints() = 0;

  // Every stored event in index order, and every stored interior tree node
  // (returns their count), for `countersign audit verify`.
  virtual Result<void> scan_events(const RawEventVisitor& visit) = 0;
  virtual Result<std::int64_t> scan_tree(const TreeNodeVisitor& visit) = 0;
  virtual Result<std::int64_t> count_reviews(review::ReviewState state) = 0;

  // The durable outbox. The planner runs in every transaction that creates
  // or changes a review (create_review, update_review, redeem_grant).
  virtual void set_outbox_planner(OutboxPlanner planner) = 0;
  // Adds messages (and events) not tied to a review change, in one transaction.
  virtual Result<void> enqueue_outbox(std::vector<OutboxMessage>& messages,
                                      std::vector<audit::AuditEvent>& events) = 0;
  // Pending messages due at `now`, each the oldest pending one of its stream.
  // Empty `channel` means every channel.
  virtual Result<std::vector<OutboxMessage>> due_outbox(std::string_view channel, Millis now,
                                                        int limit) = 0;
  virtual Result<void> complete_outbox(std::int64_t id, const OutboxOutcome& outcome) = 0;
  virtual Result<OutboxStatus> outbox_status(std::string_view channel = {}) = 0;

  // True when the store can serve requests (for /readyz).
  virtual bool healthy() = 0;

  // Brings search indexes that are filled in batches (SQLite: the audit
  // full-text index) up to date by at most `limit` events (0: all); returns
  // how many events were indexed. Searches catch up by themselves; calling
  // this periodically keeps that cheap.
  virtual Result<std::int64_t> catch_up_search_index(std::int64_t limit) {
    (void)limit;
    return 0;
  }
};

}  // namespace countersign::store
