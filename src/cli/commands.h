// Subcommands, one function each, registered on the CLI11 app by cli.cc.
// Commands that talk to a running gateway share ClientOptions.
#pragma once

#include <string>

#include <boost/json/value.hpp>

#include "core/error.h"

namespace CLI {
class App;
}

namespace countersign::cli {

struct ClientOptions {
  std::string server;  // --server, $COUNTERSIGN_URL
  std::string token;   // --token, $COUNTERSIGN_TOKEN
  bool json = false;
};

// The JSON answer of a call to the gateway, or an error whose message is
// the server's {"error": {"message"}} (or the transport failure).
struct ApiAnswer {
  unsigned status = 0;
  boost::json::value body;
};
Result<ApiAnswer> call(const ClientOptions& client, const std::string& method,
                       const std::string& target, const boost::json::value* body = nullptr,
                       int timeout_seconds = 60);
// Adds --server, --token and --json to a command that talks to the gateway.
void add_client_options(CLI::App& command, ClientOptions& client, bool with_json = true);
// Prints "countersign: message" to stderr and returns the exit code for it.
int report(const Error& error);
std::string url_encode(const std::string& text);

// Each add_* registers its subcommand; the callback stores the exit code.
void add_server_commands(CLI::App& app, int& exit_code);                 // serve, check, policy
void add_review_commands(CLI::App& app, ClientOptions& client, int& exit_code);  // reviews
void add_exec_command(CLI::App& app, ClientOptions& client, int& exit_code);     // exec
void add_audit_commands(CLI::App& app, ClientOptions& client, int& exit_code);   // audit
void add_mask_command(CLI::App& app, int& exit_code);                            // mask
void add_mcp_stdio_command(CLI::App& app, ClientOptions& client, int& exit_code);  // mcp-stdio
void add_login_command(CLI::App& app, ClientOptions& client, int& exit_code);      // login

}  // namespace countersign::cli
