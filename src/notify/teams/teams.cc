#include "notify/teams/teams.h"

#include <fmt/format.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "notify/render.h"

namespace countersign::notify::teams {
namespace {

namespace json = boost::json;

json::object text_block(std::string text, std::string_view weight = "",
                        std::string_view size = "") {
  json::object out = {{"type", "TextBlock"}, {"text", std::move(text)}, {"wrap", true}};
  if (!weight.empty()) out["weight"] = weight;
  if (!size.empty()) out["size"] = size;
  return out;
}

json::object fact(std::string title, std::string value) {
  return {{"title", std::move(title)},
          {"value", value.empty() ? std::string("—") : std::move(value)}};
}

// Adaptive Card TextBlocks render a Markdown subset: keep caller text literal.
std::string literal(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '*' || c == '_' || c == '[' || c == ']' || c == '`' || c == '\\' || c == '#' ||
        c == '<' || c == '>')
      out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

}  // namespace

json::object review_card(const review::Review& review, const json::array& changes,
                         const std::string& url, Millis now) {
  json::array body;
  body.push_back(text_block(fmt::format("{}: {} on {}", state_label(review.state),
                                        literal(review.action.verb), literal(review.action.target)),
                            "Bolder", "Medium"));
  json::array facts;
  facts.push_back(fact("Requester", literal(requester_text(review))));
  facts.push_back(fact("Target", literal(review.action.target)));
  facts.push_back(fact("Verb", literal(review.action.verb)));
  std::string rules;
  for (const auto& rule : review.rules) rules += (rules.empty() ? "" : ", ") + rule;
  facts.push_back(fact("Policy rule", literal(rules)));
  facts.push_back(fact("Why review", literal(review.policy_reason)));
  if (review.action.reason)
    facts.push_back(fact("Requester's reason", literal(*review.action.reason)));
  facts.push_back(fact("Progress", literal(progress_text(review))));
  if (auto left = time_left_text(review, now); !left.empty())
    facts.push_back(fact("Time left", left));
  if (!review.outcome_reason.empty())
    facts.push_back(fact("Outcome", literal(review.outcome_reason)));
  facts.push_back(fact("Review", review.id));
  body.push_back({{"type", "FactSet"}, {"facts", std::move(facts)}});
  body.push_back(text_block("Parameters (masked)", "Bolder"));
  body.push_back({{"type", "TextBlock"},
                  {"text", params_text(review, 2000)},
                  {"wrap", true},
                  {"fontType", "Monospace"}});
  std::string history;
  for (const auto& change : changes)
    if (change.is_object())
      history += (history.empty() ? "" : "\n\n") + literal(change_text(change.get_object()));
  if (!history.empty()) body.push_back(text_block(history, "", "Small"));
  json::array actions;
  actions.push_back(
      {{"type", "Action.OpenUrl"},
       {"title", review.state == review::ReviewState::pending ? "Open to decide" : "Open review"},
       {"url", url}});
  return {{"$schema", "http://adaptivecards.io/schemas/adaptive-card.json"},
          {"type", "AdaptiveCard"},
          {"version", "1.5"},
          {"fallbackText", fmt::format("{}: {} on {} ({})", state_label(review.state),
                                       review.action.verb, review.action.target, url)},
          {"body", std::move(body)},
          {"actions", std::move(actions)}};
}

json::object card_message(json::object card) {
  json::array attachments;
  attachments.push_back({{"contentType", "application/vnd.microsoft.card.adaptive"},
                         {"contentUrl", nullptr},
                         {"content", std::move(card)}});
  return {{"type", "message"}, {"attachments", std::move(attachments)}};
}

Delivery TeamsChannel::deliver(const store::OutboxMessage& message, HttpClient& http, Millis now) {
  boost::system::error_code error;
  json::value parsed = json::parse(message.payload, error);
  if (error || !parsed.is_object()) return Delivery::dead("malformed outbox payload");
  const json::object& payload = parsed.get_object();
  const json::value* review_json = payload.if_contains("review");
  if (review_json == nullptr) return Delivery::dead("outbox payload without a review");
  auto review = review::review_from_json(*review_json);
  if (!review) return Delivery::dead("outbox payload: " + review.error().message);
  json::array changes;
  if (const json::value* list = payload.if_contains("changes"); list && list->is_array())
    changes = list->get_array();
  std::string url;
  if (const json::value* value = payload.if_contains("url"); value && value->is_string())
    url = std::string(value->get_string());
  HttpRequest request;
  request.url = webhook_url_;
  request.headers = {{"Content-Type", "application/json"}};
  request.body = json::serialize(card_message(review_card(*review, changes, url, now)));
  auto response = http.send(request);
  if (!response) return Delivery::retry(response.error().message);
  return classify_status(*response);
}

}  // namespace countersign::notify::teams
