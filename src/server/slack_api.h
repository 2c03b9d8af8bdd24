// Slack interactivity (POST /integrations/slack/interactions) and the
// assembly of the notification channels. Beast-free: the server passes an
// ApiRequest and a way to run work on its I/O thread.
//
// Every request must carry a valid X-Slack-Signature (v0) over the raw body
// with a timestamp under five minutes old, and no signature is accepted
// twice. Slack gets its answer at once: the vote runs right away when the
// clicking user's identity is already known (explicit mapping, or a recent
// users.info lookup), otherwise after one users.info call on a worker thread.
// A Slack user acts only as the identity a verified link gives them, under
// the same review rules as every other channel; every refusal is audited and
// answered with an ephemeral message only the clicking user sees.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "config/channels.h"
#include "gateway/gateway.h"
#include "notify/http_client.h"
#include "notify/signing.h"
#include "notify/slack/interaction.h"
#include "notify/slack/web_api.h"
#include "notify/worker.h"
#include "server/api.h"

namespace countersign::server {

class SlackInteractions {
 public:
  using UrgentRunner = std::function<void(std::function<void(notify::HttpClient&)>)>;
  using Poster = std::function<void(std::function<void()>)>;

  // `run_urgent` runs a task on a notification thread; `post` runs a task on
  // the gateway's thread (the server's I/O thread); `wake` tells the outbox
  // worker that messages were queued.
  SlackInteractions(gateway::Gateway& gateway, config::SlackChannelConfig config,
                    std::string signing_secret,
                    std::shared_ptr<notify::slack::IdentityLinker> linker,
                    notify::slack::WebApi api, UrgentRunner run_urgent, Poster post,
                    std::function<void()> wake);

  // Called on the gateway's thread.
  ApiResponse handle(const ApiRequest& request);

 private:
  using IdentityCallback = std::function<void(const Result<Identity>&)>;
  void with_identity(const std::string& user_id, IdentityCallback callback);
  void on_click(const notify::slack::Interaction& interaction, const Result<Identity>& identity);
  // Records the vote from a reason modal; returns the refusal, if any.
  std::optional<std::string> submit_reason(const notify::slack::Interaction& interaction,
                                           const Identity& identity, const std::string& review_id,
                                           bool approve, const std::string& reason);
  void open_modal(const notify::slack::Interaction& interaction, const review::Review& review,
                  bool approve, const Identity& identity);
  // Audits the refusal and tells the user (ephemeral message in `channel`).
  void refuse(const notify::slack::Interaction& interaction, const Identity* identity,
              const std::string& review_id, const std::string& channel, const std::string& why);
  ApiResponse refuse_request(const ApiRequest& request, const std::string& why);

  gateway::Gateway& gateway_;
  config::SlackChannelConfig config_;
  std::string signing_secret_;
  std::shared_ptr<notify::slack::IdentityLinker> linker_;
  notify::slack::WebApi api_;
  UrgentRunner run_urgent_;
  Poster post_;
  std::function<void()> wake_;
  notify::ReplayCache replays_;
};

// The configured channels, ready to run.
struct Channels {
  std::unique_ptr<notify::Worker> worker;    // null when no channel is configured
  std::shared_ptr<SlackInteractions> slack;  // null without channels.slack
};

// Resolves the channels' secrets (a missing one is an error naming its
// reference) and builds the outbox worker and the Slack endpoint.
Result<Channels> build_channels(gateway::Gateway& gateway, SlackInteractions::Poster post);

}  // namespace countersign::server
