// Shared fixtures for the notify tests: a sample review and a scripted HTTP client.
#pragma once

#include <deque>
#include <string>
#include <vector>

#include <boost/json/parse.hpp>

#include "notify/http_client.h"
#include "review/review.h"

namespace countersign::notify::testing {

inline constexpr Millis kNow = 1'700'000'000'000;

inline review::Review sample_review(std::string id = "rv_test1") {
  Identity agent{"agent:deploy-bot", "api-key",    IdentityKind::agent,
                 {"agents"},         std::nullopt, std::string("dana@example.com")};
  review::ReviewedAction action;
  action.id = "act_1";
  action.actor = agent;
  action.door = "actions";
  action.target = "production";
  action.verb = "exec:deploy";
  action.masked_params = boost::json::object{
      {"service", "web"}, {"token", "[SECRET]"}, {"note", "<!channel> & <https://evil|click>"}};
  action.reason = "ship the fix";
  action.digest = std::string(64, 'a');
  Decision decision;
  decision.effect = Effect::review;
  decision.rules = {"production-changes"};
  decision.reason = "Changes to production need an SRE";
  Flow flow;
  FlowStep step;
  step.approvers = {"group:sre"};
  step.quorum = 1;
  step.escalate_after = 900'000;
  step.escalate_to = {"group:sre-leads"};
  flow.steps = {step};
  flow.expires_after = 3'600'000;
  decision.flow = flow;
  auto review = review::open_review(std::move(id), action, decision, kNow);
  review.version = 1;
  return review;
}

inline Identity human(std::string subject, std::vector<std::string> groups) {
  return Identity{subject,           "api-key", IdentityKind::human,
                  std::move(groups), subject,   std::nullopt};
}

// Answers requests from a script (200 {"ok":true} when it runs out) and records them.
class FakeHttpClient final : public HttpClient {
 public:
  std::vector<HttpRequest> requests;
  std::deque<Result<HttpResponse>> script;

  void reply(unsigned status, std::string body, std::map<std::string, std::string> headers = {}) {
    script.push_back(HttpResponse{status, std::move(headers), std::move(body)});
  }
  void unreachable() {
    script.push_back(std::unexpected(Error{ErrorCode::unavailable, "connect: refused"}));
  }

  Result<HttpResponse> send(const HttpRequest& request) override {
    requests.push_back(request);
    if (script.empty()) return HttpResponse{200, {}, R"({"ok":true})"};
    auto next = std::move(script.front());
    script.pop_front();
    return next;
  }

  boost::json::object body(std::size_t i) const {
    return boost::json::parse(requests.at(i).body).as_object();
  }
  std::string header(std::size_t i, const std::string& name) const {
    for (const auto& [key, value] : requests.at(i).headers)
      if (key == name) return value;
    return {};
  }
};

}  // namespace countersign::notify::testing
