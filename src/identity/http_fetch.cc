// The only translation unit of src/identity that includes Beast and Asio.
#include "identity/http_fetch.h"

#include <optional>

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>

namespace countersign::identity {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::ip::tcp;

namespace {

struct Target {
  bool tls = false;
  std::string host;
  std::string port;
  std::string path;  // path + query, never empty
};

Result<Target> parse_target(const std::string& url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed || (parsed->scheme() != "http" && parsed->scheme() != "https") ||
      parsed->host().empty())
    return fail(ErrorCode::invalid_argument, fmt::format("'{}' is not an http(s) URL", url));
  Target target;
  target.tls = parsed->scheme() == "https";
  target.host = parsed->host_address();  // IPv6 without brackets
  if (target.host.empty()) target.host = parsed->host();
  target.port = parsed->has_port() ? std::string(parsed->port()) : (target.tls ? "443" : "80");
  target.path = std::string(parsed->encoded_path());
  if (target.path.empty()) target.path = "/";
  if (parsed->has_query()) target.path += "?" + std::string(parsed->encoded_query());
  return target;
}

http::request<http::string_body> build(const HttpRequest& request, const Target& target) {
  http::request<http::string_body> message{http::string_to_verb(request.method), target.path, 11};
  const bool default_port = target.port == (target.tls ? "443" : "80");
  std::string host =
      target.host.find(':') != std::string::npos ? "[" + target.host + "]" : target.host;
  message.set(http::field::host, default_port ? host : host + ":" + target.port);
  message.set(http::field::user_agent, "countersign");
  for (const auto& [name, value] : request.headers) message.set(name, value);
  message.body() = request.body;
  message.keep_alive(false);
  message.prepare_payload();
  return message;
}

template <typename Stream>
asio::awaitable<void> exchange(Stream& stream, http::request<http::string_body>& message,
                               std::size_t limit, HttpResponse& out,
                               boost::system::error_code& error) {
  co_await http::async_write(stream, message, asio::redirect_error(asio::use_awaitable, error));
  if (error) co_return;
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(limit);
  co_await http::async_read(stream, buffer, parser,
                            asio::redirect_error(asio::use_awaitable, error));
  if (error) co_return;
  auto response = parser.release();
  out.status = static_cast<int>(response.result_int());
  for (const auto& field : response) {
    std::string name(field.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = std::string(field.value());
  }
  out.body = std::move(response.body());
}

asio::awaitable<void> run(const HttpRequest& request, const Target& target, ssl::context* tls,
                          HttpResponse& out, boost::system::error_code& error, std::string& stage) {
  auto executor = co_await asio::this_coro::executor;
  tcp::resolver resolver(executor);
  stage = "resolve";
  auto endpoints = co_await resolver.async_resolve(
      target.host, target.port, asio::redirect_error(asio::use_awaitable, error));
  if (error) co_return;
  auto message = build(request, target);
  if (!tls) {
    beast::tcp_stream stream(executor);
    stage = "connect";
    co_await stream.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, error));
    if (error) co_return;
    stage = "exchange";
    co_await exchange(stream, message, request.max_response_bytes, out, error);
    co_return;
  }
  beast::ssl_stream<beast::tcp_stream> stream(executor, *tls);
  if (!SSL_set_tlsext_host_name(stream.native_handle(), target.host.c_str())) {
    error = boost::system::error_code(static_cast<int>(::ERR_get_error()),
                                      asio::error::get_ssl_category());
    co_return;
  }
  stream.set_verify_callback(ssl::host_name_verification(target.host));
  stage = "connect";
  co_await beast::get_lowest_layer(stream).async_connect(
      endpoints, asio::redirect_error(asio::use_awaitable, error));
  if (error) co_return;
  stage = "TLS handshake";
  co_await stream.async_handshake(ssl::stream_base::client,
                                  asio::redirect_error(asio::use_awaitable, error));
  if (error) co_return;
  stage = "exchange";
  co_await exchange(stream, message, request.max_response_bytes, out, error);
}

}  // namespace

Result<HttpResponse> http_fetch(const HttpRequest& request) {
  auto target = parse_target(request.url);
  if (!target) return std::unexpected(target.error());
  std::optional<ssl::context> tls;
  try {
    if (target->tls) {
      tls.emplace(ssl::context::tls_client);
      tls->set_options(ssl::context::no_sslv2 | ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                       ssl::context::no_tlsv1_1);
      tls->set_default_verify_paths();
      if (!request.ca_file.empty()) tls->load_verify_file(request.ca_file);
      tls->set_verify_mode(ssl::verify_peer);
    }
  } catch (const boost::system::system_error& error) {
    return fail(ErrorCode::unavailable,
                fmt::format("cannot set up TLS for {}: {}", request.url, error.code().message()));
  }
  HttpResponse response;
  boost::system::error_code error;
  std::string stage = "start";
  bool done = false;
  asio::io_context io;  // destroyed first: an unfinished exchange is abandoned before the above
  asio::co_spawn(io, run(request, *target, tls ? &*tls : nullptr, response, error, stage),
                 [&](std::exception_ptr) { done = true; });
  io.run_for(std::chrono::milliseconds(request.timeout));
  if (!done)
    return fail(ErrorCode::unavailable,
                fmt::format("{} {}: no answer within {} ms ({})", request.method, request.url,
                            request.timeout, stage));
  if (error)
    return fail(ErrorCode::unavailable, fmt::format("{} {}: {} failed: {}", request.method,
                                                    request.url, stage, error.message()));
  return response;
}

std::string form_encode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string form_body(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [name, value] : fields) {
    if (!out.empty()) out += '&';
    out += form_encode(name) + "=" + form_encode(value);
  }
  return out;
}

}  // namespace countersign::identity
