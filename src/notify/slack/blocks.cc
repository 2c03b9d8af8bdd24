#include "notify/slack/blocks.h"

#include <fmt/format.h>
#include <boost/json/serialize.hpp>

#include "notify/render.h"

namespace countersign::notify::slack {
namespace {

namespace json = boost::json;

constexpr std::size_t kSectionLimit = 2900;  // Slack caps section text at 3000 characters

json::object mrkdwn(std::string text) { return {{"type", "mrkdwn"}, {"text", std::move(text)}}; }
json::object plain(std::string text) {
  return {{"type", "plain_text"}, {"text", std::move(text)}, {"emoji", true}};
}
json::object section(std::string text) {
  if (text.size() > kSectionLimit) text = text.substr(0, kSectionLimit) + "…";
  return {{"type", "section"}, {"text", mrkdwn(std::move(text))}};
}
json::object field(std::string_view label, std::string_view value) {
  return mrkdwn(fmt::format("*{}*\n{}", label, value.empty() ? "—" : value));
}
json::object button(std::string_view text, std::string_view action, const std::string& review_id,
                    std::string_view style) {
  json::object out = {{"type", "button"},
                      {"text", plain(std::string(text))},
                      {"action_id", action},
                      {"value", review_id}};
  if (!style.empty()) out["style"] = style;
  return out;
}

std::string title(const review::Review& review) {
  return fmt::format("{}: {} on {}", state_label(review.state), review.action.verb,
                     review.action.target);
}

std::string rules_text(const review::Review& review) {
  std::string out;
  for (const auto& rule : review.rules) out += (out.empty() ? "" : ", ") + rule;
  return out;
}

}  // namespace

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

json::object review_message(const review::Review& review, const std::string& url, Millis now) {
  json::array blocks;
  blocks.push_back({{"type", "header"}, {"text", plain(title(review).substr(0, 150))}});
  json::array fields;
  fields.push_back(field("Requester", escape(requester_text(review))));
  fields.push_back(field("Target", escape(review.action.target)));
  fields.push_back(field("Verb", "`" + escape(review.action.verb) + "`"));
  fields.push_back(field("Policy rule", escape(rules_text(review))));
  fields.push_back(field("Progress", escape(progress_text(review))));
  std::string left = time_left_text(review, now);
  fields.push_back(field(left.empty() ? "State" : "Time left",
                         left.empty() ? std::string(review::state_name(review.state)) : left));
  blocks.push_back({{"type", "section"}, {"fields", std::move(fields)}});
  std::string why = "*Why review:* " + escape(review.policy_reason);
  if (review.action.reason) why += "\n*Requester's reason:* " + escape(*review.action.reason);
  blocks.push_back(section(std::move(why)));
  blocks.push_back(section("*Parameters (masked)*\n```" +
                           escape(params_text(review, kSectionLimit - 100)) + "```"));
  if (!review.votes.empty()) {
    std::string votes = "*Votes*";
    for (const auto& vote : review.votes)
      votes += fmt::format("\n• {} {} (step {}){}", escape(vote.approver),
                           vote.approve ? "approved" : "rejected", vote.step + 1,
                           vote.reason.empty() ? "" : ": " + escape(vote.reason));
    blocks.push_back(section(std::move(votes)));
  }
  if (review.state == review::ReviewState::pending) {
    json::array elements;
    elements.push_back(button("Approve", kApproveAction, review.id, "primary"));
    elements.push_back(button("Reject", kRejectAction, review.id, "danger"));
    const auto& steps = review.flow.steps;
    if (review.step < static_cast<int>(steps.size()) &&
        !steps[static_cast<std::size_t>(review.step)].escalate_to.empty() && !review.escalated)
      elements.push_back(button("Escalate", kEscalateAction, review.id, ""));
    blocks.push_back({{"type", "actions"},
                      {"block_id", "countersign_actions"},
                      {"elements", std::move(elements)}});
  } else if (!review.outcome_reason.empty()) {
    blocks.push_back(section("*Outcome:* " + escape(review.outcome_reason)));
  }
  json::array context;
  context.push_back(mrkdwn(fmt::format("Review `{}` · <{}|open> · digest `{}`", escape(review.id),
                                       escape(url), escape(review.action.digest.substr(0, 12)))));
  blocks.push_back({{"type", "context"}, {"elements", std::move(context)}});
  std::string text = fmt::format("{} — {} wants {} on {}", state_label(review.state),
                                 requester_text(review), review.action.verb, review.action.target);
  return {{"text", escape(text)}, {"blocks", std::move(blocks)}};
}

json::object thread_reply(const review::Review& review, const json::array& changes) {
  std::string text;
  for (const auto& change : changes)
    if (change.is_object())
      text += (text.empty() ? "" : "\n") + escape(change_text(change.get_object()));
  text += fmt::format("\n_Now: {} — {}_", state_label(review.state), escape(progress_text(review)));
  return {{"text", text}};
}

json::object requester_message(const review::Review& review, const json::array& changes,
                               const std::string& url) {
  std::string text = fmt::format("Your request `{}` on *{}*: {}", escape(review.action.verb),
                                 escape(review.action.target), state_label(review.state));
  for (const auto& change : changes)
    if (change.is_object()) text += "\n• " + escape(change_text(change.get_object()));
  text += fmt::format("\n<{}|Review {}>", escape(url), escape(review.id));
  return {{"text", text}};
}

json::object reason_modal(const review::Review& review, bool approve,
                          const std::string& channel_id) {
  json::object metadata = {{"review", review.id}, {"channel", channel_id}};
  json::object input = {{"type", "plain_text_input"},
                        {"action_id", kReasonInput},
                        {"multiline", true},
                        {"min_length", 1},
                        {"max_length", 2000}};
  json::array blocks;
  blocks.push_back(section(fmt::format(
      "{} `{}` on *{}* requested by {}", approve ? "Approve" : "Reject", escape(review.action.verb),
      escape(review.action.target), escape(requester_text(review)))));
  blocks.push_back({{"type", "input"},
                    {"block_id", kReasonBlock},
                    {"label", plain(approve ? "Why do you approve?" : "Why do you reject?")},
                    {"element", std::move(input)}});
  return {{"type", "modal"},
          {"callback_id", approve ? kApproveModal : kRejectModal},
          {"private_metadata", json::serialize(metadata)},
          {"title", plain(approve ? "Approve request" : "Reject request")},
          {"submit", plain(approve ? "Approve" : "Reject")},
          {"close", plain("Cancel")},
          {"blocks", std::move(blocks)}};
}

}  // namespace countersign::notify::slack
