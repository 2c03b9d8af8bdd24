#include "notify/slack/interaction.h"

#include <boost/json/parse.hpp>

#include "notify/slack/blocks.h"

namespace countersign::notify::slack {
namespace {

namespace json = boost::json;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string string_at(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  return value && value->is_string() ? std::string(value->get_string()) : std::string();
}

const json::object* object_at(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  return value && value->is_object() ? &value->get_object() : nullptr;
}

}  // namespace

std::string form_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
               hex_value(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::optional<std::string> form_value(std::string_view body, std::string_view name) {
  std::size_t start = 0;
  while (start <= body.size()) {
    std::size_t end = body.find('&', start);
    if (end == std::string_view::npos) end = body.size();
    std::string_view pair = body.substr(start, end - start);
    std::size_t equals = pair.find('=');
    std::string_view key = pair.substr(0, equals);
    if (form_decode(key) == name)
      return equals == std::string_view::npos ? std::string()
                                              : form_decode(pair.substr(equals + 1));
    start = end + 1;
  }
  return std::nullopt;
}

Result<Interaction> parse_interaction(std::string_view form_body) {
  auto payload = form_value(form_body, "payload");
  if (!payload) return fail(ErrorCode::invalid_argument, "no payload field in the request");
  boost::system::error_code error;
  json::value parsed = json::parse(*payload, error);
  if (error || !parsed.is_object())
    return fail(ErrorCode::invalid_argument, "the payload is not a JSON object");
  const json::object& root = parsed.get_object();
  Interaction out;
  out.type_name = string_at(root, "type");
  if (const auto* user = object_at(root, "user")) {
    out.user_id = string_at(*user, "id");
    out.team_id = string_at(*user, "team_id");
  }
  if (const auto* team = object_at(root, "team")) {
    if (auto id = string_at(*team, "id"); !id.empty()) out.team_id = id;
  }
  if (out.user_id.empty()) return fail(ErrorCode::invalid_argument, "the payload names no user");
  out.trigger_id = string_at(root, "trigger_id");

  if (out.type_name == "block_actions") {
    out.type = Interaction::Type::block_actions;
    const json::value* actions = root.if_contains("actions");
    if (!actions || !actions->is_array() || actions->get_array().empty() ||
        !actions->get_array()[0].is_object())
      return fail(ErrorCode::invalid_argument, "block_actions without actions");
    const auto& action = actions->get_array()[0].get_object();
    out.action_id = string_at(action, "action_id");
    out.value = string_at(action, "value");
    if (const auto* container = object_at(root, "container")) {
      out.channel_id = string_at(*container, "channel_id");
      out.message_ts = string_at(*container, "message_ts");
    }
    if (out.channel_id.empty())
      if (const auto* channel = object_at(root, "channel"))
        out.channel_id = string_at(*channel, "id");
    return out;
  }
  if (out.type_name == "view_submission") {
    out.type = Interaction::Type::view_submission;
    const auto* view = object_at(root, "view");
    if (view == nullptr) return fail(ErrorCode::invalid_argument, "view_submission without a view");
    out.callback_id = string_at(*view, "callback_id");
    out.private_metadata = string_at(*view, "private_metadata");
    if (const auto* state = object_at(*view, "state"))
      if (const auto* values = object_at(*state, "values"))
        if (const auto* block = object_at(*values, kReasonBlock))
          if (const auto* input = object_at(*block, kReasonInput))
            if (const json::value* value = input->if_contains("value"); value && value->is_string())
              out.reason = std::string(value->get_string());
    return out;
  }
  return out;  // other types (view_closed, shortcuts, ...) are acknowledged and ignored
}

}  // namespace countersign::notify::slack
