// GET /ui/events: server-sent events for the web UI, and the WebUi wiring.
// The only Beast translation unit of the web UI.
#include <chrono>
#include <deque>
#include <mutex>
#include <vector>

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/json/serialize.hpp>

#include "doors/route.h"
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

  Impl(gateway::Gateway& gateway, Api& api, const Clock& clock)
      : api(api),
        sessions(clock, ui_session_options(gateway.config())),
        handler(gateway, sessions),
        events(std::make_shared<UiEventsRoute>(sessions)) {}
};

WebUi::WebUi(gateway::Gateway& gateway, Api& api, HttpServer& server, const Clock& clock)
    : impl_(std::make_unique<Impl>(gateway, api, clock)) {
  api.set_ui(&impl_->handler);
  server.add_route("/ui/events", impl_->events);
  gateway.add_review_listener(
      [events = impl_->events](const review::Review& review) { events->publish(review); });
}

WebUi::~WebUi() { impl_->api.set_ui(nullptr); }

}  // namespace countersign::server
