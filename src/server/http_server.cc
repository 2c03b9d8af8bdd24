#include "server/http_server.h"

#include "doors/route.h"

#include <chrono>

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <boost/url.hpp>
#include <fmt/format.h>

namespace countersign::server {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {

constexpr auto kHeaderTimeout = std::chrono::seconds(30);
constexpr auto kDeadlineSweep = std::chrono::milliseconds(250);

ApiRequest to_api_request(const http::request<http::string_body>& message,
                          const std::string& client_address) {
  ApiRequest request;
  request.method = std::string(message.method_string());
  request.authorization = std::string(message[http::field::authorization]);
  request.content_type = std::string(message[http::field::content_type]);
  request.body = message.body();
  request.client_address = client_address;
  auto target = boost::urls::parse_origin_form(message.target());
  if (target) {
    request.path = target->path();
    for (auto param : target->params()) request.query[param.key] = param.value;
  } else {
    request.path = "/";  // unparseable targets fall through to a 404
  }
  return request;
}

http::response<http::string_body> to_message(const ApiResponse& response, unsigned version,
                                             bool keep_alive) {
  http::response<http::string_body> message{static_cast<http::status>(response.status), version};
  message.set(http::field::server, "countersign");
  message.set(http::field::content_type, response.content_type);
  message.set(http::field::cache_control, "no-store");
  message.set("X-Content-Type-Options", "nosniff");
  for (const auto& [name, value] : response.headers) message.set(name, value);
  message.body() = response.body;
  message.keep_alive(keep_alive);
  message.prepare_payload();
  return message;
}

}  // namespace

struct HttpServer::Impl {
  gateway::Gateway& gateway;
  Api& api;
  asio::io_context io{1};
  doors::ReviewWaiters waiters{io.get_executor()};
  std::vector<std::pair<std::string, std::shared_ptr<doors::StreamingRoute>>> routes;

  Impl(gateway::Gateway& gateway, Api& api) : gateway(gateway), api(api) {}

  doors::StreamingRoute* route_for(std::string_view target) {
    for (auto& [prefix, route] : routes)
      if (target.starts_with(prefix)) return route.get();
    return nullptr;
  }

  // Runs a handler result to completion, parking while it holds.
  asio::awaitable<ApiResponse> complete(HandlerResult result) {
    while (result.hold) {
      Hold hold = std::move(*result.hold);
      bool woken = co_await waiters.wait(hold.review_id, hold.deadline - gateway.clock().now());
      result = hold.resume(!woken);
    }
    co_return std::move(result.response);
  }

  // Reads the body of a non-streaming request and answers it through Api.
  // Returns whether the connection may be kept alive.
  asio::awaitable<bool> serve_api(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                  doors::RequestHeader& header, const std::string& client_address) {
    const std::size_t body_limit = gateway.config().max_body_bytes;
    // Beast checks a Content-Length against the limit only while parsing
    // the header, which ran unlimited; check it here before reading.
    const auto declared_length = header.content_length();
    http::request_parser<http::string_body> parser(std::move(header));
    parser.body_limit(body_limit);
    boost::system::error_code error;
    if (declared_length && *declared_length > body_limit) {
      error = http::error::body_limit;
    } else if (!parser.is_done()) {
      stream.expires_after(kHeaderTimeout);
      co_await http::async_read(stream, buffer, parser,
                                asio::redirect_error(asio::use_awaitable, error));
    }
    if (error) {
      if (error != http::error::body_limit) co_return false;  // the client went away
      auto message = to_message(
          error_response({ErrorCode::too_large,
                          fmt::format("request body exceeds the limit of {} bytes", body_limit)}),
          11, false);
      co_await http::async_write(stream, message, asio::redirect_error(asio::use_awaitable, error));
      co_return false;
    }
    stream.expires_never();  // a held request may wait for minutes
    auto request = parser.release();
    const auto started = std::chrono::steady_clock::now();
    HandlerResult result = api.handle(to_api_request(request, client_address));
    if (!result.hold) {
      api.request_metrics().observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    }
    ApiResponse response = co_await complete(std::move(result));
    const bool keep_alive = request.keep_alive();
    auto message = to_message(response, request.version(), keep_alive);
    stream.expires_after(kHeaderTimeout);
    co_await http::async_write(stream, message, asio::redirect_error(asio::use_awaitable, error));
    co_return !error && keep_alive;
  }

  asio::awaitable<void> serve_connection(tcp::socket socket) {
    std::string client_address;
    boost::system::error_code ignored;
    auto endpoint = socket.remote_endpoint(ignored);
    if (!ignored) client_address = endpoint.address().to_string();
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (bool keep_alive = true; keep_alive;) {
      doors::RequestHeader header;
      header.body_limit(boost::none);  // each route sets its own limit
      stream.expires_after(kHeaderTimeout);
      boost::system::error_code error;
      co_await http::async_read_header(stream, buffer, header,
                                       asio::redirect_error(asio::use_awaitable, error));
      if (error == http::error::end_of_stream || error == beast::error::timeout ||
          error == asio::error::connection_reset || error == asio::error::eof)
        break;
      if (error) {
        auto message = to_message(
            error_response({ErrorCode::invalid_argument, "malformed HTTP request: " + error.message()}),
            11, false);
        stream.expires_after(kHeaderTimeout);
        co_await http::async_write(stream, message, asio::redirect_error(asio::use_awaitable, error));
        break;
      }
      if (auto* route = route_for(header.get().target())) {
        doors::Connection connection{stream, buffer, client_address};
        keep_alive = co_await route->serve(connection, header);
      } else {
        keep_alive = co_await serve_api(stream, buffer, header, client_address);
      }
    }
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  asio::awaitable<void> accept_loop(tcp::acceptor& acceptor) {
    for (;;) {
      boost::system::error_code error;
      tcp::socket socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, error));
      if (error == asio::error::operation_aborted) co_return;
      if (error) continue;  // e.g. EMFILE: keep serving the connections we have
      asio::co_spawn(io, serve_connection(std::move(socket)), asio::detached);
    }
  }

  // Escalation and expiry come from stored deadlines; checking them every
  // quarter second (and once at start) makes them survive restarts.
  asio::awaitable<void> sweep_deadlines() {
    asio::steady_timer timer(io);
    for (;;) {
      (void)gateway.apply_deadlines();
      timer.expires_after(kDeadlineSweep);
      boost::system::error_code error;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, error));
      if (error == asio::error::operation_aborted && io.stopped()) co_return;
    }
  }
};

HttpServer::HttpServer(gateway::Gateway& gateway, Api& api)
    : impl_(std::make_unique<Impl>(gateway, api)) {}

HttpServer::~HttpServer() = default;

void HttpServer::add_route(std::string path_prefix, std::shared_ptr<doors::StreamingRoute> route) {
  impl_->routes.emplace_back(std::move(path_prefix), std::move(route));
}

doors::ReviewWaiters& HttpServer::waiters() { return impl_->waiters; }

void HttpServer::run(const std::string& address, int port,
                     const std::function<void(int)>& on_listening) {
  auto& io = impl_->io;
  impl_->gateway.set_review_listener(
      [this](const review::Review& review) { impl_->waiters.wake(review.id); });
  tcp::endpoint endpoint(asio::ip::make_address(address), static_cast<unsigned short>(port));
  tcp::acceptor acceptor(io);
  acceptor.open(endpoint.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen(asio::socket_base::max_listen_connections);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) { io.stop(); });
  asio::co_spawn(io, impl_->accept_loop(acceptor), asio::detached);
  asio::co_spawn(io, impl_->sweep_deadlines(), asio::detached);
  on_listening(acceptor.local_endpoint().port());
  io.run();
  impl_->gateway.set_review_listener(nullptr);
}

void HttpServer::stop() { impl_->io.stop(); }

}  // namespace countersign::server
