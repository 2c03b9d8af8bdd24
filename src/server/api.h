// The HTTP API as plain functions from a request to a response, with no
// networking library in sight: the Beast server (http_server.cc) parses the
// wire and calls handle(); tests can call it directly. A handler that must
// wait for a human returns a Hold instead of blocking; the server resumes it
// when the review changes or the hold's deadline passes.
// Responses never contain stack traces, raw secrets (except an executing
// exec's released secrets, to its own requester) or unmasked parameters.
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gateway/gateway.h"

namespace countersign::server {

struct ApiRequest {
  std::string method;                       // "GET", "POST", ...
  std::string path;                         // "/v1/reviews/rv_1" (no query)
  std::map<std::string, std::string> query; // decoded query parameters
  std::string authorization;                // the Authorization header value
  std::string content_type;
  std::string body;
  std::string client_address;
  std::optional<Identity> peer_identity;    // from a verified TLS client certificate (mTLS)
  std::string cookie;                       // the Cookie header value (web UI session)
  std::string csrf_token;                   // the X-CSRF-Token header value (web UI)
  std::map<std::string, std::string> headers;  // every header, names in lower case
};

struct ApiResponse {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct HandlerResult;
class UiHandler;
class SlackInteractions;

// A request waiting on a review: call resume() when review `review_id`
// changes or at `deadline` (pass timed_out = true then).
struct Hold {
  std::string review_id;
  Millis deadline = 0;
  std::function<HandlerResult(bool timed_out)> resume;
};

struct HandlerResult {
  ApiResponse response;
  std::optional<Hold> hold;
};

// Request latency histogram buckets (seconds) for /metrics.
inline constexpr std::array<double, 10> kLatencyBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                           0.005,  0.01,    0.1,    1.0,   10.0};

struct RequestMetrics {
  std::array<std::atomic<std::uint64_t>, kLatencyBuckets.size()> buckets{};
  std::atomic<std::uint64_t> count{0};
  std::atomic<std::uint64_t> sum_microseconds{0};
  void observe(double seconds);
};

class AuditLog;  // server/audit_api.h
std::shared_ptr<AuditLog> make_audit_log(gateway::Gateway& gateway);

class Api {
 public:
  explicit Api(gateway::Gateway& gateway) : gateway_(gateway), audit_log_(make_audit_log(gateway)) {}

  HandlerResult handle(const ApiRequest& request);
  RequestMetrics& request_metrics() { return request_metrics_; }
  // Issues audit checkpoints; the server's sweep calls checkpoint_if_due().
  AuditLog& audit_log() { return *audit_log_; }
  // The web UI: serves /ui, and signs in /v1 requests by its session cookie.
  void set_ui(UiHandler* ui) { ui_ = ui; }
  // Slack interactivity: serves POST /integrations/slack/interactions.
  void set_slack(SlackInteractions* slack) { slack_ = slack; }

 private:
  // An action request that may be held: everything needed to submit it again.
  struct PendingSubmission {
    gateway::ActionRequest request;
    Identity actor;
    std::map<std::string, std::string> secrets;
    Millis deadline = 0;
  };

  HandlerResult submit_action(const ApiRequest& request, const Identity& actor);
  HandlerResult attempt_action(const std::shared_ptr<const PendingSubmission>& submission);
  HandlerResult hold_or_answer(const std::shared_ptr<const PendingSubmission>& submission,
                               const review::Review& review, bool timed_out);
  HandlerResult get_review(const ApiRequest& request, const Identity& caller, const std::string& id);
  ApiResponse list_reviews(const ApiRequest& request, const Identity& caller);
  ApiResponse decide(const ApiRequest& request, const Identity& caller, const std::string& id,
                     const std::string& verb);
  ApiResponse list_events(const ApiRequest& request);
  ApiResponse metrics();

  gateway::Gateway& gateway_;
  std::shared_ptr<AuditLog> audit_log_;
  RequestMetrics request_metrics_;
  UiHandler* ui_ = nullptr;
  SlackInteractions* slack_ = nullptr;
};

// {"error": {"code": ..., "message": ...}} with the status that fits the code.
ApiResponse error_response(const Error& error);
unsigned status_for(ErrorCode code);

}  // namespace countersign::server
