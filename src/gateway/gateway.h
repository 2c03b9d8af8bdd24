// The one data path every door shares:
//   identify -> describe -> decide -> review -> (door executes) -> audit.
// A door parses its protocol into an ActionRequest, calls submit(), and acts
// on the Outcome; approvers call vote()/escalate()/cancel(). The Gateway owns
// no sockets and never blocks waiting for a human: doors wait by subscribing
// to review changes (set_review_listener) and resubmitting when woken.
// It must never execute, or report as allowed, an action whose digest was not
// allowed by policy or approved by a review, and never twice for one grant.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "config/config.h"
#include "core/action.h"
#include "core/clock.h"
#include "core/decision.h"
#include "identity/api_keys.h"
#include "identity/oidc.h"
#include "mask/mask.h"
#include "policy/policy.h"
#include "review/review.h"
#include "store/store.h"

namespace countersign::gateway {

// What a door knows about a request before it becomes an Action.
struct ActionRequest {
  std::string door;
  std::string target;
  std::string verb;
  boost::json::value params = boost::json::object();
  std::optional<std::string> reason;
  std::optional<std::string> session;
  std::string client_address;
};

// What submit() concluded.
struct Outcome {
  Action action;
  std::string digest;
  Decision decision;
  // Set when policy asked for review: the pending (new or joined) review, or
  // the approved review whose grant this submission redeemed.
  std::optional<review::Review> review;
  // True when the door may perform the action now: policy allowed it, or a
  // grant for this exact digest was redeemed by this call.
  bool execute = false;
  std::optional<review::Grant> redeemed_grant;
};

// Counters for /metrics; read without locks, so plain atomics.
struct Counters {
  std::atomic<std::uint64_t> decisions_allow{0};
  std::atomic<std::uint64_t> decisions_deny{0};
  std::atomic<std::uint64_t> decisions_review{0};
  std::atomic<std::uint64_t> grants_redeemed{0};
  std::atomic<std::uint64_t> votes{0};
  std::atomic<std::uint64_t> authentication_failures{0};
};

// The configured mask profiles over the built-in `default`, compiled, with
// the deployment's hash key (masking.hash_key, or <sqlite path>.mask-key).
std::map<std::string, mask::MaskProfile> build_mask_profiles(const config::Config& config);

class Gateway {
 public:
  Gateway(config::Config config, policy::Policy policy, store::Store& store, const Clock& clock);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  const config::Config& config() const { return config_; }
  // The base URL in "approve at ..." messages, once the listener knows its port.
  void set_public_url(std::string url) { config_.public_url = std::move(url); }
  const policy::Policy& policy() const { return policy_; }
  store::Store& store() { return store_; }
  const Clock& clock() const { return clock_; }
  Counters& counters() { return counters_; }

  // identify: the identity behind a bearer credential. Failures are audited
  // (without the credential).
  // A bearer shaped like a JWT is verified against the OIDC issuers; any
  // other bearer is an API key. `peer` is the identity from a verified TLS
  // client certificate, used when the request carries no Authorization.
  Result<Identity> authenticate(std::string_view authorization_header,
                                const std::string& client_address,
                                const std::optional<Identity>& peer = std::nullopt);

  // Fetches the OIDC issuers' discovery documents and keys (blocking) and
  // starts the background key refresher. Call once before serving.
  Result<void> start_identity();
  // The OIDC verifier (for browser login), or null when no issuer is configured.
  identity::OidcAuthenticator* oidc() { return oidc_.get(); }

  // describe + decide + review: decides the action and, for review, opens or
  // joins a review, or redeems an approved grant for the identical action.
  Result<Outcome> submit(const Identity& actor, const ActionRequest& request);

  // submit() for doors on an event loop. When policy allows or denies, the
  // decision's audit event joins the store's next group commit and `done`
  // runs once it is durable, on the store's writer thread (post it back to
  // the loop); the caller never waits for the database. A decision to
  // review is carried out as in submit() and `done` runs before this
  // returns. Either way the door learns the outcome only once it is audited.
  using SubmitDone = std::function<void(Result<Outcome>)>;
  void submit_async(const Identity& actor, const ActionRequest& request, SubmitDone done);

  // Called by a door after performing (or failing) an action it was allowed
  // to execute, so the audit log records the result.
  Result<void> record_execution(const Outcome& outcome, bool succeeded,
                                boost::json::object details);
  // The same without waiting: `done` runs once the event is durable, on
  // the store's writer thread.
  void record_execution_async(const Outcome& outcome, bool succeeded, boost::json::object details,
                              store::Store::AppendDone done);

  Result<review::Review> get_review(const std::string& id);
  Result<store::ReviewPage> list_reviews(const store::ReviewFilter& filter);

  Result<review::Review> vote(const std::string& review_id, const Identity& voter, bool approve,
                              const std::string& reason);
  Result<review::Review> escalate(const std::string& review_id, const Identity& by,
                                  const std::string& reason);
  Result<review::Review> cancel(const std::string& review_id, const Identity& by);

  // Applies escalation and expiry deadlines that have passed. Deadlines come
  // from stored times, so they hold across restarts. Returns how many
  // reviews changed.
  Result<int> apply_deadlines();

  // Called after every stored review change (on the caller's thread).
  void set_review_listener(std::function<void(const review::Review&)> listener);
  // Further listeners (e.g. the web UI's live updates), called after the one
  // above. Add them before serving; they live as long as the Gateway.
  void add_review_listener(std::function<void(const review::Review&)> listener);

  const mask::MaskProfile& mask_profile(const std::string& name) const;
  // Masks a response going back to an agent when the deciding rule named a
  // mask profile (JSON-aware; text otherwise). For doors that return bodies.
  mask::MaskedBody mask_response(const std::string& profile, std::string_view body) const;

 private:
  using ReviewMutation = std::function<Result<std::vector<review::ReviewChange>>(review::Review&)>;
  Result<review::Review> change_review(const std::string& review_id, const ReviewMutation& mutate);
  audit::AuditEvent event_for(const review::Review& review, const review::ReviewChange& change);
  // describe + decide: the outcome (not yet audited) and its action.decided event.
  struct Decided {
    Outcome outcome;
    audit::AuditEvent event;
    boost::json::value masked_params;
  };
  Result<Decided> decide(const Identity& actor, const ActionRequest& request);
  // The review branch of submit(): redeem, join or open a review.
  Result<Outcome> submit_review(const Identity& actor, Decided decided);
  audit::AuditEvent execution_event(const Outcome& outcome, bool succeeded,
                                    boost::json::object details) const;
  void notify(const review::Review& review);

  config::Config config_;
  policy::Policy policy_;
  store::Store& store_;
  const Clock& clock_;
  identity::ApiKeyDirectory api_keys_;
  std::unique_ptr<identity::OidcAuthenticator> oidc_;
  std::map<std::string, mask::MaskProfile> mask_profiles_;
  std::function<void(const review::Review&)> review_listener_;
  std::vector<std::function<void(const review::Review&)>> more_review_listeners_;
  Counters counters_;
};

}  // namespace countersign::gateway
