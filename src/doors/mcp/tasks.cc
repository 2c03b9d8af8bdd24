// MCP tasks for tools/call: records, wire forms and status rules (tasks.h).
#include "doors/mcp/tasks.h"

#include <algorithm>

#include "doors/mcp/jsonrpc.h"

namespace countersign::doors::mcp {

std::string_view to_string(TaskStatus status) {
  switch (status) {
    case TaskStatus::working:
      return "working";
    case TaskStatus::input_required:
      return "input_required";
    case TaskStatus::completed:
      return "completed";
    case TaskStatus::failed:
      return "failed";
    case TaskStatus::cancelled:
      return "cancelled";
  }
  return "working";
}

bool is_terminal(TaskStatus status) {
  return status == TaskStatus::completed || status == TaskStatus::failed ||
         status == TaskStatus::cancelled;
}

bool wants_task(const boost::json::value& params) {
  const auto* object = params.if_object();
  if (object == nullptr) return false;
  const auto* task = object->if_contains("task");
  return task != nullptr && task->is_object();
}

Millis granted_ttl(const boost::json::value& params) {
  if (!wants_task(params)) return kDefaultTaskTtl;
  const auto* ttl = params.get_object().at("task").get_object().if_contains("ttl");
  if (ttl == nullptr || !ttl->is_number()) return kDefaultTaskTtl;
  double asked = 0;
  if (ttl->is_double())
    asked = ttl->get_double();
  else if (ttl->is_int64())
    asked = static_cast<double>(ttl->get_int64());
  else
    asked = static_cast<double>(ttl->get_uint64());
  if (!(asked > 0)) return kDefaultTaskTtl;
  return std::clamp<Millis>(static_cast<Millis>(std::min<double>(asked, kMaxTaskTtl)), 1'000,
                            kMaxTaskTtl);
}

boost::json::object task_json(const McpTask& task) {
  boost::json::object json{
      {"taskId", task.id},
      {"status", to_string(task.status)},
      {"createdAt", format_time(task.created_at)},
      {"lastUpdatedAt", format_time(task.updated_at)},
      {"ttl", task.ttl},
      {"pollInterval", kTaskPollInterval},
  };
  if (!task.status_message.empty()) json["statusMessage"] = task.status_message;
  return json;
}

boost::json::object create_task_result(const McpTask& task) {
  boost::json::object result{{"task", task_json(task)}};
  if (!task.status_message.empty())
    result["_meta"] = boost::json::object{{kImmediateResponseKey, task.status_message}};
  return result;
}

namespace {

// The first text block of a tool result, for a failed task's status message.
std::string first_text(const boost::json::object& result) {
  const auto* content = result.if_contains("content");
  if (content == nullptr || !content->is_array()) return {};
  for (const auto& block : content->get_array()) {
    const auto* text = block.is_object() ? block.get_object().if_contains("text") : nullptr;
    if (text != nullptr && text->is_string()) return std::string(text->get_string());
  }
  return {};
}

}  // namespace

bool finish_task(McpTask& task, const boost::json::object& message, Millis now,
                 std::optional<TaskStatus> status) {
  if (is_terminal(task.status)) return false;
  boost::json::object answer;
  TaskStatus ended = TaskStatus::completed;
  std::string why;
  if (const auto* error = message.if_contains("error")) {
    answer["error"] = *error;
    ended = TaskStatus::failed;
    if (const auto* text =
            error->is_object() ? error->get_object().if_contains("message") : nullptr;
        text != nullptr && text->is_string())
      why = std::string(text->get_string());
  } else {
    const auto* result = message.if_contains("result");
    answer["result"] = result != nullptr ? *result : boost::json::value(boost::json::object());
    if (result != nullptr && result->is_object()) {
      const auto* is_error = result->get_object().if_contains("isError");
      if (is_error != nullptr && is_error->is_bool() && is_error->get_bool()) {
        ended = TaskStatus::failed;
        why = first_text(result->get_object());
      }
    }
  }
  task.status = status.value_or(ended);
  task.status_message = task.status == TaskStatus::completed ? std::string() : why;
  task.answer = std::move(answer);
  task.updated_at = now;
  return true;
}

boost::json::object task_result_message(const McpTask& task, const boost::json::value& id) {
  if (!task.answer) return make_error(id, jsonrpc_code::internal_error, "the task has no result");
  if (const auto* error = task.answer->if_contains("error")) {
    boost::json::object message{{"jsonrpc", "2.0"}, {"id", id}, {"error", *error}};
    return message;
  }
  boost::json::value result = task.answer->at("result");
  if (!result.is_object()) result = boost::json::object();
  auto& meta = result.get_object()["_meta"];
  if (!meta.is_object()) meta = boost::json::object();
  meta.get_object()[kRelatedTaskKey] = boost::json::object{{"taskId", task.id}};
  return make_result(id, std::move(result));
}

Result<boost::json::object> list_tasks_page(
    const std::map<std::string, std::shared_ptr<McpTask>>& tasks, std::string_view cursor,
    std::size_t page_size) {
  auto it = tasks.begin();
  if (!cursor.empty()) {
    auto found = tasks.find(std::string(cursor));
    if (found == tasks.end())
      return fail(ErrorCode::invalid_argument, "Invalid params: unknown tasks/list cursor");
    it = std::next(found);
  }
  boost::json::array page;
  std::string last;
  for (; it != tasks.end() && page.size() < page_size; ++it) {
    page.push_back(task_json(*it->second));
    last = it->first;
  }
  boost::json::object result{{"tasks", std::move(page)}};
  if (it != tasks.end()) result["nextCursor"] = last;
  return result;
}

boost::json::object tasks_capability() {
  return boost::json::object{
      {"list", boost::json::object()},
      {"cancel", boost::json::object()},
      {"requests",
       boost::json::object{{"tools", boost::json::object{{"call", boost::json::object()}}}}},
  };
}

void set_tasks_capability(boost::json::object& initialize_result, std::string_view version) {
  auto& capabilities = initialize_result["capabilities"];
  if (!capabilities.is_object()) capabilities = boost::json::object();
  if (version == kTasksVersion)
    capabilities.get_object()["tasks"] = tasks_capability();
  else
    capabilities.get_object().erase("tasks");
}

std::map<std::string, std::string> rewrite_task_support(boost::json::value& tools_list_result,
                                                        std::string_view version) {
  std::map<std::string, std::string> upstream;
  auto* object = tools_list_result.if_object();
  auto* tools = object != nullptr ? object->if_contains("tools") : nullptr;
  if (tools == nullptr || !tools->is_array()) return upstream;
  for (auto& tool : tools->get_array()) {
    auto* definition = tool.if_object();
    if (definition == nullptr) continue;
    const auto* name = definition->if_contains("name");
    auto* execution = definition->if_contains("execution");
    if (execution != nullptr && execution->is_object()) {
      const auto* support = execution->get_object().if_contains("taskSupport");
      if (name != nullptr && name->is_string() && support != nullptr && support->is_string())
        upstream[std::string(name->get_string())] = std::string(support->get_string());
    }
    if (version == kTasksVersion) {
      auto& slot = (*definition)["execution"];
      if (!slot.is_object()) slot = boost::json::object();
      slot.get_object()["taskSupport"] = "optional";
    } else if (execution != nullptr && execution->is_object()) {
      execution->get_object().erase("taskSupport");
      if (execution->get_object().empty()) definition->erase("execution");
    }
  }
  return upstream;
}

void set_upstream_task(boost::json::object& tools_call, bool server_requires_task) {
  auto* params = tools_call.if_contains("params");
  if (params == nullptr || !params->is_object()) return;
  if (server_requires_task)
    params->get_object()["task"] = boost::json::object();
  else
    params->get_object().erase("task");
}

std::optional<std::string> created_task_id(const boost::json::value& result) {
  const auto* object = result.if_object();
  if (object == nullptr || object->contains("content")) return std::nullopt;
  const auto* task = object->if_contains("task");
  if (task == nullptr || !task->is_object()) return std::nullopt;
  const auto* id = task->get_object().if_contains("taskId");
  if (id == nullptr || !id->is_string()) return std::nullopt;
  return std::string(id->get_string());
}

}  // namespace countersign::doors::mcp
