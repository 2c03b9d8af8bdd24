#include "gateway/gateway.h"

#include <fmt/format.h>

#include "audit/event.h"
#include "config/channels.h"
#include "core/hash.h"
#include "notify/outbox.h"

namespace countersign::gateway {
namespace {

constexpr std::size_t kMaxNameLength = 256;
constexpr int kConflictRetries = 5;

boost::json::array string_array(const std::vector<std::string>& items) {
  boost::json::array out;
  for (const auto& item : items) out.emplace_back(item);
  return out;
}

}  // namespace

std::map<std::string, mask::MaskProfile> build_mask_profiles(const config::Config& config) {
  std::map<std::string, mask::MaskProfile> profiles;
  const mask::MaskProfile builtin = mask::default_profile();
  // A profile may extend one defined later in the file; config validation
  // has already refused unknown parents and cycles, so resolving in passes
  // ends after at most one pass per profile.
  std::map<std::string, const config::MaskProfileSpec*> pending;
  for (const auto& spec : config.mask_profiles) pending[spec.name] = &spec;
  if (!pending.contains("default")) profiles["default"] = builtin;
  while (!pending.empty()) {
    std::size_t resolved_before = profiles.size();
    for (auto it = pending.begin(); it != pending.end();) {
      const config::MaskProfileSpec& spec = *it->second;
      const mask::MaskProfile* parent = &builtin;
      if (!spec.extends.empty()) {
        auto found = profiles.find(spec.extends);
        if (found == profiles.end()) {
          ++it;
          continue;
        }
        parent = &found->second;
      }
      mask::MaskProfile profile = *parent;
      profile.name = spec.name;
      for (const auto& word : spec.secret_keys) {
        std::string normalized;
        for (char c : word)
          if (c != '-' && c != '_' && c != '.')
            normalized.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
        profile.secret_key_words.push_back(normalized);
      }
      for (const auto& [type, strategy] : spec.strategies)
        profile.strategies[type] = mask::parse_strategy(strategy).value_or(mask::Strategy::redact);
      for (const auto& [type, label] : spec.labels) profile.labels[type] = label;
      for (const auto& detector : spec.detectors) {
        mask::CustomDetector custom{detector.name,      detector.type,       detector.pattern,
                                    detector.validator, detector.confidence, detector.caseless,
                                    detector.label};
        auto same = std::find_if(profile.detectors.begin(), profile.detectors.end(),
                                 [&](const auto& d) { return d.name == custom.name; });
        if (same != profile.detectors.end())
          *same = std::move(custom);  // a child overrides
        else
          profile.detectors.push_back(std::move(custom));
      }
      for (const auto& off : spec.disable) profile.disabled.push_back(off);
      profiles[spec.name] = std::move(profile);
      it = pending.erase(it);
    }
    if (profiles.size() == resolved_before) break;  // unreachable after validation
  }
  // The `hash` strategy's key: configured, or random and kept beside the store
  // so hashes stay comparable across restarts; else per process.
  std::shared_ptr<const std::string> hash_key;
  if (!config.mask_hash_key.empty()) {
    hash_key = std::make_shared<const std::string>(config.mask_hash_key);
  } else if (!config.sqlite_path.empty() && !config.sqlite_path.starts_with(":") &&
             !config.sqlite_path.starts_with("file:")) {
    if (auto key = mask::load_or_create_hash_key(config.sqlite_path + ".mask-key"))
      hash_key = std::make_shared<const std::string>(std::move(*key));
  }
  for (auto& [name, profile] : profiles) {
    profile.hash_key = hash_key;
    // Patterns were checked when the configuration loaded.
    if (auto prepared = mask::prepare(profile); !prepared)
      throw std::runtime_error("mask profile '" + name + "': " + prepared.error().message);
  }
  return profiles;
}

Gateway::Gateway(config::Config config, policy::Policy policy, store::Store& store,
                 const Clock& clock)
    : config_(std::move(config)),
      policy_(std::move(policy)),
      store_(store),
      clock_(clock),
      api_keys_(config_.api_keys),
      oidc_(config_.oidc_issuers.empty() ? nullptr
                                         : std::make_unique<identity::OidcAuthenticator>(
                                               config_.oidc_issuers, identity::http_fetch, clock)),
      mask_profiles_(build_mask_profiles(config_)) {
  // Notifications (Slack, Teams, webhooks) are queued in the same
  // transaction as the review change they announce: none is lost or sent
  // for a change that did not commit.
  if (config_.channels)
    store_.set_outbox_planner(
        [this](const review::Review& review, const std::vector<audit::AuditEvent>& events) {
          return notify::plan_notifications(*config_.channels, config_.public_url, review, events,
                                            clock_.now());
        });
}

Gateway::~Gateway() {
  if (config_.channels) store_.set_outbox_planner(nullptr);
}

void Gateway::set_review_listener(std::function<void(const review::Review&)> listener) {
  review_listener_ = std::move(listener);
}

void Gateway::add_review_listener(std::function<void(const review::Review&)> listener) {
  more_review_listeners_.push_back(std::move(listener));
}

void Gateway::notify(const review::Review& review) {
  if (review_listener_) review_listener_(review);
  for (const auto& listener : more_review_listeners_) listener(review);
}

const mask::MaskProfile& Gateway::mask_profile(const std::string& name) const {
  auto found = mask_profiles_.find(name);
  return found != mask_profiles_.end() ? found->second : mask_profiles_.at("default");
}

mask::MaskedBody Gateway::mask_response(const std::string& profile, std::string_view body) const {
  return mask::mask_body(body, mask_profile(profile));
}

Result<Identity> Gateway::authenticate(std::string_view authorization_header,
                                       const std::string& client_address,
                                       const std::optional<Identity>& peer) {
  auto token = identity::bearer_token(authorization_header);
  Result<Identity> identity =
      token
          ? (identity::looks_like_jwt(*token)
                 ? (oidc_
                        ? oidc_->authenticate(*token)
                        : fail(ErrorCode::unauthenticated,
                               "JWT bearer tokens are not accepted: no OIDC issuer is configured"))
                 : api_keys_.authenticate(*token))
      : authorization_header.empty() && peer
          ? Result<Identity>(*peer)
          : fail(ErrorCode::unauthenticated,
                 "missing credentials: send Authorization: Bearer <API key or OIDC token>");
  if (!identity) {
    counters_.authentication_failures++;
    audit::AuditEvent event;
    event.time = clock_.now();
    event.type = "auth.failed";
    event.actor = "unknown";
    event.details = {{"client_address", client_address}, {"reason", identity.error().message}};
    event.controls = audit::controls_for(event.type);
    std::vector<audit::AuditEvent> events{std::move(event)};
    (void)store_.append_events(events);  // the refusal stands even if the log is unavailable
  }
  return identity;
}

Result<void> Gateway::start_identity() {
  if (!oidc_) return {};
  if (auto loaded = oidc_->load(); !loaded) return loaded;
  oidc_->start_refresher();
  return {};
}

audit::AuditEvent Gateway::event_for(const review::Review& review,
                                     const review::ReviewChange& change) {
  audit::AuditEvent event;
  event.time = clock_.now();
  event.type = change.type;
  event.actor = change.actor;
  event.action_digest = review.action.digest;
  event.review_id = review.id;
  event.details = change.details;
  event.details["target"] = review.action.target;
  event.details["verb"] = review.action.verb;
  event.details["state"] = review::state_name(review.state);
  event.controls = audit::controls_for(event.type);
  return event;
}

Result<Gateway::Decided> Gateway::decide(const Identity& actor, const ActionRequest& request) {
  // describe
  auto target = config_.targets.find(request.target);
  if (target == config_.targets.end())
    return fail(ErrorCode::not_found, fmt::format("unknown target '{}'", request.target));
  if (target->second.door != request.door)
    return fail(ErrorCode::invalid_argument,
                fmt::format("target '{}' is served by the {} door, not {}", request.target,
                            target->second.door, request.door));
  if (request.verb.empty() || request.verb.size() > kMaxNameLength)
    return fail(ErrorCode::invalid_argument, "verb must be 1 to 256 characters");

  Decided result;
  Outcome& outcome = result.outcome;
  Action& action = outcome.action;
  action.id = new_id("act");
  action.actor = actor;
  action.door = request.door;
  action.target = request.target;
  action.verb = request.verb;
  action.params = request.params;
  action.reason = request.reason;
  action.session = request.session;
  action.client_address = request.client_address;
  action.time = clock_.now();
  auto digest = action_digest(action);
  if (!digest) return std::unexpected(digest.error());
  outcome.digest = *digest;

  // decide
  outcome.decision = policy_.decide(action);
  const Decision& decision = outcome.decision;
  auto masked = mask::mask_json(action.params, mask_profile(decision.mask_profile));

  audit::AuditEvent& decided = result.event;
  decided.time = action.time;
  decided.type = "action.decided";
  decided.actor = actor.subject;
  decided.action_digest = outcome.digest;
  decided.details = {{"action_id", action.id},
                     {"door", action.door},
                     {"target", action.target},
                     {"verb", action.verb},
                     {"params", masked.value},
                     {"effect", effect_name(decision.effect)},
                     {"rules", string_array(decision.rules)},
                     {"reason", decision.reason},
                     {"client_address", action.client_address}};
  if (actor.on_behalf_of) decided.details["on_behalf_of"] = *actor.on_behalf_of;
  if (action.reason)
    decided.details["request_reason"] =
        mask::mask_text(*action.reason, mask_profile(decision.mask_profile), "/reason", nullptr);
  decided.controls = audit::controls_for(decided.type);
  result.masked_params = std::move(masked.value);

  if (decision.effect != Effect::review) {
    (decision.effect == Effect::allow ? counters_.decisions_allow : counters_.decisions_deny)++;
    outcome.execute = decision.effect == Effect::allow;
  } else {
    counters_.decisions_review++;
  }
  return result;
}

Result<Outcome> Gateway::submit(const Identity& actor, const ActionRequest& request) {
  auto decided = decide(actor, request);
  if (!decided) return std::unexpected(decided.error());
  if (decided->outcome.decision.effect == Effect::review)
    return submit_review(actor, std::move(*decided));
  std::vector<audit::AuditEvent> events{std::move(decided->event)};
  if (auto appended = store_.append_events(events); !appended)
    return std::unexpected(appended.error());
  return std::move(decided->outcome);
}

void Gateway::submit_async(const Identity& actor, const ActionRequest& request, SubmitDone done) {
  auto decided = decide(actor, request);
  if (!decided) return done(std::unexpected(decided.error()));
  if (decided->outcome.decision.effect == Effect::review)
    return done(submit_review(actor, std::move(*decided)));
  std::vector<audit::AuditEvent> events{std::move(decided->event)};
  // The outcome waits beside the event; the door sees it once it is durable.
  auto outcome = std::make_shared<Outcome>(std::move(decided->outcome));
  store_.append_events_async(std::move(events),
                             [outcome, done = std::move(done)](Result<void> appended) {
                               if (!appended) return done(std::unexpected(appended.error()));
                               done(std::move(*outcome));
                             });
}

Result<Outcome> Gateway::submit_review(const Identity& actor, Decided decided_result) {
  Outcome outcome = std::move(decided_result.outcome);
  const Action& action = outcome.action;
  const Decision& decision = outcome.decision;
  audit::AuditEvent& decided = decided_result.event;

  // review: an approved grant for this exact action is redeemed first.
  std::optional<review::Review> redeemed_review;
  auto redeemed =
      store_.redeem_grant(outcome.digest, actor.subject, action.time, [&](review::Review& review) {
        std::vector<audit::AuditEvent> events;
        decided.review_id = review.id;
        decided.details["grant"] = "redeemed";
        events.push_back(decided);
        for (const auto& change : review::mark_executed(review, action.time))
          events.push_back(event_for(review, change));
        redeemed_review = review;
        return events;
      });
  if (!redeemed) return std::unexpected(redeemed.error());
  if (redeemed->has_value()) {
    counters_.grants_redeemed++;
    outcome.execute = true;
    outcome.redeemed_grant = **redeemed;
    if (redeemed_review) {
      redeemed_review->version++;
      outcome.review = redeemed_review;
      notify(*redeemed_review);
    }
    return outcome;
  }

  // An identical request while a review is pending joins that review.
  auto join_pending = [&]() -> Result<bool> {
    auto open = store_.find_open_review(outcome.digest);
    if (!open) return std::unexpected(open.error());
    if (!open->has_value() || (*open)->state != review::ReviewState::pending) return false;
    decided.review_id = (*open)->id;
    std::vector<audit::AuditEvent> events{decided};
    if (auto appended = store_.append_events(events); !appended)
      return std::unexpected(appended.error());
    outcome.review = std::move(**open);
    return true;
  };
  auto joined = join_pending();
  if (!joined) return std::unexpected(joined.error());
  if (*joined) return outcome;

  review::ReviewedAction reviewed{action.id,     actor,         action.door,
                                  action.target, action.verb,   decided_result.masked_params,
                                  std::nullopt,  outcome.digest};
  if (action.reason)
    reviewed.reason =
        mask::mask_text(*action.reason, mask_profile(decision.mask_profile), "/reason", nullptr);
  review::Review review = review::open_review(new_id("rv"), reviewed, decision, action.time);
  decided.review_id = review.id;
  review::ReviewChange created{"review.created",
                               actor.subject,
                               {{"rules", string_array(decision.rules)},
                                {"steps", static_cast<std::int64_t>(review.flow.steps.size())},
                                {"expires_at", format_time(review.expires_at)}}};
  std::vector<audit::AuditEvent> events{decided, event_for(review, created)};
  if (auto stored = store_.create_review(review, events); !stored) {
    // An identical submission (another thread or instance) opened its
    // review between our look and our insert: the store keeps one pending
    // review per digest and requester, and this request joins it.
    if (stored.error().code != ErrorCode::conflict) return std::unexpected(stored.error());
    auto joined_late = join_pending();
    if (!joined_late) return std::unexpected(joined_late.error());
    if (*joined_late) return outcome;
    return std::unexpected(stored.error());
  }
  notify(review);
  outcome.review = std::move(review);
  return outcome;
}

audit::AuditEvent Gateway::execution_event(const Outcome& outcome, bool succeeded,
                                           boost::json::object details) const {
  audit::AuditEvent event;
  event.time = clock_.now();
  event.type = succeeded ? "action.executed" : "action.failed";
  event.actor = outcome.action.actor.subject;
  event.action_digest = outcome.digest;
  if (outcome.review) event.review_id = outcome.review->id;
  details["action_id"] = outcome.action.id;
  details["target"] = outcome.action.target;
  details["verb"] = outcome.action.verb;
  event.details = std::move(details);
  event.controls = audit::controls_for(event.type);
  return event;
}

Result<void> Gateway::record_execution(const Outcome& outcome, bool succeeded,
                                       boost::json::object details) {
  std::vector<audit::AuditEvent> events{execution_event(outcome, succeeded, std::move(details))};
  return store_.append_events(events);
}

void Gateway::record_execution_async(const Outcome& outcome, bool succeeded,
                                     boost::json::object details, store::Store::AppendDone done) {
  std::vector<audit::AuditEvent> events{execution_event(outcome, succeeded, std::move(details))};
  store_.append_events_async(std::move(events), std::move(done));
}

Result<review::Review> Gateway::get_review(const std::string& id) { return store_.get_review(id); }

Result<store::ReviewPage> Gateway::list_reviews(const store::ReviewFilter& filter) {
  return store_.list_reviews(filter);
}

Result<review::Review> Gateway::change_review(const std::string& review_id,
                                              const ReviewMutation& mutate) {
  // Optimistic concurrency: another request (or instance) may change the
  // review between our read and write; the store refuses a stale write and
  // we start again from the fresh state.
  for (int attempt = 0; attempt < kConflictRetries; ++attempt) {
    auto loaded = store_.get_review(review_id);
    if (!loaded) return loaded;
    review::Review review = std::move(*loaded);
    const review::ReviewState before = review.state;
    auto changes = mutate(review);
    if (!changes) return std::unexpected(changes.error());
    if (changes->empty()) return review;

    std::vector<audit::AuditEvent> events;
    for (const auto& change : *changes) events.push_back(event_for(review, change));
    std::optional<review::Grant> grant;
    if (before != review::ReviewState::approved && review.state == review::ReviewState::approved) {
      grant = review::Grant{new_id("gr"),         review.id,
                            review.action.digest, review.action.actor.subject,
                            review.decided_at,    review::grant_deadline(review),
                            std::nullopt};
      review::ReviewChange issued{
          "grant.issued",
          "system",
          {{"grant_id", grant->id}, {"expires_at", format_time(grant->expires_at)}}};
      events.push_back(event_for(review, issued));
    }
    auto stored = store_.update_review(review, grant, events);
    if (stored) {
      if (!changes->empty() && changes->front().type == "review.voted") counters_.votes++;
      notify(review);
      return review;
    }
    if (stored.error().code != ErrorCode::conflict) return std::unexpected(stored.error());
  }
  return fail(ErrorCode::unavailable,
              fmt::format("review {} is changing too often; try again", review_id));
}

Result<review::Review> Gateway::vote(const std::string& review_id, const Identity& voter,
                                     bool approve, const std::string& reason) {
  // Reasons are shown to everyone and logged: mask them like parameters.
  const std::string masked_reason = mask::mask_text(reason, "/reason", nullptr);
  return change_review(review_id, [&](review::Review& review) {
    return review::vote(review, voter, approve, masked_reason, clock_.now());
  });
}

Result<review::Review> Gateway::escalate(const std::string& review_id, const Identity& by,
                                         const std::string& reason) {
  const std::string masked_reason = mask::mask_text(reason, "/reason", nullptr);
  return change_review(review_id, [&](review::Review& review) {
    return review::escalate(review, by, masked_reason, clock_.now());
  });
}

Result<review::Review> Gateway::cancel(const std::string& review_id, const Identity& by) {
  return change_review(
      review_id, [&](review::Review& review) { return review::cancel(review, by, clock_.now()); });
}

Result<int> Gateway::apply_deadlines() {
  const Millis now = clock_.now();
  auto due = store_.due_reviews(now);
  if (!due) return std::unexpected(due.error());
  int changed = 0;
  for (const auto& candidate : *due) {
    auto result = change_review(
        candidate.id, [&](review::Review& review) -> Result<std::vector<review::ReviewChange>> {
          return review::advance_time(review, now);
        });
    if (result) ++changed;
  }
  return changed;
}

}  // namespace countersign::gateway
