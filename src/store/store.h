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
#include <vector>

#include "audit/event.h"
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
  Millis from = 0;  // inclusive, 0 = unbounded
  Millis to = 0;    // exclusive, 0 = unbounded
  std::string text; // substring of the canonical event
  std::int64_t after_index = -1;  // cursor: events with index > after_index
  int limit = 100;
};

struct AuditPage {
  std::vector<audit::AuditEvent> events;  // ascending index
  std::int64_t next_cursor = -1;          // -1 on the last page
};

// Called inside the redeem transaction with the review the grant belongs to;
// mutates it (approved -> executed) and returns the events to append.
using RedeemHook = std::function<std::vector<audit::AuditEvent>(review::Review&)>;

class Store {
 public:
  virtual ~Store() = default;

  // Appends events (filling index and chain hashes) in one transaction.
  virtual Result<void> append_events(std::vector<audit::AuditEvent>& events) = 0;

  // Inserts a new review (version 1) and its events.
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
  virtual Result<std::int64_t> count_reviews(review::ReviewState state) = 0;

  // True when the store can serve requests (for /readyz).
  virtual bool healthy() = 0;
};

}  // namespace countersign::store
