// Generic webhooks: one JSON event per review change, POSTed with
//   Content-Type: application/json
//   X-Countersign-Event: review.approved
//   X-Countersign-Delivery: <idempotency key; the same on every retry>
//   X-Countersign-Timestamp: <unix seconds>
//   X-Countersign-Signature: v1=<hex HMAC-SHA256(secret, "v1:" + timestamp + ":" + body)>
// Receivers verify the signature and the timestamp's freshness, and drop a
// delivery id they have seen. 2xx is delivered; 408/425/429/5xx and
// network errors are retried with backoff; other 4xx give up.
#pragma once

#include <string>
#include <vector>

#include "notify/channel.h"

namespace countersign::notify::webhook {

struct Endpoint {
  std::string url;
  std::string secret;
};

// The request for one event body at `now` (the signature's timestamp).
HttpRequest signed_request(const Endpoint& endpoint, const std::string& body,
                           const std::string& event_type, const std::string& delivery_id,
                           Millis now);

class WebhookChannel final : public Channel {
 public:
  explicit WebhookChannel(std::vector<Endpoint> endpoints) : endpoints_(std::move(endpoints)) {}
  std::string_view name() const override { return "webhook"; }
  Delivery deliver(const store::OutboxMessage& message, HttpClient& http, Millis now) override;

 private:
  std::vector<Endpoint> endpoints_;
};

}  // namespace countersign::notify::webhook
