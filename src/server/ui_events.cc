// The web UI's streaming routes and the WebUi wiring: GET /ui/events
// (server-sent events) and GET /auth/callback (the end of a sign-in through
// the identity provider, whose token request runs on a worker thread while
// the I/O thread serves everyone else). The only Beast translation unit of
// the web UI.

// g++ 12 wrongly reports -Wmismatched-new-delete for Asio's coroutine frames
// once an awaitable is handed to co_spawn (a known false positive of that
// compiler with coroutines): silenced in this file only.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <chrono>
#include <deque>
#include <mutex>
#include <vector>

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>

#include "doors/route.h"
#include "identity/http_fetch.h"
#include "server/api.h"
#include "server/http_server.h"
#include "server/ui_handler.h"
#include "server/ui_session.h"
#include "server/ui_web.h"

namespace countersign::server {
namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

constexpr auto kHeartbeat = std::chrono::seconds(15);
constexpr auto kWriteTimeout = std::chrono::seconds(30);
constexpr std::size_t kMaxStreams = 1000;
constexpr std::size_t kMaxQueued = 256;  // a stream this far behind is closed

std::string plain_response(unsigned status, std::string_view reason, const ApiResponse& body) {
  std::string out = fmt::format(
      "HTTP/1.1 {} {}\r\nServer: countersign\r\nContent-Type: {}\r\nContent-Length: {}\r\n"
      "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
      "Content-Security-Policy: {}\r\nConnection: close\r\n\r\n",
      status, reason, body.content_type, body.body.size(), kUiContentSecurityPolicy);
  out += body.body;
  return out;
}

// Any ApiResponse, headers included (several Set-Cookie lines too), as the
// raw answer of a streaming route that then closes the connection.
std::string raw_response(const ApiResponse& response) {
  std::string out = fmt::format(
      "HTTP/1.1 {} {}\r\nServer: countersign\r\nContent-Type: {}\r\nContent-Length: {}\r\n"
      "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n",
      response.status,
      std::string(http::obsolete_reason(static_cast<http::status>(response.status))),
      response.content_type, response.body.size());
  for (const auto& [name, value] : response.headers) out += name + ": " + value + "\r\n";
  out += "\r\n";
  out += response.body;
  return out;
}

asio::awaitable<Result<identity::HttpResponse>> fetch(identity::HttpRequest request) {
  co_return identity::http_fetch(request);
}

// GET /auth/callback?code=&state=: UiHandler checks the login, the token
// request runs on this route's worker thread, UiHandler verifies the ID
// token and answers with the session cookie and a redirect.
class AuthCallbackRoute final : public doors::StreamingRoute {
 public:
  explicit AuthCallbackRoute(UiHandler& handler) : handler_(handler) {}

  asio::awaitable<bool> serve(doors::Connection& connection,
                              doors::RequestHeader& header) override {
    const auto& message = header.get();
    ApiRequest request;
    request.method = std::string(message.method_string());
    request.cookie = std::string(message[http::field::cookie]);
    request.client_address = connection.client_address;
    auto target = boost::urls::parse_origin_form(message.target());
    if (target) {
      request.path = target->path();
      for (auto param : target->params()) request.query[param.key] = param.value;
    }
    ApiResponse response;
    if (request.path != "/auth/callback") {
      response = error_response({ErrorCode::not_found, "no such page: " + request.path});
    } else if (header.chunked() || header.content_length().value_or(0) > 0) {
      response = error_response({ErrorCode::invalid_argument, "the callback takes no body"});
    } else {
      auto start = handler_.begin_callback(request);
      if (!start.token_request) {
        response = std::move(start.response);
      } else {
        auto answer = co_await asio::co_spawn(worker_, fetch(std::move(*start.token_request)),
                                              asio::use_awaitable);
        response = handler_.finish_callback(request, start.state, answer);
      }
    }
    std::string text = raw_response(response);
    boost::system::error_code error;
    connection.stream.expires_after(kWriteTimeout);
    co_await asio::async_write(connection.stream, asio::buffer(text),
                               asio::redirect_error(asio::use_awaitable, error));
    co_return false;
  }

 private:
  UiHandler& handler_;
  asio::thread_pool worker_{1};  // joined when the route goes (with the server)
};

class UiEventsRoute final : public doors::StreamingRoute {
 public:
  explicit UiEventsRoute(UiSessionStore& sessions) : sessions_(sessions) {}

  // From any thread: queue an event for every open stream and wake it.
  void publish(const review::Review& review) {
    boost::json::object data = {{"id", review.id},
                                {"state", std::string(review::state_name(review.state))},
                                {"version", review.version}};
    std::string event = "event: review\ndata: " + boost::json::serialize(data) + "\n\n";
    std::lock_guard lock(mutex_);
    for (auto& subscriber : subscribers_) {
      if (subscriber->queue.size() >= kMaxQueued) {
        subscriber->overflowed = true;
      } else {
        subscriber->queue.push_back(event);
      }
      asio::post(subscriber->timer.get_executor(), [subscriber] { subscriber->timer.cancel(); });
    }
  }

  asio::awaitable<bool> serve(doors::Connection& connection,
                              doors::RequestHeader& header) override {
    const auto& request = header.get();
    std::string_view target = request.target();
    std::string_view path = target.substr(0, target.find('?'));
    auto& stream = connection.stream;
    boost::system::error_code error;
    auto refuse = [&](unsigned status, std::string_view reason,
                      ApiResponse body) -> asio::awaitable<bool> {
      std::string text = plain_response(status, reason, body);
      stream.expires_after(kWriteTimeout);
      co_await asio::async_write(stream, asio::buffer(text),
                                 asio::redirect_error(asio::use_awaitable, error));
      co_return false;
    };
    if (path != "/ui/events")
      co_return co_await refuse(404, "Not Found",
                                error_response({ErrorCode::not_found, "no such page"}));
    if (request.method() != http::verb::get)
      co_return co_await refuse(
          405, "Method Not Allowed",
          error_response({ErrorCode::invalid_argument, "only GET is supported on /ui/events"}));
    std::string cookie(request[http::field::cookie]);
    auto session = sessions_.peek(cookie);
    if (!session) co_return co_await refuse(401, "Unauthorized", error_response(session.error()));

    auto subscriber = std::make_shared<Subscriber>(stream.get_executor());
    {
      std::lock_guard lock(mutex_);
      if (subscribers_.size() >= kMaxStreams)
        subscriber.reset();
      else
        subscribers_.push_back(subscriber);
    }
    if (!subscriber)
      co_return co_await refuse(
          503, "Service Unavailable",
          error_response({ErrorCode::unavailable, "too many open event streams"}));

    std::string out =
        "HTTP/1.1 200 OK\r\nServer: countersign\r\nContent-Type: text/event-stream\r\n"
        "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nX-Accel-Buffering: no\r\n"
        "Connection: close\r\n\r\nretry: 3000\n\nevent: hello\ndata: {}\n\n";
    for (;;) {
      stream.expires_after(kWriteTimeout);
      co_await asio::async_write(stream, asio::buffer(out),
                                 asio::redirect_error(asio::use_awaitable, error));
      stream.expires_never();
      if (error) break;
      out.clear();
      bool overflowed = false;
      {
        std::lock_guard lock(mutex_);
        while (!subscriber->queue.empty()) {
          out += subscriber->queue.front();
          subscriber->queue.pop_front();
        }
        overflowed = subscriber->overflowed;
      }
      if (overflowed) break;  // the page reconnects and refetches everything
      if (!out.empty()) continue;
      subscriber->timer.expires_after(kHeartbeat);
      co_await subscriber->timer.async_wait(asio::redirect_error(asio::use_awaitable, error));
      if (!error) {
        // A quiet period: keep the stream open, and end it with the session.
        if (!sessions_.peek(cookie)) {
          out = "event: session\ndata: {\"state\":\"ended\"}\n\n";
          stream.expires_after(kWriteTimeout);
          co_await asio::async_write(stream, asio::buffer(out),
                                     asio::redirect_error(asio::use_awaitable, error));
          break;
        }
        out = ": ping\n\n";
      }
    }
    {
      std::lock_guard lock(mutex_);
      std::erase(subscribers_, subscriber);
    }
    co_return false;
  }

 private:
  struct Subscriber {
    explicit Subscriber(asio::any_io_executor executor) : timer(std::move(executor)) {}
    asio::steady_timer timer;
    std::deque<std::string> queue;
    bool overflowed = false;
  };

  UiSessionStore& sessions_;
  std::mutex mutex_;
  std::vector<std::shared_ptr<Subscriber>> subscribers_;
};

}  // namespace

struct WebUi::Impl {
  Api& api;
  UiSessionStore sessions;
  UiHandler handler;
  std::shared_ptr<UiEventsRoute> events;
  std::shared_ptr<AuthCallbackRoute> callback;

  Impl(gateway::Gateway& gateway, Api& api, const Clock& clock)
      : api(api),
        sessions(clock, ui_session_options(gateway.config())),
        handler(gateway, sessions),
        events(std::make_shared<UiEventsRoute>(sessions)),
        callback(std::make_shared<AuthCallbackRoute>(handler)) {}
};

WebUi::WebUi(gateway::Gateway& gateway, Api& api, HttpServer& server, const Clock& clock)
    : impl_(std::make_unique<Impl>(gateway, api, clock)) {
  api.set_ui(&impl_->handler);
  server.add_route("/ui/events", impl_->events);
  server.add_route("/auth/callback", impl_->callback);
  gateway.add_review_listener(
      [events = impl_->events](const review::Review& review) { events->publish(review); });
}

WebUi::~WebUi() { impl_->api.set_ui(nullptr); }

}  // namespace countersign::server
