// Request signatures for chat channels and webhooks: Slack's v0 scheme
// (verify what Slack sends us) and countersign's own webhook scheme (sign
// what we send). HMAC-SHA256 via OpenSSL; comparisons are constant-time.
// Nothing here reads a clock: callers pass `now`.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>

#include "core/clock.h"
#include "core/error.h"

namespace countersign::notify {

// Lowercase hex HMAC-SHA256(key, message).
std::string hmac_sha256_hex(std::string_view key, std::string_view message);

// Slack's v0 signature: "v0=" + hex(HMAC-SHA256(secret, "v0:" + timestamp + ":" + body)).
std::string slack_signature(std::string_view signing_secret, std::string_view timestamp,
                            std::string_view body);

// Verifies X-Slack-Request-Timestamp / X-Slack-Signature against the raw
// body: the timestamp must be decimal seconds within `tolerance` of `now`
// (either way) and the signature must match. Errors say which check failed
// (unauthenticated), never the expected signature.
Result<void> verify_slack_request(std::string_view signing_secret, std::string_view timestamp,
                                  std::string_view signature, std::string_view body, Millis now,
                                  Millis tolerance = 300'000);

// countersign's webhook signature, modelled on Slack's:
// "v1=" + hex(HMAC-SHA256(secret, "v1:" + timestamp + ":" + body)), sent as
// X-Countersign-Signature with the timestamp (decimal seconds) in
// X-Countersign-Timestamp.
std::string webhook_signature(std::string_view secret, std::string_view timestamp,
                              std::string_view body);

// Remembers signatures seen within a window, so a captured request cannot be
// replayed while its timestamp is still fresh. Thread-safe. Entries older
// than the window are forgotten (their timestamps fail the freshness check
// anyway).
class ReplayCache {
 public:
  explicit ReplayCache(Millis window = 300'000, std::size_t capacity = 100'000)
      : window_(window), capacity_(capacity) {}

  // Records `key` seen at `now`. False if it was already seen in the window
  // (or the cache is full of fresh entries: refusing is the safe side).
  bool first_time(const std::string& key, Millis now);

 private:
  Millis window_;
  std::size_t capacity_;
  std::mutex mutex_;
  std::deque<std::pair<Millis, std::string>> order_;
  std::unordered_set<std::string> seen_;
};

}  // namespace countersign::notify
