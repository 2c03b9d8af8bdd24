// Shared plumbing for commands that talk to a running gateway.
#include <iostream>

#include <CLI/CLI.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/http_client.h"

namespace countersign::cli {

Result<ApiAnswer> call(const ClientOptions& client, const std::string& method,
                       const std::string& target, const boost::json::value* body,
                       int timeout_seconds) {
  std::string payload = body ? boost::json::serialize(*body) : std::string();
  auto reply = http_call(client.server, method, target, client.token, payload, timeout_seconds);
  if (!reply) return std::unexpected(reply.error());
  ApiAnswer answer;
  answer.status = reply->status;
  boost::system::error_code error;
  answer.body = boost::json::parse(reply->body, error);
  if (error)
    return fail(ErrorCode::internal,
                fmt::format("the server answered {} with a body that is not JSON", reply->status));
  if (answer.status >= 400) {
    // Statuses that carry a decision (403 deny / rejected) are answers, not errors.
    const auto* object = answer.body.if_object();
    const auto* problem = object ? object->if_contains("error") : nullptr;
    if (problem && problem->is_object()) {
      const auto* message = problem->get_object().if_contains("message");
      const auto* code = problem->get_object().if_contains("code");
      ErrorCode error_code = ErrorCode::internal;
      if (answer.status == 401) error_code = ErrorCode::unauthenticated;
      else if (answer.status == 403) error_code = ErrorCode::permission_denied;
      else if (answer.status == 404) error_code = ErrorCode::not_found;
      else if (answer.status == 409) error_code = ErrorCode::conflict;
      else if (answer.status == 400 || answer.status == 413) error_code = ErrorCode::invalid_argument;
      std::string text = message && message->is_string() ? std::string(message->get_string())
                                                         : std::string("request failed");
      if (code && code->is_string()) text += fmt::format(" ({})", std::string_view(code->get_string()));
      if (answer.status == 401 && client.token.empty())
        text += "; set COUNTERSIGN_TOKEN or pass --token";
      return fail(error_code, text);
    }
  }
  return answer;
}

void add_client_options(CLI::App& command, ClientOptions& client, bool with_json) {
  command.add_option("--server", client.server, "Gateway URL (env COUNTERSIGN_URL)");
  command.add_option("--token", client.token, "API key or token (env COUNTERSIGN_TOKEN)");
  if (with_json) command.add_flag("--json", client.json, "Print JSON");
}

int report(const Error& error) {
  std::cerr << "countersign: " << error.message << "\n";
  switch (error.code) {
    case ErrorCode::invalid_argument:
    case ErrorCode::unauthenticated:
      return kExitUsage;
    default:
      return kExitDenied;
  }
}

std::string url_encode(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

}  // namespace countersign::cli
