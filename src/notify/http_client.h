// A small blocking HTTP/1.1 client for the notification worker threads:
// one request per call, http:// or https:// (TLS 1.2+ with certificate and
// host name verification against the system trust store). Beast stays in
// http_client.cc. It never logs bodies or headers (they carry tokens).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/error.h"

namespace countersign::notify {

struct HttpRequest {
  std::string method = "POST";
  std::string url;  // absolute: http(s)://host[:port]/path[?query]
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  Millis timeout = 10'000;  // the whole exchange: resolve, connect, TLS, send, receive
};

struct HttpResponse {
  unsigned status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // Fails with unavailable when the exchange could not complete (DNS,
  // connect, TLS, timeout); any HTTP status is a successful exchange.
  virtual Result<HttpResponse> send(const HttpRequest& request) = 0;
};

// The real client. Not thread-safe: one per worker thread.
std::unique_ptr<HttpClient> make_http_client();

}  // namespace countersign::notify
