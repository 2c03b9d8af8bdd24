// MCP tasks (protocol 2025-11-25) as the MCP door offers them for
// tools/call: the task record, its wire form, the status a finished call
// leaves it in, tasks/list pages, and the tools/list and initialize changes
// that advertise task support. No I/O; the route (mcp_route.cc) keeps the
// tasks of each session and drives them.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "core/clock.h"
#include "core/error.h"

namespace countersign::doors::mcp {

inline constexpr std::string_view kTasksVersion = "2025-11-25";
inline constexpr std::string_view kRelatedTaskKey = "io.modelcontextprotocol/related-task";
inline constexpr std::string_view kImmediateResponseKey =
    "io.modelcontextprotocol/model-immediate-response";
inline constexpr Millis kDefaultTaskTtl = 3'600'000;  // 1 h
inline constexpr Millis kMaxTaskTtl = 86'400'000;     // 24 h
inline constexpr Millis kTaskPollInterval = 1'000;
inline constexpr std::size_t kTasksPerPage = 100;

enum class TaskStatus { working, input_required, completed, failed, cancelled };

std::string_view to_string(TaskStatus status);
bool is_terminal(TaskStatus status);

struct McpTask {
  std::string id;
  TaskStatus status = TaskStatus::working;
  std::string status_message;
  Millis created_at = 0;
  Millis updated_at = 0;
  Millis ttl = kDefaultTaskTtl;
  std::string tool;
  std::string review_id;  // the review it waits (or waited) on, if any
  // What the tools/call would have answered, without its id: {"result": ...}
  // or {"error": ...}. Set once the task is terminal.
  std::optional<boost::json::object> answer;
};

// Whether the tools/call params ask for a task ({"task": {...}}).
bool wants_task(const boost::json::value& params);
// The ttl granted for a task: the requested params.task.ttl within
// [1 s, kMaxTaskTtl], else kDefaultTaskTtl.
Millis granted_ttl(const boost::json::value& params);

// The Task object of tasks/get, tasks/cancel, tasks/list and the status
// notification.
boost::json::object task_json(const McpTask& task);
// The CreateTaskResult answering a task-augmented tools/call.
boost::json::object create_task_result(const McpTask& task);

// Ends `task` with `message` (the JSON-RPC response the call would have
// had): completed for a result, failed for a JSON-RPC error or a tool error
// result (isError), or `status` when given. A terminal task does not change;
// returns whether this call ended it.
bool finish_task(McpTask& task, const boost::json::object& message, Millis now,
                 std::optional<TaskStatus> status = std::nullopt);

// The tasks/result answer for a terminal task, with the caller's request id:
// the stored result with _meta["io.modelcontextprotocol/related-task"], or
// the stored error.
boost::json::object task_result_message(const McpTask& task, const boost::json::value& id);

// One page of tasks/list: tasks ordered by id, after `cursor` (a task id from
// a previous page). Fails (invalid_argument) for a cursor that names no task.
Result<boost::json::object> list_tasks_page(
    const std::map<std::string, std::shared_ptr<McpTask>>& tasks, std::string_view cursor,
    std::size_t page_size = kTasksPerPage);

// The `tasks` server capability: list, cancel, task-augmented tools/call.
boost::json::object tasks_capability();

// Sets capabilities.tasks for a 2025-11-25 session, removes it otherwise
// (the gateway, not the server behind it, runs the client's tasks).
void set_tasks_capability(boost::json::object& initialize_result, std::string_view version);

// tools/list for a session: with tasks (2025-11-25) every tool may be called
// as a task (execution.taskSupport "optional"); without, no tool claims
// task support. Returns the upstream's taskSupport per tool name (only tools
// that declare one), so the gateway knows which need a task upstream.
std::map<std::string, std::string> rewrite_task_support(boost::json::value& tools_list_result,
                                                        std::string_view version);

// Removes params.task from a tools/call before it is forwarded, or sets it
// to {} when the server requires task execution of the tool.
void set_upstream_task(boost::json::object& tools_call, bool server_requires_task);

// The taskId of a CreateTaskResult from the server, if `result` is one.
std::optional<std::string> created_task_id(const boost::json::value& result);

}  // namespace countersign::doors::mcp
