#include "config/channels.h"

#include <set>

#include <fmt/format.h>

#include "config/yaml_reader.h"

namespace countersign::config {
namespace {

bool is_http_url(const std::string& url) {
  return (url.starts_with("https://") && url.size() > 8) ||
         (url.starts_with("http://") && url.size() > 7);
}

SlackChannelConfig read_slack(const Reader& reader, const YAML::Node& node, const Config& config) {
  reader.expect_keys(node, "channels.slack",
                     {"bot_token", "signing_secret", "api_base_url", "channel", "routes", "users",
                      "link_by_email", "notify_requester", "request_tolerance"});
  SlackChannelConfig slack;
  if (!node["bot_token"] || !node["signing_secret"])
    reader.fail_at(node,
                   "channels.slack needs bot_token and signing_secret (env:NAME or file:PATH)");
  slack.bot_token = reader.secret(node["bot_token"], "channels.slack.bot_token");
  slack.signing_secret = reader.secret(node["signing_secret"], "channels.slack.signing_secret");
  if (node["api_base_url"]) {
    slack.api_base_url = reader.text(node["api_base_url"], "channels.slack.api_base_url");
    if (!is_http_url(slack.api_base_url))
      reader.fail_at(node["api_base_url"], "channels.slack.api_base_url must be an http(s) URL");
    while (slack.api_base_url.ends_with('/')) slack.api_base_url.pop_back();
  }
  if (node["channel"]) slack.channel = reader.text(node["channel"], "channels.slack.channel");
  if (const auto& routes = node["routes"]) {
    if (!routes.IsSequence()) reader.fail_at(routes, "channels.slack.routes must be a list");
    for (const auto& item : routes) {
      reader.expect_keys(item, "a slack route", {"rule", "target", "channel"});
      SlackRoute route;
      if (!item["channel"]) reader.fail_at(item, "a slack route needs a channel");
      route.channel = reader.text(item["channel"], "channel");
      if (item["rule"]) route.rule = reader.text(item["rule"], "rule");
      if (item["target"]) {
        route.target = reader.text(item["target"], "target");
        if (!config.targets.contains(route.target))
          reader.fail_at(item["target"],
                         fmt::format("slack route: unknown target '{}'", route.target));
      }
      slack.routes.push_back(std::move(route));
    }
  }
  if (const auto& users = node["users"]) {
    reader.expect_map(users, "channels.slack.users");
    std::set<std::string> subjects;
    for (const auto& api_key : config.api_keys) subjects.insert(api_key.identity.subject);
    for (const auto& entry : users) {
      std::string user = entry.first.as<std::string>();
      std::string subject = reader.text(entry.second, "slack user mapping");
      if (user.empty() ||
          user.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != std::string::npos)
        reader.fail_at(entry.first,
                       fmt::format("'{}' is not a Slack user id (like U0123ABCD)", user));
      if (!subjects.contains(subject))
        reader.fail_at(entry.second,
                       fmt::format("slack user {}: no identity with subject '{}' under "
                                   "identity.api_keys",
                                   user, subject));
      slack.users[user] = subject;
    }
  }
  if (node["link_by_email"])
    slack.link_by_email = reader.boolean(node["link_by_email"], "channels.slack.link_by_email");
  if (node["notify_requester"])
    slack.notify_requester =
        reader.boolean(node["notify_requester"], "channels.slack.notify_requester");
  if (node["request_tolerance"]) {
    slack.request_tolerance =
        reader.duration(node["request_tolerance"], "channels.slack.request_tolerance");
    if (slack.request_tolerance <= 0 || slack.request_tolerance > 300'000)
      reader.fail_at(node["request_tolerance"],
                     "channels.slack.request_tolerance must be between 1ms and 5m");
  }
  if (slack.channel.empty() && slack.routes.empty())
    reader.fail_at(node, "channels.slack needs a channel (or routes) to post reviews to");
  return slack;
}

}  // namespace

ChannelsConfig read_channels(const Reader& reader, const YAML::Node& node, const Config& config) {
  reader.expect_keys(node, "channels", {"slack", "teams", "webhooks", "max_delivery_age"});
  ChannelsConfig channels;
  if (node["slack"]) channels.slack = read_slack(reader, node["slack"], config);
  if (const auto& teams = node["teams"]) {
    reader.expect_keys(teams, "channels.teams", {"webhook_url"});
    if (!teams["webhook_url"])
      reader.fail_at(teams, "channels.teams needs webhook_url (env:NAME or file:PATH)");
    channels.teams =
        TeamsChannelConfig{reader.secret(teams["webhook_url"], "channels.teams.webhook_url")};
  }
  if (const auto& webhooks = node["webhooks"]) {
    if (!webhooks.IsSequence()) reader.fail_at(webhooks, "channels.webhooks must be a list");
    for (const auto& item : webhooks) {
      reader.expect_keys(item, "a webhook", {"url", "secret", "events"});
      WebhookConfig webhook;
      if (!item["url"] || !item["secret"])
        reader.fail_at(item, "a webhook needs a url and a secret (env:NAME or file:PATH)");
      webhook.url = reader.text(item["url"], "url");
      if (!is_http_url(webhook.url)) reader.fail_at(item["url"], "a webhook url must be http(s)");
      webhook.secret = reader.secret(item["secret"], "webhook secret");
      if (item["events"]) {
        webhook.events = reader.strings(item["events"], "events");
        for (const auto& event : webhook.events)
          if (!event.starts_with("review.") && !event.starts_with("grant.") && event != "*")
            reader.fail_at(item["events"],
                           fmt::format("webhook event '{}' must be a review.* or grant.* event "
                                       "type, or *",
                                       event));
      }
      channels.webhooks.push_back(std::move(webhook));
    }
  }
  if (node["max_delivery_age"])
    channels.max_delivery_age =
        reader.duration(node["max_delivery_age"], "channels.max_delivery_age");
  return channels;
}

}  // namespace countersign::config
