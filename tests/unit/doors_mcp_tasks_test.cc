// MCP tasks for tools/call, without networking: ttl, wire forms, how a
// finished call ends a task, tasks/result answers, tasks/list pages, and
// the initialize and tools/list changes that advertise task support.
#include <gtest/gtest.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "doors/mcp/jsonrpc.h"
#include "doors/mcp/tasks.h"

namespace countersign::doors::mcp {
namespace {

boost::json::value json(std::string_view text) { return boost::json::parse(text); }

McpTask working_task(std::string id = "task_1") {
  McpTask task;
  task.id = std::move(id);
  task.created_at = task.updated_at = 1'700'000'000'000;
  task.ttl = 60'000;
  task.tool = "write_file";
  return task;
}

TEST(McpTasks, TaskAugmentationAndTtl) {
  EXPECT_FALSE(wants_task(json(R"({"name":"x"})")));
  EXPECT_FALSE(wants_task(json(R"({"name":"x","task":true})")));
  EXPECT_TRUE(wants_task(json(R"({"name":"x","task":{}})")));
  EXPECT_EQ(granted_ttl(json(R"({"task":{}})")), kDefaultTaskTtl);
  EXPECT_EQ(granted_ttl(json(R"({"task":{"ttl":60000}})")), 60'000);
  EXPECT_EQ(granted_ttl(json(R"({"task":{"ttl":5}})")), 1'000);
  EXPECT_EQ(granted_ttl(json(R"({"task":{"ttl":1e12}})")), kMaxTaskTtl);
  EXPECT_EQ(granted_ttl(json(R"({"task":{"ttl":-1}})")), kDefaultTaskTtl);
}

TEST(McpTasks, WireForms) {
  McpTask task = working_task();
  task.status_message = "waiting for review rv_1";
  auto created = create_task_result(task);
  const auto& wire = created.at("task").as_object();
  EXPECT_EQ(wire.at("taskId"), "task_1");
  EXPECT_EQ(wire.at("status"), "working");
  EXPECT_EQ(wire.at("createdAt"), "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(wire.at("ttl"), 60'000);
  EXPECT_EQ(wire.at("statusMessage"), "waiting for review rv_1");
  EXPECT_EQ(created.at("_meta").as_object().at(kImmediateResponseKey), "waiting for review rv_1");
}

TEST(McpTasks, FinishedCallsEndTasks) {
  McpTask done = working_task();
  EXPECT_TRUE(finish_task(done,
                          make_result(7, json(R"({"content":[{"type":"text","text":"ok"}]})")),
                          1'700'000'001'000));
  EXPECT_EQ(done.status, TaskStatus::completed);
  EXPECT_EQ(done.updated_at, 1'700'000'001'000);
  // Terminal tasks never change again.
  EXPECT_FALSE(
      finish_task(done, make_error(7, -32603, "late"), 1'700'000'002'000, TaskStatus::cancelled));
  EXPECT_EQ(done.status, TaskStatus::completed);
  auto answer = task_result_message(done, "r9");
  EXPECT_EQ(answer.at("id"), "r9");
  EXPECT_EQ(answer.at("result").at("_meta").at(kRelatedTaskKey).at("taskId"), "task_1");

  McpTask tool_error = working_task();
  finish_task(
      tool_error,
      make_result(1, json(R"({"isError":true,"content":[{"type":"text","text":"rejected: no"}]})")),
      1);
  EXPECT_EQ(tool_error.status, TaskStatus::failed);
  EXPECT_EQ(tool_error.status_message, "rejected: no");

  McpTask rpc_error = working_task();
  finish_task(rpc_error, make_error(1, -32001, "server gone"), 1);
  EXPECT_EQ(rpc_error.status, TaskStatus::failed);
  auto error = task_result_message(rpc_error, 4);
  EXPECT_EQ(error.at("id"), 4);
  EXPECT_EQ(error.at("error").at("code"), -32001);
  EXPECT_FALSE(error.contains("result"));

  McpTask cancelled = working_task();
  finish_task(cancelled, make_result(1, json(R"({"isError":true,"content":[]})")), 1,
              TaskStatus::cancelled);
  EXPECT_EQ(cancelled.status, TaskStatus::cancelled);
  EXPECT_TRUE(is_terminal(cancelled.status));
  EXPECT_FALSE(is_terminal(TaskStatus::input_required));
}

TEST(McpTasks, ListsInPages) {
  std::map<std::string, std::shared_ptr<McpTask>> tasks;
  for (const char* id : {"task_a", "task_b", "task_c"})
    tasks[id] = std::make_shared<McpTask>(working_task(id));
  auto first = list_tasks_page(tasks, "", 2);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->at("tasks").as_array().size(), 2u);
  EXPECT_EQ(first->at("nextCursor"), "task_b");
  auto second = list_tasks_page(tasks, "task_b", 2);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->at("tasks").as_array().size(), 1u);
  EXPECT_FALSE(second->contains("nextCursor"));
  EXPECT_FALSE(list_tasks_page(tasks, "task_zzz", 2).has_value());
}

TEST(McpTasks, AdvertisedOnlyFor20251125) {
  auto result = json(R"({"capabilities":{"tools":{},"tasks":{"list":{}}}})").as_object();
  set_tasks_capability(result, "2025-06-18");
  EXPECT_FALSE(result.at("capabilities").as_object().contains("tasks"));
  set_tasks_capability(result, "2025-11-25");
  EXPECT_EQ(result.at("capabilities").at("tasks"), tasks_capability());
  EXPECT_TRUE(result.at("capabilities")
                  .at("tasks")
                  .at("requests")
                  .at("tools")
                  .as_object()
                  .contains("call"));
}

TEST(McpTasks, ToolsListTaskSupport) {
  const char* listing =
      R"({"tools":[{"name":"plain"},{"name":"slow","execution":{"taskSupport":"required"}}]})";
  auto current = json(listing);
  auto upstream = rewrite_task_support(current, "2025-11-25");
  EXPECT_EQ(upstream, (std::map<std::string, std::string>{{"slow", "required"}}));
  for (const auto& tool : current.at("tools").as_array())
    EXPECT_EQ(tool.at("execution").at("taskSupport"), "optional");
  auto older = json(listing);
  rewrite_task_support(older, "2025-06-18");
  for (const auto& tool : older.at("tools").as_array())
    EXPECT_FALSE(tool.as_object().contains("execution")) << boost::json::serialize(tool);
}

TEST(McpTasks, UpstreamTaskParameter) {
  auto call = json(R"({"method":"tools/call","params":{"name":"x","task":{"ttl":5}}})").as_object();
  set_upstream_task(call, false);
  EXPECT_FALSE(call.at("params").as_object().contains("task"));
  set_upstream_task(call, true);
  EXPECT_EQ(call.at("params").at("task"), boost::json::object());
  EXPECT_EQ(created_task_id(json(R"({"task":{"taskId":"up-1","status":"working"}})")), "up-1");
  EXPECT_EQ(created_task_id(json(R"({"content":[],"task":{"taskId":"up-1"}})")), std::nullopt);
}

}  // namespace
}  // namespace countersign::doors::mcp
