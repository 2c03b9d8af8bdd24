// MCP door pass-through: UpstreamLink initializes the server and fails
// requests when it goes away; Hub keeps clients apart (ids, progress tokens,
// cancellations, the server's own requests) over one shared upstream.
#include <deque>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "doors/mcp/jsonrpc.h"
#include "doors/mcp/proxy.h"

namespace countersign::doors::mcp {
namespace {

using boost::json::object;

// A transport driven by hand: records what is sent, and lets the test play
// the server.
struct FakeTransport final : UpstreamTransport {
  std::vector<object>* sent;
  int* starts;
  FakeTransport(std::vector<object>* sent, int* starts) : sent(sent), starts(starts) {}
  void start() override { ++*starts; }
  void send(const object& message) override { sent->push_back(message); }
  void stop() override {}
};

struct Delivered {
  std::string session, related;
  object message;
};

class HubTest : public ::testing::Test {
 protected:
  std::vector<object> sent;
  int starts = 0;
  FakeTransport* transport = nullptr;
  std::vector<Delivered> delivered;
  std::unique_ptr<Hub> hub;

  void make(bool per_session) {
    hub = std::make_unique<Hub>(
        "files",
        [this] {
          auto fake = std::make_unique<FakeTransport>(&sent, &starts);
          transport = fake.get();
          return fake;
        },
        per_session,
        [this](const std::string& session, const std::string& related, object message) {
          delivered.push_back({session, related, std::move(message)});
        });
  }

  // Plays the server's side of initialize.
  void come_up() {
    transport->on_up();
    ASSERT_FALSE(sent.empty());
    const object init = sent.back();
    ASSERT_EQ(init.at("method").as_string(), "initialize");
    transport->on_message({{"jsonrpc", "2.0"},
                           {"id", init.at("id")},
                           {"result",
                            {{"protocolVersion", "2025-06-18"},
                             {"capabilities", {{"tools", object()}}},
                             {"serverInfo", {{"name", "fake"}, {"version", "1"}}}}}});
  }

  object request(std::string_view text) { return boost::json::parse(text).as_object(); }
};

TEST_F(HubTest, InitializesOnceAndForwardsWithRewrittenIds) {
  make(false);
  hub->open_session("s1",
                    request(R"({"protocolVersion":"2025-11-25","capabilities":{"roots":{}}})"));
  hub->open_session("s2", request(R"({"protocolVersion":"2025-06-18"})"));
  EXPECT_EQ(starts, 1);
  bool ready = false;
  hub->when_ready("s1", [&](const Error* error) { ready = error == nullptr; });
  come_up();
  EXPECT_TRUE(ready);
  ASSERT_GE(sent.size(), 2u);
  EXPECT_EQ(sent[0].at("params").at("protocolVersion").as_string(), "2025-11-25");
  EXPECT_TRUE(sent[0].at("params").at("capabilities").as_object().contains("roots"));
  EXPECT_EQ(sent[1].at("method").as_string(), "notifications/initialized");
  ASSERT_NE(hub->initialize_result("s2"), nullptr);
  EXPECT_EQ(hub->initialize_result("s2")->at("serverInfo").at("name").as_string(), "fake");

  // Both clients use id 1; upstream sees two different ids.
  std::vector<object> answers;
  hub->forward_request("s1", request(R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})"),
                       [&](object response) { answers.push_back(response); });
  hub->forward_request("s2", request(R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})"),
                       [&](object response) { answers.push_back(response); });
  ASSERT_EQ(sent.size(), 4u);
  auto first = sent[2].at("id");
  auto second = sent[3].at("id");
  EXPECT_NE(id_key(first), id_key(second));
  transport->on_message({{"jsonrpc", "2.0"}, {"id", second}, {"result", {{"tools", "two"}}}});
  transport->on_message({{"jsonrpc", "2.0"}, {"id", first}, {"result", {{"tools", "one"}}}});
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[0].at("id").as_int64(), 1);
  EXPECT_EQ(answers[0].at("result").at("tools").as_string(), "two");
  EXPECT_EQ(answers[1].at("result").at("tools").as_string(), "one");
  EXPECT_EQ(hub->in_flight(), 0u);
}

TEST_F(HubTest, QueuesUntilReadyAndFailsWhenTheServerDies) {
  make(false);
  hub->open_session("s1", object());
  std::vector<object> answers;
  hub->forward_request("s1", request(R"({"jsonrpc":"2.0","id":"a","method":"ping"})"),
                       [&](object response) { answers.push_back(response); });
  EXPECT_TRUE(sent.empty());  // not started yet
  come_up();
  ASSERT_EQ(sent.size(), 3u);  // initialize, initialized, the queued request
  EXPECT_EQ(sent[2].at("method").as_string(), "ping");
  transport->on_down("the server exited with status 1");
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].at("id").as_string(), "a");
  EXPECT_EQ(answers[0].at("error").at("code").as_int64(), jsonrpc_code::upstream_unavailable);
  EXPECT_THAT(std::string(answers[0].at("error").at("message").as_string()),
              ::testing::HasSubstr("exited with status 1"));
  // A restart initializes again.
  sent.clear();
  come_up();
  EXPECT_EQ(sent[0].at("method").as_string(), "initialize");
}

TEST_F(HubTest, InitializeRefusedFailsWaiters) {
  make(false);
  hub->open_session("s1", object());
  const Error* seen = nullptr;
  std::string message;
  hub->when_ready("s1", [&](const Error* error) {
    seen = error;
    if (error) message = error->message;
  });
  transport->on_up();
  transport->on_message({{"jsonrpc", "2.0"},
                         {"id", sent[0].at("id")},
                         {"error", {{"code", -32602}, {"message", "bad version"}}}});
  EXPECT_NE(seen, nullptr);
  EXPECT_THAT(message, ::testing::HasSubstr("bad version"));
  EXPECT_EQ(hub->initialize_result("s1"), nullptr);
}

TEST_F(HubTest, RoutesProgressByRewrittenToken) {
  make(false);
  hub->open_session("s1", object());
  hub->open_session("s2", object());
  come_up();
  hub->forward_request(
      "s1",
      request(
          R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x","_meta":{"progressToken":"p"}}})"),
      [](object) {});
  hub->forward_request(
      "s2",
      request(
          R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x","_meta":{"progressToken":"p"}}})"),
      [](object) {});
  const auto token1 = sent[2].at("params").at("_meta").at("progressToken");
  const auto token2 = sent[3].at("params").at("_meta").at("progressToken");
  EXPECT_NE(id_key(token1), id_key(token2));
  transport->on_message({{"jsonrpc", "2.0"},
                         {"method", "notifications/progress"},
                         {"params", {{"progressToken", token2}, {"progress", 1}}}});
  ASSERT_EQ(delivered.size(), 1u);
  EXPECT_EQ(delivered[0].session, "s2");
  EXPECT_EQ(delivered[0].related, "7");
  EXPECT_EQ(delivered[0].message.at("params").at("progressToken").as_string(), "p");
  // An unknown token is dropped.
  transport->on_message({{"jsonrpc", "2.0"},
                         {"method", "notifications/progress"},
                         {"params", {{"progressToken", "nope"}, {"progress", 1}}}});
  EXPECT_EQ(delivered.size(), 1u);
}

TEST_F(HubTest, RewritesCancellationsAndServerRequests) {
  make(false);
  hub->open_session("s1", object());
  come_up();
  hub->forward_request(
      "s1", request(R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"slow"}})"),
      [](object) {});
  const auto upstream_id = sent[2].at("id");
  hub->forward_notification(
      "s1",
      request(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3}})"));
  ASSERT_EQ(sent.size(), 4u);
  EXPECT_EQ(id_key(sent[3].at("params").at("requestId")), id_key(upstream_id));

  // The server asks the client something: it reaches s1 with a fresh id,
  // related to the request in flight; the answer goes back with the server's id.
  transport->on_message({{"jsonrpc", "2.0"}, {"id", 99}, {"method", "roots/list"}});
  ASSERT_EQ(delivered.size(), 1u);
  EXPECT_EQ(delivered[0].session, "s1");
  EXPECT_EQ(delivered[0].related, "3");
  const auto client_id = delivered[0].message.at("id");
  EXPECT_TRUE(client_id.is_string());
  EXPECT_TRUE(hub->forward_response(
      "s1",
      {{"jsonrpc", "2.0"}, {"id", client_id}, {"result", {{"roots", boost::json::array()}}}}));
  EXPECT_EQ(sent.back().at("id").as_int64(), 99);
  EXPECT_FALSE(
      hub->forward_response("s1", {{"jsonrpc", "2.0"}, {"id", client_id}, {"result", object()}}));

  // Other notifications go to every session's standalone stream.
  hub->open_session("s2", object());
  transport->on_message({{"jsonrpc", "2.0"}, {"method", "notifications/tools/list_changed"}});
  ASSERT_EQ(delivered.size(), 3u);
  EXPECT_EQ(delivered[1].related, "");
  EXPECT_EQ(delivered[2].related, "");
}

TEST_F(HubTest, ServerRequestsWithoutClientsAreRefused) {
  make(false);
  hub->open_session("s1", object());
  come_up();
  hub->close_session("s1");
  transport->on_message({{"jsonrpc", "2.0"}, {"id", 5}, {"method", "sampling/createMessage"}});
  ASSERT_FALSE(sent.empty());
  EXPECT_EQ(sent.back().at("id").as_int64(), 5);
  EXPECT_TRUE(sent.back().contains("error"));
}

TEST_F(HubTest, PerSessionUpstreams) {
  make(true);
  hub->open_session("s1", object());
  hub->open_session("s2", object());
  EXPECT_EQ(starts, 2);
  hub->close_session("s1");
  EXPECT_EQ(hub->initialize_result("s1"), nullptr);
}

}  // namespace
}  // namespace countersign::doors::mcp
