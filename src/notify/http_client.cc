#include "notify/http_client.h"

#include <algorithm>
#include <cctype>
#include <chrono>

#include <fmt/format.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>

namespace countersign::notify {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

constexpr std::size_t kMaxResponseBytes = 4 << 20;

struct Target {
  bool tls = false;
  std::string host;
  std::string port;
  std::string path;  // origin form, with query
};

Result<Target> parse_target(const std::string& url) {
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) return fail(ErrorCode::invalid_argument, "malformed URL");
  Target target;
  std::string scheme = parsed->scheme();
  if (scheme == "https") {
    target.tls = true;
  } else if (scheme != "http") {
    return fail(ErrorCode::invalid_argument, "only http and https URLs are supported");
  }
  target.host = parsed->host_address();
  if (target.host.empty()) return fail(ErrorCode::invalid_argument, "URL without a host");
  if (target.host.starts_with('[') && target.host.ends_with(']'))
    target.host = target.host.substr(1, target.host.size() - 2);
  target.port = parsed->has_port() ? std::string(parsed->port()) : (target.tls ? "443" : "80");
  target.path = std::string(parsed->encoded_path());
  if (target.path.empty()) target.path = "/";
  if (parsed->has_query()) target.path += "?" + std::string(parsed->encoded_query());
  return target;
}

class BeastHttpClient final : public HttpClient {
 public:
  BeastHttpClient() : tls_(ssl::context::tls_client) {
    tls_.set_default_verify_paths();
    tls_.set_verify_mode(ssl::verify_peer);
    tls_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                     ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  }

  Result<HttpResponse> send(const HttpRequest& request) override {
    auto target = parse_target(request.url);
    if (!target) return std::unexpected(target.error());
    http::request<http::string_body> message;
    message.method_string(request.method);
    message.target(target->path);
    message.version(11);
    bool default_port = target->port == (target->tls ? "443" : "80");
    message.set(http::field::host, default_port ? target->host : target->host + ":" + target->port);
    message.set(http::field::user_agent, "countersign");
    for (const auto& [name, value] : request.headers) message.set(name, value);
    message.body() = request.body;
    message.keep_alive(false);
    message.prepare_payload();

    io_.restart();
    Result<HttpResponse> result = fail(ErrorCode::unavailable, "request did not complete");
    const auto timeout = std::chrono::milliseconds(std::max<Millis>(request.timeout, 1));
    try {
      tcp::resolver resolver(io_);
      beast::error_code error;
      auto endpoints = resolver.resolve(target->host, target->port, error);
      if (error) return fail(ErrorCode::unavailable, "cannot resolve " + target->host);
      if (target->tls) {
        beast::ssl_stream<beast::tcp_stream> stream(io_, tls_);
        if (!SSL_set_tlsext_host_name(stream.native_handle(), target->host.c_str()))
          return fail(ErrorCode::internal, "TLS: cannot set the server name");
        stream.set_verify_callback(ssl::host_name_verification(target->host));
        beast::get_lowest_layer(stream).expires_after(timeout);
        exchange(stream, endpoints, message, result, true);
      } else {
        beast::tcp_stream stream(io_);
        stream.expires_after(timeout);
        exchange(stream, endpoints, message, result, false);
      }
    } catch (const std::exception& exception) {
      return fail(ErrorCode::unavailable, std::string("HTTP client: ") + exception.what());
    }
    return result;
  }

 private:
  // Runs connect -> (handshake) -> write -> read as async operations on a
  // private io_context so the stream's deadline covers every step.
  template <typename Stream>
  void exchange(Stream& stream, const tcp::resolver::results_type& endpoints,
                http::request<http::string_body>& message, Result<HttpResponse>& result, bool tls) {
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxResponseBytes);
    auto failed = [&](std::string_view step, const beast::error_code& error) {
      result = fail(
          ErrorCode::unavailable,
          fmt::format("{}: {}", step,
                      error == beast::error::timeout ? std::string("timed out") : error.message()));
    };
    auto on_read = [&](const beast::error_code& error, std::size_t) {
      if (error) return failed("read", error);
      HttpResponse response;
      auto& reply = parser.get();
      response.status = reply.result_int();
      for (const auto& field : reply) {
        std::string name(field.name_string());
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        response.headers[name] = std::string(field.value());
      }
      response.body = std::move(reply.body());
      result = std::move(response);
    };
    auto on_write = [&](const beast::error_code& error, std::size_t) {
      if (error) return failed("send", error);
      http::async_read(stream, buffer, parser, on_read);
    };
    auto on_ready = [&](const beast::error_code& error) {
      if (error) return failed("TLS handshake", error);
      http::async_write(stream, message, on_write);
    };
    auto on_connect = [&](const beast::error_code& error, const tcp::endpoint&) {
      if (error) return failed("connect", error);
      if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
        stream.async_handshake(ssl::stream_base::client, on_ready);
      } else {
        on_ready({});
      }
    };
    (void)tls;
    beast::get_lowest_layer(stream).async_connect(endpoints, on_connect);
    io_.run();
  }

  asio::io_context io_;
  ssl::context tls_;
};

}  // namespace

std::unique_ptr<HttpClient> make_http_client() { return std::make_unique<BeastHttpClient>(); }

}  // namespace countersign::notify
