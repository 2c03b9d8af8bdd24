// The MCP door's HTTP edge: the Streamable HTTP endpoint /mcp/{target} for
// MCP clients (agents). Every tools/call becomes an Action decided by the
// gateway: allowed calls are forwarded to the target's MCP server, denied
// ones never reach it, reviewed ones are held until a human decides. All
// other traffic passes through both ways. Serve it from the server's I/O
// thread only (HttpServer::add_route("/mcp/", make_mcp_route(...))).
#pragma once

#include <memory>

namespace countersign::gateway {
class Gateway;
}

namespace countersign::doors {
class ReviewWaiters;
class StreamingRoute;

namespace mcp {

inline constexpr const char* kRoutePrefix = "/mcp/";

std::shared_ptr<StreamingRoute> make_mcp_route(gateway::Gateway& gateway, ReviewWaiters& waiters);

}  // namespace mcp
}  // namespace countersign::doors
