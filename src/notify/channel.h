// A delivery channel: turns one outbox message into requests to Slack,
// Teams, a webhook receiver, ... Channels run on the worker's threads and
// talk to the outside only through the HttpClient they are given; they
// never touch the gateway (results go back through the store).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "notify/http_client.h"
#include "store/store.h"

namespace countersign::notify {

struct Delivery {
  enum class Kind { delivered, retry, dead };
  Kind kind = Kind::delivered;
  Millis retry_after = 0;  // the server asked us to wait this long (429 Retry-After)
  std::string error;       // why it failed, for the outbox row (no secrets)
  std::optional<std::string> stream_state;  // remembered for the stream's later messages

  static Delivery done(std::optional<std::string> state = std::nullopt) {
    return {Kind::delivered, 0, {}, std::move(state)};
  }
  static Delivery retry(std::string why, Millis after = 0) {
    return {Kind::retry, after, std::move(why), std::nullopt};
  }
  static Delivery dead(std::string why) { return {Kind::dead, 0, std::move(why), std::nullopt}; }
};

class Channel {
 public:
  virtual ~Channel() = default;
  virtual std::string_view name() const = 0;  // the outbox channel it delivers
  virtual Delivery deliver(const store::OutboxMessage& message, HttpClient& http, Millis now) = 0;
};

// Reads a Retry-After header value (delta-seconds) as milliseconds; 0 when absent or malformed.
Millis retry_after_millis(const HttpResponse& response);

// The usual reading of a plain HTTP status: 2xx delivered; 408, 425, 429
// and 5xx retried (honouring Retry-After); other 4xx dead.
Delivery classify_status(const HttpResponse& response);

}  // namespace countersign::notify
