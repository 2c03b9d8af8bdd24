#include "doors/mcp/jsonrpc.h"

#include <fmt/format.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace countersign::doors::mcp {

Message classify(const boost::json::value& value) {
  Message message;
  const auto* object = value.if_object();
  if (object == nullptr) {
    message.problem = "a JSON-RPC message must be a JSON object";
    return message;
  }
  const auto* id = object->if_contains("id");
  if (id != nullptr && (id->is_string() || id->is_int64() || id->is_uint64())) message.id = *id;
  const auto* version = object->if_contains("jsonrpc");
  if (version == nullptr || !version->is_string() || version->get_string() != "2.0") {
    message.problem = "\"jsonrpc\" must be \"2.0\"";
    return message;
  }
  if (id != nullptr && !id->is_string() && !id->is_int64() && !id->is_uint64()) {
    // MCP forbids null ids; fractional ids are not allowed either.
    message.problem = "\"id\" must be a string or an integer";
    return message;
  }
  const auto* method = object->if_contains("method");
  if (method != nullptr) {
    if (!method->is_string() || method->get_string().empty()) {
      message.problem = "\"method\" must be a non-empty string";
      return message;
    }
    if (const auto* params = object->if_contains("params");
        params != nullptr && !params->is_object() && !params->is_array()) {
      message.problem = "\"params\" must be an object";
      return message;
    }
    message.method = std::string(method->get_string());
    message.kind = id != nullptr ? MessageKind::request : MessageKind::notification;
    return message;
  }
  const bool has_result = object->contains("result");
  const bool has_error = object->contains("error");
  if (id != nullptr && has_result != has_error) {
    message.kind = MessageKind::response;
    return message;
  }
  message.problem = id != nullptr
                        ? "a response needs exactly one of \"result\" and \"error\""
                        : "a message needs \"method\" (or \"id\" and \"result\"/\"error\")";
  return message;
}

std::string id_key(const boost::json::value& id) { return boost::json::serialize(id); }

boost::json::object make_result(const boost::json::value& id, boost::json::value result) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}};
}

boost::json::object make_error(const boost::json::value& id, int code, std::string_view message,
                               const boost::json::value* data) {
  boost::json::object error = {{"code", code}, {"message", message}};
  if (data != nullptr) error["data"] = *data;
  boost::json::object out = {{"jsonrpc", "2.0"}, {"error", std::move(error)}};
  // JSON-RPC puts "id": null on errors about unidentifiable messages.
  out["id"] = id;
  return out;
}

boost::json::object make_notification(std::string_view method, boost::json::object params) {
  return {{"jsonrpc", "2.0"}, {"method", method}, {"params", std::move(params)}};
}

Result<Body> parse_body(std::string_view text) {
  boost::system::error_code error;
  boost::json::value value = boost::json::parse(text, error);
  if (error) return fail(ErrorCode::invalid_argument, "Parse error: the body is not valid JSON");
  Body body;
  if (auto* array = value.if_array()) {
    if (array->empty()) return fail(ErrorCode::invalid_argument, "Invalid Request: empty batch");
    body.batch = true;
    for (auto& item : *array) body.messages.push_back(std::move(item));
  } else {
    body.messages.push_back(std::move(value));
  }
  return body;
}

std::vector<std::string> take_lines(std::string& buffer) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (;;) {
    auto newline = buffer.find('\n', start);
    if (newline == std::string::npos) break;
    std::string line = buffer.substr(start, newline - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) lines.push_back(std::move(line));
    start = newline + 1;
  }
  buffer.erase(0, start);
  return lines;
}

std::vector<SseEvent> SseParser::feed(std::string_view bytes) {
  buffer_.append(bytes);
  std::vector<SseEvent> events;
  std::size_t start = 0;
  for (;;) {
    auto newline = buffer_.find('\n', start);
    if (newline == std::string::npos) break;
    std::string_view line(buffer_.data() + start, newline - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    start = newline + 1;
    if (line.empty()) {  // dispatch
      if (has_data_ || !current_.id.empty() || current_.retry) {
        if (!current_.data.empty() && current_.data.back() == '\n') current_.data.pop_back();
        events.push_back(std::move(current_));
      }
      current_ = SseEvent();
      has_data_ = false;
      continue;
    }
    if (line.front() == ':') continue;  // comment
    auto colon = line.find(':');
    std::string_view field = line.substr(0, colon);
    std::string_view value =
        colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (field == "data") {
      current_.data.append(value);
      current_.data.push_back('\n');
      has_data_ = true;
    } else if (field == "id") {
      current_.id = std::string(value);
    } else if (field == "event") {
      current_.event = std::string(value);
    } else if (field == "retry") {
      try {
        current_.retry = std::stoll(std::string(value));
      } catch (...) {
      }
    }
  }
  buffer_.erase(0, start);
  return events;
}

std::string sse_event(std::string_view id, std::string_view data) {
  std::string out;
  if (!id.empty()) out += fmt::format("id: {}\n", id);
  // Serialized JSON has no raw newlines; split defensively all the same.
  std::size_t start = 0;
  for (;;) {
    auto newline = data.find('\n', start);
    out += "data: ";
    out.append(data.substr(
        start, newline == std::string_view::npos ? std::string_view::npos : newline - start));
    out += "\n";
    if (newline == std::string_view::npos) break;
    start = newline + 1;
  }
  out += "\n";
  return out;
}

}  // namespace countersign::doors::mcp
