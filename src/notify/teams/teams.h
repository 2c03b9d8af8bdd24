// Microsoft Teams through a Workflows webhook ("When a Teams webhook
// request is received" -> post card): the message is
//   {"type": "message", "attachments": [{"contentType":
//    "application/vnd.microsoft.card.adaptive", "contentUrl": null,
//    "content": <Adaptive Card 1.5>}]}
// and a Workflows webhook answers 202 Accepted. Cards cannot be edited
// through a webhook, so every change posts the card again, current state
// first. Deciding happens on the review's page ("Open to decide").
#pragma once

#include <string>

#include <boost/json/object.hpp>

#include "notify/channel.h"
#include "review/review.h"

namespace countersign::notify::teams {

// The Adaptive Card (schema 1.5) for a review and the changes that led here.
boost::json::object review_card(const review::Review& review, const boost::json::array& changes,
                                const std::string& url, Millis now);

// The webhook body wrapping a card.
boost::json::object card_message(boost::json::object card);

class TeamsChannel final : public Channel {
 public:
  explicit TeamsChannel(std::string webhook_url) : webhook_url_(std::move(webhook_url)) {}
  std::string_view name() const override { return "teams"; }
  Delivery deliver(const store::OutboxMessage& message, HttpClient& http, Millis now) override;

 private:
  std::string webhook_url_;
};

}  // namespace countersign::notify::teams
