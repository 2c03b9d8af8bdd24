#include "cli/http_client.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>

namespace countersign::cli {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

Result<HttpReply> http_call(const std::string& base_url, const std::string& method,
                            const std::string& target, const std::string& token,
                            const std::string& body, int timeout_seconds) {
  auto url = boost::urls::parse_uri(base_url);
  if (!url || url->scheme() != "http" || url->host().empty())
    return fail(ErrorCode::invalid_argument,
                fmt::format("server URL '{}' must look like http://HOST:PORT", base_url));
  const std::string host = url->host();
  const std::string port = url->has_port() ? std::string(url->port()) : "80";
  std::string prefix = url->path();
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  try {
    asio::io_context io;
    asio::ip::tcp::resolver resolver(io);
    asio::ip::tcp::socket socket(io);
    asio::connect(socket, resolver.resolve(host, port));
    timeval timeout{timeout_seconds, 0};
    setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);

    http::request<http::string_body> request{http::string_to_verb(method), prefix + target, 11};
    request.set(http::field::host, host);
    request.set(http::field::user_agent, "countersign-cli");
    request.set(http::field::accept, "application/json");
    if (!token.empty()) request.set(http::field::authorization, "Bearer " + token);
    if (!body.empty()) {
      request.set(http::field::content_type, "application/json");
      request.body() = body;
    }
    request.keep_alive(false);
    request.prepare_payload();
    http::write(socket, request);

    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    http::read(socket, buffer, parser);
    auto response = parser.release();
    HttpReply reply;
    reply.status = response.result_int();
    reply.body = response.body();
    reply.location = std::string(response[http::field::location]);
    return reply;
  } catch (const boost::system::system_error& error) {
    return fail(ErrorCode::unavailable,
                fmt::format("cannot reach countersign at {}: {}", base_url, error.code().message()));
  }
}

}  // namespace countersign::cli
