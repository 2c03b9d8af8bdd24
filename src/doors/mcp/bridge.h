// `countersign mcp-stdio --url URL`: lets a desktop MCP client that only
// launches local commands talk to the gateway. Reads newline-delimited
// JSON-RPC on stdin, sends each message to the Streamable HTTP endpoint at
// `url`, and writes every message that comes back (JSON answers, SSE events,
// the GET stream) to stdout, one per line. Diagnostics go to stderr.
#pragma once

#include <string>

namespace countersign::doors::mcp {

// Runs until stdin closes and every request has been answered. Returns the
// process exit code (0, or 2 for a bad URL).
int run_stdio_bridge(const std::string& url, const std::string& token);

}  // namespace countersign::doors::mcp
