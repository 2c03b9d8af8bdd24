#include "server/api.h"

#include <charconv>
#include <ctime>

#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include "core/canonical_json.h"
#include "doors/actions/actions_door.h"
#include "server/audit_api.h"
#include "server/slack_api.h"
#include "server/ui_handler.h"

namespace countersign::server {
namespace {

ApiResponse json_response(unsigned status, const boost::json::value& body) {
  ApiResponse response;
  response.status = status;
  response.body = boost::json::serialize(body);
  response.body.push_back('\n');
  // JSON is never a page: nothing in it may run or be framed.
  response.headers.emplace_back("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
  return response;
}

HandlerResult answer(ApiResponse response) { return HandlerResult{std::move(response), std::nullopt}; }

// Splits "/v1/reviews/rv_1/approve" into {"v1", "reviews", "rv_1", "approve"}.
std::vector<std::string> path_segments(const std::string& path) {
  std::vector<std::string> segments;
  std::size_t start = 1;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (end > start) segments.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return segments;
}

Result<long long> integer_parameter(const ApiRequest& request, const std::string& name,
                                    long long fallback, long long min, long long max) {
  auto found = request.query.find(name);
  if (found == request.query.end() || found->second.empty()) return fallback;
  long long value = 0;
  const std::string& text = found->second;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < min || value > max)
    return fail(ErrorCode::invalid_argument,
                fmt::format("query parameter '{}' must be an integer from {} to {}", name, min, max));
  return value;
}

// Accepts integer milliseconds or RFC 3339 UTC ("2026-11-22T10:00:00Z").
Result<Millis> time_parameter(const ApiRequest& request, const std::string& name) {
  auto found = request.query.find(name);
  if (found == request.query.end() || found->second.empty()) return 0;
  const std::string& text = found->second;
  if (text.find_first_not_of("0123456789") == std::string::npos && text.size() < 18)
    return std::stoll(text);
  std::tm parts{};
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &parts.tm_year, &parts.tm_mon,
                  &parts.tm_mday, &parts.tm_hour, &parts.tm_min, &parts.tm_sec, &consumed) == 6) {
    parts.tm_year -= 1900;
    parts.tm_mon -= 1;
    return static_cast<Millis>(timegm(&parts)) * 1000;
  }
  return fail(ErrorCode::invalid_argument,
              fmt::format("query parameter '{}' must be milliseconds or RFC 3339 UTC", name));
}

Result<boost::json::value> parse_body(const ApiRequest& request, bool allow_empty) {
  if (request.body.empty()) {
    if (allow_empty) return boost::json::value(boost::json::object());
    return fail(ErrorCode::invalid_argument, "a JSON body is required");
  }
  // The exact parser: parameters are hashed into the action digest, so they
  // must read the same here as in any other RFC 8785 implementation.
  auto body = parse_json(request.body);
  if (!body) return fail(ErrorCode::invalid_argument, "malformed JSON body: " + body.error().message);
  return body;
}

boost::json::object review_view(const review::Review& review, const Identity& caller) {
  boost::json::object view = review::to_json(review);
  boost::json::array eligible;
  for (const auto& approver : review::eligible_approvers(review)) eligible.emplace_back(approver);
  view["progress"] = {{"step", review.step + 1},
                      {"steps", static_cast<std::int64_t>(review.flow.steps.size())},
                      {"approvals", review::approvals_at_step(review)},
                      {"needed", review::approvals_needed(review)},
                      {"eligible", std::move(eligible)}};
  auto refusal = review::vote_refusal(review, caller);
  boost::json::object viewer = {{"subject", caller.subject}, {"may_vote", !refusal.has_value()}};
  if (refusal) viewer["why_not"] = refusal->message;
  view["viewer"] = std::move(viewer);
  return view;
}

}  // namespace

unsigned status_for(ErrorCode code) {
  switch (code) {
    case ErrorCode::invalid_argument: return 400;
    case ErrorCode::unauthenticated: return 401;
    case ErrorCode::permission_denied: return 403;
    case ErrorCode::not_found: return 404;
    case ErrorCode::conflict: return 409;
    case ErrorCode::failed_precondition: return 409;
    case ErrorCode::too_large: return 413;
    case ErrorCode::unavailable: return 503;
    case ErrorCode::internal: return 500;
  }
  return 500;
}

ApiResponse error_response(const Error& error) {
  boost::json::object body = {
      {"error", {{"code", error_code_name(error.code)}, {"message", error.message}}}};
  ApiResponse response = json_response(status_for(error.code), body);
  if (error.code == ErrorCode::unauthenticated)
    response.headers.emplace_back("WWW-Authenticate", "Bearer");
  return response;
}

void RequestMetrics::observe(double seconds) {
  for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i)
    if (seconds <= kLatencyBuckets[i]) buckets[i]++;
  count++;
  sum_microseconds += static_cast<std::uint64_t>(seconds * 1e6);
}

HandlerResult Api::handle(const ApiRequest& request) {
  const auto segments = path_segments(request.path);
  const std::string& method = request.method;

  if (request.path == "/healthz" && method == "GET")
    return answer(json_response(200, {{"status", "ok"}}));
  if (request.path == "/readyz" && method == "GET") {
    bool ready = gateway_.store().healthy();
    return answer(json_response(ready ? 200 : 503, {{"status", ready ? "ready" : "storage unavailable"}}));
  }
  if (request.path == "/metrics" && method == "GET") return answer(metrics());
  if (ui_ && UiHandler::owns(request.path)) return answer(ui_->handle(request));
  if (request.path == "/integrations/slack/interactions") {
    if (slack_ == nullptr)
      return answer(error_response({ErrorCode::not_found, "Slack is not configured (channels.slack)"}));
    return answer(slack_->handle(request));  // signed by Slack, not by a bearer credential
  }

  if (segments.empty() || segments[0] != "v1")
    return answer(error_response({ErrorCode::not_found, "no such endpoint: " + request.path}));

  // Everything under /v1 needs an identity: a bearer credential, or the web
  // UI's session cookie (with its CSRF token on state-changing requests).
  std::optional<Result<Identity>> session_caller;
  if (ui_) session_caller = ui_->authenticate(request);
  auto caller = session_caller ? std::move(*session_caller)
                               : gateway_.authenticate(request.authorization, request.client_address,
                                                                       request.peer_identity);
  if (!caller) return answer(error_response(caller.error()));

  auto method_not_allowed = [&] {
    ApiResponse response = json_response(
        405, {{"error",
               {{"code", "method_not_allowed"},
                {"message", fmt::format("{} is not supported on {}", method, request.path)}}}});
    return answer(std::move(response));
  };
  if (segments.size() == 2 && segments[1] == "whoami") {
    if (method != "GET") return method_not_allowed();
    return answer(json_response(200, to_json(*caller)));
  }
  if (segments.size() == 2 && segments[1] == "actions") {
    if (method != "POST") return method_not_allowed();
    return submit_action(request, *caller);
  }
  if (segments.size() >= 2 && segments[1] == "reviews") {
    if (segments.size() == 2) {
      if (method != "GET") return method_not_allowed();
      return answer(list_reviews(request, *caller));
    }
    if (segments.size() == 3) {
      if (method != "GET") return method_not_allowed();
      return get_review(request, *caller, segments[2]);
    }
    if (segments.size() == 4) {
      const std::string& verb = segments[3];
      if (verb != "approve" && verb != "reject" && verb != "escalate" && verb != "cancel")
        return answer(error_response({ErrorCode::not_found, "no such endpoint: " + request.path}));
      if (method != "POST") return method_not_allowed();
      return answer(decide(request, *caller, segments[2], verb));
    }
  }
  if (segments.size() == 3 && segments[1] == "audit" && segments[2] != "events") {
    if (method != "GET") return method_not_allowed();
    if (caller->kind == IdentityKind::agent)
      return answer(error_response(
          {ErrorCode::permission_denied, "agents may not read the audit log"}));
    return answer(handle_audit_request(request, gateway_.store(), *audit_log_, segments[2]));
  }
  if (segments.size() == 3 && segments[1] == "audit" && segments[2] == "events") {
    if (method != "GET") return method_not_allowed();
    // Agents act; people and services oversee. An agent reading the log
    // could learn who approves what and when.
    if (caller->kind == IdentityKind::agent)
      return answer(error_response(
          {ErrorCode::permission_denied, "agents may not read the audit log"}));
    return answer(list_events(request));
  }
  return answer(error_response({ErrorCode::not_found, "no such endpoint: " + request.path}));
}

HandlerResult Api::submit_action(const ApiRequest& request, const Identity& actor) {
  auto body = parse_body(request, false);
  if (!body) return answer(error_response(body.error()));
  auto parsed = doors::actions::parse_action_request(*body, request.client_address);
  if (!parsed) return answer(error_response(parsed.error()));
  auto wait = integer_parameter(request, "wait", 0, 0, gateway_.config().max_wait / 1000);
  if (!wait) return answer(error_response(wait.error()));

  const auto& targets = gateway_.config().targets;
  auto target = targets.find(parsed->target);
  if (target == targets.end())
    return answer(error_response({ErrorCode::not_found, "unknown target '" + parsed->target + "'"}));
  // Resolve the target's secrets before deciding, so a misconfiguration
  // never spends a grant.
  auto secrets = doors::actions::resolve_target_secrets(target->second);
  if (!secrets) return answer(error_response({ErrorCode::unavailable, secrets.error().message}));

  // A caller may ask to be held, but never longer than the target allows.
  const Millis hold = std::min<Millis>(*wait * 1000, target->second.hold_timeout);
  auto submission = std::make_shared<const PendingSubmission>(PendingSubmission{
      std::move(*parsed), actor, std::move(*secrets), gateway_.clock().now() + hold});
  return attempt_action(submission);
}

HandlerResult Api::attempt_action(const std::shared_ptr<const PendingSubmission>& submission) {
  auto outcome = gateway_.submit(submission->actor, submission->request);
  if (!outcome) return answer(error_response(outcome.error()));
  const std::string& public_url = gateway_.config().public_url;
  if (outcome->execute) {
    boost::json::array released;
    for (const auto& [name, value] : submission->secrets) released.emplace_back(name);
    (void)gateway_.record_execution(*outcome, true, {{"released_secrets", std::move(released)}});
    return answer(json_response(
        200, doors::actions::outcome_json(*outcome, submission->secrets, public_url)));
  }
  if (outcome->decision.effect == Effect::deny)
    return answer(json_response(403, doors::actions::outcome_json(*outcome, {}, public_url)));
  return hold_or_answer(submission, *outcome->review, false);
}

HandlerResult Api::hold_or_answer(const std::shared_ptr<const PendingSubmission>& submission,
                                  const review::Review& review, bool timed_out) {
  const std::string& public_url = gateway_.config().public_url;
  switch (review.state) {
    case review::ReviewState::pending:
      break;
    case review::ReviewState::approved:
    case review::ReviewState::executed:
    case review::ReviewState::failed:
      // Decided in favour: submit again, which redeems the grant.
      return attempt_action(submission);
    default:
      return answer(json_response(403, doors::actions::review_json(review, public_url)));
  }
  if (timed_out || gateway_.clock().now() >= submission->deadline) {
    ApiResponse response = json_response(202, doors::actions::review_json(review, public_url));
    response.headers.emplace_back("Location", "/v1/reviews/" + review.id);
    response.headers.emplace_back("Retry-After", "5");
    return answer(std::move(response));
  }
  std::string review_id = review.id;
  return HandlerResult{{}, Hold{review_id, submission->deadline,
                                [this, submission, review_id](bool timed_out) -> HandlerResult {
                                  auto current = gateway_.get_review(review_id);
                                  if (!current) return answer(error_response(current.error()));
                                  return hold_or_answer(submission, *current, timed_out);
                                }}};
}

HandlerResult Api::get_review(const ApiRequest& request, const Identity& caller,
                              const std::string& id) {
  auto wait = integer_parameter(request, "wait", 0, 0, gateway_.config().max_wait / 1000);
  if (!wait) return answer(error_response(wait.error()));
  auto review = gateway_.get_review(id);
  if (!review) return answer(error_response(review.error()));
  if (*wait == 0 || review->state != review::ReviewState::pending)
    return answer(json_response(200, review_view(*review, caller)));

  const Millis deadline = gateway_.clock().now() + *wait * 1000;
  auto resume = std::make_shared<std::function<HandlerResult(bool)>>();
  *resume = [this, id, caller, deadline, resume](bool timed_out) -> HandlerResult {
    auto current = gateway_.get_review(id);
    if (!current) return answer(error_response(current.error()));
    if (current->state != review::ReviewState::pending || timed_out ||
        gateway_.clock().now() >= deadline)
      return answer(json_response(200, review_view(*current, caller)));
    return HandlerResult{{}, Hold{id, deadline, *resume}};
  };
  return HandlerResult{{}, Hold{id, deadline, *resume}};
}

ApiResponse Api::list_reviews(const ApiRequest& request, const Identity& caller) {
  store::ReviewFilter filter;
  if (auto state = request.query.find("state"); state != request.query.end() && !state->second.empty()) {
    auto parsed = review::parse_state(state->second);
    if (!parsed)
      return error_response({ErrorCode::invalid_argument,
                             "state must be one of pending, approved, rejected, expired, "
                             "cancelled, executed, failed"});
    filter.state = parsed;
  }
  if (auto requester = request.query.find("requester"); requester != request.query.end() &&
                                                        !requester->second.empty())
    filter.requester = requester->second == "me" ? caller.subject : requester->second;
  auto limit = integer_parameter(request, "limit", 50, 1, 500);
  if (!limit) return error_response(limit.error());
  filter.limit = static_cast<int>(*limit);
  if (auto cursor = request.query.find("cursor"); cursor != request.query.end())
    filter.cursor = cursor->second;
  auto page = gateway_.list_reviews(filter);
  if (!page) return error_response(page.error());
  boost::json::array reviews;
  for (const auto& review : page->reviews) reviews.push_back(review_view(review, caller));
  boost::json::object body = {{"reviews", std::move(reviews)}};
  if (!page->next_cursor.empty()) body["next_cursor"] = page->next_cursor;
  return json_response(200, body);
}

ApiResponse Api::decide(const ApiRequest& request, const Identity& caller, const std::string& id,
                        const std::string& verb) {
  auto body = parse_body(request, true);
  if (!body) return error_response(body.error());
  std::string reason;
  if (const auto* object = body->if_object()) {
    if (const auto* value = object->if_contains("reason")) {
      if (!value->is_string()) return error_response({ErrorCode::invalid_argument, "'reason' must be a string"});
      reason = std::string(value->get_string());
    }
  } else {
    return error_response({ErrorCode::invalid_argument, "the body must be a JSON object"});
  }
  Result<review::Review> result;
  if (verb == "approve") result = gateway_.vote(id, caller, true, reason);
  else if (verb == "reject") result = gateway_.vote(id, caller, false, reason);
  else if (verb == "escalate") result = gateway_.escalate(id, caller, reason);
  else result = gateway_.cancel(id, caller);
  if (!result) return error_response(result.error());
  return json_response(200, review_view(*result, caller));
}

ApiResponse Api::list_events(const ApiRequest& request) {
  store::AuditFilter filter;
  auto text = [&](const char* name) {
    auto found = request.query.find(name);
    return found == request.query.end() ? std::string() : found->second;
  };
  filter.actor = text("actor");
  filter.verb = text("verb");
  filter.type = text("type");
  filter.review_id = text("review_id");
  if (filter.review_id.empty()) filter.review_id = text("review");
  filter.target = text("target");
  filter.text = text("q");
  auto from = time_parameter(request, "from");
  if (!from) return error_response(from.error());
  auto to = time_parameter(request, "to");
  if (!to) return error_response(to.error());
  filter.from = *from;
  filter.to = *to;
  auto cursor = integer_parameter(request, "cursor", -1, -1, INT64_MAX);
  if (!cursor) return error_response(cursor.error());
  filter.after_index = *cursor;
  auto limit = integer_parameter(request, "limit", 100, 1, 1000);
  if (!limit) return error_response(limit.error());
  filter.limit = static_cast<int>(*limit);
  auto page = gateway_.store().list_events(filter);
  if (!page) return error_response(page.error());
  boost::json::array events;
  for (const auto& event : page->events) events.push_back(audit::to_json(event));
  boost::json::object body = {{"events", std::move(events)}};
  if (page->next_cursor >= 0) body["next_cursor"] = std::to_string(page->next_cursor);
  return json_response(200, body);
}

ApiResponse Api::metrics() {
  auto& counters = gateway_.counters();
  std::string out;
  auto line = [&](std::string_view text) {
    out += text;
    out += '\n';
  };
  line("# HELP countersign_decisions_total Policy decisions by effect.");
  line("# TYPE countersign_decisions_total counter");
  line(fmt::format("countersign_decisions_total{{effect=\"allow\"}} {}", counters.decisions_allow.load()));
  line(fmt::format("countersign_decisions_total{{effect=\"deny\"}} {}", counters.decisions_deny.load()));
  line(fmt::format("countersign_decisions_total{{effect=\"review\"}} {}", counters.decisions_review.load()));
  line("# HELP countersign_reviews_pending Reviews waiting for a decision.");
  line("# TYPE countersign_reviews_pending gauge");
  auto pending = gateway_.store().count_reviews(review::ReviewState::pending);
  line(fmt::format("countersign_reviews_pending {}", pending ? *pending : -1));
  line("# HELP countersign_grants_redeemed_total Approved grants redeemed by an execution.");
  line("# TYPE countersign_grants_redeemed_total counter");
  line(fmt::format("countersign_grants_redeemed_total {}", counters.grants_redeemed.load()));
  line("# HELP countersign_votes_total Votes recorded.");
  line("# TYPE countersign_votes_total counter");
  line(fmt::format("countersign_votes_total {}", counters.votes.load()));
  line("# HELP countersign_authentication_failures_total Requests refused for missing or wrong credentials.");
  line("# TYPE countersign_authentication_failures_total counter");
  line(fmt::format("countersign_authentication_failures_total {}", counters.authentication_failures.load()));
  auto outbox = gateway_.store().outbox_status();
  line("# HELP countersign_outbox_pending Notifications waiting for delivery (Slack, Teams, webhooks).");
  line("# TYPE countersign_outbox_pending gauge");
  line(fmt::format("countersign_outbox_pending {}", outbox ? outbox->pending : -1));
  line("# HELP countersign_outbox_dead Notifications given up after retries.");
  line("# TYPE countersign_outbox_dead gauge");
  line(fmt::format("countersign_outbox_dead {}", outbox ? outbox->dead : -1));
  line("# HELP countersign_http_request_duration_seconds Time to answer an HTTP request (holds excluded).");
  line("# TYPE countersign_http_request_duration_seconds histogram");
  for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i)
    line(fmt::format("countersign_http_request_duration_seconds_bucket{{le=\"{}\"}} {}", kLatencyBuckets[i],
                     request_metrics_.buckets[i].load()));
  line(fmt::format("countersign_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {}",
                   request_metrics_.count.load()));
  line(fmt::format("countersign_http_request_duration_seconds_sum {}",
                   request_metrics_.sum_microseconds.load() / 1e6));
  line(fmt::format("countersign_http_request_duration_seconds_count {}", request_metrics_.count.load()));
  ApiResponse response;
  response.content_type = "text/plain; version=0.0.4";
  response.body = std::move(out);
  return response;
}

}  // namespace countersign::server
