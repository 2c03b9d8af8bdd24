#include "notify/render.h"

#include <fmt/format.h>
#include <boost/json/serialize.hpp>

namespace countersign::notify {
namespace {

namespace json = boost::json;

std::string text_of(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr) return {};
  if (value->is_string()) return std::string(value->get_string());
  if (value->is_int64()) return std::to_string(value->get_int64());
  return {};
}

void pretty(const json::value& value, std::string& out, int indent) {
  const std::string pad(static_cast<std::size_t>(indent) * 2, ' ');
  switch (value.kind()) {
    case json::kind::object: {
      const auto& object = value.get_object();
      if (object.empty()) {
        out += "{}";
        return;
      }
      out += "{\n";
      bool first = true;
      for (const auto& entry : object) {
        if (!first) out += ",\n";
        first = false;
        out += pad + "  " + json::serialize(json::value(entry.key())) + ": ";
        pretty(entry.value(), out, indent + 1);
      }
      out += "\n" + pad + "}";
      return;
    }
    case json::kind::array: {
      const auto& array = value.get_array();
      if (array.empty()) {
        out += "[]";
        return;
      }
      out += "[\n";
      bool first = true;
      for (const auto& item : array) {
        if (!first) out += ",\n";
        first = false;
        out += pad + "  ";
        pretty(item, out, indent + 1);
      }
      out += "\n" + pad + "]";
      return;
    }
    default:
      out += json::serialize(value);
  }
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

}  // namespace

std::string state_label(review::ReviewState state) {
  switch (state) {
    case review::ReviewState::pending:
      return "⏳ Waiting for approval";
    case review::ReviewState::approved:
      return "✅ Approved";
    case review::ReviewState::rejected:
      return "⛔ Rejected";
    case review::ReviewState::expired:
      return "⌛ Expired";
    case review::ReviewState::cancelled:
      return "🚫 Cancelled";
    case review::ReviewState::executed:
      return "✅ Approved and executed";
    case review::ReviewState::failed:
      return "⚠️ Approved, not executed";
  }
  return "?";
}

std::string progress_text(const review::Review& review) {
  if (review.flow.steps.empty()) return {};
  const int index = std::min<int>(review.step, static_cast<int>(review.flow.steps.size()) - 1);
  const FlowStep& step = review.flow.steps[static_cast<std::size_t>(index)];
  std::string text = fmt::format("step {} of {}: {} of {} approvals from {}", index + 1,
                                 review.flow.steps.size(), review::approvals_at_step(review),
                                 review::approvals_needed(review), join(step.approvers));
  if (review.escalated && !step.escalate_to.empty())
    text += " (escalated to " + join(step.escalate_to) + ")";
  return text;
}

std::string time_left_text(const review::Review& review, Millis now) {
  if (review.state != review::ReviewState::pending) return {};
  if (review.expires_at <= now) return "expired";
  return "expires in " + format_duration(review.expires_at - now);
}

std::string change_text(const json::object& change) {
  const std::string type = text_of(change, "type");
  const std::string actor = text_of(change, "actor");
  json::object details;
  if (const auto* found = change.if_contains("details"); found && found->is_object())
    details = found->get_object();
  const std::string reason = text_of(details, "reason");
  const std::string because = reason.empty() ? std::string() : ": " + reason;
  if (type == "review.created") return fmt::format("{} asked for approval", actor);
  if (type == "review.voted") {
    return fmt::format("{} voted to {} ({} of {} approvals){}", actor,
                       text_of(details, "vote") == "approve" ? "approve" : "reject",
                       text_of(details, "approvals"), text_of(details, "needed"), because);
  }
  if (type == "review.step_passed") {
    const json::value* step = details.if_contains("step");
    return step && step->is_int64() ? fmt::format("step {} passed", step->get_int64() + 1)
                                    : std::string("a step passed");
  }
  if (type == "review.approved") return "approved";
  if (type == "review.rejected") return fmt::format("rejected by {}{}", actor, because);
  if (type == "review.escalated") {
    std::vector<std::string> to;
    if (const auto* list = details.if_contains("escalate_to"); list && list->is_array())
      for (const auto& item : list->get_array())
        if (item.is_string()) to.emplace_back(item.get_string());
    return fmt::format("escalated to {} by {}{}", join(to), actor, because);
  }
  if (type == "review.expired") return "expired without a decision";
  if (type == "review.cancelled") return fmt::format("cancelled by {}", actor);
  if (type == "review.executed") return "executed";
  if (type == "review.failed") return "not executed" + because;
  if (type == "grant.issued") return "one-time grant issued";
  return type;
}

std::string params_text(const review::Review& review, std::size_t limit) {
  std::string out;
  pretty(review.action.masked_params, out, 0);
  if (out.size() > limit) {
    std::size_t cut = limit > 20 ? limit - 20 : limit;
    // Do not cut a UTF-8 sequence in half.
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out = out.substr(0, cut) + "\n… (truncated)";
  }
  return out;
}

std::string requester_text(const review::Review& review) {
  const Identity& actor = review.action.actor;
  if (actor.on_behalf_of)
    return fmt::format("{} (on behalf of {})", actor.subject, *actor.on_behalf_of);
  return actor.subject;
}

}  // namespace countersign::notify
