// Audit events: the record of every decision and state change. Events are
// hashed in their JCS canonical form and chained: each event's hash covers
// the previous one, so a change, removal or reordering breaks the chain.
// Details are masked before they get here; raw values never enter the log.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "audit/merkle.h"
#include "core/clock.h"
#include "core/error.h"

namespace countersign::audit {

struct AuditEvent {
  std::int64_t index = -1;  // position in the log, assigned on append (0-based)
  Millis time = 0;
  std::string type;                   // "action.decided", "review.approved", ...
  std::string actor;                  // subject that caused it, or "system"
  std::string action_digest;          // empty when not about an action
  std::string review_id;              // empty when not about a review
  boost::json::object details;        // masked
  std::vector<std::string> controls;  // SOC 2 control ids, e.g. "CC6.1"
  std::string previous_hash;          // chain hash of the event before (64 zeros for the first)
  std::string hash;                   // chain hash of this event
};

// The SOC 2 controls an event type evidences: see audit/soc2.h.
std::vector<std::string> controls_for(std::string_view event_type);

// The canonical body that is hashed: every field except the two chain hashes.
boost::json::object event_body(const AuditEvent& event);
boost::json::object to_json(const AuditEvent& event);  // body + hashes
// JCS(event_body(event)): exactly the bytes the leaf hash covers.
Result<std::string> canonical_body(const AuditEvent& event);
Result<AuditEvent> event_from_json(const boost::json::value& json);

// RFC 6962 leaf hash of the canonical body: SHA-256(0x00 || JCS(body)), hex.
Result<std::string> leaf_hash(const AuditEvent& event);
// SHA-256(previous_hash_bytes || leaf_hash_bytes), hex.
std::string chain_hash(const std::string& previous_hash_hex, const std::string& leaf_hash_hex);

inline const std::string kGenesisHash(64, '0');

// Fills index, previous_hash and hash for events appended after `previous`.
Result<void> seal(std::vector<AuditEvent>& events, std::int64_t next_index,
                  std::string previous_hash);

// A sealed event with what the store writes for it: the canonical body
// (exactly the bytes the leaf hash covers) and the raw leaf hash.
struct SealedEvent {
  AuditEvent event;
  std::string body;
  Hash leaf{};
};
// Like seal, without touching `events`; canonicalizes each body once.
Result<std::vector<SealedEvent>> seal_events(const std::vector<AuditEvent>& events,
                                             std::int64_t next_index, std::string previous_hash);
// The chain hash over raw digests: SHA-256(previous || leaf).
Hash chain_hash_bytes(const Hash& previous, const Hash& leaf);

}  // namespace countersign::audit
