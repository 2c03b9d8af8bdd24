// serve, check and policy explain: commands that read the configuration
// file themselves rather than talking to a running gateway.
#include <iostream>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "cli/cli.h"
#include "cli/commands.h"
#include "config/config.h"
#include "doors/http/http_door.h"
#include "doors/mcp/mcp_route.h"
#include "gateway/gateway.h"
#include "mask/scanner.h"
#include "policy/policy.h"
#include "server/api.h"
#include "server/http_server.h"
#include "server/slack_api.h"
#include "server/ui_web.h"
#include "store/sqlite/sqlite_store.h"

namespace countersign::cli {
namespace {

struct LoadedPolicy {
  config::Config config;
  policy::Policy policy;
};

Result<LoadedPolicy> load(const std::string& path) {
  auto config = config::load_config(path);
  if (!config) return std::unexpected(config.error());
  auto policy = policy::Policy::compile(config->policy);
  if (!policy) return std::unexpected(policy.error());
  return LoadedPolicy{std::move(*config), std::move(*policy)};
}

int serve(const std::string& config_path, const std::string& listen_override) {
  auto loaded = load(config_path);
  if (!loaded) {
    std::cerr << "countersign: " << loaded.error().message << "\n";
    return kExitUsage;
  }
  config::Config& config = loaded->config;
  // A public_url the config did not set follows the address actually bound.
  const std::string scheme = config.tls.enabled() ? "https" : "http";
  const bool derive_public_url =
      config.public_url ==
      fmt::format("{}://{}:{}", scheme, config.listen_address, config.listen_port);
  if (!listen_override.empty()) {
    auto colon = listen_override.rfind(':');
    if (colon == std::string::npos) {
      std::cerr << "countersign: --listen must be HOST:PORT\n";
      return kExitUsage;
    }
    config.listen_address = listen_override.substr(0, colon);
    config.listen_port = std::atoi(listen_override.c_str() + colon + 1);
  }
  auto store = store::SqliteStore::open(config.sqlite_path);
  if (!store) {
    std::cerr << "countersign: storage " << config.sqlite_path << ": " << store.error().message
              << "\n";
    return kExitUsage;
  }
  // Compile the masking patterns now, not on the first request that needs
  // them (a Vectorscan database takes a moment to build).
  mask::Scanner::builtin();
  SystemClock clock;
  gateway::Gateway gateway(config, std::move(loaded->policy), **store, clock);
  if (auto started = gateway.start_identity(); !started) {
    std::cerr << "countersign: " << started.error().message << "\n";
    return kExitUsage;
  }
  server::Api api(gateway);
  server::HttpServer server(gateway, api);
  server::WebUi web_ui(gateway, api, server, clock);  // /ui/: the approver web UI
  server.add_route(doors::mcp::kRoutePrefix, doors::mcp::make_mcp_route(gateway, server.waiters()));
  server.add_route("/http/", doors::http::make_http_door(gateway, server.waiters()));
  // Approval channels: the outbox worker delivers; Slack clicks come back
  // through the API and run on the server's thread.
  auto channels = server::build_channels(
      gateway, [&server](std::function<void()> task) { server.post(std::move(task)); });
  if (!channels) {
    std::cerr << "countersign: channels: " << channels.error().message << "\n";
    return kExitUsage;
  }
  if (channels->slack) api.set_slack(channels->slack.get());
  if (channels->worker) {
    notify::Worker* worker = channels->worker.get();
    gateway.add_review_listener([worker](const review::Review&) { worker->wake(); });
    worker->start();
  }
  try {
    server.run(config.listen_address, config.listen_port, [&](int port) {
      if (derive_public_url)
        gateway.set_public_url(fmt::format("{}://{}:{}", scheme, config.listen_address, port));
      std::cout << fmt::format(
                       "countersign listening on {}://{}:{} (config {}, storage sqlite:{}, {} "
                       "rules, {} targets)",
                       scheme, config.listen_address, port, config_path, config.sqlite_path,
                       gateway.policy().rule_count(), config.targets.size())
                << std::endl;
    });
  } catch (const std::exception& error) {
    std::cerr << fmt::format("countersign: cannot listen on {}:{}: {}\n", config.listen_address,
                             config.listen_port, error.what());
    return kExitUsage;
  }
  if (channels->worker) channels->worker->stop();
  std::cout << "countersign stopped" << std::endl;
  return kExitOk;
}

int check(const std::string& config_path) {
  auto loaded = load(config_path);
  if (!loaded) {
    std::cerr << loaded.error().message << "\n";
    return kExitDenied;
  }
  std::cout << fmt::format("{}: OK ({} rules, {} targets, {} API keys, default {})\n", config_path,
                           loaded->policy.rule_count(), loaded->config.targets.size(),
                           loaded->config.api_keys.size(),
                           effect_name(loaded->config.policy.default_effect));
  return kExitOk;
}

// The action to explain: {"actor": "subject" | {...}, "door", "target", "verb", "params",
// "reason"}.
Result<Action> parse_explain_action(const std::string& text, const config::Config& config) {
  boost::system::error_code error;
  auto json = boost::json::parse(text, error);
  if (error || !json.is_object())
    return fail(ErrorCode::invalid_argument, "--action must be a JSON object");
  const auto& object = json.get_object();
  Action action;
  action.id = "explain";
  action.door = "actions";
  auto text_of = [&](const char* key) -> std::string {
    auto* value = object.if_contains(key);
    return value && value->is_string() ? std::string(value->get_string()) : std::string();
  };
  if (auto door = text_of("door"); !door.empty()) action.door = door;
  action.target = text_of("target");
  action.verb = text_of("verb");
  if (auto reason = text_of("reason"); !reason.empty()) action.reason = reason;
  if (auto* params = object.if_contains("params")) action.params = *params;
  const auto* actor = object.if_contains("actor");
  if (actor && actor->is_string()) {
    std::string subject(actor->get_string());
    identity::ApiKeyDirectory directory(config.api_keys);
    auto known = directory.find_subject(subject);
    action.actor = known ? *known : Identity{subject, "cli", IdentityKind::agent, {}, {}, {}};
  } else if (actor && actor->is_object()) {
    action.actor = identity_from_json(actor->get_object());
  } else {
    return fail(ErrorCode::invalid_argument,
                "--action needs \"actor\": a subject or {subject, kind, groups, on_behalf_of}");
  }
  return action;
}

int explain(const std::string& config_path, const std::string& action_text, bool json) {
  auto loaded = load(config_path);
  if (!loaded) {
    std::cerr << loaded.error().message << "\n";
    return kExitUsage;
  }
  auto action = parse_explain_action(action_text, loaded->config);
  if (!action) {
    std::cerr << "countersign: " << action.error().message << "\n";
    return kExitUsage;
  }
  auto explanation = loaded->policy.explain(*action);
  const Decision& decision = explanation.decision;
  if (json) {
    boost::json::array rules;
    for (const auto& trace : explanation.rules)
      rules.push_back({{"rule", trace.rule_id}, {"matched", trace.matched}, {"why", trace.why}});
    boost::json::array matched;
    for (const auto& id : decision.rules) matched.emplace_back(id);
    boost::json::object out = {{"decision", effect_name(decision.effect)},
                               {"reason", decision.reason},
                               {"matched", std::move(matched)},
                               {"mask_profile", decision.mask_profile},
                               {"rules", std::move(rules)}};
    std::cout << boost::json::serialize(out) << "\n";
    return kExitOk;
  }
  std::cout << fmt::format("decision: {}\nreason:   {}\n", effect_name(decision.effect),
                           decision.reason);
  if (decision.flow) {
    for (std::size_t i = 0; i < decision.flow->steps.size(); ++i) {
      const auto& step = decision.flow->steps[i];
      std::string approvers;
      for (const auto& approver : step.approvers)
        approvers += (approvers.empty() ? "" : ", ") + approver;
      std::cout << fmt::format("step {}:   {} of [{}]\n", i + 1,
                               step.quorum == 0 ? std::string("all") : std::to_string(step.quorum),
                               approvers);
    }
  }
  std::cout << "rules:\n";
  for (const auto& trace : explanation.rules)
    std::cout << fmt::format("  {} {:<24} {}\n", trace.matched ? "+" : "-", trace.rule_id,
                             trace.why);
  return kExitOk;
}

}  // namespace

void add_server_commands(CLI::App& app, int& exit_code) {
  auto* serve_command = app.add_subcommand("serve", "Run the gateway");
  static std::string serve_config, listen;
  serve_command->add_option("--config", serve_config, "Configuration file (YAML)")->required();
  serve_command->add_option("--listen", listen,
                            "Override listen (HOST:PORT; port 0 picks a free one)");
  serve_command->callback([&] { exit_code = serve(serve_config, listen); });

  auto* check_command =
      app.add_subcommand("check", "Validate a configuration and its policy; errors name file:line");
  static std::string check_config;
  check_command->add_option("--config", check_config, "Configuration file (YAML)")->required();
  check_command->callback([&] { exit_code = check(check_config); });

  auto* policy_command = app.add_subcommand("policy", "Inspect policy");
  policy_command->require_subcommand(1);
  auto* explain_command = policy_command->add_subcommand(
      "explain", "Show the decision for an action and why each rule did or did not match");
  static std::string explain_config, action;
  static bool json = false;
  explain_command->add_option("--config", explain_config, "Configuration file (YAML)")->required();
  explain_command
      ->add_option("--action", action,
                   "Action as JSON: {\"actor\": SUBJECT, \"target\": T, \"verb\": V, "
                   "\"params\": {...}}")
      ->required();
  explain_command->add_flag("--json", json, "Print JSON");
  explain_command->callback([&] { exit_code = explain(explain_config, action, json); });
}

}  // namespace countersign::cli
