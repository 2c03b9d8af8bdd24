// The audit log's Merkle side over HTTP and for the CLI: checkpoint issuing
// (every N events or T ms, signed with the configured key), and the
// /v1/audit/checkpoint, /v1/audit/proof and /v1/audit/consistency answers.
// No networking library here: the Beast server calls checkpoint_if_due()
// from its sweep timer and Api routes requests to handle_audit_request().
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <boost/json/object.hpp>

#include "audit/log_verifier.h"
#include "audit/note.h"
#include "config/config.h"
#include "core/clock.h"
#include "server/api.h"
#include "store/store.h"

namespace countersign::server {

// The origin line of unsigned checkpoints (signed ones use the key's name).
inline constexpr const char* kUnsignedOrigin = "countersign/audit";

// Loads the signer behind audit.signing_key; nullopt when none is configured.
Result<std::optional<audit::NoteSigner>> load_audit_signer(const config::AuditSettings& settings);

class AuditLog {
 public:
  AuditLog(const config::AuditSettings& settings, store::Store& store, const Clock& clock);

  // Issues a checkpoint when the log has grown by checkpoint_every.events
  // since the last one, or checkpoint_every.interval has passed since it and
  // the log has grown. Returns the new checkpoint, or nullopt when none was due.
  Result<std::optional<store::StoredCheckpoint>> checkpoint_if_due();
  // Issues a checkpoint for the current tree now (nullopt when the log has
  // not grown since the last one, or is empty).
  Result<std::optional<store::StoredCheckpoint>> checkpoint_now();

  const std::optional<audit::NoteSigner>& signer() const { return signer_; }
  std::string origin() const;
  Millis interval() const { return settings_.checkpoint_interval; }

 private:
  Result<std::optional<store::StoredCheckpoint>> issue(bool force);

  config::AuditSettings settings_;
  store::Store& store_;
  const Clock& clock_;
  Millis started_;
  std::optional<audit::NoteSigner> signer_;
  std::optional<std::string> signer_error_;  // reported once
  std::mutex mutex_;
  std::optional<store::StoredCheckpoint> last_;  // cached latest checkpoint
  bool last_loaded_ = false;
};

// An inclusion proof for event `index` in the tree of `size` events, with
// the event, its leaf hash, the root, and the stored checkpoint at that size
// when there is one. Hashes are lowercase hex.
Result<boost::json::object> inclusion_bundle(store::Store& store, std::int64_t index,
                                             std::int64_t size);
// A consistency proof between the trees of `from` and `to` events, with the
// stored checkpoints at those sizes when there are.
Result<boost::json::object> consistency_bundle(store::Store& store, std::int64_t from,
                                               std::int64_t to);

// Full verification of the stored log (audit/log_verifier.h): every event,
// the stored tree, every stored checkpoint and an external one.
Result<audit::VerifyReport> verify_store(store::Store& store, audit::VerifyOptions options);

// GET /v1/audit/{checkpoint,proof,consistency}; `what` is the last segment.
ApiResponse handle_audit_request(const ApiRequest& request, store::Store& store, AuditLog& log,
                                 const std::string& what);

}  // namespace countersign::server
