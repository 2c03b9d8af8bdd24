#include "notify/slack/web_api.h"

#include <algorithm>
#include <array>
#include <cctype>

#include <fmt/format.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "notify/slack/blocks.h"

namespace countersign::notify::slack {
namespace {

namespace json = boost::json;

constexpr Millis kLinkTtl = 300'000;    // a verified link is re-checked after 5 minutes
constexpr Millis kRefusalTtl = 30'000;  // a refusal is re-checked sooner (someone may fix config)

// Slack errors about the request itself: retrying will not help.
constexpr std::array kPermanentErrors = {"channel_not_found",
                                         "not_in_channel",
                                         "is_archived",
                                         "msg_too_long",
                                         "no_text",
                                         "invalid_blocks",
                                         "invalid_blocks_format",
                                         "message_not_found",
                                         "cant_update_message",
                                         "edit_window_closed",
                                         "user_not_found",
                                         "invalid_arguments",
                                         "too_many_attachments",
                                         "restricted_action",
                                         "user_not_in_channel",
                                         "invalid_arg_name",
                                         "channel_is_archived",
                                         "messages_tab_disabled",
                                         "cannot_dm_bot",
                                         "users_not_found"};

std::string form_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string string_at(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  return value && value->is_string() ? std::string(value->get_string()) : std::string();
}

bool flag(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  return value && value->is_bool() && value->get_bool();
}

}  // namespace

Reply WebApi::finish(const Result<HttpResponse>& response) const {
  Reply reply;
  if (!response) {
    reply.error = response.error().message;
    return reply;
  }
  reply.reached = true;
  reply.status = response->status;
  reply.retry_after = retry_after_millis(*response);
  boost::system::error_code error;
  json::value body = json::parse(response->body, error);
  if (!error && body.is_object()) {
    reply.body = std::move(body.get_object());
    reply.ok = flag(reply.body, "ok");
    reply.error = string_at(reply.body, "error");
  }
  if (!reply.ok && reply.error.empty()) reply.error = fmt::format("HTTP {}", response->status);
  return reply;
}

Reply WebApi::call(HttpClient& http, std::string_view method, const json::object& args) const {
  HttpRequest request;
  request.url = base_url_ + "/" + std::string(method);
  request.headers = {{"Authorization", "Bearer " + token_},
                     {"Content-Type", "application/json; charset=utf-8"}};
  request.body = json::serialize(args);
  return finish(http.send(request));
}

Reply WebApi::call_form(HttpClient& http, std::string_view method,
                        const std::vector<std::pair<std::string, std::string>>& fields) const {
  HttpRequest request;
  request.url = base_url_ + "/" + std::string(method);
  request.headers = {{"Authorization", "Bearer " + token_},
                     {"Content-Type", "application/x-www-form-urlencoded"}};
  for (const auto& [name, value] : fields)
    request.body +=
        (request.body.empty() ? "" : "&") + form_encode(name) + "=" + form_encode(value);
  return finish(http.send(request));
}

Delivery WebApi::to_delivery(const Reply& reply, std::optional<std::string> state) {
  if (reply.ok) return Delivery::done(std::move(state));
  if (!reply.reached) return Delivery::retry(reply.error);
  if (reply.status == 429 || reply.error == "ratelimited")
    return Delivery::retry("rate limited", std::max<Millis>(reply.retry_after, 1'000));
  if (reply.status >= 500) return Delivery::retry(reply.error, reply.retry_after);
  for (const char* permanent : kPermanentErrors)
    if (reply.error == permanent) return Delivery::dead("slack: " + reply.error);
  // invalid_auth, missing_scope, internal_error, ...: an operator can fix
  // these; keep the message until max_delivery_age.
  return Delivery::retry("slack: " + reply.error, reply.retry_after);
}

IdentityLinker::IdentityLinker(const config::SlackChannelConfig& config,
                               std::vector<identity::ApiKey> keys, WebApi api, const Clock& clock)
    : config_(config),
      keys_(keys),
      directory_(std::move(keys)),
      api_(std::move(api)),
      clock_(clock) {}

std::optional<Identity> IdentityLinker::identity_by_email(std::string_view email) const {
  if (email.empty()) return std::nullopt;
  const std::string wanted = lower(email);
  std::optional<Identity> found;
  for (const auto& key : keys_) {
    const Identity& candidate = key.identity;
    if (candidate.kind != IdentityKind::human || !candidate.email) continue;
    if (lower(*candidate.email) != wanted) continue;
    if (found) return std::nullopt;  // ambiguous: link nobody
    found = candidate;
  }
  return found;
}

std::optional<Result<Identity>> IdentityLinker::known(const std::string& user_id) {
  if (auto mapped = config_.users.find(user_id); mapped != config_.users.end()) {
    auto identity = directory_.find_subject(mapped->second);
    if (!identity)
      return Result<Identity>(
          fail(ErrorCode::permission_denied, "the Slack user's mapped identity no longer exists"));
    return Result<Identity>(*identity);
  }
  if (!config_.link_by_email)
    return Result<Identity>(fail(ErrorCode::permission_denied,
                                 "your Slack account is not linked to a countersign identity"));
  std::lock_guard lock(mutex_);
  auto cached = cache_.find(user_id);
  if (cached != cache_.end() && cached->second.first > clock_.now()) return cached->second.second;
  return std::nullopt;
}

Result<Identity> IdentityLinker::resolve(const std::string& user_id, HttpClient& http) {
  if (auto answer = known(user_id)) return *answer;
  Reply reply = api_.call_form(http, "users.info", {{"user", user_id}});
  Result<Identity> result = fail(ErrorCode::permission_denied,
                                 "your Slack account is not linked to a countersign identity");
  bool cacheable = true;
  if (!reply.ok && (reply.error == "user_not_found" || reply.error == "account_inactive")) {
    // Slack does not know this user (any more): not linked, like any unmatched account.
  } else if (!reply.ok) {
    cacheable = false;
    result =
        fail(ErrorCode::unavailable, "could not look up your Slack account (" + reply.error + ")");
  } else if (const json::value* user = reply.body.if_contains("user"); user && user->is_object()) {
    const json::object& object = user->get_object();
    const json::object* profile = nullptr;
    if (const json::value* p = object.if_contains("profile"); p && p->is_object())
      profile = &p->get_object();
    const std::string email = profile ? string_at(*profile, "email") : std::string();
    const json::value* confirmed = object.if_contains("is_email_confirmed");
    if (string_at(object, "id") != user_id) {
      result = fail(ErrorCode::permission_denied, "Slack returned a different user");
    } else if (flag(object, "deleted") || flag(object, "is_bot")) {
      result = fail(ErrorCode::permission_denied, "deactivated and bot Slack users cannot vote");
    } else if (confirmed && confirmed->is_bool() && !confirmed->get_bool()) {
      result = fail(ErrorCode::permission_denied, "your Slack e-mail address is not confirmed");
    } else if (email.empty()) {
      result = fail(ErrorCode::permission_denied,
                    "Slack shows no e-mail for your account (the app needs users:read.email)");
    } else if (auto identity = identity_by_email(email)) {
      result = *identity;
    }
  }
  if (cacheable) {
    std::lock_guard lock(mutex_);
    cache_.insert_or_assign(
        user_id, std::make_pair(clock_.now() + (result ? kLinkTtl : kRefusalTtl), result));
  }
  return result;
}

Result<std::string> IdentityLinker::slack_user_for(const std::string& subject, HttpClient& http) {
  for (const auto& [user, mapped] : config_.users)
    if (mapped == subject) return user;
  if (!config_.link_by_email) return fail(ErrorCode::not_found, "no Slack user for " + subject);
  auto identity = directory_.find_subject(subject);
  std::string email = identity && identity->email ? *identity->email : std::string();
  if (email.empty() && subject.find('@') != std::string::npos && identity_by_email(subject))
    email = subject;
  if (email.empty()) return fail(ErrorCode::not_found, "no e-mail known for " + subject);
  Reply reply = api_.call_form(http, "users.lookupByEmail", {{"email", email}});
  if (!reply.ok) {
    if (reply.error == "users_not_found")
      return fail(ErrorCode::not_found, "no Slack user for " + subject);
    return fail(ErrorCode::unavailable, "users.lookupByEmail: " + reply.error);
  }
  if (const json::value* user = reply.body.if_contains("user"); user && user->is_object())
    if (auto id = string_at(user->get_object(), "id"); !id.empty()) return id;
  return fail(ErrorCode::not_found, "no Slack user for " + subject);
}

Delivery SlackChannel::deliver(const store::OutboxMessage& message, HttpClient& http, Millis now) {
  boost::system::error_code error;
  json::value parsed = json::parse(message.payload, error);
  if (error || !parsed.is_object()) return Delivery::dead("malformed outbox payload");
  const json::object& payload = parsed.get_object();
  const std::string kind = string_at(payload, "kind");

  if (kind == "ephemeral") {
    json::object args = {{"channel", string_at(payload, "channel")},
                         {"user", string_at(payload, "user")},
                         {"text", string_at(payload, "text")}};
    return WebApi::to_delivery(api_.call(http, "chat.postEphemeral", args));
  }

  const json::value* review_json = payload.if_contains("review");
  if (review_json == nullptr) return Delivery::dead("outbox payload without a review");
  auto review = review::review_from_json(*review_json);
  if (!review) return Delivery::dead("outbox payload: " + review.error().message);
  const std::string url = string_at(payload, "url");
  json::array changes;
  if (const json::value* list = payload.if_contains("changes"); list && list->is_array())
    changes = list->get_array();

  if (kind == "requester") {
    const json::value* subjects = payload.if_contains("subjects");
    if (!subjects || !subjects->is_array()) return Delivery::dead("no requester to notify");
    for (const auto& subject : subjects->get_array()) {
      if (!subject.is_string()) continue;
      auto user = linker_->slack_user_for(std::string(subject.get_string()), http);
      if (!user) {
        if (user.error().code == ErrorCode::unavailable)
          return Delivery::retry(user.error().message);
        return Delivery::dead(user.error().message);
      }
      json::object args = requester_message(*review, changes, url);
      args["channel"] = *user;
      args["unfurl_links"] = false;
      Delivery sent = WebApi::to_delivery(api_.call(http, "chat.postMessage", args));
      if (sent.kind != Delivery::Kind::delivered) return sent;
    }
    return Delivery::done();
  }

  // The review message of this stream: where it was posted, if it was.
  std::string posted_channel;
  std::string posted_ts;
  if (!message.stream_state.empty()) {
    json::value state = json::parse(message.stream_state, error);
    if (!error && state.is_object()) {
      posted_channel = string_at(state.get_object(), "channel");
      posted_ts = string_at(state.get_object(), "ts");
    }
  }
  json::object body = review_message(*review, url, now);

  if (kind == "reply") {
    if (posted_ts.empty()) return Delivery::done();  // nothing to thread under; the post shows all
    json::object args = thread_reply(*review, changes);
    args["channel"] = posted_channel;
    args["thread_ts"] = posted_ts;
    return WebApi::to_delivery(api_.call(http, "chat.postMessage", args));
  }
  if ((kind == "post" || kind == "update") && !posted_ts.empty()) {
    body["channel"] = posted_channel;
    body["ts"] = posted_ts;
    return WebApi::to_delivery(api_.call(http, "chat.update", body));
  }
  if (kind == "post" || kind == "update") {
    body["channel"] = string_at(payload, "channel");
    body["unfurl_links"] = false;
    body["metadata"] = {{"event_type", "countersign_review"},
                        {"event_payload", {{"review_id", review->id}, {"key", message.key}}}};
    Reply reply = api_.call(http, "chat.postMessage", body);
    std::optional<std::string> state;
    if (reply.ok)
      state = json::serialize(json::object{{"channel", string_at(reply.body, "channel")},
                                           {"ts", string_at(reply.body, "ts")}});
    return WebApi::to_delivery(reply, std::move(state));
  }
  return Delivery::dead("unknown Slack message kind '" + kind + "'");
}

}  // namespace countersign::notify::slack
