// Slack's Web API over the worker's HttpClient (https://api.slack.com/web):
// chat.postMessage, chat.update, chat.postEphemeral, views.open, users.info,
// users.lookupByEmail. Calls authenticate with "Authorization: Bearer
// <bot token>"; replies are {"ok": true, ...} or {"ok": false, "error": "..."},
// and rate limits are HTTP 429 with Retry-After.
//
// IdentityLinker maps a Slack user to a countersign identity only through a
// verified link: an explicit mapping in config, or the e-mail address Slack
// itself reports for the user (users.info) matched against the identity
// directory. What a payload says about a user (name, username) is never used.
//
// SlackChannel delivers the outbox's Slack messages.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/json/object.hpp>

#include "config/channels.h"
#include "core/clock.h"
#include "core/identity.h"
#include "identity/api_keys.h"
#include "notify/channel.h"
#include "notify/http_client.h"

namespace countersign::notify::slack {

struct Reply {
  bool reached = false;  // an HTTP exchange happened
  unsigned status = 0;
  bool ok = false;    // Slack's "ok"
  std::string error;  // Slack's "error", or the transport error
  Millis retry_after = 0;
  boost::json::object body;
};

class WebApi {
 public:
  WebApi(std::string base_url, std::string bot_token)
      : base_url_(std::move(base_url)), token_(std::move(bot_token)) {}

  // POST a JSON body (write methods).
  Reply call(HttpClient& http, std::string_view method, const boost::json::object& args) const;
  // POST form fields (read methods such as users.info).
  Reply call_form(HttpClient& http, std::string_view method,
                  const std::vector<std::pair<std::string, std::string>>& fields) const;

  // How a reply ends a delivery: ok -> delivered; 429/5xx/transport and
  // temporary Slack errors -> retry; errors about the message or channel -> dead.
  static Delivery to_delivery(const Reply& reply, std::optional<std::string> state = std::nullopt);

 private:
  Reply finish(const Result<HttpResponse>& response) const;
  std::string base_url_;
  std::string token_;
};

class IdentityLinker {
 public:
  IdentityLinker(const config::SlackChannelConfig& config, std::vector<identity::ApiKey> keys,
                 WebApi api, const Clock& clock);

  // Without network: the explicit mapping, or a cached lookup. nullopt means
  // resolve() must ask Slack. Thread-safe.
  std::optional<Result<Identity>> known(const std::string& user_id);
  // Asks users.info and matches the e-mail (blocking: worker threads only).
  Result<Identity> resolve(const std::string& user_id, HttpClient& http);
  // The Slack user to message for an identity subject: the explicit
  // mapping, else users.lookupByEmail with the identity's e-mail.
  Result<std::string> slack_user_for(const std::string& subject, HttpClient& http);

  // The one human identity with this e-mail (case-insensitive), if exactly one.
  std::optional<Identity> identity_by_email(std::string_view email) const;

 private:
  config::SlackChannelConfig config_;
  std::vector<identity::ApiKey> keys_;
  identity::ApiKeyDirectory directory_;
  WebApi api_;
  const Clock& clock_;
  std::mutex mutex_;
  std::map<std::string, std::pair<Millis, Result<Identity>>> cache_;  // user -> (expires, result)
};

class SlackChannel final : public Channel {
 public:
  SlackChannel(WebApi api, std::shared_ptr<IdentityLinker> linker)
      : api_(std::move(api)), linker_(std::move(linker)) {}
  std::string_view name() const override { return "slack"; }
  Delivery deliver(const store::OutboxMessage& message, HttpClient& http, Millis now) override;

 private:
  WebApi api_;
  std::shared_ptr<IdentityLinker> linker_;
};

}  // namespace countersign::notify::slack
