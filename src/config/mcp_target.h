// The `mcp:` section of a target served by the MCP door: which MCP server the
// gateway fronts (a local command over stdio, or a Streamable HTTP URL) and
// how the door answers. Secrets for the upstream (environment variables of
// the spawned command, HTTP headers) are env:/file: references resolved only
// when the upstream is started.
//
//   targets:
//     files:
//       door: mcp
//       hold_timeout: 2m
//       mcp:
//         stdio:
//           command: npx
//           args: [-y, "@modelcontextprotocol/server-filesystem", /srv/sandbox]
//           env: {GITHUB_TOKEN: env:GITHUB_TOKEN}   # references only
//           inherit_env: [PATH, HOME]              # passed through as is
//           per_session: false                     # one process per target
//         # or: http: {url: http://127.0.0.1:3001/mcp, headers: {Authorization: env:UPSTREAM_AUTH}}
//         deny_as: error              # error (JSON-RPC error) | tool_error (isError result)
//         allowed_origins: [http://localhost:6274]
//         progress_interval: 10s      # progress notifications while a call is held
#pragma once

#include <map>
#include <string>
#include <vector>

#include "config/config.h"

namespace YAML {
class Node;
}

namespace countersign::config {

class Reader;

struct McpStdioUpstream {
  std::string command;
  std::vector<std::string> args;
  std::string cwd;                       // empty: the gateway's working directory
  std::map<std::string, SecretRef> env;  // secrets, resolved at spawn
  std::vector<std::string> inherit_env;  // gateway variables passed through
  bool per_session = false;              // one process per client session
};

struct McpHttpUpstream {
  std::string url;                           // http://host:port/path
  std::map<std::string, SecretRef> headers;  // e.g. Authorization: env:UPSTREAM_AUTH
};

enum class McpDenyAs { error, tool_error };

struct McpTarget {
  bool stdio = true;  // false: http
  McpStdioUpstream stdio_upstream;
  McpHttpUpstream http_upstream;
  McpDenyAs deny_as = McpDenyAs::error;
  std::vector<std::string> allowed_origins;  // besides the gateway's own and localhost
  Millis progress_interval = 10'000;
  std::size_t max_message_bytes = 4 << 20;
  SourceLocation location;
};

// Variables a spawned upstream inherits when inherit_env is not given.
const std::vector<std::string>& default_inherited_env();

// Reads `mcp:` of target `target_name`; throws ConfigError (file:line) on problems.
McpTarget read_mcp_target(const Reader& reader, const YAML::Node& node,
                          const std::string& target_name);

}  // namespace countersign::config
