// The notification outbox: what to announce for a review change, and when
// to try a failed delivery again. Planning runs inside the store's
// transaction (store::OutboxPlanner), so a change and its notifications
// commit together; delivery is the worker's job (worker.h).
//
// Streams and idempotency keys:
//   slack:<review>:<channel>     review message: post, then update + thread reply
//   slack-dm:<review>            the requester's direct messages
//   teams:<review>               one Adaptive Card per change
//   webhook:<n>:<review>         one signed JSON event per review event
// Keys end in the review version (and event position), so planning the same
// change twice stores it once.
#pragma once

#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "audit/event.h"
#include "config/channels.h"
#include "review/review.h"
#include "store/store.h"

namespace countersign::notify {

// Outbox channel names (store::OutboxMessage::channel).
inline constexpr std::string_view kSlack = "slack";
inline constexpr std::string_view kTeams = "teams";
inline constexpr std::string_view kWebhook = "webhook";

// Events that describe a review change (what webhooks and threads report).
bool is_review_event(std::string_view type);

// The Slack channels a review is posted to: the first matching route, else
// the default channel.
std::vector<std::string> slack_destinations(const config::SlackChannelConfig& slack,
                                            const review::Review& review);

// Whether a webhook subscribed to an event type.
bool webhook_wants(const config::WebhookConfig& webhook, std::string_view event_type);

// The messages to enqueue for one committed review change. `review` is the
// state being committed (version included); `events` are its audit events.
std::vector<store::OutboxMessage> plan_notifications(const config::ChannelsConfig& channels,
                                                     const std::string& public_url,
                                                     const review::Review& review,
                                                     const std::vector<audit::AuditEvent>& events,
                                                     Millis now);

// The review-facing part of an audit event (type, actor, time, details).
boost::json::object change_json(const audit::AuditEvent& event);

// When to try again after `attempts` failed attempts (1 after the first):
// exponential from 1 s, capped at 5 min, with up to 20% jitter; never
// earlier than a server's Retry-After.
Millis next_attempt_at(int attempts, Millis retry_after, Millis now);

}  // namespace countersign::notify
