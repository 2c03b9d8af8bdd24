// mcp-stdio: the stdio bridge for desktop MCP clients that only launch local
// commands. All protocol work is in doors/mcp (bridge.h).
#include <CLI/CLI.hpp>

#include "cli/cli.h"
#include "cli/commands.h"
#include "doors/mcp/bridge.h"

namespace countersign::cli {

void add_mcp_stdio_command(CLI::App& app, ClientOptions& client, int& exit_code) {
  auto* command = app.add_subcommand(
      "mcp-stdio",
      "Bridge a desktop MCP client (stdio) to the gateway's MCP endpoint (Streamable HTTP)");
  static std::string url;
  command
      ->add_option("--url", url, "The gateway's MCP endpoint, e.g. http://127.0.0.1:8080/mcp/files")
      ->required();
  command->add_option("--token", client.token, "API key (default $COUNTERSIGN_TOKEN)");
  command->callback([&] { exit_code = doors::mcp::run_stdio_bridge(url, client.token); });
}

}  // namespace countersign::cli
