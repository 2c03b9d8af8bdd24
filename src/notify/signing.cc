#include "notify/signing.h"

#include <charconv>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/hash.h"

namespace countersign::notify {

std::string hmac_sha256_hex(std::string_view key, std::string_view message) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest, &length);
  return to_hex(std::string_view(reinterpret_cast<const char*>(digest), length));
}

std::string slack_signature(std::string_view signing_secret, std::string_view timestamp,
                            std::string_view body) {
  std::string base;
  base.reserve(body.size() + timestamp.size() + 4);
  base.append("v0:").append(timestamp).append(":").append(body);
  return "v0=" + hmac_sha256_hex(signing_secret, base);
}

Result<void> verify_slack_request(std::string_view signing_secret, std::string_view timestamp,
                                  std::string_view signature, std::string_view body, Millis now,
                                  Millis tolerance) {
  if (timestamp.empty() || signature.empty())
    return fail(ErrorCode::unauthenticated,
                "missing X-Slack-Request-Timestamp or X-Slack-Signature");
  std::int64_t seconds = 0;
  auto [end, error] =
      std::from_chars(timestamp.data(), timestamp.data() + timestamp.size(), seconds);
  if (error != std::errc() || end != timestamp.data() + timestamp.size() || seconds < 0 ||
      seconds > 32'503'680'000)  // year 3000
    return fail(ErrorCode::unauthenticated, "malformed X-Slack-Request-Timestamp");
  const Millis skew = now - seconds * 1000;
  if (skew > tolerance || skew < -tolerance)
    return fail(ErrorCode::unauthenticated,
                "stale X-Slack-Request-Timestamp: the request is older than five minutes (or "
                "from the future)");
  if (!signature.starts_with("v0="))
    return fail(ErrorCode::unauthenticated, "unsupported X-Slack-Signature version");
  if (!constant_time_equal(slack_signature(signing_secret, timestamp, body), signature))
    return fail(ErrorCode::unauthenticated, "X-Slack-Signature does not match the request");
  return {};
}

std::string webhook_signature(std::string_view secret, std::string_view timestamp,
                              std::string_view body) {
  std::string base;
  base.reserve(body.size() + timestamp.size() + 4);
  base.append("v1:").append(timestamp).append(":").append(body);
  return "v1=" + hmac_sha256_hex(secret, base);
}

bool ReplayCache::first_time(const std::string& key, Millis now) {
  std::lock_guard lock(mutex_);
  while (!order_.empty() && order_.front().first <= now - window_) {
    seen_.erase(order_.front().second);
    order_.pop_front();
  }
  if (seen_.contains(key)) return false;
  if (seen_.size() >= capacity_) return false;
  seen_.insert(key);
  order_.emplace_back(now, key);
  return true;
}

}  // namespace countersign::notify
