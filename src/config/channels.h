// The `channels:` section: where reviews are announced and decided outside
// the API. Parsed here so mistakes are load errors with file:line; delivery
// lives in src/notify, the Slack interactivity endpoint in src/server.
//
//   channels:
//     slack:
//       bot_token: env:SLACK_BOT_TOKEN
//       signing_secret: env:SLACK_SIGNING_SECRET
//       channel: C0123456789            # default channel for every review
//       routes:                         # first match wins; else `channel`
//         - {rule: prod-writes, channel: C0DBA000001}
//         - {target: production, channel: C0SRE000001}
//       users: {U0ALICE0001: alice@example.com}   # explicit Slack user -> subject
//       link_by_email: true             # users.info email -> identity with that email
//     teams:
//       webhook_url: env:TEAMS_WEBHOOK_URL
//     webhooks:
//       - url: https://hooks.example.com/countersign
//         secret: env:HOOK_SECRET
//         events: [review.created, review.approved, review.rejected]
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/config.h"

namespace countersign::config {

class Reader;

struct SlackRoute {
  std::string rule;     // policy rule id (empty = any)
  std::string target;   // target name (empty = any)
  std::string channel;  // Slack channel id (or name)
};

struct SlackChannelConfig {
  SecretRef bot_token;
  SecretRef signing_secret;
  std::string api_base_url = "https://slack.com/api";  // no trailing slash
  std::string channel;                                 // default destination
  std::vector<SlackRoute> routes;
  std::map<std::string, std::string> users;  // Slack user id -> identity subject
  bool link_by_email = true;
  bool notify_requester = true;        // DM the human behind a request on every outcome
  Millis request_tolerance = 300'000;  // X-Slack-Request-Timestamp may be this old
};

struct TeamsChannelConfig {
  SecretRef webhook_url;  // a Workflows webhook URL carries its own signature: a secret
};

struct WebhookConfig {
  std::string url;
  SecretRef secret;
  std::vector<std::string> events;  // empty = every review event
};

struct ChannelsConfig {
  std::optional<SlackChannelConfig> slack;
  std::optional<TeamsChannelConfig> teams;
  std::vector<WebhookConfig> webhooks;
  Millis max_delivery_age = 86'400'000;  // give a notification up after a day of retries
};

ChannelsConfig read_channels(const Reader& reader, const YAML::Node& node, const Config& config);

}  // namespace countersign::config
