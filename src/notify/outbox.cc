#include "notify/outbox.h"

#include <algorithm>
#include <random>

#include <fmt/format.h>
#include <boost/json/serialize.hpp>

namespace countersign::notify {
namespace {

namespace json = boost::json;

store::OutboxMessage message(std::string_view channel, std::string stream, std::string key,
                             const review::Review& review, const json::object& payload,
                             Millis now) {
  store::OutboxMessage out;
  out.channel = std::string(channel);
  out.stream = std::move(stream);
  out.key = std::move(key);
  out.review_id = review.id;
  out.payload = json::serialize(payload);
  out.created_at = now;
  out.next_attempt_at = now;
  return out;
}

// The human to tell about the outcome: the one an agent acts for, or the
// requester itself when human.
std::vector<std::string> requester_humans(const review::Review& review) {
  const Identity& actor = review.action.actor;
  if (actor.on_behalf_of) return {*actor.on_behalf_of};
  if (actor.kind == IdentityKind::human) return {actor.subject};
  return {};
}

bool tells_requester(std::string_view type) {
  return type == "review.approved" || type == "review.rejected" || type == "review.expired" ||
         type == "review.escalated" || type == "review.failed";
}

}  // namespace

bool is_review_event(std::string_view type) {
  return type.starts_with("review.") || type == "grant.issued";
}

std::vector<std::string> slack_destinations(const config::SlackChannelConfig& slack,
                                            const review::Review& review) {
  for (const auto& route : slack.routes) {
    bool rule_ok = route.rule.empty() || std::find(review.rules.begin(), review.rules.end(),
                                                   route.rule) != review.rules.end();
    bool target_ok = route.target.empty() || route.target == review.action.target;
    if (rule_ok && target_ok) return {route.channel};
  }
  if (!slack.channel.empty()) return {slack.channel};
  return {};
}

bool webhook_wants(const config::WebhookConfig& webhook, std::string_view event_type) {
  if (webhook.events.empty()) return true;
  for (const auto& wanted : webhook.events)
    if (wanted == "*" || wanted == event_type) return true;
  return false;
}

json::object change_json(const audit::AuditEvent& event) {
  return {{"type", event.type},
          {"actor", event.actor},
          {"time", format_time(event.time)},
          {"details", event.details}};
}

std::vector<store::OutboxMessage> plan_notifications(const config::ChannelsConfig& channels,
                                                     const std::string& public_url,
                                                     const review::Review& review,
                                                     const std::vector<audit::AuditEvent>& events,
                                                     Millis now) {
  std::vector<store::OutboxMessage> out;
  json::array changes;
  bool created = false;
  bool tell_requester = false;
  for (const auto& event : events) {
    if (!is_review_event(event.type)) continue;
    created = created || event.type == "review.created";
    tell_requester = tell_requester || tells_requester(event.type);
    changes.push_back(change_json(event));
  }
  if (changes.empty()) return out;
  const json::object review_json = review::to_json(review);
  const std::string url = public_url + "/ui/reviews/" + review.id;  // the web UI page
  const std::string version = std::to_string(review.version);

  if (channels.slack) {
    for (const auto& channel : slack_destinations(*channels.slack, review)) {
      std::string stream = fmt::format("slack:{}:{}", review.id, channel);
      json::object payload = {
          {"channel", channel}, {"review", review_json}, {"changes", changes}, {"url", url}};
      if (created) {
        payload["kind"] = "post";
        out.push_back(
            message(kSlack, stream, stream + ":v" + version + ":post", review, payload, now));
      } else {
        payload["kind"] = "update";
        out.push_back(
            message(kSlack, stream, stream + ":v" + version + ":update", review, payload, now));
        payload["kind"] = "reply";
        out.push_back(
            message(kSlack, stream, stream + ":v" + version + ":reply", review, payload, now));
      }
    }
    if (channels.slack->notify_requester && tell_requester) {
      json::array subjects;
      for (const auto& subject : requester_humans(review)) subjects.emplace_back(subject);
      if (!subjects.empty()) {
        std::string stream = "slack-dm:" + review.id;
        json::object payload = {{"kind", "requester"},
                                {"subjects", std::move(subjects)},
                                {"review", review_json},
                                {"changes", changes},
                                {"url", url}};
        out.push_back(message(kSlack, stream, stream + ":v" + version, review, payload, now));
      }
    }
  }
  if (channels.teams) {
    std::string stream = "teams:" + review.id;
    json::object payload = {
        {"kind", "card"}, {"review", review_json}, {"changes", changes}, {"url", url}};
    out.push_back(message(kTeams, stream, stream + ":v" + version, review, payload, now));
  }
  for (std::size_t i = 0; i < channels.webhooks.size(); ++i) {
    std::string stream = fmt::format("webhook:{}:{}", i, review.id);
    std::size_t position = 0;
    for (const auto& event : events) {
      if (!is_review_event(event.type)) continue;
      ++position;
      if (!webhook_wants(channels.webhooks[i], event.type)) continue;
      std::string key = fmt::format("{}:v{}:{}", stream, version, position);
      // The body the receiver gets, fixed now; only the signature's
      // timestamp is added at delivery.
      json::object body = {{"id", key},
                           {"type", event.type},
                           {"time", format_time(event.time)},
                           {"actor", event.actor},
                           {"details", event.details},
                           {"review", review_json},
                           {"url", url}};
      if (event.index >= 0) body["audit_index"] = event.index;
      json::object payload = {
          {"kind", "event"}, {"webhook", channels.webhooks[i].url}, {"body", std::move(body)}};
      out.push_back(message(kWebhook, stream, std::move(key), review, payload, now));
    }
  }
  return out;
}

Millis next_attempt_at(int attempts, Millis retry_after, Millis now) {
  constexpr Millis kBase = 1'000;
  constexpr Millis kCap = 300'000;
  int shift = std::clamp(attempts - 1, 0, 20);
  Millis delay = std::min<Millis>(kBase << shift, kCap);
  thread_local std::minstd_rand random{std::random_device{}()};
  delay += static_cast<Millis>(random() % static_cast<unsigned>(delay / 5 + 1));
  return now + std::max(delay, retry_after);
}

}  // namespace countersign::notify
