#include "cli/cli.h"

#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/commands.h"

namespace countersign::cli {

int run(int argc, char** argv) {
  CLI::App app{
      "countersign: a gateway that puts accountable humans in the loop of AI agents and "
      "automation.\nPrivileged actions wait for approval; approved actions run exactly once."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "countersign 0.1.0");

  ClientOptions client;
  const char* url = std::getenv("COUNTERSIGN_URL");
  const char* token = std::getenv("COUNTERSIGN_TOKEN");
  client.server = url && *url ? url : "http://127.0.0.1:8080";
  client.token = token && *token ? token : "";

  int exit_code = kExitOk;
  add_server_commands(app, exit_code);
  add_review_commands(app, client, exit_code);
  add_exec_command(app, client, exit_code);
  add_audit_commands(app, client, exit_code);
  add_mask_command(app, exit_code);
  add_mcp_stdio_command(app, client, exit_code);
  add_login_command(app, client, exit_code);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForAllHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForVersion& version) {
    return app.exit(version);
  } catch (const CLI::ParseError& error) {
    app.exit(error);
    return kExitUsage;
  }
  return exit_code;
}

}  // namespace countersign::cli
