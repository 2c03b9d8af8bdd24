// Transports to MCP servers (stdio processes and Streamable HTTP endpoints)
// and the stdio bridge of `countersign mcp-stdio`. The implementations use
// Asio (upstream.cc); this header only needs an executor type.
#pragma once

#include <map>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>

#include "config/mcp_target.h"
#include "doors/mcp/proxy.h"

namespace countersign::doors::mcp {

// Spawns the configured command (its env references resolved at each
// spawn), speaks newline-delimited JSON-RPC on its stdin/stdout, forwards
// its stderr lines to ours, and restarts it (with backoff) if it exits.
std::unique_ptr<UpstreamTransport> make_stdio_transport(boost::asio::any_io_executor executor,
                                                        std::string name,
                                                        config::McpStdioUpstream spec,
                                                        std::size_t max_message_bytes);

// Streamable HTTP client: one POST per message (JSON or SSE answers), the
// Mcp-Session-Id and MCP-Protocol-Version headers learnt from initialize,
// and a GET stream for server-initiated messages when the server offers one.
// `headers` are sent with every request (already resolved).
std::unique_ptr<UpstreamTransport> make_http_transport(boost::asio::any_io_executor executor,
                                                       std::string name, std::string url,
                                                       std::map<std::string, std::string> headers,
                                                       std::size_t max_message_bytes);

}  // namespace countersign::doors::mcp
