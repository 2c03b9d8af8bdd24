// Slack interactivity payloads (https://api.slack.com/interactivity/handling):
// Slack POSTs `application/x-www-form-urlencoded` with one field, `payload`,
// holding JSON. Parsing only: verify the signature over the raw body first
// (notify/signing.h). The acting user is payload.user.id and nothing else;
// names, usernames and any ids inside values are never trusted.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"

namespace countersign::notify::slack {

struct Interaction {
  enum class Type { block_actions, view_submission, other };
  Type type = Type::other;
  std::string type_name;   // as sent, for messages
  std::string user_id;     // payload.user.id
  std::string team_id;     // payload.team.id (or user.team_id)
  std::string trigger_id;  // lets us open a modal within 3 seconds
  // block_actions
  std::string action_id;
  std::string value;       // the button's value: a review id
  std::string channel_id;  // where the clicked message is
  std::string message_ts;
  // view_submission
  std::string callback_id;
  std::string private_metadata;
  std::optional<std::string> reason;  // view.state.values.reason.reason.value
};

// Decodes application/x-www-form-urlencoded text ('+' is a space).
std::string form_decode(std::string_view text);
// The decoded value of `name` in a form body, if present.
std::optional<std::string> form_value(std::string_view body, std::string_view name);

// Parses the body of an interactivity request.
Result<Interaction> parse_interaction(std::string_view form_body);

}  // namespace countersign::notify::slack
