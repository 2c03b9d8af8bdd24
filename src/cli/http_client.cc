#include "cli/http_client.h"

#include <cstdlib>

#include <boost/url/parse.hpp>
#include <fmt/format.h>

#include "identity/http_fetch.h"
#include "identity/token_store.h"

namespace countersign::cli {

Result<HttpReply> http_call(const std::string& base_url, const std::string& method,
                            const std::string& target, const std::string& token,
                            const std::string& body, int timeout_seconds) {
  auto url = boost::urls::parse_uri(base_url);
  if (!url || (url->scheme() != "http" && url->scheme() != "https") || url->host().empty())
    return fail(ErrorCode::invalid_argument,
                fmt::format("server URL '{}' must look like http(s)://HOST:PORT", base_url));
  std::string prefix = url->path();
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  identity::HttpRequest request;
  request.method = method;
  request.url = fmt::format("{}://{}{}{}", url->scheme(), url->encoded_authority(), prefix, target);
  request.timeout = static_cast<Millis>(timeout_seconds) * 1000;
  request.max_response_bytes = 64 * 1024 * 1024;
  // https: the system trust store, $SSL_CERT_FILE, or $COUNTERSIGN_CA_FILE.
  if (const char* ca = std::getenv("COUNTERSIGN_CA_FILE"); ca && *ca) request.ca_file = ca;
  request.headers = {{"Accept", "application/json"}, {"User-Agent", "countersign-cli"}};
  // Without --token / $COUNTERSIGN_TOKEN, the token `countersign login` stored.
  std::string bearer = token;
  if (bearer.empty()) {
    auto stored = identity::load_token();
    if (!stored) return std::unexpected(stored.error());
    if (*stored) bearer = (*stored)->access_token;
  }
  if (!bearer.empty()) request.headers.emplace_back("Authorization", "Bearer " + bearer);
  if (!body.empty()) {
    request.headers.emplace_back("Content-Type", "application/json");
    request.body = body;
  }
  auto response = identity::http_fetch(request);
  if (!response)
    return fail(ErrorCode::unavailable,
                fmt::format("cannot reach countersign at {}: {}", base_url, response.error().message));
  HttpReply reply;
  reply.status = static_cast<unsigned>(response->status);
  reply.body = std::move(response->body);
  if (auto location = response->headers.find("location"); location != response->headers.end())
    reply.location = location->second;
  return reply;
}

}  // namespace countersign::cli
