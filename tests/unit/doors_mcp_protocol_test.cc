// MCP door, the parts without networking: JSON-RPC classification and
// framing, SSE parsing, version negotiation, tools/call -> action, the
// answers for denied / held / rejected / timed-out calls, tools/list
// filtering and result masking.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "config/config.h"
#include "doors/mcp/governance.h"
#include "doors/mcp/jsonrpc.h"

namespace countersign::doors::mcp {
namespace {

using ::testing::HasSubstr;

boost::json::value json(std::string_view text) { return boost::json::parse(text); }

TEST(McpJsonRpc, ClassifiesRequestsNotificationsResponses) {
  auto request = classify(json(R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})"));
  EXPECT_EQ(request.kind, MessageKind::request);
  EXPECT_EQ(request.method, "tools/list");
  EXPECT_EQ(id_key(request.id), "1");
  auto notification = classify(json(R"({"jsonrpc":"2.0","method":"notifications/initialized"})"));
  EXPECT_EQ(notification.kind, MessageKind::notification);
  auto response = classify(json(R"({"jsonrpc":"2.0","id":"a","result":{}})"));
  EXPECT_EQ(response.kind, MessageKind::response);
  EXPECT_EQ(id_key(response.id), "\"a\"");
  auto error = classify(json(R"({"jsonrpc":"2.0","id":"a","error":{"code":1,"message":"x"}})"));
  EXPECT_EQ(error.kind, MessageKind::response);
}

TEST(McpJsonRpc, RejectsMalformedMessages) {
  EXPECT_EQ(classify(json("[1]")).kind, MessageKind::invalid);
  EXPECT_EQ(classify(json(R"({"id":1,"method":"x"})")).kind, MessageKind::invalid);
  EXPECT_EQ(classify(json(R"({"jsonrpc":"1.0","id":1,"method":"x"})")).kind, MessageKind::invalid);
  auto null_id = classify(json(R"({"jsonrpc":"2.0","id":null,"method":"x"})"));
  EXPECT_EQ(null_id.kind, MessageKind::invalid);
  EXPECT_THAT(null_id.problem, HasSubstr("id"));
  EXPECT_EQ(classify(json(R"({"jsonrpc":"2.0","id":1.5,"method":"x"})")).kind,
            MessageKind::invalid);
  EXPECT_EQ(classify(json(R"({"jsonrpc":"2.0","id":1,"method":7})")).kind, MessageKind::invalid);
  EXPECT_EQ(classify(json(R"({"jsonrpc":"2.0","id":1,"method":"x","params":3})")).kind,
            MessageKind::invalid);
  EXPECT_EQ(classify(json(R"({"jsonrpc":"2.0","id":1,"result":1,"error":{}})")).kind,
            MessageKind::invalid);
  // The id of an invalid message is kept when it is usable, for the error answer.
  EXPECT_EQ(id_key(classify(json(R"({"jsonrpc":"2.0","id":4,"method":7})")).id), "4");
}

TEST(McpJsonRpc, ParsesBodies) {
  EXPECT_FALSE(parse_body("{not json"));
  EXPECT_THAT(parse_body("{not json").error().message, HasSubstr("Parse error"));
  EXPECT_FALSE(parse_body("[]"));
  auto batch = parse_body(R"([{"jsonrpc":"2.0","method":"a"},{"jsonrpc":"2.0","method":"b"}])");
  ASSERT_TRUE(batch);
  EXPECT_TRUE(batch->batch);
  EXPECT_EQ(batch->messages.size(), 2u);
  auto single = parse_body(R"({"jsonrpc":"2.0","method":"a"})");
  ASSERT_TRUE(single);
  EXPECT_FALSE(single->batch);
}

TEST(McpJsonRpc, ErrorsCarryIdOrNull) {
  auto error = make_error(nullptr, jsonrpc_code::parse_error, "Parse error");
  EXPECT_EQ(boost::json::serialize(error),
            R"({"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null})");
  auto with_id = make_error(7, jsonrpc_code::method_not_found, "nope");
  EXPECT_EQ(with_id.at("id").as_int64(), 7);
}

TEST(McpJsonRpc, SplitsLines) {
  std::string buffer = "{\"a\":1}\r\n\n{\"b\":2}\n{\"c\"";
  auto lines = take_lines(buffer);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "{\"a\":1}");
  EXPECT_EQ(lines[1], "{\"b\":2}");
  EXPECT_EQ(buffer, "{\"c\"");
}

TEST(McpSse, ParsesEventsAcrossChunks) {
  SseParser parser;
  auto none = parser.feed("id: s1-1\nda");
  EXPECT_TRUE(none.empty());
  auto events =
      parser.feed("ta: {\"x\":1}\n\n: comment\n\nretry: 500\nid: s1-2\ndata: a\ndata: b\n\n");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].id, "s1-1");
  EXPECT_EQ(events[0].data, "{\"x\":1}");
  EXPECT_EQ(events[1].data, "a\nb");
  EXPECT_EQ(events[1].retry, 500);
  EXPECT_EQ(sse_event("s1-3", "{}"), "id: s1-3\ndata: {}\n\n");
  // The priming event (an id and empty data) parses as an event with no data.
  auto primed = parser.feed("id: s1-0\ndata: \n\n");
  ASSERT_EQ(primed.size(), 1u);
  EXPECT_EQ(primed[0].data, "");
}

TEST(McpVersions, NegotiatesSupportedVersions) {
  EXPECT_EQ(negotiate_version("2025-06-18"), "2025-06-18");
  EXPECT_EQ(negotiate_version("2025-11-25"), "2025-11-25");
  EXPECT_EQ(negotiate_version("2024-11-05"), "2025-11-25");
  EXPECT_EQ(negotiate_version(""), "2025-11-25");
  EXPECT_FALSE(is_supported_version("2099-01-01"));
}

TEST(McpToolCall, BecomesAnAction) {
  auto request = tool_call_action(
      "files", json(R"({"name":"write_file","arguments":{"path":"/a","content":"x"}})"),
      "127.0.0.1", "mcp_1");
  ASSERT_TRUE(request);
  EXPECT_EQ(request->door, "mcp");
  EXPECT_EQ(request->target, "files");
  EXPECT_EQ(request->verb, "tools/call:write_file");
  EXPECT_EQ(boost::json::serialize(request->params), R"({"path":"/a","content":"x"})");
  EXPECT_EQ(request->session, "mcp_1");
  auto no_arguments = tool_call_action("files", json(R"({"name":"list"})"), "", "");
  ASSERT_TRUE(no_arguments);
  EXPECT_TRUE(no_arguments->params.is_object());
  EXPECT_TRUE(no_arguments->params.get_object().empty());
  EXPECT_FALSE(tool_call_action("files", json(R"({"arguments":{}})"), "", ""));
  EXPECT_FALSE(tool_call_action("files", json(R"({"name":"x","arguments":[1]})"), "", ""));
  EXPECT_FALSE(tool_call_action("files", json("[]"), "", ""));
}

TEST(McpToolCall, ReadsProgressTokens) {
  EXPECT_EQ(id_key(*progress_token(json(R"({"_meta":{"progressToken":"t1"}})"))), "\"t1\"");
  EXPECT_EQ(id_key(*progress_token(json(R"({"_meta":{"progressToken":5}})"))), "5");
  EXPECT_FALSE(progress_token(json(R"({"name":"x"})")));
}

gateway::Outcome denied_outcome() {
  gateway::Outcome outcome;
  outcome.action.id = "act_1";
  outcome.action.verb = "tools/call:rm";
  outcome.decision.effect = Effect::deny;
  outcome.decision.rules = {"no-rm"};
  outcome.decision.reason = "rule no-rm denies: never";
  return outcome;
}

TEST(McpAnswers, DeniedAsErrorOrToolError) {
  auto error = denied_message(3, denied_outcome(), config::McpDenyAs::error);
  EXPECT_EQ(error.at("error").at("code").as_int64(), jsonrpc_code::denied);
  EXPECT_THAT(std::string(error.at("error").at("message").as_string()), HasSubstr("no-rm"));
  EXPECT_EQ(error.at("error").at("data").at("rules").at(0).as_string(), "no-rm");
  auto tool_error = denied_message(3, denied_outcome(), config::McpDenyAs::tool_error);
  EXPECT_TRUE(tool_error.at("result").at("isError").as_bool());
  EXPECT_THAT(std::string(tool_error.at("result").at("content").at(0).at("text").as_string()),
              HasSubstr("rule no-rm denies"));
}

TEST(McpAnswers, HeldRejectedTimedOut) {
  review::Review review;
  review.id = "rv_1";
  const std::string url = "http://127.0.0.1:8080";
  EXPECT_THAT(held_message("write_file", review, url),
              HasSubstr("http://127.0.0.1:8080/v1/reviews/rv_1"));
  auto progress = held_progress("tok", 1, "waiting");
  EXPECT_EQ(progress.at("method").as_string(), "notifications/progress");
  EXPECT_EQ(progress.at("params").at("progressToken").as_string(), "tok");
  auto timeout = hold_timeout_result("write_file", review, url);
  EXPECT_TRUE(timeout.at("isError").as_bool());
  EXPECT_THAT(std::string(timeout.at("content").at(0).at("text").as_string()),
              HasSubstr("still pending review rv_1"));
  review.state = review::ReviewState::rejected;
  review.outcome_reason = "not today";
  auto rejected = review_ended_result("write_file", review);
  EXPECT_TRUE(rejected.at("isError").as_bool());
  const std::string text(rejected.at("content").at(0).at("text").as_string());
  EXPECT_THAT(text, HasSubstr("rejected"));
  EXPECT_THAT(text, HasSubstr("not today"));
}

TEST(McpMasking, MasksTextAndStructuredContent) {
  auto result = json(
      R"({"content":[{"type":"text","text":"mail bob@example.com now"}],"structuredContent":{"password":"hunter2"}})");
  auto masked = mask_tool_result(result, mask::default_profile());
  const std::string text(masked.at("content").at(0).at("text").as_string());
  EXPECT_EQ(text.find("bob@example.com"), std::string::npos) << text;
  EXPECT_NE(masked.at("structuredContent").at("password").as_string(), "hunter2");
}

TEST(McpMasking, OnlyWhenARuleNamesAProfile) {
  policy::PolicySpec spec;
  policy::RuleSpec plain;
  plain.id = "plain";
  policy::RuleSpec masked;
  masked.id = "masked";
  masked.mask_profile = "strict";
  spec.rules = {plain, masked};
  Decision decision;
  decision.rules = {"plain"};
  EXPECT_FALSE(names_mask_profile(decision, spec));
  decision.rules = {"plain", "masked"};
  EXPECT_TRUE(names_mask_profile(decision, spec));
}

policy::RuleSpec rule(std::string id, std::string verb, Effect effect, std::string when = "") {
  policy::RuleSpec spec;
  spec.id = std::move(id);
  spec.match.doors = {"mcp"};
  spec.match.verbs = {std::move(verb)};
  spec.effect = effect;
  spec.when = std::move(when);
  if (effect == Effect::review) spec.review = Flow{{FlowStep{{"group:sre"}, 1, 0, {}}}};
  return spec;
}

TEST(McpToolsList, HidesOutrightDeniedAndMarksReviewed) {
  policy::PolicySpec spec;
  spec.default_effect = Effect::deny;
  spec.rules = {
      rule("reads", "tools/call:read_*", Effect::allow),
      rule("writes", "tools/call:write_*", Effect::review),
      rule("no-delete", "tools/call:delete_*", Effect::deny),
      rule("big-moves", "tools/call:move_*", Effect::allow),
      rule("some-moves", "tools/call:move_*", Effect::deny, "action.params.force == true")};
  auto filter = ToolFilter::build(spec);
  ASSERT_TRUE(filter) << filter.error().message;
  auto result = json(R"({"tools":[
      {"name":"read_file","description":"Reads"},
      {"name":"write_file","description":"Writes"},
      {"name":"delete_file"},
      {"name":"move_file"},
      {"name":"unlisted"}],"nextCursor":"c"})");
  Identity agent{"agent:bot", "api-key", IdentityKind::agent, {}, {}, {}};
  filter->apply(result, agent, "files");
  const auto& tools = result.at("tools").as_array();
  ASSERT_EQ(tools.size(), 3u) << boost::json::serialize(result);
  EXPECT_EQ(tools[0].at("name").as_string(), "read_file");
  EXPECT_EQ(tools[0].at("description").as_string(), "Reads");
  EXPECT_EQ(tools[1].at("name").as_string(), "write_file");
  EXPECT_THAT(std::string(tools[1].at("description").as_string()), HasSubstr("approval"));
  // A conditional deny does not hide the tool: some calls may pass.
  EXPECT_EQ(tools[2].at("name").as_string(), "move_file");
  EXPECT_EQ(result.at("nextCursor").as_string(), "c");
}

TEST(McpToolsList, FingerprintsIgnoreKeyOrder) {
  auto a =
      json(R"({"name":"x","description":"d","inputSchema":{"type":"object","properties":{}}})");
  auto b =
      json(R"({"inputSchema":{"properties":{},"type":"object"},"description":"d","name":"x"})");
  auto c = json(R"({"name":"x","description":"changed","inputSchema":{"type":"object"}})");
  EXPECT_EQ(tool_fingerprint(a.as_object()), tool_fingerprint(b.as_object()));
  EXPECT_NE(tool_fingerprint(a.as_object()), tool_fingerprint(c.as_object()));
}

TEST(McpConfig, ReadsTargetSections) {
  const std::string yaml = R"(storage: {sqlite: ":memory:"}
targets:
  files:
    door: mcp
    hold_timeout: 5s
    mcp:
      stdio:
        command: node
        args: [server.js, /tmp]
        env: {TOKEN: env:SOME_TOKEN}
      deny_as: tool_error
      allowed_origins: [http://localhost:6274]
  remote:
    door: mcp
    mcp:
      http: {url: "http://127.0.0.1:9/mcp", headers: {Authorization: env:UPSTREAM_AUTH}}
)";
  auto config = config::parse_config(yaml, "test.yaml");
  ASSERT_TRUE(config) << config.error().message;
  const auto& files = config->targets.at("files");
  ASSERT_TRUE(files.mcp);
  EXPECT_TRUE(files.mcp->stdio);
  EXPECT_EQ(files.mcp->stdio_upstream.command, "node");
  EXPECT_EQ(files.mcp->stdio_upstream.args.size(), 2u);
  EXPECT_EQ(files.mcp->stdio_upstream.env.at("TOKEN").reference, "env:SOME_TOKEN");
  EXPECT_EQ(files.mcp->deny_as, config::McpDenyAs::tool_error);
  EXPECT_FALSE(config->targets.at("remote").mcp->stdio);
  EXPECT_EQ(config->targets.at("remote").mcp->http_upstream.url, "http://127.0.0.1:9/mcp");
}

TEST(McpConfig, ErrorsNameTheLine) {
  auto missing =
      config::parse_config("storage: {sqlite: x.db}\ntargets:\n  t:\n    door: mcp\n", "test.yaml");
  ASSERT_FALSE(missing);
  EXPECT_THAT(missing.error().message, HasSubstr("test.yaml:4"));
  EXPECT_THAT(missing.error().message, HasSubstr("mcp: section"));
  auto inline_secret = config::parse_config(
      "storage: {sqlite: x.db}\ntargets:\n  t:\n    door: mcp\n    mcp:\n      stdio:\n        "
      "command: x\n        env: {TOKEN: hunter2}\n",
      "test.yaml");
  ASSERT_FALSE(inline_secret);
  EXPECT_THAT(inline_secret.error().message, HasSubstr("test.yaml:8"));
  EXPECT_EQ(inline_secret.error().message.find("hunter2"), std::string::npos);
  auto bad_url = config::parse_config(
      "storage: {sqlite: x.db}\ntargets:\n  t:\n    door: mcp\n    mcp:\n      http: {url: "
      "ftp://x}\n",
      "test.yaml");
  ASSERT_FALSE(bad_url);
  EXPECT_THAT(bad_url.error().message, HasSubstr("http://"));
}

}  // namespace
}  // namespace countersign::doors::mcp
