// countersign reviews list|show|approve|reject|escalate|cancel
#include <iostream>

#include <CLI/CLI.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "core/clock.h"

namespace countersign::cli {
namespace {

std::string text_at(const boost::json::value& value, std::initializer_list<const char*> path) {
  const boost::json::value* current = &value;
  for (const char* key : path) {
    const auto* object = current->if_object();
    if (object == nullptr || (current = object->if_contains(key)) == nullptr) return "";
  }
  if (current->is_string()) return std::string(current->get_string());
  if (current->is_int64()) return std::to_string(current->get_int64());
  if (current->is_bool()) return current->get_bool() ? "true" : "false";
  return "";
}

Millis millis_at(const boost::json::value& value, const char* key) {
  const auto* object = value.if_object();
  const auto* field = object ? object->if_contains(key) : nullptr;
  return field && field->is_int64() ? field->get_int64() : 0;
}

std::string requester(const boost::json::value& review) {
  std::string subject = text_at(review, {"action", "actor", "subject"});
  std::string behalf = text_at(review, {"action", "actor", "on_behalf_of"});
  return behalf.empty() ? subject : subject + " for " + behalf;
}

std::string progress(const boost::json::value& review) {
  return fmt::format("step {}/{}: {}/{} approvals", text_at(review, {"progress", "step"}),
                     text_at(review, {"progress", "steps"}), text_at(review, {"progress", "approvals"}),
                     text_at(review, {"progress", "needed"}));
}

void print_review(const boost::json::value& review) {
  const Millis now = SystemClock().now();
  std::cout << fmt::format("review     {}\n", text_at(review, {"id"}));
  std::cout << fmt::format("state      {}\n", text_at(review, {"state"}));
  std::cout << fmt::format("requester  {}\n", requester(review));
  std::cout << fmt::format("target     {}\n", text_at(review, {"action", "target"}));
  std::cout << fmt::format("verb       {}\n", text_at(review, {"action", "verb"}));
  const auto* action = review.as_object().if_contains("action");
  if (action && action->is_object()) {
    if (const auto* params = action->get_object().if_contains("masked_params"))
      std::cout << fmt::format("params     {}\n", boost::json::serialize(*params));
  }
  if (auto reason = text_at(review, {"action", "reason"}); !reason.empty())
    std::cout << fmt::format("reason     {}\n", reason);
  std::cout << fmt::format("policy     {}\n", text_at(review, {"policy_reason"}));
  std::cout << fmt::format("digest     {}\n", text_at(review, {"action", "digest"}));
  std::cout << fmt::format("progress   {}\n", progress(review));
  std::string eligible;
  if (const auto* list = review.as_object().at("progress").as_object().if_contains("eligible"))
    for (const auto& item : list->as_array())
      eligible += (eligible.empty() ? "" : ", ") + std::string(item.as_string());
  std::cout << fmt::format("approvers  {}\n", eligible);
  std::cout << fmt::format("created    {}\n", text_at(review, {"created_at_text"}));
  if (text_at(review, {"state"}) == "pending")
    std::cout << fmt::format("expires    {} (in {})\n", text_at(review, {"expires_at_text"}),
                             format_duration(millis_at(review, "expires_at") - now));
  if (auto outcome = text_at(review, {"outcome_reason"}); !outcome.empty())
    std::cout << fmt::format("outcome    {}\n", outcome);
  if (const auto* votes = review.as_object().if_contains("votes"); votes && votes->is_array()) {
    for (const auto& vote : votes->as_array()) {
      std::cout << fmt::format("vote       {} {} at step {}{}\n", text_at(vote, {"approver"}),
                               text_at(vote, {"approve"}) == "true" ? "approved" : "rejected",
                               std::stoi(text_at(vote, {"step"}).empty() ? "0" : text_at(vote, {"step"})) + 1,
                               text_at(vote, {"reason"}).empty() ? "" : ": " + text_at(vote, {"reason"}));
    }
  }
  if (text_at(review, {"viewer", "may_vote"}) == "true")
    std::cout << "you        may vote\n";
  else if (auto why = text_at(review, {"viewer", "why_not"}); !why.empty())
    std::cout << fmt::format("you        may not vote: {}\n", why);
}

int list(const ClientOptions& client, const std::string& state, const std::string& requester_filter,
         int limit) {
  std::string target = fmt::format("/v1/reviews?limit={}", limit);
  if (!state.empty()) target += "&state=" + url_encode(state);
  if (!requester_filter.empty()) target += "&requester=" + url_encode(requester_filter);
  auto answer = call(client, "GET", target);
  if (!answer) return report(answer.error());
  const auto& reviews = answer->body.as_object().at("reviews").as_array();
  if (client.json) {
    std::cout << boost::json::serialize(answer->body) << "\n";
    return kExitOk;
  }
  if (reviews.empty()) {
    std::cout << "no reviews" << (state.empty() ? "" : " in state " + state) << "\n";
    return kExitOk;
  }
  const Millis now = SystemClock().now();
  std::cout << fmt::format("{:<36} {:<9} {:<12} {:<24} {:<40} {}\n", "ID", "STATE", "TARGET", "VERB",
                           "REQUESTER", "WAITING");
  for (const auto& review : reviews) {
    std::cout << fmt::format("{:<36} {:<9} {:<12} {:<24} {:<40} {}\n", text_at(review, {"id"}),
                             text_at(review, {"state"}), text_at(review, {"action", "target"}),
                             text_at(review, {"action", "verb"}), requester(review),
                             format_duration(now - millis_at(review, "created_at")));
  }
  return kExitOk;
}

int show(const ClientOptions& client, const std::string& id) {
  auto answer = call(client, "GET", "/v1/reviews/" + url_encode(id));
  if (!answer) return report(answer.error());
  if (client.json) std::cout << boost::json::serialize(answer->body) << "\n";
  else print_review(answer->body);
  return kExitOk;
}

int decide(const ClientOptions& client, const std::string& id, const std::string& verb,
           const std::string& reason) {
  boost::json::value body = boost::json::object();
  if (!reason.empty()) body.as_object()["reason"] = reason;
  auto answer = call(client, "POST", "/v1/reviews/" + url_encode(id) + "/" + verb, &body);
  if (!answer) return report(answer.error());
  if (client.json) {
    std::cout << boost::json::serialize(answer->body) << "\n";
    return kExitOk;
  }
  const auto& review = answer->body;
  std::string state = text_at(review, {"state"});
  std::string detail = state == "pending" ? progress(review) : text_at(review, {"outcome_reason"});
  std::cout << fmt::format("{}: {}{}\n", text_at(review, {"id"}), state,
                           detail.empty() ? "" : " (" + detail + ")");
  return kExitOk;
}

}  // namespace

void add_review_commands(CLI::App& app, ClientOptions& client, int& exit_code) {
  auto* reviews = app.add_subcommand("reviews", "List and decide reviews on a running gateway");
  reviews->require_subcommand(1);

  static std::string state, requester_filter, id, reason;
  static int limit = 50;
  auto* list_command = reviews->add_subcommand("list", "List reviews, newest first");
  list_command->add_option("--state", state, "pending, approved, rejected, expired, cancelled, executed, failed");
  list_command->add_option("--requester", requester_filter, "Only this requester ('me' for yourself)");
  list_command->add_option("--limit", limit, "At most this many (1-500)")->check(CLI::Range(1, 500));
  add_client_options(*list_command, client);
  list_command->callback([&] { exit_code = list(client, state, requester_filter, limit); });

  auto* show_command = reviews->add_subcommand("show", "Show one review: masked action, flow, votes");
  show_command->add_option("ID", id, "Review id")->required();
  add_client_options(*show_command, client);
  show_command->callback([&] { exit_code = show(client, id); });

  struct Verb {
    const char* name;
    const char* help;
    bool reason_required;
  };
  static const Verb verbs[] = {
      {"approve", "Approve a pending review (as a human approver)", false},
      {"reject", "Reject a pending review; --reason is required", true},
      {"escalate", "Hand the current step to its escalate_to approvers", false},
      {"cancel", "Cancel your own pending request", false},
  };
  for (const auto& verb : verbs) {
    auto* command = reviews->add_subcommand(verb.name, verb.help);
    command->add_option("ID", id, "Review id")->required();
    if (std::string_view(verb.name) != "cancel") {
      auto* option = command->add_option("--reason", reason, "Why (shown to everyone and audited)");
      if (verb.reason_required) option->required();
    }
    add_client_options(*command, client);
    command->callback([&client, &exit_code, name = verb.name] {
      exit_code = decide(client, id, name, reason);
    });
  }
}

}  // namespace countersign::cli
