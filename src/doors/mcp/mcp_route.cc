// Streamable HTTP server side of the MCP door (see mcp_route.h). Protocol
// decisions live in governance.h and proxy.h; this file reads and writes
// HTTP, keeps sessions and their SSE streams, and holds reviewed calls.
#include "doors/mcp/mcp_route.h"

#include <chrono>
#include <deque>
#include <iostream>
#include <limits>
#include <map>
#include <set>

#include <fmt/format.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "audit/event.h"
#include "core/hash.h"
#include "doors/loop_completion.h"
#include "doors/mcp/governance.h"
#include "doors/mcp/jsonrpc.h"
#include "doors/mcp/proxy.h"
#include "doors/mcp/tasks.h"
#include "doors/mcp/upstream.h"
#include "doors/route.h"
#include "gateway/gateway.h"

namespace countersign::doors::mcp {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

constexpr auto kWriteTimeout = std::chrono::seconds(30);
constexpr std::size_t kMaxBufferedEvents = 1000;
constexpr std::size_t kMaxStreamsPerSession = 64;
constexpr Millis kSessionIdle = 3'600'000;

// An SSE stream of one session: the answer to one POSTed request, or the
// standalone stream a GET reads. Events are kept so a client that lost the
// connection can resume with Last-Event-ID.
struct Stream {
  std::string id;
  std::vector<std::string> events;  // serialized JSON-RPC messages; event i has id "{id}-{i+1}"
  std::size_t comments = 0;         // keep-alive comments asked for (SSE only)
  bool finished = false;            // the response is in (POST) or the session ended
  bool response_only = true;        // nothing but the response so far
  bool want_sse = false;            // switch to SSE even before an event (a held call)
  bool attached = false;            // a connection is writing it
  std::size_t delivered = 0;        // events written to some connection
  std::vector<asio::steady_timer*> waiting;

  void notify() {
    for (auto* timer : waiting) timer->cancel();
  }
  void push(const boost::json::object& message) {
    if (finished) return;
    if (events.size() - delivered >= kMaxBufferedEvents) return;  // nobody reads: drop
    events.push_back(boost::json::serialize(message));
    response_only = false;
    notify();
  }
  void respond(const boost::json::object& message) {
    if (finished) return;
    const bool alone = events.empty();
    events.push_back(boost::json::serialize(message));
    response_only = alone && response_only;
    finished = true;
    notify();
  }
  void heartbeat() {
    ++comments;
    notify();
  }
  void end() {
    finished = true;
    notify();
  }
  asio::awaitable<void> wait() {
    asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::hours(24));
    waiting.push_back(&timer);
    boost::system::error_code ignored;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    std::erase(waiting, &timer);
  }
};

// A client request being answered.
struct Call {
  std::shared_ptr<Stream> stream;
  std::string review_id;  // set while held on a review
  bool cancelled = false;
};

using Finish = std::function<void(const boost::json::object&)>;

// What a task needs while it runs: the call it stands for (to cancel it) and
// the tasks/result requests waiting for it to end.
struct TaskRun {
  std::shared_ptr<Call> call;
  std::vector<std::pair<boost::json::value, Finish>> waiters;
};

struct Session {
  std::string id;
  std::string target;
  Identity actor;
  std::string version;
  std::shared_ptr<Stream> standalone;
  std::map<std::string, std::shared_ptr<Stream>> streams;  // by stream id
  std::deque<std::string> stream_order;
  std::map<std::string, std::shared_ptr<Call>> calls;     // by id_key of the client's id
  std::map<std::string, std::shared_ptr<McpTask>> tasks;  // by task id (2025-11-25)
  std::map<std::string, TaskRun> task_runs;               // tasks not yet ended
  std::uint64_t next_stream = 1;
  Millis last_seen = 0;
  bool closed = false;

  std::shared_ptr<Stream> new_stream() {
    auto stream = std::make_shared<Stream>();
    stream->id = fmt::format("{}", next_stream++);
    streams[stream->id] = stream;
    stream_order.push_back(stream->id);
    while (stream_order.size() > kMaxStreamsPerSession) {
      auto oldest = streams.find(stream_order.front());
      if (oldest != streams.end() && !oldest->second->finished) break;
      if (oldest != streams.end()) streams.erase(oldest);
      stream_order.pop_front();
    }
    return stream;
  }
};

struct TargetState {
  const config::Target* target = nullptr;
  std::unique_ptr<Hub> hub;
  std::optional<ToolFilter> filter;
  std::map<std::string, std::string> fingerprints;  // tool name -> definition fingerprint
  std::map<std::string, std::string> task_support;  // tool name -> the server's taskSupport
};

struct HttpAnswer {
  unsigned status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

HttpAnswer json_answer(unsigned status, const boost::json::object& body) {
  return {status, boost::json::serialize(body), {}};
}

HttpAnswer rpc_error_answer(unsigned status, int code, std::string_view message,
                            const boost::json::value& id = nullptr) {
  return json_answer(status, make_error(id, code, message));
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// scheme://host[:port] of a URL, lowercased.
std::string origin_of(std::string_view url) {
  auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return lower(url);
  auto end = url.find('/', scheme + 3);
  return lower(url.substr(0, end));
}

class McpRoute final : public StreamingRoute {
 public:
  McpRoute(gateway::Gateway& gateway, ReviewWaiters& waiters)
      : gateway_(gateway), waiters_(waiters) {
    for (const auto& [name, target] : gateway_.config().targets) {
      if (target.door != kDoor || !target.mcp) continue;
      auto& state = targets_[name];
      state.target = &target;
    }
    auto filter = ToolFilter::build(gateway_.config().policy);
    if (filter) filter_ = std::move(*filter);
  }

  ~McpRoute() override {
    for (auto& [name, state] : targets_) state.hub.reset();  // stops upstream processes
    loop_->settle();
  }

  asio::awaitable<bool> serve(Connection& connection, RequestHeader& header) override {
    const auto& request = header.get();
    std::string_view path = request.target();
    if (auto query = path.find('?'); query != std::string_view::npos) path = path.substr(0, query);
    std::string name(path.substr(std::string_view(kRoutePrefix).size()));
    while (!name.empty() && name.back() == '/') name.pop_back();
    const bool has_body = request.has_content_length() || request.chunked();

    auto state = targets_.find(name);
    if (name.empty() || name.find('/') != std::string::npos || state == targets_.end())
      co_return co_await write(connection, header,
                               rpc_error_answer(404, jsonrpc_code::invalid_request,
                                                fmt::format("no MCP target '{}'", name)),
                               !has_body);
    if (!origin_allowed(*state->second.target, request[http::field::origin]))
      co_return co_await write(connection, header,
                               rpc_error_answer(403, jsonrpc_code::invalid_request,
                                                "Forbidden: the Origin is not allowed"),
                               false);
    auto caller =
        gateway_.authenticate(request[http::field::authorization], connection.client_address);
    if (!caller) {
      HttpAnswer answer =
          rpc_error_answer(401, jsonrpc_code::invalid_request, caller.error().message);
      answer.headers.emplace_back("WWW-Authenticate", "Bearer");
      co_return co_await write(connection, header, std::move(answer), !has_body);
    }
    if (auto version = request["MCP-Protocol-Version"];
        !version.empty() && !is_supported_version(version))
      co_return co_await write(
          connection, header,
          rpc_error_answer(
              400, jsonrpc_code::invalid_request,
              fmt::format("Bad Request: unsupported MCP-Protocol-Version '{}' "
                          "(supported: {})",
                          std::string_view(version), fmt::join(supported_versions(), ", "))),
          !has_body);
    if (!executor_) {
      executor_ = co_await asio::this_coro::executor;
      loop_->bind(*executor_);
    }
    // Answers and SSE events are small writes that must not wait for the
    // client's delayed ACK (Nagle).
    boost::system::error_code no_delay_error;
    connection.stream.socket().set_option(asio::ip::tcp::no_delay(true), no_delay_error);
    ensure_hub(name, state->second);
    expire_idle_sessions();

    switch (request.method()) {
      case http::verb::post:
        co_return co_await post(connection, header, state->second, *caller);
      case http::verb::get:
        co_return co_await get(connection, header, *caller);
      case http::verb::delete_:
        co_return co_await remove(connection, header, state->second, *caller);
      default: {
        HttpAnswer answer = rpc_error_answer(405, jsonrpc_code::invalid_request,
                                             "Method Not Allowed: use POST, GET or DELETE");
        answer.headers.emplace_back("Allow", "GET, POST, DELETE");
        co_return co_await write(connection, header, std::move(answer), !has_body);
      }
    }
  }

 private:
  // ------------------------------------------------------------ plumbing

  bool origin_allowed(const config::Target& target, std::string_view origin) const {
    if (origin.empty()) return true;  // not a browser
    const std::string asked = origin_of(origin);
    if (asked == origin_of(gateway_.config().public_url)) return true;
    for (const auto& allowed : target.mcp->allowed_origins)
      if (allowed == "*" || origin_of(allowed) == asked) return true;
    return false;
  }

  void ensure_hub(const std::string& name, TargetState& state) {
    if (state.hub) return;
    const config::McpTarget& mcp = *state.target->mcp;
    auto executor = *executor_;
    Hub::TransportFactory factory = [executor, name, &mcp]() -> std::unique_ptr<UpstreamTransport> {
      if (mcp.stdio)
        return make_stdio_transport(executor, name, mcp.stdio_upstream, mcp.max_message_bytes);
      std::map<std::string, std::string> headers;
      for (const auto& [header, reference] : mcp.http_upstream.headers) {
        auto value = config::resolve_secret(reference);
        if (value)
          headers[header] = *value;
        else
          std::cerr << "countersign: mcp target '" << name << "': " << value.error().message
                    << "\n";
      }
      return make_http_transport(executor, name, mcp.http_upstream.url, std::move(headers),
                                 mcp.max_message_bytes);
    };
    const bool per_session = mcp.stdio && mcp.stdio_upstream.per_session;
    state.hub = std::make_unique<Hub>(
        name, std::move(factory), per_session,
        [this](const std::string& session, const std::string& related,
               boost::json::object message) { deliver(session, related, std::move(message)); });
  }

  void deliver(const std::string& session_id, const std::string& related,
               boost::json::object message) {
    auto found = sessions_.find(session_id);
    if (found == sessions_.end()) return;
    Session& session = *found->second;
    if (!related.empty()) {
      auto call = session.calls.find(related);
      if (call != session.calls.end() && !call->second->stream->finished) {
        call->second->stream->push(message);
        return;
      }
    }
    session.standalone->push(message);
  }

  void expire_idle_sessions() {
    const Millis now = gateway_.clock().now();
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      Session& session = *it->second;
      if (session.calls.empty() && now - session.last_seen > kSessionIdle) {
        close_session(session);
        it = sessions_.erase(it);
      } else {
        ++it;
      }
    }
  }

  void close_session(Session& session) {
    session.closed = true;
    if (auto state = targets_.find(session.target); state != targets_.end() && state->second.hub)
      state->second.hub->close_session(session.id);
    for (auto& [key, call] : session.calls) {
      call->cancelled = true;
      if (!call->review_id.empty()) waiters_.wake(call->review_id);
      call->stream->end();
    }
    for (auto& [task_id, run] : session.task_runs) {
      run.call->cancelled = true;
      auto task = session.tasks.find(task_id);
      if (task != session.tasks.end() && !task->second->review_id.empty())
        waiters_.wake(task->second->review_id);
    }
    session.standalone->end();
  }

  // Finds the caller's session; a session of another identity is "not found".
  std::shared_ptr<Session> session_for(const RequestHeader& header, const Identity& caller,
                                       const std::string& target) {
    std::string id(header.get()["Mcp-Session-Id"]);
    auto found = sessions_.find(id);
    if (found == sessions_.end() || found->second->actor.subject != caller.subject ||
        found->second->target != target)
      return nullptr;
    found->second->last_seen = gateway_.clock().now();
    return found->second;
  }

  static void set_common(http::response_header<>& message) {
    message.set(http::field::server, "countersign");
    message.set(http::field::cache_control, "no-store");
    message.set("X-Content-Type-Options", "nosniff");
  }

  // Writes a complete answer. Without `body_read` the connection cannot
  // carry another request (its body was never read), so it closes.
  asio::awaitable<bool> write(Connection& connection, RequestHeader& header, HttpAnswer answer,
                              bool body_read) {
    const bool keep_alive = body_read && header.get().keep_alive();
    http::response<http::string_body> message{static_cast<http::status>(answer.status),
                                              header.get().version()};
    set_common(message);
    if (!answer.body.empty()) message.set(http::field::content_type, "application/json");
    for (const auto& [name, value] : answer.headers) message.set(name, value);
    message.body() = std::move(answer.body);
    message.keep_alive(keep_alive);
    message.prepare_payload();
    connection.stream.expires_after(kWriteTimeout);
    boost::system::error_code error;
    co_await http::async_write(connection.stream, message,
                               asio::redirect_error(asio::use_awaitable, error));
    co_return !error && keep_alive;
  }

  // Writes `stream` as server-sent events from event `cursor` on, until it
  // finishes or the client goes away. Returns whether the connection is reusable.
  asio::awaitable<bool> write_sse(Connection& connection, unsigned http_version, bool keep_alive,
                                  std::shared_ptr<Stream> stream, std::size_t cursor,
                                  const std::string& version, bool with_ids) {
    http::response<http::empty_body> message{http::status::ok, http_version};
    set_common(message);
    message.set(http::field::content_type, "text/event-stream");
    message.set(http::field::cache_control, "no-cache, no-store");
    message.chunked(true);
    message.keep_alive(keep_alive);
    http::response_serializer<http::empty_body> serializer(message);
    boost::system::error_code error;
    connection.stream.expires_after(kWriteTimeout);
    co_await http::async_write_header(connection.stream, serializer,
                                      asio::redirect_error(asio::use_awaitable, error));
    if (error) co_return false;
    stream->attached = true;
    struct Detach {
      std::shared_ptr<Stream> stream;
      ~Detach() { stream->attached = false; }
    } detach{stream};
    std::string pending;
    if (with_ids && cursor == 0 && version != "2025-06-18")
      pending = fmt::format("id: {}-0\ndata: \n\n", stream->id);  // primes resumption
    std::size_t comments = stream->comments;
    for (;;) {
      while (cursor < stream->events.size()) {
        pending +=
            sse_event(with_ids ? fmt::format("{}-{}", stream->id, cursor + 1) : std::string(),
                      stream->events[cursor]);
        ++cursor;
      }
      if (stream->comments != comments) {
        comments = stream->comments;
        pending += ": waiting\n\n";
      }
      if (!pending.empty()) {
        connection.stream.expires_after(kWriteTimeout);
        co_await asio::async_write(connection.stream, http::make_chunk(asio::buffer(pending)),
                                   asio::redirect_error(asio::use_awaitable, error));
        if (error) co_return false;
        pending.clear();
        stream->delivered = std::max(stream->delivered, cursor);
      }
      if (stream->finished && cursor >= stream->events.size()) break;
      connection.stream.expires_never();
      co_await stream->wait();
    }
    connection.stream.expires_after(kWriteTimeout);
    co_await asio::async_write(connection.stream, http::make_chunk_last(),
                               asio::redirect_error(asio::use_awaitable, error));
    co_return !error && keep_alive;
  }

  // ------------------------------------------------------------ methods

  asio::awaitable<bool> post(Connection& connection, RequestHeader& header, TargetState& state,
                             const Identity& caller) {
    const auto& request = header.get();
    const std::string accept = lower(request[http::field::accept]);
    const bool accepts_sse = accept.empty() ||
                             accept.find("text/event-stream") != std::string::npos ||
                             accept.find("*/*") != std::string::npos;
    const bool accepts_json = accept.empty() ||
                              accept.find("application/json") != std::string::npos ||
                              accept.find("*/*") != std::string::npos;
    const bool has_body = request.has_content_length() || request.chunked();
    if (!accepts_sse && !accepts_json)
      co_return co_await write(
          connection, header,
          rpc_error_answer(
              406, jsonrpc_code::invalid_request,
              "Not Acceptable: Accept must list application/json and text/event-stream"),
          !has_body);
    const std::string content_type = lower(request[http::field::content_type]);
    if (content_type.find("application/json") == std::string::npos)
      co_return co_await write(connection, header,
                               rpc_error_answer(415, jsonrpc_code::invalid_request,
                                                "Unsupported Media Type: send application/json"),
                               !has_body);

    // The body, within the target's message limit.
    const std::size_t limit = state.target->mcp->max_message_bytes;
    const auto declared = header.content_length();
    http::request_parser<http::string_body> parser(std::move(header));
    parser.body_limit(limit);
    boost::system::error_code error;
    if (declared && *declared > limit) {
      error = http::error::body_limit;
    } else if (!parser.is_done()) {
      connection.stream.expires_after(kWriteTimeout);
      co_await http::async_read(connection.stream, connection.buffer, parser,
                                asio::redirect_error(asio::use_awaitable, error));
    }
    if (error == http::error::body_limit) {
      http::response<http::string_body> message{http::status::payload_too_large, 11};
      set_common(message);
      message.set(http::field::content_type, "application/json");
      message.body() = boost::json::serialize(
          make_error(nullptr, jsonrpc_code::request_too_large,
                     fmt::format("the message exceeds the limit of {} bytes", limit)));
      message.keep_alive(false);
      message.prepare_payload();
      co_await http::async_write(connection.stream, message,
                                 asio::redirect_error(asio::use_awaitable, error));
      co_return false;
    }
    if (error) co_return false;
    auto& body_request = parser.get();
    const bool keep_alive = body_request.keep_alive();
    const unsigned version = body_request.version();
    std::string session_header(body_request["Mcp-Session-Id"]);

    auto respond = [&](HttpAnswer answer) -> asio::awaitable<bool> {
      http::response<http::string_body> message{static_cast<http::status>(answer.status), version};
      set_common(message);
      if (!answer.body.empty()) message.set(http::field::content_type, "application/json");
      for (const auto& [name, value] : answer.headers) message.set(name, value);
      message.body() = std::move(answer.body);
      message.keep_alive(keep_alive);
      message.prepare_payload();
      connection.stream.expires_after(kWriteTimeout);
      boost::system::error_code write_error;
      co_await http::async_write(connection.stream, message,
                                 asio::redirect_error(asio::use_awaitable, write_error));
      co_return !write_error && keep_alive;
    };

    auto body = parse_body(body_request.body());
    if (!body) {
      const bool parse = body.error().message.starts_with("Parse error");
      co_return co_await respond(
          rpc_error_answer(400, parse ? jsonrpc_code::parse_error : jsonrpc_code::invalid_request,
                           body.error().message));
    }
    if (body->batch)
      co_return co_await respond(rpc_error_answer(
          400, jsonrpc_code::invalid_request,
          "Invalid Request: JSON-RPC batches are not supported (removed in MCP 2025-06-18); send "
          "one message per POST"));
    boost::json::value& value = body->messages.front();
    Message message = classify(value);
    if (message.kind == MessageKind::invalid)
      co_return co_await respond(rpc_error_answer(
          400, jsonrpc_code::invalid_request, "Invalid Request: " + message.problem, message.id));
    boost::json::object& object = value.get_object();

    const std::string& target_name = state.target->name;
    if (message.kind == MessageKind::request && message.method == "initialize") {
      auto answer =
          co_await initialize(state, caller, message.id, object, connection.client_address);
      co_return co_await respond(std::move(answer));
    }
    if (session_header.empty())
      co_return co_await respond(rpc_error_answer(
          400, jsonrpc_code::invalid_request,
          "Bad Request: Mcp-Session-Id header is required (send initialize first)", message.id));
    // The session, checked against the caller.
    auto found = sessions_.find(session_header);
    if (found == sessions_.end() || found->second->actor.subject != caller.subject ||
        found->second->target != target_name)
      co_return co_await respond(
          rpc_error_answer(404, jsonrpc_code::invalid_request, "Session not found", message.id));
    std::shared_ptr<Session> session = found->second;
    session->last_seen = gateway_.clock().now();

    if (message.kind == MessageKind::notification) {
      notification(state, *session, std::move(object));
      HttpAnswer accepted{202, "", {}};
      co_return co_await respond(std::move(accepted));
    }
    if (message.kind == MessageKind::response) {
      (void)state.hub->forward_response(session->id, std::move(object));
      HttpAnswer accepted{202, "", {}};
      co_return co_await respond(std::move(accepted));
    }

    // A request: answered on its own stream, as JSON or as SSE.
    const std::string key = id_key(message.id);
    if (session->calls.contains(key))
      co_return co_await respond(rpc_error_answer(
          400, jsonrpc_code::invalid_request,
          fmt::format("Invalid Request: request id {} is already in use", key), message.id));
    auto call = std::make_shared<Call>();
    call->stream = session->new_stream();
    session->calls[key] = call;
    dispatch(state, session, call, message, std::move(object), connection.client_address,
             accepts_sse);
    auto stream = call->stream;
    while (!stream->finished && !(accepts_sse && (!stream->response_only || stream->want_sse))) {
      connection.stream.expires_never();
      co_await stream->wait();
    }
    if (stream->finished && (stream->response_only || !accepts_sse)) {
      HttpAnswer answer{200, stream->events.empty() ? std::string() : stream->events.back(), {}};
      co_return co_await respond(std::move(answer));
    }
    // No event ids on a request's stream: the TypeScript SDK (1.32) treats a
    // stream with ids that ends in an error response as interrupted, and
    // reconnects and closes the client. The GET stream is resumable.
    co_return co_await write_sse(connection, version, keep_alive, stream, 0, session->version,
                                 false);
  }

  // Runs one client request; its answer lands on call->stream.
  void dispatch(TargetState& state, const std::shared_ptr<Session>& session,
                const std::shared_ptr<Call>& call, const Message& message,
                boost::json::object object, const std::string& client_address, bool accepts_sse) {
    const std::string key = id_key(message.id);
    auto finish = [session, key, stream = call->stream](const boost::json::object& response) {
      stream->respond(response);
      auto found = session->calls.find(key);
      if (found != session->calls.end() && found->second->stream == stream)
        session->calls.erase(found);
    };
    if (message.method == "ping") return finish(make_result(message.id, boost::json::object()));
    if (message.method == "tools/call") {
      std::shared_ptr<McpTask> task;
      if (session->version == kTasksVersion && object.contains("params") &&
          wants_task(object["params"])) {
        forget_expired_tasks(*session);
        task = std::make_shared<McpTask>();
        task->id = new_id("task");
        task->created_at = task->updated_at = gateway_.clock().now();
        task->ttl = granted_ttl(object["params"]);
      }
      asio::co_spawn(*executor_,
                     govern(state, session, call, message.id, std::move(object), client_address,
                            accepts_sse, finish, std::move(task)),
                     asio::detached);
      return;
    }
    if (message.method.starts_with("tasks/")) {
      if (auto answer = task_request(*session, message, object, finish)) finish(*answer);
      return;
    }
    if (message.method == "tools/list") {
      const auto* params = object.if_contains("params");
      const bool from_start =
          params == nullptr || !params->is_object() || !params->get_object().contains("cursor");
      state.hub->forward_request(
          session->id, std::move(object),
          [this, &state, session, finish, from_start](boost::json::object response) {
            if (auto* result = response.if_contains("result")) {
              note_tool_changes(state, session->actor, *result, from_start);
              if (filter_) filter_->apply(*result, session->actor, state.target->name);
              for (auto& [tool, support] : rewrite_task_support(*result, session->version))
                state.task_support[tool] = support;
            }
            finish(response);
          });
      return;
    }
    state.hub->forward_request(session->id, std::move(object), finish);
  }

  // Tool definitions that changed since the last listing are audited once
  // (mcp.tool_changed): a changed definition, and, for a complete listing,
  // tools that appeared or disappeared since the previous one.
  void note_tool_changes(TargetState& state, const Identity& actor,
                         const boost::json::value& result, bool from_start) {
    const auto* object = result.if_object();
    const auto* tools = object != nullptr ? object->if_contains("tools") : nullptr;
    if (tools == nullptr || !tools->is_array()) return;
    const bool complete = from_start && !object->contains("nextCursor");
    const bool first_listing = state.fingerprints.empty();
    std::vector<audit::AuditEvent> events;
    auto change = [&](std::string_view kind, const std::string& tool, const std::string& before,
                      const std::string& after) {
      audit::AuditEvent event;
      event.time = gateway_.clock().now();
      event.type = "mcp.tool_changed";
      event.actor = "system";
      event.details = {{"target", state.target->name},
                       {"tool", tool},
                       {"change", kind},
                       {"listed_for", actor.subject}};
      if (!before.empty()) event.details["fingerprint_before"] = before;
      if (!after.empty()) event.details["fingerprint"] = after;
      event.controls = audit::controls_for(event.type);
      events.push_back(std::move(event));
      std::cerr << fmt::format("countersign: mcp target '{}': tool '{}' {}\n", state.target->name,
                               tool, kind)
                << std::flush;
    };
    std::set<std::string> listed;
    for (const auto& tool : tools->get_array()) {
      if (!tool.is_object()) continue;
      const auto* name = tool.get_object().if_contains("name");
      if (name == nullptr || !name->is_string()) continue;
      std::string tool_name(name->get_string());
      listed.insert(tool_name);
      std::string fingerprint = tool_fingerprint(tool.get_object());
      auto [it, inserted] = state.fingerprints.emplace(tool_name, fingerprint);
      if (inserted) {
        if (!first_listing && complete) change("added", tool_name, "", fingerprint);
      } else if (it->second != fingerprint) {
        change("changed", tool_name, it->second, fingerprint);
        it->second = fingerprint;
      }
    }
    if (complete && !first_listing) {
      for (auto it = state.fingerprints.begin(); it != state.fingerprints.end();) {
        if (listed.contains(it->first)) {
          ++it;
          continue;
        }
        change("removed", it->first, it->second, "");
        it = state.fingerprints.erase(it);
      }
    }
    if (!events.empty()) {
      if (auto appended = gateway_.store().append_events(events); !appended)
        std::cerr << "countersign: could not audit tool changes: " << appended.error().message
                  << "\n";
    }
  }

  // ------------------------------------------------------------ tasks

  void forget_expired_tasks(Session& session) {
    const Millis now = gateway_.clock().now();
    for (auto it = session.tasks.begin(); it != session.tasks.end();) {
      const McpTask& task = *it->second;
      if (is_terminal(task.status) && now - task.created_at > task.ttl)
        it = session.tasks.erase(it);
      else
        ++it;
    }
  }

  // Ends a task with the answer its tools/call would have had, answers the
  // tasks/result requests waiting for it and tells the session.
  void end_task(Session& session, McpTask& task, const boost::json::object& message,
                std::optional<TaskStatus> status = std::nullopt) {
    if (!finish_task(task, message, gateway_.clock().now(), status)) return;
    auto run = session.task_runs.find(task.id);
    if (run != session.task_runs.end()) {
      auto waiters = std::move(run->second.waiters);
      session.task_runs.erase(run);
      for (auto& [id, finish] : waiters) finish(task_result_message(task, id));
    }
    session.standalone->push(make_notification("notifications/tasks/status", task_json(task)));
  }

  // tasks/get, tasks/result, tasks/list, tasks/cancel for the session's own
  // tasks. Returns the answer, or nothing when it comes later (tasks/result
  // of a task still running).
  std::optional<boost::json::object> task_request(Session& session, const Message& message,
                                                  const boost::json::object& object,
                                                  const Finish& finish) {
    const boost::json::value& id = message.id;
    if (session.version != kTasksVersion)
      return make_error(id, jsonrpc_code::method_not_found,
                        fmt::format("Method not found: {} (tasks need protocol version {})",
                                    message.method, kTasksVersion));
    forget_expired_tasks(session);
    const auto* params = object.if_contains("params");
    const boost::json::object no_params;
    const boost::json::object& given =
        params != nullptr && params->is_object() ? params->get_object() : no_params;
    if (message.method == "tasks/list") {
      std::string cursor;
      if (const auto* text = given.if_contains("cursor"); text != nullptr && text->is_string())
        cursor = std::string(text->get_string());
      auto page = list_tasks_page(session.tasks, cursor);
      if (!page) return make_error(id, jsonrpc_code::invalid_params, page.error().message);
      return make_result(id, std::move(*page));
    }
    if (message.method != "tasks/get" && message.method != "tasks/result" &&
        message.method != "tasks/cancel")
      return make_error(id, jsonrpc_code::method_not_found,
                        fmt::format("Method not found: {}", message.method));
    const auto* task_id = given.if_contains("taskId");
    if (task_id == nullptr || !task_id->is_string())
      return make_error(id, jsonrpc_code::invalid_params, "Invalid params: taskId is required");
    auto found = session.tasks.find(std::string(task_id->get_string()));
    if (found == session.tasks.end())
      return make_error(id, jsonrpc_code::invalid_params,
                        fmt::format("Invalid params: no task '{}' in this session",
                                    std::string_view(task_id->get_string())));
    std::shared_ptr<McpTask> task = found->second;
    if (message.method == "tasks/get") return make_result(id, task_json(*task));
    if (message.method == "tasks/result") {
      if (is_terminal(task->status)) return task_result_message(*task, id);
      session.task_runs[task->id].waiters.emplace_back(id, finish);
      return std::nullopt;
    }
    // tasks/cancel: the pending review is cancelled too (the requester's right).
    if (is_terminal(task->status))
      return make_error(id, jsonrpc_code::invalid_params,
                        fmt::format("Invalid params: task '{}' is already {}", task->id,
                                    to_string(task->status)));
    std::string why = "cancelled by the client";
    if (!task->review_id.empty()) {
      auto cancelled = gateway_.cancel(task->review_id, session.actor);
      if (cancelled)
        why = fmt::format("cancelled by the client; review {} was cancelled", task->review_id);
      else if (auto review = gateway_.get_review(task->review_id);
               review && review->state != review::ReviewState::pending)
        why = fmt::format("cancelled by the client; review {} was already {}", task->review_id,
                          review::state_name(review->state));
    }
    if (auto run = session.task_runs.find(task->id); run != session.task_runs.end())
      run->second.call->cancelled = true;
    end_task(session, *task,
             make_result(nullptr, tool_error_result(fmt::format("countersign: {} was not run: {}",
                                                                task->tool, why))),
             TaskStatus::cancelled);
    if (!task->review_id.empty()) waiters_.wake(task->review_id);
    return make_result(id, task_json(*task));
  }

  void notification(TargetState& state, Session& session, boost::json::object object) {
    const auto* method = object.if_contains("method");
    if (method && method->is_string() && method->get_string() == "notifications/cancelled") {
      const auto* params = object.if_contains("params");
      const auto* request_id =
          params && params->is_object() ? params->get_object().if_contains("requestId") : nullptr;
      if (request_id != nullptr) {
        auto call = session.calls.find(id_key(*request_id));
        if (call != session.calls.end() && !call->second->review_id.empty()) {
          // A held call the client gave up on: cancel its review.
          call->second->cancelled = true;
          (void)gateway_.cancel(call->second->review_id, session.actor);
          waiters_.wake(call->second->review_id);
          return;
        }
      }
    }
    if (method && method->is_string() && method->get_string() == "notifications/initialized")
      return;  // the gateway initialized the upstream itself
    state.hub->forward_notification(session.id, std::move(object));
  }

  asio::awaitable<HttpAnswer> initialize(TargetState& state, const Identity& caller,
                                         const boost::json::value& id, boost::json::object& message,
                                         const std::string& client_address) {
    (void)client_address;
    boost::json::object params;
    if (auto* given = message.if_contains("params"); given && given->is_object())
      params = given->get_object();
    std::string requested;
    if (auto* version = params.if_contains("protocolVersion"); version && version->is_string())
      requested = std::string(version->get_string());
    auto session = std::make_shared<Session>();
    session->id = new_id("mcp");
    session->target = state.target->name;
    session->actor = caller;
    session->version = negotiate_version(requested);
    session->last_seen = gateway_.clock().now();
    session->standalone = std::make_shared<Stream>();
    session->standalone->id = "0";
    sessions_[session->id] = session;
    state.hub->open_session(session->id, params);

    // Wait for the upstream to be initialized (or to fail).
    struct Wait {
      bool done = false;
      std::optional<Error> error;
      std::shared_ptr<Stream> signal = std::make_shared<Stream>();
    };
    auto wait = std::make_shared<Wait>();
    state.hub->when_ready(session->id, [wait](const Error* error) {
      wait->done = true;
      if (error) wait->error = *error;
      wait->signal->notify();
    });
    while (!wait->done) co_await wait->signal->wait();
    const boost::json::object* upstream = state.hub->initialize_result(session->id);
    if (wait->error || upstream == nullptr) {
      state.hub->close_session(session->id);
      sessions_.erase(session->id);
      co_return rpc_error_answer(
          200, jsonrpc_code::upstream_unavailable,
          wait->error ? wait->error->message : std::string("the MCP server is unavailable"), id);
    }
    boost::json::object result = *upstream;
    result["protocolVersion"] = session->version;
    if (!result.contains("capabilities")) result["capabilities"] = boost::json::object();
    set_tasks_capability(result, session->version);
    HttpAnswer answer = json_answer(200, make_result(id, std::move(result)));
    answer.headers.emplace_back("Mcp-Session-Id", session->id);
    co_return answer;
  }

  // tools/call: decide, hold while a review is pending, then forward or answer.
  // With a task (2025-11-25), the call is answered at once with the task
  // once policy lets it go ahead (allow or review), and what it would have
  // answered ends the task instead; the hold then lasts as long as the review.
  asio::awaitable<void> govern(TargetState& state, std::shared_ptr<Session> session,
                               std::shared_ptr<Call> call, boost::json::value id,
                               boost::json::object message, std::string client_address,
                               bool accepts_sse, Finish finish, std::shared_ptr<McpTask> task) {
    const boost::json::value params =
        message.contains("params") ? message["params"] : boost::json::value(boost::json::object());
    auto action = tool_call_action(state.target->name, params, client_address, session->id);
    if (!action) {
      finish(make_error(id, jsonrpc_code::invalid_params, action.error().message));
      co_return;
    }
    const std::string tool = action->verb.substr(kToolCallPrefix.size());
    const auto token = progress_token(params);
    const config::McpTarget& mcp = *state.target->mcp;
    const std::string& public_url = gateway_.config().public_url;
    if (auto support = state.task_support.find(tool); support != state.task_support.end())
      set_upstream_task(message, support->second == "required");
    else
      set_upstream_task(message, false);
    const Millis deadline = task ? std::numeric_limits<Millis>::max()
                                 : gateway_.clock().now() + state.target->hold_timeout;
    bool accepted = false;  // the task was created and the call answered with it
    // Answers the call, or ends its task.
    auto reply = [&](const boost::json::object& answer,
                     std::optional<TaskStatus> status = std::nullopt) {
      if (accepted)
        end_task(*session, *task, answer, status);
      else
        finish(answer);
    };
    auto accept = [&](const std::string& status_message) {
      if (!task || accepted) return;
      accepted = true;
      task->tool = tool;
      task->status_message = status_message;
      session->tasks[task->id] = task;
      session->task_runs[task->id].call = call;
      finish(make_result(id, create_task_result(*task)));
    };
    double progress = 0;
    std::string announced;  // the review whose wait was announced
    for (;;) {
      // Decided on this loop; resumed once the decision is durable, the
      // loop serving other calls meanwhile.
      auto outcome = co_await completion_on_loop<Result<gateway::Outcome>>(loop_, [&](auto done) {
        gateway_.submit_async(session->actor, *action, std::move(done));
      });
      if (outcome && outcome->execute && (session->closed || call->cancelled)) {
        gateway_.record_execution_async(*outcome, false,
                                        {{"error", "cancelled before it was sent"}}, nullptr);
        reply(make_error(id, jsonrpc_code::internal_error, "the call was cancelled"),
              TaskStatus::cancelled);
        co_return;
      }
      if (!outcome) {
        reply(make_error(id, jsonrpc_code::internal_error,
                         "countersign could not decide: " + outcome.error().message));
        co_return;
      }
      if (outcome->execute) {
        accept("");
        call->review_id.clear();
        if (accepted)
          forward_call(state, session, std::move(message), *outcome,
                       [this, session, task](const boost::json::object& answer) {
                         end_task(*session, *task, answer);
                       });
        else
          forward_call(state, session, std::move(message), *outcome, finish);
        co_return;
      }
      if (outcome->decision.effect == Effect::deny || !outcome->review) {
        reply(denied_message(id, *outcome, mcp.deny_as));
        co_return;
      }
      // Held on a review until it is decided or the hold runs out.
      review::Review review = *outcome->review;
      call->review_id = review.id;
      if (task) {
        task->review_id = review.id;
        const std::string waiting = held_message(tool, review, public_url);
        if (accepted && task->status_message != waiting) {
          task->status_message = waiting;
          task->updated_at = gateway_.clock().now();
        }
        accept(waiting);
      }
      for (;;) {
        if (session->closed || call->cancelled) {
          reply(make_error(id, jsonrpc_code::internal_error, "the call was cancelled"),
                TaskStatus::cancelled);
          co_return;
        }
        if (review.state != review::ReviewState::pending) break;
        const Millis now = gateway_.clock().now();
        if (now >= deadline) {
          finish(make_result(id, hold_timeout_result(tool, review, public_url)));
          co_return;
        }
        if (announced != review.id && !accepted) {
          announced = review.id;
          call->stream->want_sse = accepts_sse;
          if (token)
            call->stream->push(
                held_progress(*token, ++progress, held_message(tool, review, public_url)));
          else
            call->stream->notify();
        }
        const Millis wait = std::min<Millis>(deadline - now, mcp.progress_interval);
        const bool woken = co_await waiters_.wait(review.id, wait);
        if (!woken && !accepted && !session->closed && !call->cancelled &&
            gateway_.clock().now() < deadline) {
          if (token)
            call->stream->push(
                held_progress(*token, ++progress, held_message(tool, review, public_url)));
          else
            call->stream->heartbeat();
        }
        auto current = gateway_.get_review(review.id);
        if (!current) {
          reply(make_error(id, jsonrpc_code::internal_error, current.error().message));
          co_return;
        }
        review = std::move(*current);
      }
      switch (review.state) {
        case review::ReviewState::approved:
        case review::ReviewState::executed:
        case review::ReviewState::failed:
          continue;  // submit again: redeems the grant (or opens a new review)
        default:
          reply(make_result(id, review_ended_result(tool, review)),
                review.state == review::ReviewState::cancelled
                    ? std::optional<TaskStatus>(TaskStatus::cancelled)
                    : std::nullopt);
          co_return;
      }
    }
  }

  // Forwards an allowed (or approved) call and answers with the server's
  // result, masked and audited. A server that answers with a task of its
  // own (a tool it only runs as a task) is asked for the task's result.
  void forward_call(TargetState& state, const std::shared_ptr<Session>& session,
                    boost::json::object message, const gateway::Outcome& outcome, Finish finish) {
    const bool mask = names_mask_profile(outcome.decision, gateway_.config().policy);
    auto complete = [this, outcome, mask, finish](boost::json::object response) {
      bool succeeded = false;
      boost::json::object details = {{"tool", outcome.action.verb.substr(kToolCallPrefix.size())}};
      if (auto* result = response.if_contains("result")) {
        const auto* is_error =
            result->is_object() ? result->get_object().if_contains("isError") : nullptr;
        succeeded = !(is_error && is_error->is_bool() && is_error->get_bool());
        if (mask) {
          *result = mask_tool_result(*result, gateway_.mask_profile(outcome.decision.mask_profile));
          details["masked"] = outcome.decision.mask_profile;
        }
        if (outcome.review && result->is_object()) {
          auto& meta = result->get_object()["_meta"];
          if (!meta.is_object()) meta = boost::json::object();
          meta.get_object()["countersign"] =
              review_meta(*outcome.review, gateway_.config().public_url);
        }
      } else if (auto* error = response.if_contains("error"); error && error->is_object()) {
        if (auto* text = error->get_object().if_contains("message"); text && text->is_string())
          details["error"] = *text;
      }
      finish(response);
      // Queued after the answer, not awaited: the decision was durable
      // before the call went out, and reads of the log wait for what was
      // queued before them.
      gateway_.record_execution_async(outcome, succeeded, std::move(details), nullptr);
    };
    const boost::json::value id = message.contains("id") ? message["id"] : boost::json::value();
    Hub* hub = state.hub.get();
    std::string session_id = session->id;
    hub->forward_request(
        session_id, std::move(message),
        [hub, session_id, id, complete](boost::json::object response) {
          const auto* result = response.if_contains("result");
          auto server_task = result != nullptr ? created_task_id(*result) : std::nullopt;
          if (!server_task) return complete(std::move(response));
          boost::json::object fetch{{"jsonrpc", "2.0"},
                                    {"id", id},
                                    {"method", "tasks/result"},
                                    {"params", boost::json::object{{"taskId", *server_task}}}};
          hub->forward_request(session_id, std::move(fetch),
                               [complete](boost::json::object answer) {
                                 if (auto* result = answer.if_contains("result");
                                     result != nullptr && result->is_object())
                                   if (auto* meta = result->get_object().if_contains("_meta");
                                       meta != nullptr && meta->is_object())
                                     meta->get_object().erase(kRelatedTaskKey);
                                 complete(std::move(answer));
                               });
        });
  }

  asio::awaitable<bool> get(Connection& connection, RequestHeader& header, const Identity& caller) {
    const auto& request = header.get();
    const bool has_body = request.has_content_length() || request.chunked();
    const std::string accept = lower(request[http::field::accept]);
    if (accept.find("text/event-stream") == std::string::npos &&
        accept.find("*/*") == std::string::npos)
      co_return co_await write(
          connection, header,
          rpc_error_answer(406, jsonrpc_code::invalid_request,
                           "Not Acceptable: GET needs Accept: text/event-stream"),
          !has_body);
    std::string path(request.target());
    std::string name = path.substr(std::string_view(kRoutePrefix).size());
    if (auto query = name.find('?'); query != std::string::npos) name.resize(query);
    while (!name.empty() && name.back() == '/') name.pop_back();
    if (request["Mcp-Session-Id"].empty())
      co_return co_await write(connection, header,
                               rpc_error_answer(400, jsonrpc_code::invalid_request,
                                                "Bad Request: Mcp-Session-Id header is required"),
                               !has_body);
    auto session = session_for(header, caller, name);
    if (!session)
      co_return co_await write(
          connection, header,
          rpc_error_answer(404, jsonrpc_code::invalid_request, "Session not found"), !has_body);
    // Resuming a stream after a lost connection.
    if (auto last = request["Last-Event-ID"]; !last.empty()) {
      std::string text(last);
      auto dash = text.rfind('-');
      std::shared_ptr<Stream> stream;
      std::size_t cursor = 0;
      if (dash != std::string::npos) {
        std::string stream_id = text.substr(0, dash);
        try {
          cursor = static_cast<std::size_t>(std::stoull(text.substr(dash + 1)));
        } catch (...) {
          cursor = 0;
        }
        if (stream_id == "0")
          stream = session->standalone;
        else if (auto found = session->streams.find(stream_id); found != session->streams.end())
          stream = found->second;
      }
      if (!stream || cursor > stream->events.size() || stream->attached)
        co_return co_await write(connection, header,
                                 rpc_error_answer(404, jsonrpc_code::invalid_request,
                                                  "Unknown or busy Last-Event-ID stream"),
                                 !has_body);
      co_return co_await write_sse(connection, request.version(), request.keep_alive() && !has_body,
                                   stream, cursor, session->version, true);
    }
    if (session->standalone->attached)
      co_return co_await write(connection, header,
                               rpc_error_answer(409, jsonrpc_code::invalid_request,
                                                "Conflict: this session already has a GET stream"),
                               !has_body);
    // The standalone stream delivers what was buffered since the last reader.
    auto stream = session->standalone;
    const std::size_t cursor = stream->delivered;
    co_return co_await write_sse(connection, request.version(), request.keep_alive() && !has_body,
                                 stream, cursor, session->version, true);
  }

  asio::awaitable<bool> remove(Connection& connection, RequestHeader& header, TargetState& state,
                               const Identity& caller) {
    const bool has_body = header.get().has_content_length() || header.get().chunked();
    if (header.get()["Mcp-Session-Id"].empty())
      co_return co_await write(connection, header,
                               rpc_error_answer(400, jsonrpc_code::invalid_request,
                                                "Bad Request: Mcp-Session-Id header is required"),
                               !has_body);
    auto session = session_for(header, caller, state.target->name);
    if (!session)
      co_return co_await write(
          connection, header,
          rpc_error_answer(404, jsonrpc_code::invalid_request, "Session not found"), !has_body);
    close_session(*session);
    sessions_.erase(session->id);
    HttpAnswer done{200, "", {}};
    co_return co_await write(connection, header, std::move(done), !has_body);
  }

  gateway::Gateway& gateway_;
  ReviewWaiters& waiters_;
  std::optional<asio::any_io_executor> executor_;
  std::shared_ptr<LoopHandle> loop_ = std::make_shared<LoopHandle>();
  std::map<std::string, TargetState> targets_;
  std::optional<ToolFilter> filter_;
  std::map<std::string, std::shared_ptr<Session>> sessions_;
};

}  // namespace

std::shared_ptr<StreamingRoute> make_mcp_route(gateway::Gateway& gateway, ReviewWaiters& waiters) {
  return std::make_shared<McpRoute>(gateway, waiters);
}

}  // namespace countersign::doors::mcp
