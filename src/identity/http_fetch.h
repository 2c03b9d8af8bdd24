// A small blocking HTTP(S) client for talking to an identity provider:
// discovery documents, JWK Sets, token and device-authorization endpoints.
// Blocking on purpose: the gateway calls it at start-up and from its key
// refresher thread, never from the server's I/O thread; the CLI calls it
// from `countersign login`. HTTPS verifies the server's certificate and host
// name against the system trust store (plus an optional CA file).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/error.h"

namespace countersign::identity {

struct HttpRequest {
  std::string method = "GET";
  std::string url;  // http://host[:port]/path?query or https://...
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  Millis timeout = 10'000;  // whole exchange: resolve, connect, TLS, request, response
  std::string ca_file;      // extra trust anchors (PEM); empty = system store only
  std::size_t max_response_bytes = 1 << 20;
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

// Performs one request (no redirects followed). Errors are `unavailable`
// for network and TLS failures; any HTTP status is a successful response.
Result<HttpResponse> http_fetch(const HttpRequest& request);

using HttpFetcher = std::function<Result<HttpResponse>(const HttpRequest&)>;

// application/x-www-form-urlencoded encoding of one value.
std::string form_encode(std::string_view value);
std::string form_body(const std::vector<std::pair<std::string, std::string>>& fields);

}  // namespace countersign::identity
