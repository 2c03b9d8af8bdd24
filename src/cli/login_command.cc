// countersign login: signs a person in with the identity provider's device
// authorization grant (RFC 8628) and stores the token for later commands
// (identity/token_store.h: 0600 in the user's config directory). Commands
// use it when neither --token nor $COUNTERSIGN_TOKEN is given.
#include <chrono>
#include <iostream>
#include <thread>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include "cli/cli.h"
#include "cli/commands.h"
#include "core/clock.h"
#include "identity/http_fetch.h"
#include "identity/jwt.h"
#include "identity/oidc.h"
#include "identity/token_store.h"

namespace countersign::cli {
namespace {

struct LoginOptions {
  std::string issuer;     // --issuer, $COUNTERSIGN_OIDC_ISSUER
  std::string client_id;  // --client-id, $COUNTERSIGN_OIDC_CLIENT_ID
  std::string scope = "openid email profile";
  std::string resource;  // --resource (RFC 8707), e.g. the gateway's resource indicator
  std::string ca_file;
  bool forget = false;
  int timeout_seconds = 600;
};

std::string env_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value && *value ? value : fallback;
}

Result<boost::json::object> json_answer(const Result<identity::HttpResponse>& response,
                                        const std::string& what) {
  if (!response) return std::unexpected(response.error());
  boost::system::error_code error;
  auto value = boost::json::parse(response->body, error);
  if (error || !value.is_object())
    return fail(ErrorCode::unavailable,
                fmt::format("{}: the identity provider answered HTTP {} without JSON", what,
                            response->status));
  return std::move(value.as_object());
}

std::string text(const boost::json::object& object, const char* name) {
  auto* value = object.if_contains(name);
  return value && value->is_string() ? std::string(value->get_string()) : std::string();
}

std::int64_t number(const boost::json::object& object, const char* name, std::int64_t fallback) {
  auto* value = object.if_contains(name);
  return value && value->is_int64() ? value->get_int64() : fallback;
}

int login(const LoginOptions& options, const ClientOptions& client) {
  if (options.forget) {
    if (auto forgotten = identity::forget_token(); !forgotten) return report(forgotten.error());
    std::cerr << "countersign: signed out (removed " << identity::token_file_path() << ")\n";
    return kExitOk;
  }
  if (options.issuer.empty() || options.client_id.empty()) {
    std::cerr << "countersign: login needs --issuer and --client-id (or $COUNTERSIGN_OIDC_ISSUER "
                 "and $COUNTERSIGN_OIDC_CLIENT_ID)\n";
    return kExitUsage;
  }
  if (!identity::acceptable_idp_url(options.issuer)) {
    std::cerr << "countersign: --issuer must be an https:// URL (http:// only on loopback)\n";
    return kExitUsage;
  }
  auto request = [&](std::string url, std::string body = {}) {
    identity::HttpRequest http;
    http.url = std::move(url);
    http.ca_file = options.ca_file;
    http.headers = {{"Accept", "application/json"}};
    if (!body.empty()) {
      http.method = "POST";
      http.body = std::move(body);
      http.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    }
    return identity::http_fetch(http);
  };
  std::string base = options.issuer;
  while (!base.empty() && base.back() == '/') base.pop_back();
  auto discovery = request(base + "/.well-known/openid-configuration");
  if (!discovery) return report(discovery.error());
  auto metadata = identity::parse_discovery(discovery->body, options.issuer);
  if (!metadata) return report(metadata.error());
  if (metadata->device_authorization_endpoint.empty()) {
    std::cerr << fmt::format(
        "countersign: {} does not offer the device authorization grant "
        "(RFC 8628); use an API key or a token from your identity provider\n",
        options.issuer);
    return kExitUsage;
  }
  std::vector<std::pair<std::string, std::string>> fields = {{"client_id", options.client_id},
                                                             {"scope", options.scope}};
  if (!options.resource.empty()) fields.emplace_back("resource", options.resource);
  auto started =
      json_answer(request(metadata->device_authorization_endpoint, identity::form_body(fields)),
                  "device authorization");
  if (!started) return report(started.error());
  const std::string device_code = text(*started, "device_code");
  if (device_code.empty()) {
    std::cerr << fmt::format("countersign: the identity provider refused the device login: {} {}\n",
                             text(*started, "error"), text(*started, "error_description"));
    return kExitDenied;
  }
  const std::string verification = text(*started, "verification_uri_complete").empty()
                                       ? text(*started, "verification_uri")
                                       : text(*started, "verification_uri_complete");
  std::cerr << fmt::format("To sign in, open {}\nand confirm the code {}\n", verification,
                           text(*started, "user_code"))
            << std::flush;
  std::int64_t interval = std::max<std::int64_t>(1, number(*started, "interval", 5));
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::seconds(std::min<std::int64_t>(
                            options.timeout_seconds, number(*started, "expires_in", 600)));
  SystemClock clock;
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::seconds(interval));
    std::vector<std::pair<std::string, std::string>> poll = {
        {"grant_type", "urn:ietf:params:oauth:grant-type:device_code"},
        {"device_code", device_code},
        {"client_id", options.client_id}};
    auto answer =
        json_answer(request(metadata->token_endpoint, identity::form_body(poll)), "token");
    if (!answer) return report(answer.error());
    std::string error = text(*answer, "error");
    if (error == "authorization_pending") continue;
    if (error == "slow_down") {
      interval += 5;
      continue;
    }
    if (!error.empty()) {
      std::cerr << fmt::format("countersign: sign-in failed: {}{}\n", error,
                               text(*answer, "error_description").empty()
                                   ? ""
                                   : " (" + text(*answer, "error_description") + ")");
      return kExitDenied;
    }
    identity::StoredToken token;
    token.server = client.server;
    token.issuer = options.issuer;
    token.access_token = text(*answer, "access_token");
    if (token.access_token.empty()) {
      std::cerr << "countersign: the identity provider answered without an access token\n";
      return kExitDenied;
    }
    token.expires_at = clock.now() + number(*answer, "expires_in", 0) * 1000;
    if (auto saved = identity::save_token(token); !saved) return report(saved.error());
    std::string who;
    if (identity::looks_like_jwt(token.access_token))
      if (auto decoded = identity::decode_jwt(token.access_token))
        if (auto* sub = decoded->claims.if_contains("sub"); sub && sub->is_string())
          who = std::string(sub->get_string());
    std::cout << fmt::format("signed in{}; token stored in {}\n", who.empty() ? "" : " as " + who,
                             identity::token_file_path());
    return kExitOk;
  }
  std::cerr << "countersign: sign-in timed out\n";
  return kExitPending;
}

}  // namespace

void add_login_command(CLI::App& app, ClientOptions& client, int& exit_code) {
  static LoginOptions options;
  auto* command = app.add_subcommand(
      "login",
      "Sign in with your identity provider (device authorization grant, RFC 8628) and "
      "store the token for later commands (0600, in your config directory)");
  options.issuer = env_or("COUNTERSIGN_OIDC_ISSUER", "");
  options.client_id = env_or("COUNTERSIGN_OIDC_CLIENT_ID", "");
  options.resource = env_or("COUNTERSIGN_OIDC_RESOURCE", "");
  options.ca_file = env_or("COUNTERSIGN_CA_FILE", "");
  command->add_option("--issuer", options.issuer, "OIDC issuer URL ($COUNTERSIGN_OIDC_ISSUER)");
  command->add_option("--client-id", options.client_id,
                      "OAuth client id registered for the CLI ($COUNTERSIGN_OIDC_CLIENT_ID)");
  command->add_option("--scope", options.scope, "Scopes to ask for")->capture_default_str();
  command->add_option("--resource", options.resource,
                      "Resource indicator (RFC 8707) for countersign, if your IdP needs one "
                      "($COUNTERSIGN_OIDC_RESOURCE)");
  command->add_option("--timeout", options.timeout_seconds, "Give up after this many seconds")
      ->capture_default_str();
  command->add_flag("--forget", options.forget, "Remove the stored token (sign out)");
  command->add_option("--server", client.server, "countersign URL ($COUNTERSIGN_URL)");
  command->callback([&] { exit_code = login(options, client); });
}

}  // namespace countersign::cli
