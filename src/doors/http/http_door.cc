// The HTTP door's proxy: the only translation unit of doors/http that sees
// Beast and Asio. Request model, params, credential injection and masking
// decisions come from the Beast-free files beside it.
#include "doors/http/http_door.h"

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json/serialize.hpp>

#include "core/hash.h"
#include "doors/actions/actions_door.h"
#include "doors/http/credentials.h"
#include "doors/http/routing.h"
#include "doors/loop_completion.h"
#include "doors/route.h"

namespace countersign::doors::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using SteadyClock = std::chrono::steady_clock;

constexpr std::size_t kChunk = 64 * 1024;
constexpr auto kPoolIdleLimit = std::chrono::seconds(30);

auto use(error_code& error) { return asio::redirect_error(asio::use_awaitable, error); }
std::chrono::milliseconds ms(Millis value) { return std::chrono::milliseconds(value); }

unsigned status_for(ErrorCode code) {
  switch (code) {
    case ErrorCode::invalid_argument:
      return 400;
    case ErrorCode::unauthenticated:
      return 401;
    case ErrorCode::permission_denied:
      return 403;
    case ErrorCode::not_found:
      return 404;
    case ErrorCode::conflict:
    case ErrorCode::failed_precondition:
      return 409;
    case ErrorCode::too_large:
      return 413;
    case ErrorCode::unavailable:
      return 503;
    case ErrorCode::internal:
      return 500;
  }
  return 500;
}

boost::json::object error_body(std::string_view code, std::string_view message) {
  return {{"error", {{"code", code}, {"message", message}}}};
}

bool is_timeout(const error_code& error) {
  return error == beast::error::timeout || error == asio::error::timed_out;
}

// One kept-alive connection to an upstream.
struct Upstream {
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;
  SteadyClock::time_point idle_since;
  bool reused = false;

  beast::tcp_stream& lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }
};

struct TargetState {
  const config::Target* target = nullptr;
  const config::HttpTarget* http = nullptr;
  std::unique_ptr<ssl::context> tls;
  std::string tls_error;
  std::unique_ptr<CredentialInjector> credentials;
  std::vector<std::unique_ptr<Upstream>> idle;
  std::string host_header;
};

// Why the upstream could not be used: 502 (unreachable) or 504 (timed out).
struct UpstreamFailure {
  unsigned status = 502;
  std::string message;
};

class HttpDoor final : public StreamingRoute {
 public:
  HttpDoor(gateway::Gateway& gateway, ReviewWaiters& waiters)
      : gateway_(gateway), waiters_(waiters) {
    for (const auto& [name, target] : gateway_.config().targets) {
      if (target.door != kDoor || !target.http) continue;
      TargetState state;
      state.target = &target;
      state.http = target.http.get();
      state.credentials = std::make_unique<CredentialInjector>(target.http->credentials);
      const auto& http = *target.http;
      const bool default_port = http.port == (http.scheme == "https" ? 443 : 80);
      const std::string host =
          http.host.find(':') != std::string::npos ? "[" + http.host + "]" : http.host;
      state.host_header = default_port ? host : fmt::format("{}:{}", host, http.port);
      if (http.scheme == "https") {
        try {
          state.tls = std::make_unique<ssl::context>(ssl::context::tls_client);
          state.tls->set_default_verify_paths();
          if (!http.ca_file.empty()) state.tls->load_verify_file(http.ca_file);
          state.tls->set_verify_mode(http.verify_tls ? ssl::verify_peer : ssl::verify_none);
        } catch (const std::exception& error) {
          state.tls_error =
              fmt::format("TLS set-up for target '{}' failed: {}", name, error.what());
        }
      }
      targets_.emplace(name, std::move(state));
    }
  }

  ~HttpDoor() override { loop_->settle(); }

  asio::awaitable<bool> serve(Connection& connection, RequestHeader& header) override;

 private:
  friend struct Exchange;
  gateway::Gateway& gateway_;
  ReviewWaiters& waiters_;
  std::shared_ptr<LoopHandle> loop_ = std::make_shared<LoopHandle>();
  std::map<std::string, TargetState, std::less<>> targets_;
};

// One request through the door, from header to last response byte.
struct Exchange {
  HttpDoor& door;
  gateway::Gateway& gateway;
  Connection& client;
  bhttp::request_parser<bhttp::buffer_body> parser;
  TargetState* target = nullptr;
  SplitTarget split;
  std::string method;
  bool client_keep_alive = true;
  unsigned client_version = 11;
  bool expect_continue = false;
  bool has_body = false;
  std::string prefix;           // the body, or its first params_body_bytes + 1 bytes
  bool prefix_complete = true;  // prefix holds the whole body
  std::string body_sha256;
  std::vector<char> chunk = std::vector<char>(kChunk);
  bool execution_recorded = false;  // action.executed / action.failed is logged

  Exchange(HttpDoor& door, Connection& client, RequestHeader& header)
      : door(door), gateway(door.gateway_), client(client), parser(std::move(header)) {}

  const config::HttpTarget& http() const { return *target->http; }

  // ---- answers generated by the gateway itself -------------------------

  asio::awaitable<bool> send_json(unsigned status, const boost::json::value& body,
                                  std::vector<std::pair<std::string, std::string>> headers = {}) {
    // A body we did not read cannot be skipped safely: close after answering.
    const bool keep_alive = client_keep_alive && parser.is_done();
    bhttp::response<bhttp::string_body> response{static_cast<bhttp::status>(status),
                                                 client_version};
    response.set(bhttp::field::server, "countersign");
    response.set(bhttp::field::content_type, "application/json");
    response.set(bhttp::field::cache_control, "no-store");
    for (auto& [name, value] : headers) response.set(name, value);
    response.body() = boost::json::serialize(body);
    response.body().push_back('\n');
    response.keep_alive(keep_alive);
    response.prepare_payload();
    error_code error;
    client.stream.expires_after(ms(30'000));
    co_await bhttp::async_write(client.stream, response, use(error));
    co_return !error && keep_alive;
  }

  asio::awaitable<bool> send_error(unsigned status, std::string_view code, std::string_view message,
                                   std::vector<std::pair<std::string, std::string>> headers = {}) {
    co_return co_await send_json(status, error_body(code, message), std::move(headers));
  }

  asio::awaitable<bool> send_gateway_error(const Error& error) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (error.code == ErrorCode::unauthenticated)
      headers.emplace_back("WWW-Authenticate", "Bearer");
    co_return co_await send_error(status_for(error.code), error_code_name(error.code),
                                  error.message, std::move(headers));
  }

  // ---- reading the client's body ----------------------------------------

  asio::awaitable<void> send_continue() {
    if (!expect_continue) co_return;
    expect_continue = false;
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    error_code error;
    co_await asio::async_write(client.stream, asio::buffer(kContinue), use(error));
  }

  // Reads some body bytes into `chunk`; returns how many (0 is possible
  // while chunk framing is parsed). The caller sets the stream's expiry.
  asio::awaitable<std::size_t> read_client_body(error_code& error) {
    co_await send_continue();
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    co_await bhttp::async_read_some(client.stream, client.buffer, parser, use(error));
    if (error == bhttp::error::need_buffer) error = {};
    co_return chunk.size() - parser.get().body().size;
  }

  // ---- upstream connections ---------------------------------------------

  std::unique_ptr<Upstream> take_idle() {
    auto& idle = target->idle;
    while (!idle.empty()) {
      auto connection = std::move(idle.back());
      idle.pop_back();
      if (SteadyClock::now() - connection->idle_since < kPoolIdleLimit &&
          connection->lowest().socket().is_open()) {
        connection->reused = true;
        return connection;
      }
    }
    return nullptr;
  }

  void release(std::unique_ptr<Upstream> connection) {
    if (target->idle.size() >= http().max_idle_connections) return;
    connection->idle_since = SteadyClock::now();
    connection->lowest().expires_never();
    target->idle.push_back(std::move(connection));
  }

  asio::awaitable<std::expected<std::unique_ptr<Upstream>, UpstreamFailure>> connect() {
    const auto& config = http();
    auto executor = client.stream.get_executor();
    if (!target->tls_error.empty())
      co_return std::unexpected(UpstreamFailure{502, target->tls_error});
    tcp::resolver resolver(executor);
    error_code error;
    auto endpoints =
        co_await resolver.async_resolve(config.host, std::to_string(config.port), use(error));
    if (error)
      co_return std::unexpected(
          UpstreamFailure{502, fmt::format("upstream {} is unreachable: cannot resolve {}: {}",
                                           config.upstream, config.host, error.message())});
    auto connection = std::make_unique<Upstream>();
    beast::tcp_stream stream(executor);
    stream.expires_after(ms(config.connect_timeout));
    co_await stream.async_connect(endpoints, use(error));
    if (error) {
      if (is_timeout(error))
        co_return std::unexpected(
            UpstreamFailure{504, fmt::format("upstream {} did not accept a connection within {} ms",
                                             config.upstream, config.connect_timeout)});
      co_return std::unexpected(UpstreamFailure{
          502, fmt::format("upstream {} is unreachable: {}", config.upstream, error.message())});
    }
    stream.socket().set_option(tcp::no_delay(true), error);
    if (!target->tls) {
      connection->plain.emplace(std::move(stream));
      co_return connection;
    }
    connection->secure.emplace(std::move(stream), *target->tls);
    auto& secure = *connection->secure;
    error_code ignored;
    boost::asio::ip::make_address(config.host, ignored);
    if (ignored)
      SSL_set_tlsext_host_name(secure.native_handle(), config.host.c_str());  // SNI for names
    if (config.verify_tls) secure.set_verify_callback(ssl::host_name_verification(config.host));
    co_await secure.async_handshake(ssl::stream_base::client, use(error));
    if (error) {
      if (is_timeout(error))
        co_return std::unexpected(
            UpstreamFailure{504, fmt::format("TLS handshake with {} timed out", config.upstream)});
      co_return std::unexpected(UpstreamFailure{
          502, fmt::format("TLS handshake with {} failed: {}", config.upstream, error.message())});
    }
    co_return connection;
  }

  // ---- the exchange -----------------------------------------------------

  // Decides the action; resumes once its action.decided event is durable.
  // The loop runs other requests meanwhile.
  asio::awaitable<Result<gateway::Outcome>> submit(const Identity& actor,
                                                   const gateway::ActionRequest& request) {
    co_return co_await completion_on_loop<Result<gateway::Outcome>>(
        door.loop_, [&](auto done) { gateway.submit_async(actor, request, std::move(done)); });
  }

  // The result of an executed action is queued for the audit log and the
  // response goes on without waiting for the commit: the decision was
  // durable before the upstream saw the request, events commit in the order
  // they were queued, and every read of the log first waits for what was
  // queued before it, so a client that has its answer finds it audited. A
  // failure to log it cannot undo what the upstream did.
  void record(const gateway::Outcome& outcome, bool succeeded, boost::json::object details) {
    if (execution_recorded) return;
    execution_recorded = true;
    gateway.record_execution_async(outcome, succeeded, std::move(details), nullptr);
  }
  void record_failure(const gateway::Outcome& outcome, const std::string& message) {
    boost::json::object details;
    details["error"] = message;
    record(outcome, false, std::move(details));
  }
  void record_status(const gateway::Outcome& outcome, unsigned status) {
    boost::json::object details;
    details["status"] = status;
    record(outcome, status != 0, std::move(details));
  }

  asio::awaitable<bool> run();
  asio::awaitable<bool> forward(const gateway::Outcome& outcome);

  template <class Stream>
  asio::awaitable<bool> exchange_on(Stream& stream, Upstream& upstream,
                                    bhttp::request<bhttp::buffer_body>& request,
                                    const gateway::Outcome& outcome, bool& retry,
                                    bool& upstream_reusable,
                                    std::optional<UpstreamFailure>& failure, unsigned& status);

  template <class Stream>
  asio::awaitable<void> tunnel(Stream& stream, Upstream& upstream);
};

asio::awaitable<bool> Exchange::run() {
  auto& header = parser.get();
  // Small answers are written whole; do not let Nagle hold them for an ACK.
  error_code ignored;
  client.stream.socket().set_option(tcp::no_delay(true), ignored);
  client_keep_alive = header.keep_alive();
  client_version = header.version() == 10 ? 10 : 11;
  method = std::string(header.method_string());
  has_body = !parser.is_done();

  auto split_target = split_request_target(header.target());
  if (!split_target) co_return co_await send_error(404, "not_found", "use /http/{target}/{path}");
  split = std::move(*split_target);
  auto found = door.targets_.find(split.target);
  if (found == door.targets_.end())
    co_return co_await send_error(404, "not_found",
                                  fmt::format("no HTTP target '{}'", split.target));
  target = &found->second;

  // identify: the agent's own credential stops here; it is never forwarded.
  auto actor = gateway.authenticate(header[bhttp::field::authorization], client.client_address,
                                    client.peer_identity);
  if (!actor) co_return co_await send_gateway_error(actor.error());

  // describe
  QueryPairs query = parse_query(split.query);
  RouteMatch match = match_route(http(), method, split.path, query);
  Headers headers;
  for (const auto& field : header)
    headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  expect_continue = iequals(header[bhttp::field::expect], "100-continue");
  const auto declared = parser.content_length();
  if (declared && *declared > http().max_body_bytes)
    co_return co_await send_error(
        413, "too_large",
        fmt::format("request body exceeds the target's limit of {} bytes", http().max_body_bytes));
  parser.body_limit(http().max_body_bytes);

  BodySummary body;
  body.present = has_body;
  if (has_body && (!declared || *declared <= http().params_body_bytes)) {
    // Read the body (or enough of it to know it is large) before deciding;
    // the whole read has one deadline, so a trickling client is cut off.
    client.stream.expires_after(ms(http().idle_timeout));
    while (!parser.is_done() && prefix.size() <= http().params_body_bytes) {
      error_code error;
      std::size_t got = co_await read_client_body(error);
      if (error == bhttp::error::body_limit)
        co_return co_await send_error(
            413, "too_large",
            fmt::format("request body exceeds the target's limit of {} bytes",
                        http().max_body_bytes));
      if (is_timeout(error)) {
        client_keep_alive = false;
        co_return co_await send_error(408, "request_timeout",
                                      "the request body did not arrive in time");
      }
      if (error) co_return false;  // the client went away or sent garbage
      prefix.append(chunk.data(), got);
    }
    prefix_complete = parser.is_done();
  } else if (has_body) {
    prefix_complete = false;
  }
  if (has_body && prefix_complete) {
    body_sha256 = sha256_hex(prefix);
    body.bytes = prefix.size();
    body.sha256 = body_sha256;
    body.content = &prefix;
  } else if (has_body) {
    body.streamed = true;
    if (declared) body.bytes = *declared;
  }

  gateway::ActionRequest request;
  request.door = std::string(kDoor);
  request.target = split.target;
  request.verb = match.verb;
  request.params = build_params(http(), match, method, split.path, query, headers, body);
  request.client_address = client.client_address;
  if (auto reason = header["X-Countersign-Reason"]; !reason.empty())
    request.reason = std::string(reason);

  if (body.streamed) {
    // A body too large to hash before deciding can pass only where policy
    // allows without review: an approval must bind the exact content.
    Action preview;
    preview.actor = *actor;
    preview.door = request.door;
    preview.target = request.target;
    preview.verb = request.verb;
    preview.params = request.params;
    if (gateway.policy().decide(preview).effect == Effect::review)
      co_return co_await send_error(
          413, "too_large",
          fmt::format("this request needs review, and a reviewed body must be at most {} bytes "
                      "(params_body_bytes) so that the approval covers its content",
                      http().params_body_bytes));
  }

  // decide (+ review)
  auto outcome = co_await submit(*actor, request);
  if (!outcome) co_return co_await send_gateway_error(outcome.error());
  const std::string& public_url = gateway.config().public_url;
  if (!outcome->execute && outcome->decision.effect == Effect::deny) {
    boost::json::array rules;
    for (const auto& rule : outcome->decision.rules) rules.emplace_back(rule);
    boost::json::object denied;
    denied["decision"] = "deny";
    denied["reason"] = outcome->decision.reason;
    denied["rules"] = std::move(rules);
    denied["verb"] = request.verb;
    denied["action_id"] = outcome->action.id;
    denied["digest"] = outcome->digest;
    co_return co_await send_json(403, denied);
  }
  // review: hold the request while the review is pending, up to hold_timeout.
  const Millis deadline = gateway.clock().now() + target->target->hold_timeout;
  while (!outcome->execute) {
    review::Review review = *outcome->review;
    if (review.state == review::ReviewState::pending) {
      const Millis remaining = deadline - gateway.clock().now();
      bool woken = false;
      if (remaining > 0) woken = co_await door.waiters_.wait(review.id, remaining);
      if (woken) {
        auto current = gateway.get_review(review.id);
        if (!current) co_return co_await send_gateway_error(current.error());
        review = std::move(*current);
      }
      if (review.state == review::ReviewState::pending) {
        if (woken) {
          outcome->review = std::move(review);
          continue;  // e.g. escalated: keep holding
        }
        auto body_json = actions::review_json(review, public_url);
        body_json["verb"] = request.verb;
        body_json["digest"] = outcome->digest;
        std::vector<std::pair<std::string, std::string>> extra;
        extra.emplace_back("Location", "/v1/reviews/" + review.id);
        extra.emplace_back("Retry-After", "5");
        co_return co_await send_json(202, body_json, std::move(extra));
      }
    }
    switch (review.state) {
      case review::ReviewState::approved:
      case review::ReviewState::executed:
      case review::ReviewState::failed: {
        // Decided in favour (or used by an identical request): submit
        // again, which redeems the grant or opens a new review.
        auto again = co_await submit(*actor, request);
        if (!again) co_return co_await send_gateway_error(again.error());
        outcome = std::move(again);
        if (!outcome->execute && outcome->decision.effect == Effect::deny) {
          boost::json::object denied;
          denied["decision"] = "deny";
          denied["reason"] = outcome->decision.reason;
          co_return co_await send_json(403, denied);
        }
        if (!outcome->execute && outcome->review && outcome->review->id == review.id &&
            outcome->review->state != review::ReviewState::pending) {
          co_return co_await send_json(403, actions::review_json(*outcome->review, public_url));
        }
        break;
      }
      case review::ReviewState::pending:
        break;
      default:
        co_return co_await send_json(403, actions::review_json(review, public_url));
    }
  }
  co_return co_await forward(*outcome);
}

asio::awaitable<bool> Exchange::forward(const gateway::Outcome& outcome) {
  const auto& config = http();
  const auto& incoming = parser.get();
  bhttp::request<bhttp::buffer_body> request;
  request.method_string(incoming.method_string());
  std::string path = config.base_path + split.path;
  request.target(split.query.empty() ? path : path + "?" + split.query);
  request.version(11);
  std::string forwarded_for;
  const bool websocket = config.websocket && iequals(incoming[bhttp::field::upgrade], "websocket");
  for (const auto& field : incoming) {
    if (drop_request_header(config, field.name_string())) continue;
    if (iequals(field.name_string(), "x-forwarded-for")) {
      forwarded_for = std::string(field.value());
      continue;
    }
    request.insert(field.name_string(), field.value());
  }
  request.set(bhttp::field::host, target->host_header);
  request.set("X-Forwarded-For", forwarded_for.empty()
                                     ? client.client_address
                                     : forwarded_for + ", " + client.client_address);
  if (websocket) {
    request.set(bhttp::field::connection, "Upgrade");
    request.set(bhttp::field::upgrade, incoming[bhttp::field::upgrade]);
  }
  if (has_body && prefix_complete) {
    request.content_length(prefix.size());
  } else if (has_body && parser.content_length()) {
    request.content_length(*parser.content_length());
  } else if (has_body) {
    request.chunked(true);
  } else if (incoming.count(bhttp::field::content_length)) {
    request.content_length(0);
  }

  UpstreamRequest signing;
  signing.method = method;
  signing.path = path;
  signing.query = split.query;
  signing.host = target->host_header;
  for (const auto& field : request)
    signing.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  signing.has_body = has_body;
  signing.payload_sha256 = has_body && prefix_complete ? body_sha256 : std::string();
  auto injected = target->credentials->headers(signing, gateway.clock().now());
  if (!injected) {
    record_failure(outcome, injected.error().message);
    co_return co_await send_error(503, "unavailable", injected.error().message);
  }
  for (const auto& [name, value] : *injected) request.set(name, value);

  // A kept-alive connection the upstream closed meanwhile fails before any
  // response; the request is sent again on a fresh connection when its
  // body is still at hand.
  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<Upstream> upstream = attempt == 0 ? take_idle() : nullptr;
    if (!upstream) {
      auto connected = co_await connect();
      if (!connected) {
        record_failure(outcome, connected.error().message);
        co_return co_await send_error(
            connected.error().status,
            connected.error().status == 504 ? "gateway_timeout" : "bad_gateway",
            connected.error().message);
      }
      upstream = std::move(*connected);
    }
    bool retry = false, reusable = false;
    std::optional<UpstreamFailure> failure;
    unsigned status = 0;
    bool keep;
    if (upstream->secure)
      keep = co_await exchange_on(*upstream->secure, *upstream, request, outcome, retry, reusable,
                                  failure, status);
    else
      keep = co_await exchange_on(*upstream->plain, *upstream, request, outcome, retry, reusable,
                                  failure, status);
    if (retry && upstream->reused && attempt == 0) continue;
    if (failure) {
      record_failure(outcome, failure->message);
      co_return co_await send_error(failure->status,
                                    failure->status == 504 ? "gateway_timeout" : "bad_gateway",
                                    failure->message);
    }
    record_status(outcome, status);  // unless logged before the last write
    if (reusable) release(std::move(upstream));
    co_return keep;
  }
}

// Sends the request on `stream` and relays the response. Returns whether
// the client connection may carry another request. Sets `failure` when no
// response was started (the caller answers 502/504), `retry` when a reused
// connection turned out dead before anything happened.
template <class Stream>
asio::awaitable<bool> Exchange::exchange_on(Stream& stream, Upstream& upstream,
                                            bhttp::request<bhttp::buffer_body>& request,
                                            const gateway::Outcome& outcome, bool& retry,
                                            bool& upstream_reusable,
                                            std::optional<UpstreamFailure>& failure,
                                            unsigned& status) {
  const auto& config = http();
  auto& lowest = upstream.lowest();
  error_code error;
  auto upstream_error = [&](const error_code& e, std::string_view when) {
    if (is_timeout(e))
      return UpstreamFailure{504, fmt::format("upstream {} timed out {}", config.upstream, when)};
    return UpstreamFailure{
        502, fmt::format("upstream {} failed {}: {}", config.upstream, when, e.message())};
  };

  // The header and the body read so far leave in one write (no Nagle stall
  // between them).
  bhttp::request_serializer<bhttp::buffer_body> serializer{request};
  lowest.expires_after(ms(config.idle_timeout));
  if (!has_body) {
    co_await bhttp::async_write_header(stream, serializer, use(error));
    if (error) {
      retry = prefix_complete;
      failure = upstream_error(error, "while receiving the request");
      co_return false;
    }
  } else {
    request.body().data = prefix.empty() ? nullptr : prefix.data();
    request.body().size = prefix.size();
    request.body().more = !prefix_complete;
    co_await bhttp::async_write(stream, serializer, use(error));
    if (error == bhttp::error::need_buffer) error = {};
    while (!error && !prefix_complete && !parser.is_done()) {
      client.stream.expires_after(ms(config.idle_timeout));
      error_code client_error;
      std::size_t got = co_await read_client_body(client_error);
      if (client_error) {
        // The client stopped sending mid-body: nothing sensible can follow.
        upstream_reusable = false;
        if (is_timeout(client_error)) {
          client_keep_alive = false;
          co_return false;
        }
        co_return false;
      }
      if (got == 0 && !parser.is_done()) continue;
      request.body().data = got ? chunk.data() : nullptr;
      request.body().size = got;
      request.body().more = !parser.is_done();
      lowest.expires_after(ms(config.idle_timeout));
      co_await bhttp::async_write(stream, serializer, use(error));
      if (error == bhttp::error::need_buffer) error = {};
    }
    if (error) {
      retry = prefix_complete;
      failure = upstream_error(error, "while receiving the request body");
      co_return false;
    }
  }

  // The response header; informational answers are skipped.
  std::optional<bhttp::response_parser<bhttp::buffer_body>> response;
  for (;;) {
    response.emplace();
    response->body_limit(boost::none);
    if (iequals(method, "HEAD")) response->skip(true);
    lowest.expires_after(ms(config.response_timeout));
    co_await bhttp::async_read_header(stream, upstream.buffer, *response, use(error));
    if (error) {
      retry = prefix_complete && !is_timeout(error) && upstream.buffer.size() == 0;
      failure = upstream_error(
          error, is_timeout(error) ? "waiting for the response" : "before responding");
      co_return false;
    }
    unsigned code = response->get().result_int();
    if (code >= 100 && code < 200 && code != 101) continue;
    break;
  }
  auto& head = response->get();
  status = head.result_int();

  if (status == 101) {
    if (!iequals(request[bhttp::field::upgrade], "websocket")) {
      failure = UpstreamFailure{502, "the upstream switched protocols without being asked to"};
      co_return false;
    }
    bhttp::response<bhttp::empty_body> switching{bhttp::status::switching_protocols, 11};
    for (const auto& field : head) switching.insert(field.name_string(), field.value());
    client.stream.expires_after(ms(config.idle_timeout));
    co_await bhttp::async_write(client.stream, switching, use(error));
    if (error) co_return false;
    co_await tunnel(stream, upstream);
    co_return false;
  }

  auto mask_profile = response_mask_profile(outcome.decision, gateway.config().policy);
  const bool body_follows = !response->is_done();
  const std::string content_type(head[bhttp::field::content_type]);
  const bool encoded = !head[bhttp::field::content_encoding].empty() &&
                       !iequals(head[bhttp::field::content_encoding], "identity");
  const bool can_mask = maskable_content_type(content_type) && !encoded;

  if (mask_profile && body_follows && (can_mask || config.refuse_unmaskable)) {
    if (!can_mask) {
      failure = UpstreamFailure{
          502,
          fmt::format("policy requires masking this response, and a {} body{} cannot be masked",
                      content_type.empty() ? "untyped" : content_type,
                      encoded ? " (compressed)" : "")};
      co_return false;
    }
    // Read the whole body (bounded), mask it, answer with the masked copy.
    std::string body;
    while (!response->is_done()) {
      response->get().body().data = chunk.data();
      response->get().body().size = chunk.size();
      lowest.expires_after(ms(config.idle_timeout));
      co_await bhttp::async_read_some(stream, upstream.buffer, *response, use(error));
      if (error == bhttp::error::need_buffer) error = {};
      if (error) {
        failure = upstream_error(error, "while sending the response");
        co_return false;
      }
      body.append(chunk.data(), chunk.size() - response->get().body().size);
      if (body.size() > config.mask_max_bytes) {
        failure = UpstreamFailure{
            502, fmt::format("the response exceeds mask_max_bytes ({}) and must be masked",
                             config.mask_max_bytes)};
        co_return false;
      }
    }
    auto masked = gateway.mask_response(*mask_profile, body);
    bhttp::response<bhttp::string_body> answer{head.result(), client_version};
    for (const auto& field : head) {
      if (drop_response_header(field.name_string()) ||
          iequals(field.name_string(), "content-length") ||
          iequals(field.name_string(), "content-md5") || iequals(field.name_string(), "etag"))
        continue;
      answer.insert(field.name_string(), field.value());
    }
    answer.set("X-Countersign-Masked", std::to_string(masked.findings.size()));
    answer.body() = std::move(masked.body);
    answer.keep_alive(client_keep_alive);
    answer.prepare_payload();
    upstream_reusable = head.keep_alive();
    record_status(outcome, status);
    client.stream.expires_after(ms(config.idle_timeout));
    co_await bhttp::async_write(client.stream, answer, use(error));
    co_return !error && client_keep_alive && parser.is_done();
  }

  // Stream the response through.
  bhttp::response<bhttp::buffer_body> answer{head.result(), client_version};
  answer.reason(head.reason());
  for (const auto& field : head)
    if (!drop_response_header(field.name_string()))
      answer.insert(field.name_string(), field.value());
  if (outcome.redeemed_grant) answer.set("X-Countersign-Review", outcome.redeemed_grant->review_id);
  bool close_delimited = false;
  if (body_follows && !response->content_length()) {
    if (client_version == 11) {
      answer.erase(bhttp::field::content_length);
      answer.chunked(true);
    } else {
      close_delimited = true;
    }
  }
  const bool keep_alive = client_keep_alive && !close_delimited && parser.is_done();
  answer.keep_alive(keep_alive);
  bhttp::response_serializer<bhttp::buffer_body> writer{answer};
  if (!body_follows) {
    record_status(outcome, status);
    client.stream.expires_after(ms(config.idle_timeout));
    co_await bhttp::async_write_header(client.stream, writer, use(error));
    if (error) co_return false;
  } else {
    // The header goes out with the first piece of the body, in one write.
    bool sent = false;
    for (;;) {
      response->get().body().data = chunk.data();
      response->get().body().size = chunk.size();
      lowest.expires_after(ms(config.idle_timeout));
      co_await bhttp::async_read_some(stream, upstream.buffer, *response, use(error));
      if (error == bhttp::error::need_buffer) error = {};
      if (error) {
        // Cut short: before anything was sent the client gets a 502, after
        // it a truncated body and a closed connection.
        if (!sent) failure = upstream_error(error, "while sending the response");
        co_return false;
      }
      std::size_t got = chunk.size() - response->get().body().size;
      const bool done = response->is_done();
      if (got == 0 && !done) continue;
      answer.body().data = got ? chunk.data() : nullptr;
      answer.body().size = got;
      answer.body().more = !done;
      if (done) record_status(outcome, status);
      client.stream.expires_after(ms(config.idle_timeout));
      co_await bhttp::async_write(client.stream, writer, use(error));
      sent = true;
      if (error == bhttp::error::need_buffer) error = {};
      if (error) co_return false;
      if (done) break;
    }
  }
  upstream_reusable = response->is_done() && head.keep_alive();
  co_return keep_alive;
}

// Copies bytes both ways after a protocol switch until either side closes.
template <class Stream>
asio::awaitable<void> Exchange::tunnel(Stream& stream, Upstream& upstream) {
  const auto idle = ms(http().idle_timeout);
  auto executor = client.stream.get_executor();
  error_code error;
  // Bytes that arrived with the headers go first.
  if (client.buffer.size()) {
    co_await asio::async_write(stream, client.buffer.data(), use(error));
    client.buffer.consume(client.buffer.size());
  }
  if (upstream.buffer.size()) {
    co_await asio::async_write(client.stream, upstream.buffer.data(), use(error));
    upstream.buffer.consume(upstream.buffer.size());
  }
  if (error) co_return;
  struct Finished {
    asio::steady_timer timer;
    bool done = false;
  };
  auto finished = std::make_shared<Finished>(
      asio::steady_timer(executor, asio::steady_timer::time_point::max()));
  auto& lowest = upstream.lowest();
  auto& downstream = client.stream;
  // upstream -> client in a second coroutine; client -> upstream here.
  asio::co_spawn(
      executor,
      [&stream, &downstream, &lowest, finished, idle]() -> asio::awaitable<void> {
        std::vector<char> buffer(kChunk);
        for (;;) {
          error_code e;
          lowest.expires_after(std::chrono::hours(24));
          std::size_t got = co_await stream.async_read_some(asio::buffer(buffer), use(e));
          if (e) break;
          downstream.expires_after(idle);
          co_await asio::async_write(downstream, asio::buffer(buffer.data(), got), use(e));
          if (e) break;
        }
        error_code ignored;
        downstream.socket().shutdown(tcp::socket::shutdown_both, ignored);
        finished->done = true;
        finished->timer.cancel();
      },
      asio::detached);
  std::vector<char> buffer(kChunk);
  for (;;) {
    error_code e;
    client.stream.expires_after(std::chrono::hours(24));
    std::size_t got = co_await client.stream.async_read_some(asio::buffer(buffer), use(e));
    if (e) break;
    lowest.expires_after(idle);
    co_await asio::async_write(stream, asio::buffer(buffer.data(), got), use(e));
    if (e) break;
  }
  error_code ignored;
  lowest.socket().shutdown(tcp::socket::shutdown_both, ignored);
  lowest.socket().close(ignored);
  if (!finished->done) co_await finished->timer.async_wait(use(error));
}

asio::awaitable<bool> HttpDoor::serve(Connection& connection, RequestHeader& header) {
  loop_->bind(connection.stream.get_executor());
  Exchange exchange(*this, connection, header);
  co_return co_await exchange.run();
}

}  // namespace

std::shared_ptr<StreamingRoute> make_http_door(gateway::Gateway& gateway, ReviewWaiters& waiters) {
  return std::make_shared<HttpDoor>(gateway, waiters);
}

}  // namespace countersign::doors::http
