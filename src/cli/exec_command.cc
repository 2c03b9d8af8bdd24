// countersign exec: ask for an action, wait for approval with a visible
// elapsed time, then run the command with the target's secrets released for
// this one run. The secrets exist only in the child's environment.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "core/clock.h"

namespace countersign::cli {
namespace {

struct ExecOptions {
  std::string target;
  std::string verb;
  std::vector<std::string> params;
  std::string reason;
  std::string timeout = "1h";
  std::vector<std::string> command;
};

std::string field(const boost::json::value& body, const char* key) {
  const auto* object = body.if_object();
  const auto* value = object ? object->if_contains(key) : nullptr;
  return value && value->is_string() ? std::string(value->get_string()) : std::string();
}

// Runs the command with the released secrets added to its environment and
// returns its exit status (128 + signal when killed).
int run_command(const std::vector<std::string>& command, const boost::json::object& environment) {
  pid_t child = fork();
  if (child < 0) {
    std::cerr << "countersign: cannot start the command: " << std::strerror(errno) << "\n";
    return kExitDenied;
  }
  if (child == 0) {
    for (const auto& [name, value] : environment)
      if (value.is_string()) setenv(std::string(name).c_str(), value.get_string().c_str(), 1);
    std::vector<char*> argv;
    for (const auto& argument : command) argv.push_back(const_cast<char*>(argument.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    std::cerr << "countersign: cannot run " << command[0] << ": " << std::strerror(errno) << "\n";
    _exit(127);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return kExitDenied;
}

int exec(const ClientOptions& client, const ExecOptions& options) {
  const Millis timeout = parse_duration(options.timeout);
  if (timeout < 0) {
    std::cerr << "countersign: --timeout: bad duration '" << options.timeout << "'\n";
    return kExitUsage;
  }
  boost::json::object params;
  for (const auto& param : options.params) {
    auto equals = param.find('=');
    if (equals == std::string::npos || equals == 0) {
      std::cerr << "countersign: --param must be KEY=VALUE, got '" << param << "'\n";
      return kExitUsage;
    }
    params[param.substr(0, equals)] = param.substr(equals + 1);
  }
  boost::json::value request = {{"target", options.target}, {"verb", options.verb},
                                {"params", params}};
  if (!options.reason.empty()) request.as_object()["reason"] = options.reason;

  auto answer = call(client, "POST", "/v1/actions", &request);
  if (!answer) return report(answer.error());
  const std::string review_id = field(answer->body, "review_id");
  if (answer->status == 202) {
    std::cerr << fmt::format("countersign: {} {} needs approval: review {}\n", options.target,
                             options.verb, review_id);
    std::cerr << fmt::format("  approve:  countersign reviews approve {}\n  or open:  {}\n",
                             review_id, field(answer->body, "review_url"));
    const bool interactive = isatty(STDERR_FILENO) != 0;
    const Millis started = SystemClock().now();
    Millis last_line = started;
    std::string state = "pending";
    while (state == "pending") {
      const Millis elapsed = SystemClock().now() - started;
      if (elapsed >= timeout) {
        if (interactive) std::cerr << "\n";
        std::cerr << fmt::format("countersign: still pending after {}; review {}\n",
                                 format_duration(elapsed), review_id);
        return kExitPending;
      }
      if (interactive) {
        std::cerr << fmt::format("\r  waiting for approval  {}   ", format_duration(elapsed / 1000 * 1000))
                  << std::flush;
      } else if (SystemClock().now() - last_line >= 30'000) {
        std::cerr << fmt::format("  still waiting for approval ({})\n", format_duration(elapsed));
        last_line = SystemClock().now();
      }
      // The server holds this call until the review changes or a second passes.
      auto current = call(client, "GET", "/v1/reviews/" + url_encode(review_id) + "?wait=1");
      if (!current) {
        if (interactive) std::cerr << "\n";
        return report(current.error());
      }
      state = field(current->body, "state");
      if (state != "pending" && state != "approved") {
        if (interactive) std::cerr << "\n";
        std::cerr << fmt::format("countersign: review {} {}: {}\n", review_id, state,
                                 field(current->body, "outcome_reason"));
        return kExitDenied;
      }
    }
    if (interactive) std::cerr << "\n";
    std::cerr << "countersign: approved\n";
    // The identical request now redeems the one-shot grant.
    answer = call(client, "POST", "/v1/actions", &request);
    if (!answer) return report(answer.error());
  }
  if (answer->status == 403) {
    std::cerr << fmt::format("countersign: {} ({})\n", field(answer->body, "decision"),
                             field(answer->body, "reason").empty()
                                 ? field(answer->body, "outcome_reason")
                                 : field(answer->body, "reason"));
    return kExitDenied;
  }
  if (answer->status != 200 || field(answer->body, "decision") != "allow") {
    std::cerr << fmt::format("countersign: unexpected answer {}: {}\n", answer->status,
                             boost::json::serialize(answer->body));
    return kExitDenied;
  }
  boost::json::object environment;
  if (const auto* execution = answer->body.as_object().if_contains("execution"))
    if (const auto* env = execution->as_object().if_contains("env"); env && env->is_object())
      environment = env->get_object();
  return run_command(options.command, environment);
}

}  // namespace

void add_exec_command(CLI::App& app, ClientOptions& client, int& exit_code) {
  static ExecOptions options;
  auto* command = app.add_subcommand(
      "exec",
      "Run a command once policy allows it (waiting for approval if needed), with the target's "
      "secrets released for this run");
  command->add_option("--target", options.target, "Target name from the configuration")->required();
  command->add_option("--verb", options.verb, "What the command does, e.g. exec:terraform-apply")
      ->required();
  command->add_option("--param", options.params, "KEY=VALUE describing the action (repeatable)");
  command->add_option("--reason", options.reason, "Why, shown to approvers");
  command->add_option("--timeout", options.timeout, "Give up waiting after this long (exit 3)")
      ->capture_default_str();
  add_client_options(*command, client, false);
  command->add_option("command", options.command, "The command to run, after --")->required();
  command->callback([&] { exit_code = exec(client, options); });
}

}  // namespace countersign::cli
