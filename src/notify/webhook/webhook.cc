#include "notify/webhook/webhook.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "notify/signing.h"

namespace countersign::notify::webhook {

namespace json = boost::json;

HttpRequest signed_request(const Endpoint& endpoint, const std::string& body,
                           const std::string& event_type, const std::string& delivery_id,
                           Millis now) {
  const std::string timestamp = std::to_string(now / 1000);
  HttpRequest request;
  request.url = endpoint.url;
  request.body = body;
  request.headers = {
      {"Content-Type", "application/json"},
      {"X-Countersign-Event", event_type},
      {"X-Countersign-Delivery", delivery_id},
      {"X-Countersign-Timestamp", timestamp},
      {"X-Countersign-Signature", webhook_signature(endpoint.secret, timestamp, body)}};
  return request;
}

Delivery WebhookChannel::deliver(const store::OutboxMessage& message, HttpClient& http,
                                 Millis now) {
  boost::system::error_code error;
  json::value parsed = json::parse(message.payload, error);
  if (error || !parsed.is_object()) return Delivery::dead("malformed outbox payload");
  const json::object& payload = parsed.get_object();
  const json::value* url = payload.if_contains("webhook");
  const json::value* body = payload.if_contains("body");
  if (!url || !url->is_string() || !body || !body->is_object())
    return Delivery::dead("malformed webhook payload");
  const Endpoint* endpoint = nullptr;
  for (const auto& candidate : endpoints_)
    if (candidate.url == url->get_string()) endpoint = &candidate;
  if (endpoint == nullptr) return Delivery::dead("the webhook is no longer configured");
  std::string type;
  if (const json::value* value = body->get_object().if_contains("type");
      value && value->is_string())
    type = std::string(value->get_string());
  auto response =
      http.send(signed_request(*endpoint, json::serialize(*body), type, message.key, now));
  if (!response) return Delivery::retry(response.error().message);
  return classify_status(*response);
}

}  // namespace countersign::notify::webhook
