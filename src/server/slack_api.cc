#include "server/slack_api.h"

#include <fmt/format.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "core/hash.h"
#include "notify/slack/blocks.h"
#include "notify/teams/teams.h"
#include "notify/webhook/webhook.h"

namespace countersign::server {
namespace {

namespace json = boost::json;
namespace slack = notify::slack;

std::string header(const ApiRequest& request, const std::string& name) {
  auto found = request.headers.find(name);
  return found == request.headers.end() ? std::string() : found->second;
}

ApiResponse empty_ok() {
  ApiResponse response;
  response.status = 200;
  response.content_type = "text/plain; charset=utf-8";
  return response;
}

std::string clip(std::string_view text, std::size_t limit = 120) {
  return std::string(text.substr(0, limit));
}

}  // namespace

SlackInteractions::SlackInteractions(gateway::Gateway& gateway, config::SlackChannelConfig config,
                                     std::string signing_secret,
                                     std::shared_ptr<slack::IdentityLinker> linker,
                                     slack::WebApi api, UrgentRunner run_urgent, Poster post,
                                     std::function<void()> wake)
    : gateway_(gateway),
      config_(std::move(config)),
      signing_secret_(std::move(signing_secret)),
      linker_(std::move(linker)),
      api_(std::move(api)),
      run_urgent_(std::move(run_urgent)),
      post_(std::move(post)),
      wake_(std::move(wake)),
      replays_(2 * config_.request_tolerance + 1'000) {}

ApiResponse SlackInteractions::refuse_request(const ApiRequest& request, const std::string& why) {
  audit::AuditEvent event;
  event.time = gateway_.clock().now();
  event.type = "slack.request_refused";
  event.actor = "unknown";
  event.details = {{"client_address", request.client_address}, {"reason", why}};
  event.controls = audit::controls_for(event.type);
  std::vector<audit::AuditEvent> events{std::move(event)};
  (void)gateway_.store().append_events(events);  // the refusal stands even if the log is down
  return error_response({ErrorCode::unauthenticated, why});
}

ApiResponse SlackInteractions::handle(const ApiRequest& request) {
  if (request.method != "POST")
    return error_response({ErrorCode::invalid_argument, "Slack interactions are POST requests"});
  const Millis now = gateway_.clock().now();
  const std::string signature = header(request, "x-slack-signature");
  auto verified =
      notify::verify_slack_request(signing_secret_, header(request, "x-slack-request-timestamp"),
                                   signature, request.body, now, config_.request_tolerance);
  if (!verified) return refuse_request(request, verified.error().message);
  // The signature covers timestamp and body: seeing it twice is a replay.
  if (!replays_.first_time(signature, now))
    return refuse_request(request, "replayed request: this signature was already used");

  auto parsed = slack::parse_interaction(request.body);
  if (!parsed) return error_response(parsed.error());
  const slack::Interaction interaction = std::move(*parsed);

  if (interaction.type == slack::Interaction::Type::block_actions) {
    if (interaction.action_id != slack::kApproveAction &&
        interaction.action_id != slack::kRejectAction &&
        interaction.action_id != slack::kEscalateAction)
      return empty_ok();
    with_identity(interaction.user_id, [this, interaction](const Result<Identity>& identity) {
      on_click(interaction, identity);
    });
    return empty_ok();
  }

  if (interaction.type == slack::Interaction::Type::view_submission &&
      (interaction.callback_id == slack::kRejectModal ||
       interaction.callback_id == slack::kApproveModal)) {
    const bool approve = interaction.callback_id == slack::kApproveModal;
    boost::system::error_code error;
    json::value metadata = json::parse(interaction.private_metadata, error);
    std::string review_id, channel;
    if (!error && metadata.is_object()) {
      if (auto* id = metadata.get_object().if_contains("review"); id && id->is_string())
        review_id = std::string(id->get_string());
      if (auto* at = metadata.get_object().if_contains("channel"); at && at->is_string())
        channel = std::string(at->get_string());
    }
    if (review_id.empty()) return error_response({ErrorCode::invalid_argument, "unknown modal"});
    const std::string reason = interaction.reason.value_or("");
    if (auto known = linker_->known(interaction.user_id)) {
      // Answer in the modal itself.
      std::optional<std::string> refusal;
      if (!*known) {
        refuse(interaction, nullptr, review_id, "", known->error().message);
        refusal = known->error().message;
      } else {
        refusal = submit_reason(interaction, **known, review_id, approve, reason);
        if (refusal) refuse(interaction, &**known, review_id, "", *refusal);  // shown in the modal
      }
      if (!refusal) return empty_ok();  // closes the modal
      ApiResponse response;
      response.body = json::serialize(json::object{
          {"response_action", "errors"}, {"errors", {{slack::kReasonBlock, clip(*refusal, 150)}}}});
      return response;
    }
    with_identity(interaction.user_id, [this, interaction, review_id, channel, approve,
                                        reason](const Result<Identity>& identity) {
      if (!identity) {
        refuse(interaction, nullptr, review_id, channel, identity.error().message);
        return;
      }
      if (auto refusal = submit_reason(interaction, *identity, review_id, approve, reason))
        refuse(interaction, &*identity, review_id, channel, *refusal);
    });
    return empty_ok();
  }
  return empty_ok();  // other interaction types are acknowledged and ignored
}

void SlackInteractions::with_identity(const std::string& user_id, IdentityCallback callback) {
  if (auto known = linker_->known(user_id)) {
    callback(*known);
    return;
  }
  run_urgent_([this, user_id, callback = std::move(callback)](notify::HttpClient& http) {
    Result<Identity> identity = linker_->resolve(user_id, http);
    post_([callback, identity] { callback(identity); });
  });
}

std::optional<std::string> SlackInteractions::submit_reason(const slack::Interaction& interaction,
                                                            const Identity& identity,
                                                            const std::string& review_id,
                                                            bool approve,
                                                            const std::string& reason) {
  (void)interaction;
  auto voted = gateway_.vote(review_id, identity, approve, reason);
  if (voted) return std::nullopt;
  return voted.error().message;  // the caller audits it and tells the user
}

void SlackInteractions::on_click(const slack::Interaction& interaction,
                                 const Result<Identity>& identity) {
  const std::string& review_id = interaction.value;
  const std::string& channel = interaction.channel_id;
  if (!identity) return refuse(interaction, nullptr, review_id, channel, identity.error().message);
  auto review = gateway_.get_review(review_id);
  if (!review) return refuse(interaction, &*identity, review_id, channel, review.error().message);

  if (interaction.action_id == slack::kEscalateAction) {
    auto escalated = gateway_.escalate(review_id, *identity, "escalated from Slack");
    if (!escalated) refuse(interaction, &*identity, review_id, channel, escalated.error().message);
    return;
  }
  const bool approve = interaction.action_id == slack::kApproveAction;
  if (approve && !review->flow.require_reason) {
    auto voted = gateway_.vote(review_id, *identity, true, "");
    if (!voted) refuse(interaction, &*identity, review_id, channel, voted.error().message);
    return;
  }
  // A reason is needed: check now, so nobody fills in a form for nothing.
  if (review->state != review::ReviewState::pending)
    return refuse(
        interaction, &*identity, review_id, channel,
        fmt::format("review {} is already {}", review_id, review::state_name(review->state)));
  if (auto refusal = review::vote_refusal(*review, *identity))
    return refuse(interaction, &*identity, review_id, channel, refusal->message);
  open_modal(interaction, *review, approve, *identity);
}

void SlackInteractions::open_modal(const slack::Interaction& interaction,
                                   const review::Review& review, bool approve,
                                   const Identity& identity) {
  json::object args = {{"trigger_id", interaction.trigger_id},
                       {"view", slack::reason_modal(review, approve, interaction.channel_id)}};
  run_urgent_([this, args, interaction, identity, review_id = review.id](notify::HttpClient& http) {
    slack::Reply reply = api_.call(http, "views.open", args);
    if (reply.ok) return;
    post_([this, interaction, identity, review_id, error = reply.error] {
      refuse(interaction, &identity, review_id, interaction.channel_id,
             "could not open the reason dialog (" + error + "); use the web page or the CLI");
    });
  });
}

void SlackInteractions::refuse(const slack::Interaction& interaction, const Identity* identity,
                               const std::string& review_id, const std::string& channel,
                               const std::string& why) {
  audit::AuditEvent event;
  event.time = gateway_.clock().now();
  event.type = "slack.interaction_refused";
  event.actor = identity ? identity->subject : "slack:" + clip(interaction.user_id, 40);
  event.review_id = clip(review_id, 80);
  event.details = {
      {"slack_user", clip(interaction.user_id, 40)},
      {"slack_team", clip(interaction.team_id, 40)},
      {"interaction", clip(interaction.type_name, 40)},
      {"action",
       clip(interaction.action_id.empty() ? interaction.callback_id : interaction.action_id, 60)},
      {"reason", clip(why, 300)}};
  event.controls = audit::controls_for(event.type);
  std::vector<audit::AuditEvent> events{std::move(event)};
  std::vector<store::OutboxMessage> messages;
  if (!channel.empty()) {
    store::OutboxMessage message;
    message.channel = "slack";
    message.key = new_id("eph");
    message.stream = message.key;
    message.review_id = clip(review_id, 80);
    message.payload = json::serialize(json::object{{"kind", "ephemeral"},
                                                   {"channel", channel},
                                                   {"user", interaction.user_id},
                                                   {"text", "countersign: " + slack::escape(why)}});
    message.created_at = message.next_attempt_at = gateway_.clock().now();
    messages.push_back(std::move(message));
  }
  (void)gateway_.store().enqueue_outbox(messages, events);
  if (!messages.empty() && wake_) wake_();
}

Result<Channels> build_channels(gateway::Gateway& gateway, SlackInteractions::Poster post) {
  Channels out;
  const auto& config = gateway.config();
  if (!config.channels) return out;
  const config::ChannelsConfig& channels = *config.channels;
  std::vector<std::unique_ptr<notify::Channel>> delivery;
  std::shared_ptr<slack::IdentityLinker> linker;
  std::optional<slack::WebApi> slack_api;
  std::string signing_secret;
  if (channels.slack) {
    auto token = config::resolve_secret(channels.slack->bot_token);
    if (!token) return std::unexpected(token.error());
    auto secret = config::resolve_secret(channels.slack->signing_secret);
    if (!secret) return std::unexpected(secret.error());
    signing_secret = *secret;
    slack_api.emplace(channels.slack->api_base_url, *token);
    linker = std::make_shared<slack::IdentityLinker>(*channels.slack, config.api_keys, *slack_api,
                                                     gateway.clock());
    delivery.push_back(std::make_unique<slack::SlackChannel>(*slack_api, linker));
  }
  if (channels.teams) {
    auto url = config::resolve_secret(channels.teams->webhook_url);
    if (!url) return std::unexpected(url.error());
    delivery.push_back(std::make_unique<notify::teams::TeamsChannel>(*url));
  }
  if (!channels.webhooks.empty()) {
    std::vector<notify::webhook::Endpoint> endpoints;
    for (const auto& webhook : channels.webhooks) {
      auto secret = config::resolve_secret(webhook.secret);
      if (!secret) return std::unexpected(secret.error());
      endpoints.push_back({webhook.url, *secret});
    }
    delivery.push_back(std::make_unique<notify::webhook::WebhookChannel>(std::move(endpoints)));
  }
  if (delivery.empty()) return out;
  out.worker =
      std::make_unique<notify::Worker>(gateway.store(), gateway.clock(), std::move(delivery),
                                       notify::make_http_client, channels.max_delivery_age);
  if (channels.slack) {
    notify::Worker* worker = out.worker.get();
    out.slack = std::make_shared<SlackInteractions>(
        gateway, *channels.slack, signing_secret, linker, *slack_api,
        [worker](std::function<void(notify::HttpClient&)> task) {
          worker->run_urgent(std::move(task));
        },
        std::move(post), [worker] { worker->wake(); });
  }
  return out;
}

}  // namespace countersign::server
