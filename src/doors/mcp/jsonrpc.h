// JSON-RPC 2.0 as MCP uses it: classifying one message, building answers,
// and the error codes. No I/O, no networking library.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "core/error.h"

namespace countersign::doors::mcp {

namespace jsonrpc_code {
inline constexpr int parse_error = -32700;
inline constexpr int invalid_request = -32600;
inline constexpr int method_not_found = -32601;
inline constexpr int invalid_params = -32602;
inline constexpr int internal_error = -32603;
// Implementation-defined server errors (-32000 to -32099).
inline constexpr int upstream_unavailable = -32001;  // the MCP server behind the gateway
inline constexpr int denied = -32003;                // policy denied the call
inline constexpr int request_too_large = -32004;
}  // namespace jsonrpc_code

enum class MessageKind { request, notification, response, invalid };

struct Message {
  MessageKind kind = MessageKind::invalid;
  boost::json::value id;  // null for notifications and unidentifiable invalid messages
  std::string method;     // requests and notifications
  std::string problem;    // why it is invalid
};

// Classifies one JSON-RPC message (not a batch).
Message classify(const boost::json::value& message);

// The id as a map key: its JSON serialization ("1", "\"abc\"").
std::string id_key(const boost::json::value& id);

boost::json::object make_result(const boost::json::value& id, boost::json::value result);
boost::json::object make_error(const boost::json::value& id, int code, std::string_view message,
                               const boost::json::value* data = nullptr);
boost::json::object make_notification(std::string_view method, boost::json::object params);

// Parses a POST body: one message, or an array (batch, 2025-03-26 only).
// Fails with the JSON-RPC error to send back (parse error / invalid request).
struct Body {
  std::vector<boost::json::value> messages;
  bool batch = false;
};
Result<Body> parse_body(std::string_view text);

// Newline-delimited JSON-RPC framing (stdio): splits complete lines off
// `buffer` and leaves an incomplete tail in place.
std::vector<std::string> take_lines(std::string& buffer);

// Server-sent events: incremental parser of a text/event-stream body.
struct SseEvent {
  std::string id;
  std::string event;
  std::string data;
  std::optional<long long> retry;
};
class SseParser {
 public:
  // Feeds bytes; returns complete events.
  std::vector<SseEvent> feed(std::string_view bytes);

 private:
  std::string buffer_;
  SseEvent current_;
  bool has_data_ = false;
};

// One SSE event as written on the wire.
std::string sse_event(std::string_view id, std::string_view data);

}  // namespace countersign::doors::mcp
